/**
 * aTLS over real sockets against the Coordinator emulator: the evidence must be verified
 * before any request byte is written, exactly one extension, bound to this connection's
 * nonce and key; silent endpoints time out within bounds.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createProductionVerifier } from '../../lambda/attestation/production.ts';
import { createInsecureTestingVerifier } from '../../testing/attestation/insecure-verifier.ts';
import { createClientCertificatePem } from '../../lambda/coordinator/client-certificate.ts';
import { CoordinatorNotListeningError, CoordinatorSession } from '../../lambda/coordinator/client.ts';
import { AttestationError, RecoveryError } from '../../lambda/shared/errors.ts';
import { CoordinatorEmulator, type Misbehaviour } from '../../testing/coordinator-emulator.ts';
import { makeWorkspace, type Workspace } from '../../testing/workspace.ts';
import { ownerKeyFromPem } from '../../lambda/coordinator/seedshares.ts';

let ws: Workspace;
const started: CoordinatorEmulator[] = [];
beforeAll(async () => {
  ws = await makeWorkspace();
});
afterEach(async () => {
  await Promise.all(started.splice(0).map((e) => e.stop()));
});

async function emulator(state: 'stale' | 'healthy', misbehave: Misbehaviour = 'none') {
  const emu = await CoordinatorEmulator.start({
    state,
    manifest: ws.manifest,
    seed: ws.seed,
    salt: ws.salt,
    misbehave,
  });
  started.push(emu);
  return emu;
}

function session(
  emu: CoordinatorEmulator,
  verifier = createInsecureTestingVerifier(),
  extra: Partial<ConstructorParameters<typeof CoordinatorSession>[0]> = {},
) {
  return new CoordinatorSession({
    endpoint: emu.endpoint,
    verifier,
    handshakeTimeoutMs: 2000,
    rpcTimeoutMs: 4000,
    ...extra,
  });
}

async function failure(p: Promise<unknown>): Promise<RecoveryError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RecoveryError);
    return err as RecoveryError;
  }
  throw new Error('expected a failure');
}

describe('aTLS connector', () => {
  it('sends a fresh 32-byte nonce in ALPN and SNI and accepts evidence bound to it', async () => {
    const emu = await emulator('healthy');
    const s = session(emu);
    const answer = await s.getManifests();
    s.close();
    expect(answer.latestManifestSha256).toBe(createHash('sha256').update(ws.manifest).digest('hex'));
    expect(s.verifiedConnections).toBe(1);
    expect(s.evidence?.kind).toBe('testing');
    const conn = emu.connections[0]!;
    expect(conn.alpnNonce).toMatch(/^[0-9a-f]{64}$/);
    expect(conn.sniNonce).toBe(conn.alpnNonce);
    // base64 of 32 bytes always ends in "=": such an SNI must pass Node's TLS stack both ways.
    expect(conn.servername).toMatch(/=$/);
    const s2 = session(emu);
    await s2.getManifests();
    s2.close();
    expect(emu.connections[1]!.alpnNonce).not.toBe(conn.alpnNonce);
  });

  it('works with an older Coordinator that reads the nonce only from SNI', async () => {
    const emu = await emulator('healthy', 'sni-only');
    const s = session(emu);
    await expect(s.getManifests()).resolves.toBeDefined();
    s.close();
  });

  it.each([
    ['wrong-nonce', 'binding', /bound to another key or nonce/],
    ['wrong-key', 'binding', /bound to another key or nonce/],
    ['two-extensions', 'extension', /2 attestation extensions.*exactly one/],
    ['no-extension', 'extension', /no attestation extension/],
  ] as const)('refuses %s before writing any request', async (misbehave, check, message) => {
    const emu = await emulator('healthy', misbehave);
    const s = session(emu);
    const err = await failure(s.getManifests());
    s.close();
    expect(err).toBeInstanceOf(AttestationError);
    expect(err.outcome).toBe('attestation-failed');
    expect((err as AttestationError).check).toBe(check);
    expect(err.message).toMatch(message);
    expect(emu.getManifestsCalls).toHaveLength(0);
    expect(emu.recoverCalls).toHaveLength(0);
  });

  // C internal/atls/atls.go processCertificate: Go's cert.Verify with the certificate as its own root.
  describe('processCertificate (Go x509 Verify of the server certificate)', () => {
    it.each([
      ['critical-extension', 'certificate.critical-extension', /1\.3\.6\.1\.4\.1\.99999\.1 critical/],
      ['client-auth-eku', 'certificate.ext-key-usage', /not ServerAuth/],
    ] as const)('refuses %s before writing any request', async (misbehave, check, message) => {
      const emu = await emulator('healthy', misbehave);
      const s = session(emu);
      const err = await failure(s.getManifests());
      s.close();
      expect((err as AttestationError).check).toBe(check);
      expect(err.outcome).toBe('attestation-failed');
      expect(err.message).toMatch(message);
      expect(emu.getManifestsCalls).toHaveLength(0);
    });

    it.each([
      ['three hours ahead (not yet valid)', 3],
      ['three hours behind (expired)', -3],
    ])('refuses a certificate issued by a Coordinator whose clock is %s', async (_label, hours) => {
      const emu = await CoordinatorEmulator.start({
        state: 'healthy',
        manifest: ws.manifest,
        seed: ws.seed,
        salt: ws.salt,
        clock: () => Date.now() + hours * 3600_000,
      });
      started.push(emu);
      const s = session(emu);
      const err = await failure(s.getManifests());
      s.close();
      expect((err as AttestationError).check).toBe('certificate.validity');
      expect(err.message).toMatch(/is not valid at/);
      expect(emu.getManifestsCalls).toHaveLength(0);
    });

    it('accepts a Coordinator clock an hour off: the certificate is valid ±2 h', async () => {
      for (const hours of [1, -1]) {
        const emu = await CoordinatorEmulator.start({
          state: 'healthy',
          manifest: ws.manifest,
          seed: ws.seed,
          salt: ws.salt,
          clock: () => Date.now() + hours * 3600_000,
        });
        started.push(emu);
        const s = session(emu);
        await expect(s.getManifests()).resolves.toBeDefined();
        s.close();
      }
    });
  });

  it('the production verifier refuses the insecure testing evidence; nothing is sent', async () => {
    const emu = await emulator('stale');
    const s = session(
      emu,
      createProductionVerifier({
        referenceValues: { shape: 'cpus', snp: [], tdx: [] },
        coordinatorPolicyHashes: [ws.coordinatorPolicyHash],
      }),
    );
    const err = await failure(s.recover(Buffer.from(ws.seed), ws.salt, false));
    s.close();
    expect(err.outcome).toBe('attestation-failed');
    expect(emu.recoverCalls).toHaveLength(0);
  });

  it('gives up on a silent endpoint within the handshake timeout', async () => {
    const emu = await emulator('stale', 'silent');
    const s = session(emu, createInsecureTestingVerifier(), { handshakeTimeoutMs: 300, rpcTimeoutMs: 5000 });
    const t0 = Date.now();
    const err = await failure(s.getManifests());
    s.close();
    expect(err.outcome).toBe('unreachable');
    expect(err.message).toMatch(/did not complete the TLS handshake within 300 ms/);
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it('reports a closed port as unreachable within the RPC deadline', async () => {
    const srv: Server = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const s = new CoordinatorSession({
      endpoint: { host: '127.0.0.1', port },
      verifier: createInsecureTestingVerifier(),
      handshakeTimeoutMs: 2000,
      rpcTimeoutMs: 1500,
    });
    const t0 = Date.now();
    const err = await failure(s.getManifests());
    s.close();
    expect(err.outcome).toBe('unreachable');
    expect(err.message).toMatch(/nothing listens at the Coordinator's address .*connection refused/);
    expect(err).toBeInstanceOf(CoordinatorNotListeningError);
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it('presents the owner key as client certificate, which the Coordinator authorises', async () => {
    const emu = await emulator('stale');
    const key = ownerKeyFromPem(ws.ownerKeyPem);
    const certPem = await createClientCertificatePem(key, createPublicKey(key));
    const keyPem = Buffer.from(ws.ownerKeyPem);
    const s = session(emu, createInsecureTestingVerifier(), { clientIdentity: { certPem, keyPem } });
    expect(keyPem.every((b) => b === 0)).toBe(true);
    await s.recover(Buffer.from(ws.seed), ws.salt, false);
    const answer = await s.getManifests();
    s.close();
    expect(answer.meshCaPem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(s.verifiedConnections).toBe(1);
    const expected = createHash('sha256')
      .update(createPublicKey(key).export({ type: 'pkcs1', format: 'der' }))
      .digest('hex');
    expect(emu.recoverCalls).toEqual([{ force: false, clientKeySha256: expected, result: 'ok' }]);
  });

  it('without a client certificate Recover is refused as unauthorized', async () => {
    const emu = await emulator('stale');
    const s = session(emu);
    const err = await failure(s.recover(Buffer.from(ws.seed), ws.salt, false));
    s.close();
    expect(err.outcome).toBe('unauthorized');
    expect(err.message).toMatch(/PERMISSION_DENIED: peer not authorized/);
  });
});
