/**
 * A self-signed serving certificate for the stand-in (IP SAN 127.0.0.1), made once per
 * process. The client trusts it through caData, the way it trusts an EKS cluster CA.
 */
import { webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import * as x509 from '../../lambda/shared/peculiar.ts';

export interface ServingCert {
  certPem: string;
  keyPem: string;
  /** base64 of the PEM, as kubeconfig `certificate-authority-data` and EKS `caData` carry it. */
  caData: string;
}

let cached: Promise<ServingCert> | undefined;

export function servingCert(): Promise<ServingCert> {
  cached ??= (async () => {
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: 'CN=kube-api-stand-in',
      notBefore: new Date(Date.now() - 3_600_000),
      notAfter: new Date(Date.now() + 24 * 3_600_000),
      keys,
      signingAlgorithm: alg,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.SubjectAlternativeNameExtension([
          { type: 'ip', value: '127.0.0.1' },
          { type: 'dns', value: 'localhost' },
        ]),
      ],
    });
    const certPem = cert.toString('pem');
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    const keyPem =
      `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END PRIVATE KEY-----\n`.replace(
        /\n\n/g,
        '\n',
      );
    new NodeX509(certPem); // fail early on a malformed certificate
    return { certPem, keyPem, caData: Buffer.from(certPem).toString('base64') };
  })();
  return cached;
}
