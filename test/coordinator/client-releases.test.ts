/**
 * Recover per Contrast release (docs/compatibility.md), against the emulator answering as each
 * release: the UserAPI's gRPC package before and after its rename (the session finds the one
 * the Coordinator serves and remembers it), the seed-share owner key as the authorized client
 * key in all of them, and each generation's refusals classified to the right outcome.
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInsecureTestingVerifier } from '../../testing/attestation/insecure-verifier.ts';
import { createClientCertificatePem } from '../../lambda/coordinator/client-certificate.ts';
import { CoordinatorSession, USER_API_SERVICES } from '../../lambda/coordinator/client.ts';
import { ownerKeyFromPem } from '../../lambda/coordinator/seedshares.ts';
import { RecoveryError } from '../../lambda/shared/errors.ts';
import { CoordinatorEmulator, type EmulatedRelease } from '../../testing/coordinator-emulator.ts';
import { makeWorkspace, type Workspace } from '../../testing/workspace.ts';

let ws: Workspace;
/** A key that owns no share of this deployment. */
let other: Pick<Workspace, 'ownerKeyPem'>;
const started: CoordinatorEmulator[] = [];
beforeAll(async () => {
  ws = await makeWorkspace({ modulusLength: 2048 });
  other = {
    ownerKeyPem: Buffer.from(
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }),
    ),
  };
});
afterAll(async () => {
  await Promise.all(started.map((e) => e.stop()));
});

async function emulator(release: EmulatedRelease, state: 'stale' | 'healthy' | 'no-state' = 'stale', readyPeers = 0) {
  const emu = await CoordinatorEmulator.start({
    state,
    manifest: ws.manifest,
    seed: ws.seed,
    salt: ws.salt,
    release,
    readyPeers,
  });
  started.push(emu);
  return emu;
}

async function session(emu: CoordinatorEmulator, owner: Pick<Workspace, 'ownerKeyPem'> = ws) {
  const key = ownerKeyFromPem(Buffer.from(owner.ownerKeyPem));
  const certPem = await createClientCertificatePem(key, createPublicKey(key));
  return new CoordinatorSession({
    endpoint: emu.endpoint,
    verifier: createInsecureTestingVerifier(),
    clientIdentity: { certPem, keyPem: Buffer.from(owner.ownerKeyPem) },
    handshakeTimeoutMs: 2000,
    rpcTimeoutMs: 4000,
  });
}

async function outcomeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    expect(err).toBeInstanceOf(RecoveryError);
    return (err as RecoveryError).outcome;
  }
}

describe('the UserAPI package per release', () => {
  it('a Coordinator from before the 2024-12 rename (package userapi) is recovered through the old path', async () => {
    const emu = await emulator({ userApiPackage: 'userapi' });
    const s = await session(emu);
    // Reconcile's probe comes first: its GetManifests finds the package (here by a stale refusal on the old one).
    await expect(s.getManifests()).rejects.toThrow(/recovery mode/);
    await s.recover(Buffer.from(ws.seed), ws.salt, false);
    const answer = await s.getManifests();
    s.close();
    expect(emu.recoverCalls).toEqual([expect.objectContaining({ result: 'ok' })]);
    expect(answer.manifests).toHaveLength(1);
  });

  it('a current Coordinator is reached on the current path only', async () => {
    expect(USER_API_SERVICES[0]).toBe('/edgelesssys.contrast.userapi.UserAPI');
    const emu = await emulator({}, 'healthy');
    const s = await session(emu);
    await s.getManifests();
    s.close();
    expect(emu.getManifestsCalls).toHaveLength(1);
  });

  it('the fallback is not a way around a refusal: an unknown method on both packages stays an error', async () => {
    const emu = await emulator({ userApiPackage: 'userapi' }, 'no-state');
    const s = await session(emu);
    await s.getManifests().catch(() => {});
    expect(await outcomeOf(s.recover(Buffer.from(ws.seed), ws.salt, false))).toBe('no-state');
    s.close();
  });

  it('Recover is never retried on the other package: without a probe, an old Coordinator gets one Recover, answered UNIMPLEMENTED', async () => {
    const emu = await emulator({ userApiPackage: 'userapi' });
    const s = await session(emu);
    const err = await s.recover(Buffer.from(ws.seed), ws.salt, false).catch((e: unknown) => e);
    s.close();
    expect(err).toMatchObject({ outcome: 'unreachable', refusedByCoordinator: false });
    expect(emu.recoverCalls).toEqual([]);
  });
});

describe("each generation's refusals", () => {
  it.each([
    ['current', 'unauthorized', 'wrong-seed', 'peers-available'],
    ['wrapped', 'unauthorized', 'wrong-seed', 'peers-available'],
    ['authority', 'unauthorized', 'wrong-seed', 'recovered'],
  ] as const)(
    '%s: foreign key → %s, wrong seed → %s, Ready peers without Force → %s',
    async (style, foreign, wrongSeed, peers) => {
      const a = await emulator({ recoverErrors: style });
      const byOther = await session(a, other);
      expect(await outcomeOf(byOther.recover(Buffer.from(ws.seed), ws.salt, false))).toBe(foreign);
      byOther.close();
      const s = await session(a);
      expect(await outcomeOf(s.recover(Buffer.alloc(64, 9), ws.salt, false))).toBe(wrongSeed);
      s.close();
      const b = await emulator({ recoverErrors: style }, 'stale', 2);
      const p = await session(b);
      expect(await outcomeOf(p.recover(Buffer.from(ws.seed), ws.salt, false))).toBe(
        peers === 'recovered' ? 'ok' : peers,
      );
      p.close();
    },
  );

  it('the early generation names a Coordinator without history in its own words', async () => {
    const emu = await emulator({ recoverErrors: 'authority' }, 'no-state');
    const s = await session(emu);
    expect(await outcomeOf(s.recover(Buffer.from(ws.seed), ws.salt, false))).toBe('no-state');
    s.close();
  });
});
