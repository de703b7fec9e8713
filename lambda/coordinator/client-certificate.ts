/**
 * The plain client certificate over the seed-share owner's key that Recover is sent with.
 * Loaded lazily (it pulls in @peculiar/x509), only when a recovery really happens, so a
 * scheduled no-op does not pay for it at cold start.
 */
import { createHash, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import * as x509 from '../shared/peculiar.ts';

const CERT_VALIDITY_MS = 60 * 60 * 1000;
const CERT_RENEW_BEFORE_MS = 15 * 60 * 1000;
const certCache = new Map<string, { pem: string; notAfter: number }>();

/**
 * The client certificate for the owner key, reused while it has at least 15 minutes left.
 * A certificate is public (the public key and a self-signature), so keeping it between
 * reconciles of one container keeps nothing secret; it saves an RSA-4096 signature per
 * recovery. The private key is only used to sign a new one.
 */
export async function clientCertificateFor(ownerKey: KeyObject, publicKey: KeyObject): Promise<string> {
  const id = createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex');
  const cached = certCache.get(id);
  if (cached && cached.notAfter - Date.now() > CERT_RENEW_BEFORE_MS) return cached.pem;
  const pem = await createClientCertificatePem(ownerKey, publicKey);
  certCache.set(id, { pem, notAfter: Date.now() + CERT_VALIDITY_MS });
  return pem;
}

/**
 * A self-signed certificate over the owner's RSA key (CN Contrast, valid ±1 h), which the
 * Coordinator uses only to read the peer's public key. The private key passes into
 * WebCrypto as a PKCS#8 copy that is zeroed right after import; the CryptoKey itself is
 * held by Node's crypto and dropped with this call.
 */
export async function createClientCertificatePem(ownerKey: KeyObject, publicKey: KeyObject): Promise<string> {
  const pkcs8 = ownerKey.export({ type: 'pkcs8', format: 'der' });
  let privateKey: webcrypto.CryptoKey;
  try {
    privateKey = await webcrypto.subtle.importKey(
      'pkcs8',
      pkcs8,
      { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      false,
      ['sign'],
    );
  } finally {
    pkcs8.fill(0);
  }
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const pub = await webcrypto.subtle.importKey('spki', spki, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, [
    'verify',
  ]);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(16)
      .toString('hex')
      .replace(/^[89a-f]/, '1'),
    name: 'CN=Contrast',
    notBefore: new Date(now - CERT_VALIDITY_MS),
    notAfter: new Date(now + CERT_VALIDITY_MS),
    signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    keys: { privateKey, publicKey: pub },
  });
  return cert.toString('pem');
}
