/**
 * Certificate work of aTLS: finding the one attestation extension in the Coordinator's
 * certificate, the binding SHA-512(SPKI || nonce), and the plain client certificate over
 * the seed-share owner's key.
 */
import { createHash, type X509Certificate as NodeX509 } from 'node:crypto';
import { AttestationError } from '../shared/errors.ts';
import { ATTESTATION_OIDS } from '../attestation/verifier.ts';
import { children, content, decodeOid, expectTag, readTlv } from '../attestation/der.ts';

const ATTESTATION_OID_SET = new Set<string>(Object.values(ATTESTATION_OIDS));

export interface AttestationExtension {
  oid: string;
  value: Uint8Array;
}

/**
 * Exactly one attestation extension must be present; none or several is refused. Parsed
 * with the project's own DER reader (as the attestation code does), because an extension
 * that appears twice must be counted, not merged.
 */
export function extractAttestationExtension(certDer: Uint8Array): AttestationExtension {
  let found: { type: string; value: Uint8Array }[];
  try {
    found = certificateExtensions(certDer).filter((e) => ATTESTATION_OID_SET.has(e.type));
  } catch {
    throw new AttestationError('certificate', 'the Coordinator presented a certificate that does not parse as X.509');
  }
  if (found.length === 0) {
    throw new AttestationError(
      'extension',
      `the Coordinator's certificate carries no attestation extension (expected one of ${[...ATTESTATION_OID_SET].join(', ')}); is this endpoint really a Contrast Coordinator?`,
    );
  }
  if (found.length > 1) {
    throw new AttestationError(
      'extension',
      `the Coordinator's certificate carries ${found.length} attestation extensions (${found.map((e) => e.type).join(', ')}); exactly one is allowed`,
    );
  }
  const ext = found[0]!;
  return { oid: ext.type, value: new Uint8Array(ext.value) };
}

/** All extensions of a DER certificate in order, duplicates kept. */
function certificateExtensions(der: Uint8Array): { type: string; value: Uint8Array }[] {
  const top = readTlv(der, 0);
  if (top.end !== der.length) throw new Error('trailing bytes after the certificate');
  const tbs = children(der, expectTag(top, 0x30, 'certificate'))[0];
  const out: { type: string; value: Uint8Array }[] = [];
  for (const field of children(der, expectTag(tbs, 0x30, 'tbsCertificate'))) {
    if (field.tag !== 0xa3) continue; // [3] extensions
    for (const ext of children(der, expectTag(children(der, field)[0], 0x30, 'extensions'))) {
      const parts = children(der, expectTag(ext, 0x30, 'extension'));
      out.push({
        type: decodeOid(content(der, expectTag(parts[0], 0x06, 'extension OID'))),
        value: content(der, expectTag(parts[parts.length - 1], 0x04, 'extension value')),
      });
    }
  }
  return out;
}

/** SHA-512(SPKI-DER || nonce): what REPORT_DATA must equal (docs/protocol.md §3). */
export function bindingFor(spkiDer: Uint8Array, nonce: Uint8Array): Buffer {
  return createHash('sha512').update(spkiDer).update(nonce).digest();
}

export function spkiOf(cert: NodeX509): Buffer {
  return cert.publicKey.export({ type: 'spki', format: 'der' });
}
