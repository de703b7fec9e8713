/**
 * aTLS for grpc-js (docs/protocol.md §3). grpc-js's stock TLS credentials validate the server
 * certificate against a CA before we could see it and fix ALPN to `h2`. Instead, this
 * ChannelCredentials subclass builds each connection itself: a fresh 32-byte nonce in ALPN
 * (`atls:v1:nonce:<hex>`, plus `h2`) and in SNI (base64, for older Coordinators), then
 * extracts the one attestation extension, computes the binding and lets the Verifier
 * approve it. Only then does the connector resolve, so no request byte is ever written to
 * an unverified peer; grpc-js keeps doing HTTP/2 and framing.
 *
 * `_createSecureConnector` is an underscore API of grpc-js; package.json pins the version
 * and test/integration/atls.test.ts covers it over real sockets.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import * as tls from 'node:tls';
import { ChannelCredentials, credentials, type CallCredentials } from '@grpc/grpc-js';
import { AttestationError, RecoveryError, UnreachableError, errorMessage } from '../shared/errors.ts';
import type { EvidenceSummary, Verifier } from '../attestation/verifier.ts';
import { bindingFor, checkServerCertificate, extractAttestationExtension, spkiOf } from './certificates.ts';

const NONCE_BYTES = 32;

export function nonceAlpn(nonce: Uint8Array): string {
  return `atls:v1:nonce:${Buffer.from(nonce).toString('hex')}`;
}

export interface AtlsSettings {
  verifier: Verifier;
  /** TLS context holding the owner's client certificate and key (Recover only). */
  clientContext?: tls.SecureContext;
  /** Upper bound for TCP-to-verified, so a silent endpoint cannot hang a reconcile. */
  handshakeTimeoutMs: number;
  /** Where the connection goes, for messages only. */
  target: string;
}

export class AtlsChannelCredentials extends ChannelCredentials {
  /** Evidence of the most recently verified connection. */
  evidence: EvidenceSummary | undefined;
  /** Connections whose evidence was verified (the Recover flow expects exactly one). */
  verifiedConnections = 0;
  /** Why the last connection attempt was refused; grpc-js only reports a string. */
  lastError: RecoveryError | undefined;

  constructor(private readonly settings: AtlsSettings) {
    super();
  }

  override compose(): ChannelCredentials {
    throw new Error('aTLS credentials carry no call credentials');
  }

  _isSecure(): boolean {
    return true;
  }

  // Never share a subchannel with another session: each session verifies its own peer.
  _equals(other: ChannelCredentials): boolean {
    return other === this;
  }

  _createSecureConnector(_target: unknown, _options: unknown, callCredentials?: CallCredentials) {
    const callCreds = callCredentials ?? credentials.createEmpty();
    return {
      connect: (socket: Socket) => this.handshake(socket),
      waitForReady: () => Promise.resolve(),
      getCallCredentials: () => callCreds,
      destroy: () => {},
    };
  }

  private async handshake(socket: Socket): Promise<{ socket: tls.TLSSocket; secure: boolean }> {
    const nonce = randomBytes(NONCE_BYTES);
    const tlsSocket = tls.connect({
      socket,
      ALPNProtocols: [nonceAlpn(nonce), 'h2'],
      servername: nonce.toString('base64'),
      // The certificate is self-signed by design; trust comes from the evidence below. No CA
      // list either (`ca: []`): Node would otherwise load its bundled roots for nothing (~20 ms
      // of a cold start).
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      ...(this.settings.clientContext ? { secureContext: this.settings.clientContext } : { ca: [] }),
    });
    try {
      await this.waitSecure(tlsSocket);
      if (tlsSocket.alpnProtocol !== 'h2') {
        throw new AttestationError(
          'alpn',
          `the Coordinator at ${this.settings.target} did not select h2 (got ${String(tlsSocket.alpnProtocol)}); it does not speak the user API`,
        );
      }
      const peer = tlsSocket.getPeerX509Certificate();
      if (!peer)
        throw new AttestationError(
          'certificate',
          `the Coordinator at ${this.settings.target} presented no certificate`,
        );
      const extension = extractAttestationExtension(peer.raw);
      checkServerCertificate(peer.raw, new Date());
      const reportData = bindingFor(spkiOf(peer), nonce);
      this.evidence = await this.settings.verifier.verify({
        oid: extension.oid,
        evidence: extension.value,
        reportData,
      });
      this.verifiedConnections++;
      this.lastError = undefined;
      return { socket: tlsSocket, secure: true };
    } catch (err) {
      tlsSocket.destroy();
      this.lastError =
        err instanceof RecoveryError
          ? err
          : new AttestationError('verifier', `evidence verification failed unexpectedly: ${errorMessage(err)}`, {
              cause: err,
            });
      throw this.lastError;
    }
  }

  private waitSecure(tlsSocket: tls.TLSSocket): Promise<void> {
    const { handshakeTimeoutMs, target } = this.settings;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new UnreachableError(
            `the Coordinator at ${target} did not complete the TLS handshake within ${handshakeTimeoutMs} ms; check the endpoint and that port 1313 is reachable`,
          ),
        );
      }, handshakeTimeoutMs);
      const onSecure = () => {
        cleanup();
        resolve();
      };
      const onError = (err: Error) => {
        cleanup();
        reject(
          new UnreachableError(`TLS handshake with the Coordinator at ${target} failed: ${err.message}`, {
            cause: err,
          }),
        );
      };
      const onClose = () => {
        cleanup();
        reject(new UnreachableError(`the Coordinator at ${target} closed the connection during the TLS handshake`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        tlsSocket.off('secureConnect', onSecure);
        tlsSocket.off('error', onError);
        tlsSocket.off('close', onClose);
      };
      tlsSocket.once('secureConnect', onSecure);
      tlsSocket.once('error', onError);
      tlsSocket.once('close', onClose);
    });
  }
}
