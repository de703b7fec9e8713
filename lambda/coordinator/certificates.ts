/**
 * Certificate work of aTLS: finding the one attestation extension in the Coordinator's
 * certificate, the binding SHA-512(SPKI || nonce), and the plain client certificate over
 * the seed-share owner's key.
 */
import { X509Certificate, createHash, type X509Certificate as NodeX509 } from 'node:crypto';
import { AttestationError } from '../shared/errors.ts';
import { ATTESTATION_OIDS } from '../attestation/verifier.ts';
import { certificateExtensions, extensionMap, type CertExtension } from '../attestation/extensions.ts';
import { children, decodeOid, expectTag, readTlv, content } from '../attestation/der.ts';

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

const OID_EXT_KEY_USAGE = '2.5.29.37';
const OID_EKU_ANY = '2.5.29.37.0';
const OID_EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

/**
 * Critical extensions Go's crypto/x509 parser handles (parser.go processExtensions: key usage,
 * basic constraints, CRL distribution points, authority/subject key IDs, EKU, certificate
 * policies, policy mappings/constraints, inhibit anyPolicy, authority info access). Go also
 * reads a critical SAN or name constraints unless they hold name forms it does not know; this
 * project does not read those forms, so it refuses both when critical (the Coordinator writes
 * neither). The attestation extensions are never critical in the Coordinator's certificate.
 */
const GO_HANDLED_CRITICAL = new Set([
  '2.5.29.14',
  '2.5.29.15',
  '2.5.29.19',
  '2.5.29.31',
  '2.5.29.32',
  '2.5.29.33',
  '2.5.29.35',
  '2.5.29.36',
  '2.5.29.37',
  '2.5.29.54',
  '1.3.6.1.5.5.7.1.1',
]);

/**
 * The checks Contrast's aTLS client makes on the server certificate before it looks at the
 * evidence (C internal/atls/atls.go `processCertificate`: `cert.Verify` with the certificate as
 * its own only root, default options). Go's `Certificate.Verify` then refuses unhandled
 * critical extensions, a certificate outside its validity window at the client's clock, and —
 * the default usage being ServerAuth — a certificate whose EKUs name neither ServerAuth nor
 * anyExtendedKeyUsage (no EKU extension: any usage). The self-signature is not checked, here
 * or by Go: a certificate that is itself a root in the pool is trusted as it is. The
 * Coordinator issues the certificate valid from two hours before to two hours after its own
 * clock (`getCertificate`), so small clock skew passes.
 */
export function checkServerCertificate(certDer: Uint8Array, now: Date): void {
  let all: CertExtension[];
  let notBefore: Date;
  let notAfter: Date;
  try {
    all = certificateExtensions(certDer);
    // DER only: the TDX evidence carries PEM text, so no PEM sniffing here.
    const cert = new X509Certificate(certDer);
    notBefore = new Date(cert.validFrom);
    notAfter = new Date(cert.validTo);
    if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) throw new Error('validity');
  } catch {
    throw new AttestationError('certificate', 'the Coordinator presented a certificate that does not parse as X.509');
  }
  const unhandled = all.filter((e) => e.critical && !GO_HANDLED_CRITICAL.has(e.oid)).map((e) => e.oid);
  if (unhandled.length > 0) {
    throw new AttestationError(
      'certificate.critical-extension',
      `the Coordinator's certificate marks extension(s) ${unhandled.join(', ')} critical, which Contrast's aTLS client (Go's x509 Verify) does not handle and refuses`,
    );
  }
  if (now < notBefore || now > notAfter) {
    throw new AttestationError(
      'certificate.validity',
      `the Coordinator's certificate is not valid at ${now.toISOString()} (our clock): valid ${notBefore.toISOString()}..${notAfter.toISOString()}; check the clocks of this host and the Coordinator's node`,
    );
  }
  const eku = all.find((e) => e.oid === OID_EXT_KEY_USAGE);
  if (eku) {
    let usages: string[];
    try {
      const seq = expectTag(readTlv(eku.value, 0), 0x30, 'ExtKeyUsage');
      usages = children(eku.value, seq).map((t) => decodeOid(content(eku.value, expectTag(t, 0x06, 'KeyPurposeId'))));
    } catch {
      throw new AttestationError(
        'certificate.ext-key-usage',
        "the Coordinator's certificate has an ExtKeyUsage extension that does not parse",
      );
    }
    if (!usages.includes(OID_EKU_SERVER_AUTH) && !usages.includes(OID_EKU_ANY)) {
      throw new AttestationError(
        'certificate.ext-key-usage',
        `the Coordinator's certificate allows the extended key usage(s) ${usages.join(', ') || '(none)'} but not ServerAuth, which Contrast's aTLS client (Go's x509 Verify) requires`,
      );
    }
  }
}
