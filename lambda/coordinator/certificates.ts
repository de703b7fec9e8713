/**
 * Certificate work of aTLS: finding the one attestation extension in the Coordinator's
 * certificate, the binding SHA-512(SPKI || nonce), and the plain client certificate over
 * the seed-share owner's key.
 */
import { createHash, type X509Certificate as NodeX509 } from 'node:crypto';
import { AttestationError } from '../shared/errors.ts';
import { ATTESTATION_OIDS } from '../attestation/verifier.ts';
import { certificateExtensions, extensionMap, type CertExtension } from '../attestation/extensions.ts';

const ATTESTATION_OID_SET = new Set<string>(Object.values(ATTESTATION_OIDS));

export interface AttestationExtension {
  oid: string;
  value: Uint8Array;
}

/**
 * Exactly one attestation extension must be present; none or several is refused, and so is
 * any other extension that appears twice (the project's one extension walker, which counts
 * duplicates instead of merging them).
 */
export function extractAttestationExtension(certDer: Uint8Array): AttestationExtension {
  let all: CertExtension[];
  try {
    all = certificateExtensions(certDer);
  } catch {
    throw new AttestationError('certificate', 'the Coordinator presented a certificate that does not parse as X.509');
  }
  const found = all.filter((e) => ATTESTATION_OID_SET.has(e.oid)).map((e) => ({ type: e.oid, value: e.value }));
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
  extensionMap(all, "the Coordinator's certificate", 'certificate');
  const ext = found[0]!;
  return { oid: ext.type, value: new Uint8Array(ext.value) };
}

/** SHA-512(SPKI-DER || nonce): what REPORT_DATA must equal (docs/protocol.md §3). */
export function bindingFor(spkiDer: Uint8Array, nonce: Uint8Array): Buffer {
  return createHash('sha512').update(spkiDer).update(nonce).digest();
}

export function spkiOf(cert: NodeX509): Buffer {
  return cert.publicKey.export({ type: 'spki', format: 'der' });
}
