/**
 * Reads the Coordinator's attestation extension without verifying it, for `enroll` to learn
 * which collateral (VCEK, TCB Info, …) the evidence will need. Nothing is sent over this
 * connection and nothing is trusted from it: every fetched document is verified against the
 * pinned roots, and every recovery verifies the evidence itself.
 */
import { randomBytes } from 'node:crypto';
import * as tls from 'node:tls';
import { UnreachableError } from '../shared/errors.ts';
import type { CoordinatorEndpoint } from '../shared/names.ts';
import { nonceAlpn } from './atls.ts';
import { extractAttestationExtension, type AttestationExtension } from './certificates.ts';

export function captureAttestationExtension(
  endpoint: CoordinatorEndpoint,
  timeoutMs = 10_000,
): Promise<AttestationExtension> {
  const nonce = randomBytes(32);
  const target = `${endpoint.host}:${endpoint.port}`;
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: endpoint.host,
      port: endpoint.port,
      ALPNProtocols: [nonceAlpn(nonce), 'h2'],
      servername: nonce.toString('base64'),
      rejectUnauthorized: false,
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new UnreachableError(`the Coordinator at ${target} did not complete the TLS handshake within ${timeoutMs} ms`),
      );
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      try {
        const cert = socket.getPeerX509Certificate();
        if (!cert) throw new UnreachableError(`the Coordinator at ${target} presented no certificate`);
        resolve(extractAttestationExtension(cert.raw));
      } catch (err) {
        reject(err);
      } finally {
        socket.destroy();
      }
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new UnreachableError(`cannot connect to the Coordinator at ${target}: ${err.message}`));
    });
  });
}
