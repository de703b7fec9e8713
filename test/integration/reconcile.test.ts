/**
 * Reconcile end to end: the real AWS SDK against moto (KMS, Secrets Manager) and real
 * sockets to the Coordinator emulator. Covers every outcome reachable without Kubernetes
 * and the bad inputs of the bundle/KMS side.
 */
import { PutSecretValueCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { reconcile } from '../../lambda/reconcile/reconcile.ts';
import type { PeerChecker, RestartRequest, WorkloadRestarter } from '../../lambda/kubernetes/types.ts';
import { memoryRecordStore } from '../../lambda/reconcile/mesh-ca.ts';
import { motoAvailable, SKIP_REASON } from '../support/aws.ts';
import { CoordinatorEmulator, type EmulatorOptions } from '../../testing/coordinator-emulator.ts';
import { portsFor, enroll, targetFor, TEST_TIME, testTime } from '../support/fixture.ts';
import { cachedOwnerKey, makeWorkspace, pkcs1Hex, type Workspace } from '../../testing/workspace.ts';

let ws: Workspace;
const started: CoordinatorEmulator[] = [];
beforeAll(async () => {
  ws = await makeWorkspace();
});
afterEach(async () => {
  await Promise.all(started.splice(0).map((e) => e.stop()));
});

async function emulator(opts: Partial<EmulatorOptions> = {}) {
  const emu = await CoordinatorEmulator.start({
    state: 'stale',
    manifest: ws.manifest,
    seed: ws.seed,
    salt: ws.salt,
    ...opts,
  });
  started.push(emu);
  return emu;
}

describe.skipIf(!motoAvailable)(
  `reconcile against moto and the emulator${motoAvailable ? '' : ` (${SKIP_REASON})`}`,
  () => {
    it('recovers a stale Coordinator once; the second reconcile is a no-op without KMS', async () => {
      const e = await enroll(ws);
      const emu = await emulator();
      const first = await reconcile(targetFor(e, emu), portsFor(e), TEST_TIME);
      expect(first.outcome).toBe('recovered');
      expect(first.recoverSent).toBe(true);
      expect(first.kmsDecrypts).toBe(1);
      expect(first.drift).toBe(false);
      expect(first.kmsEncryptionContext?.['contrast-autorecover:deployment']).toBe(e.deployment);
      expect(first.steps.map((s) => s.step)).toEqual(['load-bundle', 'probe', 'decrypt', 'recover', 'confirm']);
      expect(e.kmsCalls.get('DecryptCommand')).toBe(1);

      const second = await reconcile(targetFor(e, emu), portsFor(e), TEST_TIME);
      expect(second.outcome).toBe('already-healthy');
      expect(second.kmsDecrypts).toBe(0);
      expect(e.kmsCalls.get('DecryptCommand')).toBe(1);
      expect(emu.recoverCalls).toHaveLength(1);
      // Probe without client cert, then one new connection for Recover + confirm, then the second probe.
      expect(emu.connections).toHaveLength(3);
      expect(emu.getManifestsCalls.map((c) => c.clientCert)).toEqual([false, true, false]);
    });

    it('recovers again after a second restart (nothing is cached)', async () => {
      const e = await enroll(ws);
      const emu = await emulator();
      expect((await reconcile(targetFor(e, emu), portsFor(e), TEST_TIME)).outcome).toBe('recovered');
      emu.restart();
      expect((await reconcile(targetFor(e, emu), portsFor(e), TEST_TIME)).outcome).toBe('recovered');
      expect(emu.recoverCalls.filter((c) => c.result === 'ok')).toHaveLength(2);
    });

    it('dry run verifies and decrypts but sends nothing', async () => {
      const e = await enroll(ws);
      const emu = await emulator();
      const r = await reconcile(targetFor(e, emu), portsFor(e), TEST_TIME, { dryRun: true });
      expect(r.outcome).toBe('dry-run-ok');
      expect(r.kmsDecrypts).toBe(1);
      expect(emu.recoverCalls).toHaveLength(0);
      expect(emu.state).toBe('stale');
    });

    it('status probes without KMS and reports a stale Coordinator', async () => {
      const e = await enroll(ws);
      const emu = await emulator();
      const r = await reconcile(targetFor(e, emu), portsFor(e), TEST_TIME, { statusOnly: true });
      expect(r.outcome).toBe('recovery-needed');
      expect(r.coordinatorState).toBe('stale');
      expect(e.kmsCalls.get('DecryptCommand') ?? 0).toBe(0);
    });

    it.each([
      ['no-state', { state: 'no-state' as const }, 'no-state', /no state to recover from/],
      [
        'legacy no-state',
        { state: 'no-state' as const, legacyNoStateMessage: true },
        'no-state',
        /no persisted transaction/,
      ],
      ['no manifest', { state: 'no-manifest' as const }, 'no-state', /no manifest configured/],
      ['peers refuse', { readyPeers: 2 }, 'peers-available', /2 recovered peers/],
    ])('%s → %s', async (_name, opts, outcome, message) => {
      const e = await enroll(ws);
      const emu = await emulator(opts);
      const r = await reconcile(targetFor(e, emu), portsFor(e), TEST_TIME);
      expect(r.outcome).toBe(outcome);
      expect(r.message).toMatch(message);
      expect(emu.state).not.toBe('healthy');
    });

    it('wrong seed → wrong-seed; nothing recovered', async () => {
      const e = await enroll(ws);
      const emu = await emulator({ seed: Buffer.alloc(64, 9) });
      const r = await reconcile(targetFor(e, emu), portsFor(e), TEST_TIME);
      expect(r.outcome).toBe('wrong-seed');
      expect(r.message).toMatch(/latest transition signature is invalid/);
    });

    it('an owner key the Coordinator does not list → unauthorized', async () => {
      const other = await cachedOwnerKey(1536);
      const manifest = Buffer.from(
        JSON.stringify({ ...JSON.parse(ws.manifest.toString()), SeedshareOwnerPubKeys: [pkcs1Hex(other.publicKey)] }),
      );
      const e = await enroll(ws);
      const emu = await emulator({ manifest });
      const r = await reconcile(targetFor(e, emu), portsFor(e), TEST_TIME);
      expect(r.outcome).toBe('unauthorized');
      expect(r.message).toMatch(/peer not authorized/);
    });

    it('a manifest set after enrollment → confirm-mismatch after Recover, drift reported', async () => {
      const e = await enroll(ws);
      const emu = await emulator();
      await emu.setManifest(Buffer.from(ws.manifest.toString().replace('"SANs"', '"SANs" ')));
      const r = await reconcile(targetFor(e, emu), portsFor(e), TEST_TIME);
      expect(r.outcome).toBe('confirm-mismatch');
      expect(r.drift).toBe(true);
      expect(r.message).toMatch(/re-enroll/);
    });

    it('refused attestation → attestation-failed, no KMS call, no Recover', async () => {
      const e = await enroll(ws);
      const emu = await emulator({ misbehave: 'wrong-nonce' });
      const r = await reconcile(targetFor(e, emu), portsFor(e), TEST_TIME);
      expect(r.outcome).toBe('attestation-failed');
      expect(r.kmsDecrypts).toBe(0);
      expect(e.kmsCalls.get('DecryptCommand') ?? 0).toBe(0);
      expect(emu.recoverCalls).toHaveLength(0);
    });

    it('a silent Coordinator → unreachable within bounded time', async () => {
      const e = await enroll(ws);
      const emu = await emulator({ misbehave: 'silent' });
      const t0 = Date.now();
      const r = await reconcile(targetFor(e, emu), portsFor(e), testTime({ handshakeTimeoutMs: 300 }));
      expect(r.outcome).toBe('unreachable');
      expect(Date.now() - t0).toBeLessThan(5000);
    });

    it('a bundle enrolled for another deployment does not decrypt here (context from configuration)', async () => {
      const e = await enroll(ws, 'alpha');
      const emu = await emulator();
      const r = await reconcile(targetFor(e, emu, 'beta'), portsFor(e), TEST_TIME);
      expect(r.outcome).toBe('bundle-invalid');
      expect(r.message).toMatch(/contrast-autorecover:deployment=beta/);
      expect(emu.recoverCalls).toHaveLength(0);
    });

    it('a swapped manifest in the secret breaks decryption', async () => {
      const e = await enroll(ws);
      const emu = await emulator();
      const current = JSON.parse(
        (await e.secrets.send(new GetSecretValueCommand({ SecretId: e.secretId }))).SecretString!,
      );
      const swapped = Buffer.from(ws.manifest.toString().replace('"SANs"', '"SANs"  '));
      current.manifest = swapped.toString('base64');
      await e.secrets.send(new PutSecretValueCommand({ SecretId: e.secretId, SecretString: JSON.stringify(current) }));
      const r = await reconcile(targetFor(e, emu), portsFor(e), TEST_TIME);
      expect(r.outcome).toBe('bundle-invalid');
      expect(r.message).toMatch(/manifest or seed shares changed after enrollment/);
      expect(emu.recoverCalls).toHaveLength(0);
    });

    it('a missing secret and an unknown bundle version are bundle-invalid with what to do', async () => {
      const e = await enroll(ws);
      const emu = await emulator();
      const missing = await reconcile({ ...targetFor(e, emu), secretId: 'does-not-exist' }, portsFor(e), TEST_TIME);
      expect(missing.outcome).toBe('bundle-invalid');
      expect(missing.message).toMatch(/does not exist.*enroll/);
      const current = JSON.parse(
        (await e.secrets.send(new GetSecretValueCommand({ SecretId: e.secretId }))).SecretString!,
      );
      await e.secrets.send(
        new PutSecretValueCommand({ SecretId: e.secretId, SecretString: JSON.stringify({ ...current, version: 7 }) }),
      );
      const unknown = await reconcile(targetFor(e, emu), portsFor(e), TEST_TIME);
      expect(unknown.outcome).toBe('bundle-invalid');
      expect(unknown.message).toMatch(/version 7/);
    });

    it('Force is sent only when asked for', async () => {
      const e = await enroll(ws);
      const emu = await emulator({ readyPeers: 1 });
      const r = await reconcile(targetFor(e, emu), portsFor(e), TEST_TIME, { force: true });
      expect(r.outcome).toBe('recovered');
      expect(r.force).toBe(true);
      expect(emu.recoverCalls.map((c) => c.force)).toEqual([true]);
    });

    describe('Kubernetes steps (3 and 6) as injected dependencies', () => {
      function fakeKube(readyPeers: string[], complete = true) {
        const requests: RestartRequest[] = [];
        const peers: PeerChecker = {
          readyPeers: async () => ({ readyPeers, coordinatorPods: ['coordinator-0', ...readyPeers] }),
        };
        const restarts: WorkloadRestarter = {
          restartStale: async (req) => {
            requests.push(req);
            return {
              meshCaSpkiSha256: req.meshCa.spkiSha256,
              complete,
              staleWorkloads: complete ? 0 : 1,
              results: [
                {
                  kind: 'Deployment',
                  namespace: 'default',
                  name: 'web',
                  status: complete ? 'restarted' : 'failed',
                  method: 'rollout-restart',
                },
              ],
            };
          },
        };
        let loads = 0;
        return { requests, kubernetes: async () => (loads++, { peers, restarts }), loads: () => loads };
      }

      it('a Ready peer means no user recovery and no KMS call', async () => {
        const e = await enroll(ws);
        const emu = await emulator();
        const kube = fakeKube(['coordinator-1']);
        const r = await reconcile(
          targetFor(e, emu),
          portsFor(e, undefined, { kubernetes: kube.kubernetes }),
          TEST_TIME,
        );
        expect(r.outcome).toBe('peers-available');
        expect(r.kmsDecrypts).toBe(0);
        expect(emu.recoverCalls).toHaveLength(0);
      });

      it('restarts after recovery against the new mesh CA key, records completion, and skips Kubernetes next time', async () => {
        const e = await enroll(ws);
        const emu = await emulator();
        const kube = fakeKube([]);
        const records = memoryRecordStore();
        const deps = portsFor(e, undefined, { kubernetes: kube.kubernetes, records });
        const r = await reconcile(targetFor(e, emu), deps, TEST_TIME);
        expect(r.outcome).toBe('recovered');
        expect(kube.requests).toHaveLength(1);
        expect(kube.requests[0]!.meshCa.spkiSha256).toBe(emu.meshCaSpkiSha256);
        expect(kube.requests[0]!.mode).toBe('restart');
        expect(r.meshCa).toMatchObject({ spkiSha256: emu.meshCaSpkiSha256, cause: 'recover' });
        expect(records.record.meshCa?.restartsCompleteAt).toEqual(expect.any(Number));
        const loadsBefore = kube.loads();
        const again = await reconcile(targetFor(e, emu), deps, TEST_TIME);
        expect(again.outcome).toBe('already-healthy');
        expect(kube.loads()).toBe(loadsBefore);
      });

      it('a crash between Recover and restarts is finished by the next reconcile (restarts-finished)', async () => {
        const e = await enroll(ws);
        const emu = await emulator();
        const records = memoryRecordStore();
        // First reconcile without Kubernetes: simulates the crash after Recover.
        expect((await reconcile(targetFor(e, emu), portsFor(e, undefined, { records }), TEST_TIME)).outcome).toBe(
          'recovered',
        );
        const kube = fakeKube([]);
        const r = await reconcile(
          targetFor(e, emu),
          portsFor(e, undefined, { kubernetes: kube.kubernetes, records }),
          TEST_TIME,
        );
        expect(r.outcome).toBe('restarts-finished');
        expect(kube.requests[0]).toMatchObject({
          mode: 'restart',
          meshCa: { createdAt: new Date(records.record.attempts[0]!.at) },
        });
        expect(r.kmsDecrypts).toBe(0);
        expect(emu.recoverCalls).toHaveLength(1);
      });

      it('incomplete restarts → restart-partial, and no completion record', async () => {
        const e = await enroll(ws);
        const emu = await emulator();
        const records = memoryRecordStore();
        const r = await reconcile(
          targetFor(e, emu),
          portsFor(e, undefined, { kubernetes: fakeKube([], false).kubernetes, records }),
          TEST_TIME,
        );
        expect(r.outcome).toBe('restart-partial');
        expect(records.record.meshCa?.restartsCompleteAt).toBeUndefined();
      });
    });
  },
);
