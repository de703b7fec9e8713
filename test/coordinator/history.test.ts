/**
 * The manifest history's identity over real sockets (issue 19 item 1): what GetManifests
 * answers, read by the client, against the emulator behaving as the state guard does
 * (edgelesssys/contrast coordinator/internal/stateguard/stateguard.go): UpdateState
 * (SetManifest) appends a transition — also for identical manifest bytes — while ResetState
 * (a user's Recover) and a peer recovery append none. Releases with the state guard return
 * the latest transition hash (coordinator/internal/userapi/userapi.go); the authority
 * generation does not (coordinator/internal/authority/userapi.go), and the ordered manifest
 * list stands in.
 */
import { createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInsecureTestingVerifier } from '../../testing/attestation/insecure-verifier.ts';
import { createClientCertificatePem } from '../../lambda/coordinator/client-certificate.ts';
import { CoordinatorSession, type ManifestsAnswer } from '../../lambda/coordinator/client.ts';
import { ownerKeyFromPem } from '../../lambda/coordinator/seedshares.ts';
import { CoordinatorEmulator, type EmulatedRelease } from '../../testing/coordinator-emulator.ts';
import { makeWorkspace, type Workspace } from '../../testing/workspace.ts';

let ws: Workspace;
const started: CoordinatorEmulator[] = [];
beforeAll(async () => {
  ws = await makeWorkspace({ modulusLength: 2048 });
});
afterAll(async () => {
  await Promise.all(started.map((e) => e.stop()));
});

async function emulator(release: EmulatedRelease = {}) {
  const emu = await CoordinatorEmulator.start({
    state: 'healthy',
    manifest: ws.manifest,
    seed: ws.seed,
    salt: ws.salt,
    release,
  });
  started.push(emu);
  return emu;
}

/** One GetManifests on a new connection, as a probe makes it (with the owner's key when it must Recover). */
async function look(emu: CoordinatorEmulator, recover = false): Promise<ManifestsAnswer> {
  const key = ownerKeyFromPem(Buffer.from(ws.ownerKeyPem));
  const s = new CoordinatorSession({
    endpoint: emu.endpoint,
    verifier: createInsecureTestingVerifier(),
    clientIdentity: {
      certPem: await createClientCertificatePem(key, createPublicKey(key)),
      keyPem: Buffer.from(ws.ownerKeyPem),
    },
    handshakeTimeoutMs: 2000,
    rpcTimeoutMs: 4000,
  });
  try {
    if (recover) {
      await s.getManifests().catch(() => {});
      await s.recover(Buffer.from(ws.seed), ws.salt, false);
    }
    return await s.getManifests();
  } finally {
    s.close();
  }
}

describe('the manifest history identity', () => {
  it('is the latest transition hash: stable across looks, kept by a Recover and a peer recovery, new on every SetManifest (identical bytes too)', async () => {
    const emu = await emulator();
    const first = await look(emu);
    expect(first.history).toMatch(/^transition:[0-9a-f]{64}$/);
    expect(first.history).toBe(`transition:${emu.latestTransitionHash!.toString('hex')}`);
    expect((await look(emu)).history).toBe(first.history);

    // A user's Recover: a new key, the same history.
    emu.restart();
    const recovered = await look(emu, true);
    expect(recovered.meshCaPem).not.toBe(first.meshCaPem);
    expect(recovered.history).toBe(first.history);

    // A peer recovery: a new certificate over the same key, the same history.
    emu.restart();
    await emu.peerRecover();
    const peer = await look(emu);
    expect(peer.meshCaPem).not.toBe(recovered.meshCaPem);
    expect(peer.history).toBe(first.history);

    // `contrast set` with the very same manifest bytes: a new transition all the same.
    await emu.setManifest(Buffer.from(ws.manifest));
    const set = await look(emu);
    expect(set.latestManifestSha256).toBe(first.latestManifestSha256);
    expect(set.history).not.toBe(first.history);
    expect(set.manifests).toHaveLength(2);
  });

  it('an authority-generation Coordinator returns no transition: the ordered manifest list names the history', async () => {
    const emu = await emulator({ recoverErrors: 'authority' });
    const first = await look(emu);
    expect(first.history).toMatch(/^manifest-list:[0-9a-f]{64}$/);
    expect((await look(emu)).history).toBe(first.history);
    await emu.setManifest(Buffer.from(ws.manifest));
    const set = await look(emu);
    expect(set.history).toMatch(/^manifest-list:/);
    expect(set.history).not.toBe(first.history);
  });
});
