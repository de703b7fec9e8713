/**
 * A forged or stuck peer: a pod that Contrast's rule counts as a Ready Coordinator peer (label,
 * pod-role annotation, Ready under the HTTP readiness probe) while the Coordinator stays stale.
 * Contrast's peer recovery tries every 15 s (PEER_RECOVERY_INTERVAL_MS); past
 * PEERS_STUCK_AFTER_MS of runs that found such peers the run ends `peers-stuck` — its own
 * outcome, metric, result event detail and alarm — instead of an OK `peers-available` forever.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PEERS_STUCK_AFTER_MS } from '../../lambda/kubernetes/contrast.ts';
import { createKubernetesSide, type KubernetesSide } from '../../lambda/kubernetes/index.ts';
import { EVENTS, METRIC } from '../../lambda/shared/contract.ts';
import {
  coordinatorTemplate,
  kubeconfigFor,
  manifestRbac,
  startKubeApi,
  type KubeApi,
} from '../../testing/kube-api/index.ts';
import { motoAvailable, SKIP_REASON } from '../support/aws.ts';
import { auditRecords, captureOutput, emfRecords, setupFixture, type Fixture } from './handler-fixture.ts';
import { lambdaContext, scheduledEvent } from './samples.ts';

const TOKEN = 'stand-in-token';
let fx: Fixture | undefined;
let api: KubeApi | undefined;
let side: KubernetesSide | undefined;
let out: ReturnType<typeof captureOutput>;
beforeEach(() => {
  out = captureOutput();
});
afterEach(async () => {
  out.restore();
  side?.close?.();
  await api?.close();
  await fx?.stop();
  fx = api = side = undefined;
});

describe.skipIf(!motoAvailable)(
  `a Ready peer that never recovers the Coordinator${motoAvailable ? '' : ` (${SKIP_REASON})`}`,
  () => {
    it('is peers-available until the bound, then peers-stuck with its metric, event detail and audit; once gone, the Coordinator is recovered', async () => {
      api = await startKubeApi({ tokens: [TOKEN], rbac: manifestRbac(['contrast']) });
      // The stale Coordinator (not Ready under the HTTP probe) and a forged "peer" Ready beside it.
      api.store.addPod('contrast', 'coordinator-0', { template: coordinatorTemplate(), ready: false });
      api.store.addPod('contrast', 'coordinator-forged', { template: coordinatorTemplate(), ready: true });
      const k8s = await createKubernetesSide({
        auth: { kind: 'kubeconfig', kubeconfig: kubeconfigFor(api.url, TOKEN, api.caData) },
        coordinatorNamespace: 'contrast',
        namespaces: { kind: 'list', names: ['contrast'] },
      });
      side = k8s;
      fx = await setupFixture();
      const f = fx;
      const t0 = Date.now();
      const at = (ms: number) => f.makeHandler({ kubernetes: async () => k8s, now: () => Date.now() + ms });
      const run = async (ms: number) => (await at(ms)(scheduledEvent(), lambdaContext())).results[0]!;
      const record = async () => (await f.lock.snapshot(f.deployment)).record;

      const first = await run(0);
      expect(first.outcome).toBe('peers-available');
      const since = (await record()).peersSince!;
      expect(since).toBeGreaterThanOrEqual(t0);

      const second = await run(PEERS_STUCK_AFTER_MS - 30_000);
      expect(second.outcome).toBe('peers-available');
      expect((await record()).peersSince).toBe(since); // kept, not moved

      out.lines.length = 0;
      f.events.length = 0;
      const third = await run(PEERS_STUCK_AFTER_MS + 1_000);
      expect(third.outcome).toBe('peers-stuck');
      expect(third.message).toMatch(
        /Ready peer Coordinator\(s\) coordinator-forged have been counted since .* while this Coordinator stayed stale; Contrast's peer recovery tries every 15 s, so they are stuck or not Coordinators at all \(a forged pod\)/,
      );
      expect(third.kmsDecrypts).toBe(0);
      expect(f.emu.recoverCalls).toHaveLength(0);
      // Its own metric (the PeersStuck alarm's), a failed result event naming the pods, an audit record.
      const metrics = emfRecords(out.json()).flatMap((r) =>
        r._aws.CloudWatchMetrics.flatMap((m) => m.Metrics.map((x) => x.Name)),
      );
      expect(metrics).toContain(METRIC.outcome('peers-stuck'));
      const event = f.events.find((e) => e.DetailType === EVENTS.resultDetailTypes.failed)!;
      const detail = JSON.parse(event.Detail!) as Record<string, unknown>;
      expect(detail.outcome).toBe('peers-stuck');
      expect(detail.peers).toEqual({
        ready: ['coordinator-forged'],
        since: new Date(since).toISOString(),
        minutes: expect.any(Number),
      });
      expect((detail.peers as { minutes: number }).minutes).toBeGreaterThanOrEqual(PEERS_STUCK_AFTER_MS / 60_000);
      expect(auditRecords(out.json()).map((a) => a.outcome)).toEqual(['peers-stuck']);

      // The forged pod is deleted: the next run recovers, and the record forgets the peers.
      api.store.remove('pods', 'contrast', 'coordinator-forged');
      const fourth = await run(PEERS_STUCK_AFTER_MS + 60_000);
      expect(fourth.outcome, fourth.message).toBe('recovered');
      expect((await record()).peersSince).toBeUndefined();
    });
  },
);
