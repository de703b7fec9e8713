/**
 * A one-replica deployment of a Contrast release before PR #1467 (merged 2025-05-20): the
 * Coordinator's readiness probe is a TCP check on 1313, so the stale Coordinator is Ready
 * (internal/kuberesource/parts.go of those releases). Runs that cannot name the restarted pod —
 * schedule, alarm, direct invocation, CLI — must still recover it: a pod whose Ready does not
 * mean "holds state" is never a peer (lambda/kubernetes/peers.ts). The same pod under the newer
 * probe (HTTP /probe/readiness on 9102) stays a peer, as Contrast counts it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { recoverCommand } from '../../cli/commands.ts';
import { createKubernetesSide, type KubernetesSide } from '../../lambda/kubernetes/index.ts';
import type { ReconcileResult } from '../../lambda/reconcile/types.ts';
import { createInsecureTestingVerifier } from '../../testing/attestation/insecure-verifier.ts';
import { CoordinatorEmulator } from '../../testing/coordinator-emulator.ts';
import { coordinatorTemplate, kubeconfigFor, manifestRbac, startKubeApi } from '../../testing/kube-api/index.ts';
import { makeWorkspace } from '../../testing/workspace.ts';
import { motoAvailable, motoEndpoint, SKIP_REASON, TEST_REGION } from '../support/aws.ts';
import { enroll } from '../support/fixture.ts';
import { captureOutput, setupFixture, type Fixture } from '../function/handler-fixture.ts';
import { alarmStateChange, directInvoke, lambdaContext, scheduledEvent } from '../function/samples.ts';

const TOKEN = 'stand-in-token';
let dir: string;
const cleanup: (() => Promise<void> | void)[] = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'car-tcp-ready-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

type Readiness = 'tcp' | 'state';

/** The stand-in with one Coordinator replica, Ready as the kubelet sees a stale one under `readiness`. */
async function oneReplica(readiness: Readiness) {
  const api = await startKubeApi({ tokens: [TOKEN], rbac: manifestRbac(['contrast']) });
  // Under the TCP probe a Coordinator in recovery mode listens on 1313 and is Ready.
  api.store.addStatefulSet('contrast', 'coordinator', {
    template: coordinatorTemplate({ readiness }),
    replicas: 1,
    startedAt: new Date(),
    ready: true,
  });
  const kubeconfig = kubeconfigFor(api.url, TOKEN, api.caData);
  const side = await createKubernetesSide({
    auth: { kind: 'kubeconfig', kubeconfig },
    coordinatorNamespace: 'contrast',
    namespaces: { kind: 'list', names: ['contrast'] },
  });
  cleanup.push(
    () => api.close(),
    () => side.close(),
  );
  return { api, side, kubeconfig };
}

const TRIGGERS = {
  schedule: () => scheduledEvent(),
  alarm: (fx: Fixture) => alarmStateChange(`${fx.deployment}-restarted`),
  'direct invocation': (fx: Fixture) => directInvoke(fx.deployment),
} as const;

async function invokeFunction(trigger: keyof typeof TRIGGERS, side: KubernetesSide) {
  const fx = await setupFixture({ overrides: { kubernetes: async () => side } });
  cleanup.push(() => fx.stop());
  const out = captureOutput();
  try {
    const response = await fx.handler(TRIGGERS[trigger](fx), lambdaContext());
    return { fx, result: response.results[0]! };
  } finally {
    out.restore();
  }
}

describe.skipIf(!motoAvailable)(
  `a one-replica Contrast release whose stale Coordinator reports Ready${motoAvailable ? '' : ` (${SKIP_REASON})`}`,
  () => {
    for (const trigger of Object.keys(TRIGGERS) as (keyof typeof TRIGGERS)[]) {
      it(`${trigger}: the stale Coordinator, Ready by TCP on 1313, is not its own peer — it is recovered`, async () => {
        const { side } = await oneReplica('tcp');
        const { fx, result } = await invokeFunction(trigger, side);
        expect(result.outcome, result.message).toBe('recovered');
        expect(fx.emu.recoverCalls).toHaveLength(1);
        expect(fx.emu.state).toBe('healthy');
        expect(result.readyPeers).toEqual([]);
        expect(result.message).toMatch(
          /coordinator-0 are Ready by a probe that does not say they hold state \(a Contrast release before PR #1467: TCP on 1313\), so they were not counted as peers/,
        );
      });
    }

    it('schedule: under the newer probe a Ready Coordinator pod holds state and stays a peer', async () => {
      const { side } = await oneReplica('state');
      const { fx, result } = await invokeFunction('schedule', side);
      expect(result.outcome).toBe('peers-available');
      expect(result.readyPeers).toEqual(['coordinator-0']);
      expect(fx.emu.recoverCalls).toHaveLength(0);
    });

    it('CLI recover (no pod named): the stale Coordinator, Ready by TCP on 1313, is recovered', async () => {
      const ws = await makeWorkspace();
      const emu = await CoordinatorEmulator.start({
        state: 'stale',
        manifest: ws.manifest,
        seed: ws.seed,
        salt: ws.salt,
      });
      cleanup.push(() => emu.stop());
      const { kubeconfig } = await oneReplica('tcp');
      const file = join(dir, 'kubeconfig');
      await writeFile(file, kubeconfig);
      const e = await enroll(ws);
      const saved = { ...process.env };
      Object.assign(process.env, {
        AWS_ENDPOINT_URL: motoEndpoint,
        AWS_REGION: TEST_REGION,
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
      });
      let stdout = '';
      const spy = vi
        .spyOn(process.stdout, 'write')
        .mockImplementation(((chunk: string) => ((stdout += chunk), true)) as typeof process.stdout.write);
      let code: number;
      try {
        code = await recoverCommand(
          {
            json: true,
            deployment: e.deployment,
            secretId: e.secretId,
            coordinator: emu.address,
            kubeconfig: file,
            coordinatorNamespace: 'contrast',
            namespace: ['contrast'],
          },
          'recover',
          { verifierFactory: () => createInsecureTestingVerifier() },
        );
      } finally {
        spy.mockRestore();
        process.env = saved;
      }
      const result = JSON.parse(stdout) as ReconcileResult;
      expect(result.outcome, result.message).toBe('recovered');
      expect(code).toBe(0);
      expect(emu.recoverCalls).toHaveLength(1);
    });
  },
);
