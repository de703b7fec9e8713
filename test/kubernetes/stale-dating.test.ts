/**
 * Issue #19 items 4 and 5, and the margin gaps (#19 "a certificate fetched just before the
 * restart", #21 item 6 "+2.5 s of cluster skew"): when a pod got its certificate, over a real
 * socket to the stand-in, whose kubelet runs init containers after a native sidecar as
 * Kubernetes does (the next one starts once the sidecar reports started).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CLOCK_SKEW_MARGIN_MS } from '../../lambda/kubernetes/index.ts';
import { contrastTemplate, coordinatorTemplate, type PodTemplate } from '../../testing/kube-api/index.ts';
import { request, setup, teardown, type Env } from './helpers.ts';

const NS = 'contrast';
const MIN = 60_000;

function statuses(summary: { results: { name: string; status: string }[] }): Record<string, string> {
  return Object.fromEntries(summary.results.map((r) => [r.name, r.status]));
}

/** Contrast's secure-PV pod: the initializer as a native sidecar, then the workload's own init container. */
function securePv(app: string, laterInit = true): PodTemplate {
  const t = contrastTemplate(app);
  const inits = t.spec.initContainers as { name: string; image: string; restartPolicy?: string }[];
  inits[0]!.restartPolicy = 'Always';
  if (laterInit) inits.push({ name: 'migrate', image: `example/${app}-migrate:1` });
  return t;
}

/** Whole seconds, as Kubernetes reports times. */
const second = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);

describe('secure-PV pods: the initializer as a native sidecar (issue #19 item 5)', () => {
  let env: Env | undefined;
  afterEach(async () => {
    await teardown(env);
    env = undefined;
  });

  it("is dated by the next init container's start, not by Initialized after the later init containers", async () => {
    env = await setup({});
    const s = env.api.store;
    const key = second(Date.now() - 30 * MIN);
    // The workload's own init container runs 10 minutes after the sidecar reported started.
    s.laterInitRunMs = 10 * MIN;
    s.addPod(NS, 'pv-db', {
      template: securePv('pv-db'),
      startedAt: new Date(key.getTime() - 6 * MIN),
      initializerFinishedAt: new Date(key.getTime() - 5 * MIN),
    });
    s.addPod(NS, 'pv-fresh', {
      template: securePv('pv-fresh'),
      startedAt: new Date(key.getTime() + MIN),
      initializerFinishedAt: new Date(key.getTime() + 2 * MIN),
    });
    // The stand-in as the kubelet: the later init container started when the sidecar did, Initialized after it.
    const status = s.get('pods', NS, 'pv-db')!.status!;
    const init = status.initContainerStatuses as { name: string; started: boolean; state: Record<string, any> }[];
    expect(init.map((c) => [c.name, Object.keys(c.state)[0], c.started])).toEqual([
      ['contrast-initializer', 'running', true],
      ['migrate', 'terminated', false],
    ]);
    expect(Date.parse(init[1]!.state.terminated.startedAt)).toBe(key.getTime() - 5 * MIN);
    const initialized = (status.conditions as { type: string; lastTransitionTime: string }[]).find(
      (c) => c.type === 'Initialized',
    )!;
    expect(Date.parse(initialized.lastTransitionTime)).toBe(key.getTime() + 5 * MIN);

    const summary = await env.side.restarts.restartStale(request('list', key));
    expect(statuses(summary)).toEqual({ 'pv-db': 'would-restart', 'pv-fresh': 'skipped' });
    expect(summary.pods!.find((p) => p.name === 'pv-db')).toMatchObject({
      status: 'lost-ca',
      reason: expect.stringMatching(
        /the init container after the initializer sidecar started\), before the mesh CA key/,
      ),
    });
  });

  it('without a later init container, by Initialized (the moment the sidecar reported started)', async () => {
    env = await setup({});
    const key = second(Date.now() - 30 * MIN);
    env.api.store.addPod(NS, 'pv-only', {
      template: securePv('pv-only', false),
      startedAt: new Date(key.getTime() - 6 * MIN),
      initializerFinishedAt: new Date(key.getTime() - 5 * MIN),
    });
    const summary = await env.side.restarts.restartStale(request('list', key));
    expect(statuses(summary)).toEqual({ 'pv-only': 'would-restart' });
    expect(summary.pods![0]!.reason).toMatch(/pod Initialized after the initializer sidecar started/);
  });

  it('a sidecar that restarted after the key keeps the date of its first certificate', async () => {
    env = await setup({});
    const key = second(Date.now() - 30 * MIN);
    env.api.store.addPod(NS, 'pv-restarted', {
      template: securePv('pv-restarted'),
      startedAt: new Date(key.getTime() - 6 * MIN),
      initializerFinishedAt: new Date(key.getTime() - 5 * MIN),
      sidecarRestartedAt: new Date(key.getTime() + 10 * MIN),
    });
    const init = (env.api.store.get('pods', NS, 'pv-restarted')!.status!.initContainerStatuses as any[])[0];
    expect(init.restartCount).toBe(1);
    expect(Date.parse(init.state.running.startedAt)).toBe(key.getTime() + 10 * MIN);
    expect(statuses(await env.side.restarts.restartStale(request('list', key)))).toEqual({
      'pv-restarted': 'would-restart',
    });
  });
});

describe('the Coordinator-start bound (issue #19 item 4; #21 item 6)', () => {
  let env: Env | undefined;
  afterEach(async () => {
    await teardown(env);
    env = undefined;
  });

  /**
   * The Coordinator container restarted at `coordinatorStart` (cluster clock); pods finished at
   * the given cluster times. Returns the pod statuses of a list run with the given request.
   */
  async function judge(
    coordinatorStart: Date,
    pods: Record<string, Date>,
    req: { intent: Date; recoveredKeyMadeAfter?: Date },
  ): Promise<Record<string, string>> {
    env = await setup({});
    const s = env.api.store;
    s.addStatefulSet(NS, 'coordinator', { template: coordinatorTemplate(), startedAt: coordinatorStart });
    for (const [name, at] of Object.entries(pods))
      s.addPod(NS, name, {
        template: contrastTemplate(name),
        startedAt: new Date(at.getTime() - 1000),
        initializerFinishedAt: at,
      });
    const summary = await env.side.restarts.restartStale({
      ...request('list', req.intent),
      ...(req.recoveredKeyMadeAfter ? { recoveredKeyMadeAfter: req.recoveredKeyMadeAfter } : {}),
    });
    if (req.recoveredKeyMadeAfter && summary.coordinatorStartedAt)
      expect(Date.parse(summary.coordinatorStartedAt)).toBe(second(coordinatorStart.getTime()).getTime());
    return statuses(summary);
  }

  it('a certificate fetched just before the restart, within the margin of the intent, is stale', async () => {
    const intent = second(Date.now() - 10 * MIN);
    const coordinatorStart = new Date(intent.getTime() - 1000);
    const pods = {
      // Got its certificate from the old Coordinator 1.5 s before the intent: inside the 2 s margin.
      'just-before': new Date(intent.getTime() - 1500),
      // The same second as the Coordinator's start counts as stale.
      'same-second': new Date(coordinatorStart.getTime() + 400),
      'after-recover': new Date(intent.getTime() + 30_000),
    };
    const recovered = { intent, recoveredKeyMadeAfter: new Date(intent.getTime() + 3000) };
    expect(await judge(coordinatorStart, pods, recovered)).toEqual({
      'just-before': 'would-restart',
      'same-second': 'would-restart',
      'after-recover': 'skipped',
    });
    await teardown(env);
    // An observed key (no Recover known to have made it) gets no such bound: only the margin.
    expect(await judge(coordinatorStart, pods, { intent })).toEqual({
      'just-before': 'skipped',
      'same-second': 'skipped',
      'after-recover': 'skipped',
    });
  });

  it('closes the +2.5 s cluster-skew gap: both times are on the cluster clock', async () => {
    // Real time: the old Coordinator died 1 s before the intent, a pod got its certificate 2 s
    // before the intent, the Recover's key was made 1.5 s after it. The cluster's clocks run 2.5 s ahead.
    const intent = second(Date.now() - 10 * MIN).getTime();
    const skew = 2500;
    const coordinatorStart = new Date(intent - 1000 + skew);
    const pod = new Date(intent - 2000 + skew);
    // The margin alone misses it: on the cluster's clock it finished after the intent.
    expect(pod.getTime()).toBeGreaterThan(intent - CLOCK_SKEW_MARGIN_MS);
    // NotBefore + 1 h of the Recover's certificate, on the Coordinator's (equally skewed) clock.
    const keyMade = new Date(intent + 1500 + skew);
    expect(
      await judge(coordinatorStart, { skewed: pod }, { intent: new Date(intent), recoveredKeyMadeAfter: keyMade }),
    ).toEqual({ skewed: 'would-restart' });
  });

  it('never applies where a running Coordinator may have been handed the key (started after the key may have existed)', async () => {
    const intent = second(Date.now() - 10 * MIN);
    // This Coordinator started a minute after the Recover: a peer handed it the key, so pods
    // that got certificates of that key before its start are fresh.
    const coordinatorStart = new Date(intent.getTime() + MIN);
    const pods = { 'between-recover-and-start': new Date(intent.getTime() + 30_000) };
    expect(
      await judge(coordinatorStart, pods, { intent, recoveredKeyMadeAfter: new Date(intent.getTime() + 2000) }),
    ).toEqual({ 'between-recover-and-start': 'skipped' });
  });
});
