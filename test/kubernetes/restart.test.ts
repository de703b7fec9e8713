import { afterEach, describe, expect, it } from 'vitest';
import {
  RESTART_CONCURRENCY,
  RESTART_ORDER_ANNOTATION,
  RESTARTED_AT_ANNOTATION,
} from '../../lambda/kubernetes/index.ts';
import { BUDGETS } from '../../lambda/shared/budgets.ts';
import {
  contrastTemplate,
  coordinatorTemplate,
  manifestRbac,
  RbacAuthorizer,
  type KubeObject,
} from '../../testing/kube-api/index.ts';
import { CLOCK_SKEW_MARGIN_MS } from '../../lambda/kubernetes/index.ts';
import { MAX_CLOCK_SKEW_MS } from '../../lambda/kubernetes/stale.ts';
import { HOUR, OLD, request, setup, teardown, writes, type Env } from './helpers.ts';

const NS = 'contrast';

function statuses(summary: { results: { name: string; status: string }[] }): Record<string, string> {
  return Object.fromEntries(summary.results.map((r) => [r.name, r.status]));
}

function startTimes(env: Env, resource: string, name: string): number[] {
  return env.api.store
    .workloadPods(resource, NS, name)
    .map((p: KubeObject) => Date.parse(p.status!.startTime as string));
}

describe('restarts over a real socket', () => {
  let env: Env | undefined;
  afterEach(async () => {
    await teardown(env);
    env = undefined;
  });

  it('rollout-restarts Deployments and RollingUpdate StatefulSets/DaemonSets with a strategic-merge patch', async () => {
    env = await setup({ rbac: manifestRbac([NS]) });
    const s = env.api.store;
    s.addDeployment(NS, 'web', { template: contrastTemplate('web'), replicas: 2, startedAt: OLD() });
    s.addStatefulSet(NS, 'db', { template: contrastTemplate('db'), replicas: 2, startedAt: OLD() });
    s.addDaemonSet(NS, 'agent', { template: contrastTemplate('agent'), replicas: 2, startedAt: OLD() });
    s.addStatefulSet(NS, 'coordinator', { template: coordinatorTemplate(), replicas: 3, startedAt: OLD() });
    const req = request();
    const summary = await env.side.restarts.restartStale(req);
    expect(statuses(summary)).toEqual({ web: 'restarted', db: 'restarted', agent: 'restarted' });
    expect(summary.complete).toBe(true);
    expect(summary.meshCaSpkiSha256).toBe(req.meshCa.spkiSha256);
    expect(summary.results.every((r) => r.method === 'rollout-restart')).toBe(true);
    const patches = writes(env.api);
    expect(patches.map((p) => p.path).sort()).toEqual([
      '/apis/apps/v1/namespaces/contrast/daemonsets/agent',
      '/apis/apps/v1/namespaces/contrast/deployments/web',
      '/apis/apps/v1/namespaces/contrast/statefulsets/db',
    ]);
    for (const p of patches) {
      expect(p.contentType).toBe('application/strategic-merge-patch+json');
      const body = JSON.parse(p.body) as { spec: { template: { metadata: { annotations: Record<string, string> } } } };
      expect(body.spec.template.metadata.annotations[RESTARTED_AT_ANNOTATION]).toMatch(
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
      );
    }
    // The stand-in rolled the pods: all started after the mesh CA now; the Coordinator's did not move.
    for (const [r, n] of [
      ['deployments', 'web'],
      ['statefulsets', 'db'],
      ['daemonsets', 'agent'],
    ] as const) {
      expect(startTimes(env, r, n).every((t) => t >= req.meshCa.createdAt.getTime())).toBe(true);
    }
    expect(startTimes(env, 'statefulsets', 'coordinator').every((t) => t < req.meshCa.createdAt.getTime())).toBe(true);

    // Convergent: the second run restarts nothing.
    env.api.resetStats();
    const again = await env.side.restarts.restartStale(request());
    expect(statuses(again)).toEqual({ web: 'skipped', db: 'skipped', agent: 'skipped' });
    expect(writes(env.api)).toEqual([]);
  });

  it('reports OnDelete, orphan ReplicaSets and bare pods as needs-manual-restart unless pod deletion is allowed', async () => {
    const populate = (e: Env): void => {
      const s = e.api.store;
      s.addStatefulSet(NS, 'ondelete', {
        template: contrastTemplate('od'),
        replicas: 2,
        startedAt: OLD(),
        updateStrategy: 'OnDelete',
      });
      s.addDaemonSet(NS, 'ds-ondelete', {
        template: contrastTemplate('dsod'),
        replicas: 1,
        startedAt: OLD(),
        updateStrategy: 'OnDelete',
      });
      s.addReplicaSet(NS, 'orphan', { template: contrastTemplate('orphan'), replicas: 1, startedAt: OLD() });
      s.addPod(NS, 'bare', { template: contrastTemplate('bare'), startedAt: OLD() });
    };
    env = await setup({ rbac: manifestRbac([NS]) });
    populate(env);
    const manual = await env.side.restarts.restartStale(request());
    expect(statuses(manual)).toEqual({
      ondelete: 'needs-manual-restart',
      'ds-ondelete': 'needs-manual-restart',
      orphan: 'needs-manual-restart',
      bare: 'needs-manual-restart',
    });
    expect(manual.complete).toBe(false);
    expect(manual.results.find((r) => r.name === 'ondelete')!.reason).toMatch(
      /OnDelete.*delete pod\(s\) ondelete-0, ondelete-1.*allowPodDeletion/,
    );
    expect(writes(env.api)).toEqual([]);
    await teardown(env);

    env = await setup({ rbac: manifestRbac([NS], { podDeletion: true }) }, { allowPodDeletion: true });
    populate(env);
    const deleted = await env.side.restarts.restartStale(request());
    expect(statuses(deleted)).toEqual({
      ondelete: 'deleted',
      'ds-ondelete': 'deleted',
      orphan: 'deleted',
      bare: 'deleted',
    });
    expect(deleted.complete).toBe(true);
    expect(writes(env.api).every((w) => w.method === 'DELETE' && w.resource === 'pods')).toBe(true);
    expect(writes(env.api)).toHaveLength(5);
    // Controllers recreated their pods with new start times; the bare pod is gone.
    expect(startTimes(env, 'statefulsets', 'ondelete')).toHaveLength(2);
    expect(env.api.store.get('pods', NS, 'bare')).toBeUndefined();
    env.api.resetStats();
    expect(statuses(await env.side.restarts.restartStale(request()))).toEqual({
      ondelete: 'skipped',
      'ds-ondelete': 'skipped',
      orphan: 'skipped',
    });
    expect(writes(env.api)).toEqual([]);
  });

  it('skips workloads whose pods got their certificate after the key, and lists without writing in dry-run', async () => {
    env = await setup({});
    const s = env.api.store;
    s.addDeployment(NS, 'fresh', { template: contrastTemplate('fresh'), startedAt: new Date() });
    s.addDeployment(NS, 'stale', { template: contrastTemplate('stale'), startedAt: OLD() });
    s.addStatefulSet(NS, 'od', { template: contrastTemplate('od'), startedAt: OLD(), updateStrategy: 'OnDelete' });
    const dry = await env.side.restarts.restartStale(request('list'));
    expect(statuses(dry)).toEqual({ fresh: 'skipped', stale: 'would-restart', od: 'would-restart' });
    expect(dry.results.find((r) => r.name === 'od')!.method).toBe('delete-pods');
    expect(dry.complete).toBe(false);
    expect(writes(env.api)).toEqual([]);
  });

  it('retries conflicts, throttling (honouring Retry-After) and 5xx', async () => {
    env = await setup({});
    const s = env.api.store;
    for (const n of ['a', 'b', 'c']) s.addDeployment(NS, n, { template: contrastTemplate(n), startedAt: OLD() });
    env.api.faults.push(
      { method: 'PATCH', name: 'a', status: 409, times: 2 },
      { method: 'PATCH', name: 'b', status: 429, retryAfter: 1, times: 1 },
      { method: 'PATCH', name: 'c', status: 503, times: 3 },
      { resource: 'pods', status: 500, times: 1 },
    );
    const t0 = Date.now();
    const summary = await env.side.restarts.restartStale(request());
    expect(statuses(summary)).toEqual({ a: 'restarted', b: 'restarted', c: 'restarted' });
    const patchesOf = (n: string) =>
      env!.api.log.filter((r) => r.method === 'PATCH' && r.name === n).map((r) => r.status);
    expect(patchesOf('a')).toEqual([409, 409, 200]);
    expect(patchesOf('b')).toEqual([429, 200]);
    expect(patchesOf('c')).toEqual([503, 503, 503, 200]);
    const bPatches = env.api.log.filter((r) => r.method === 'PATCH' && r.name === 'b');
    expect(bPatches).toHaveLength(2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
  });

  it('fails a workload after bounded attempts and finishes it on the next run without restarting the others again', async () => {
    env = await setup({}, { budget: { ...BUDGETS.kubernetes, attempts: 3 } });
    const s = env.api.store;
    for (const n of ['a', 'b', 'c']) s.addDeployment(NS, n, { template: contrastTemplate(n), startedAt: OLD() });
    env.api.faults.push({
      method: 'PATCH',
      name: 'b',
      status: 500,
      times: Infinity,
      message: 'etcdserver: request timed out',
    });
    const first = await env.side.restarts.restartStale(request());
    expect(statuses(first)).toEqual({ a: 'restarted', b: 'failed', c: 'restarted' });
    expect(first.complete).toBe(false);
    expect(first.results.find((r) => r.name === 'b')!.reason).toBe('500 InternalError: etcdserver: request timed out');
    expect(env.api.log.filter((r) => r.method === 'PATCH' && r.name === 'b')).toHaveLength(3);

    env.api.faults.length = 0;
    env.api.resetStats();
    const second = await env.side.restarts.restartStale(request());
    expect(statuses(second)).toEqual({ a: 'skipped', b: 'restarted', c: 'skipped' });
    expect(second.complete).toBe(true);
    expect(writes(env.api).map((w) => w.name)).toEqual(['b']);
  });

  it('reports an RBAC denial per workload with the Status message', async () => {
    // Real manifests, but the optional pod-deletion file not applied: deletes are forbidden.
    env = await setup({ rbac: manifestRbac([NS]) }, { allowPodDeletion: true });
    const s = env.api.store;
    s.addDeployment(NS, 'web', { template: contrastTemplate('web'), startedAt: OLD() });
    s.addPod(NS, 'bare', { template: contrastTemplate('bare'), startedAt: OLD() });
    const summary = await env.side.restarts.restartStale(request());
    expect(statuses(summary)).toEqual({ web: 'restarted', bare: 'failed' });
    expect(summary.results.find((r) => r.name === 'bare')!.reason).toMatch(
      /cannot delete pod bare: 403 Forbidden: pods "bare" is forbidden: User "contrast-autorecover" cannot delete resource "pods".*rbac-pod-deletion\.yaml/,
    );
    expect(summary.complete).toBe(false);

    // Read-only grant in the namespace: each patch is denied, reported per workload.
    const readOnly = manifestRbac([NS]).grants.map((g) => ({
      ...g,
      rules: g.rules.map((r) => ({ ...r, verbs: r.verbs.filter((v) => v !== 'patch') })),
    }));
    env.api.setRbac(new RbacAuthorizer(readOnly));
    s.addDeployment(NS, 'api', { template: contrastTemplate('api'), startedAt: OLD() });
    const denied = await env.side.restarts.restartStale(request());
    const api = denied.results.find((r) => r.name === 'api')!;
    expect(api.status).toBe('failed');
    expect(api.reason).toMatch(
      /^403 Forbidden: deployments\.apps "api" is forbidden: .*cannot patch.*apply infra\/k8s\/rbac\.yaml/,
    );
  });

  it('restarts in annotation order, groups one after another', async () => {
    env = await setup({ latencyMs: 5 });
    const s = env.api.store;
    const add = (name: string, order?: number): void => {
      s.addDeployment(NS, name, {
        template: contrastTemplate(name),
        startedAt: OLD(),
        annotations: order === undefined ? {} : { [RESTART_ORDER_ANNOTATION]: String(order) },
      });
    };
    add('db-1', -1);
    add('db-2', -1);
    add('api-1');
    add('api-2', 0);
    add('api-3');
    add('web-1', 5);
    add('web-2', 5);
    await env.side.restarts.restartStale(request());
    const order = writes(env.api).map((w) => w.name!);
    const rank = (n: string): number => (n.startsWith('db') ? 0 : n.startsWith('api') ? 1 : 2);
    expect(order).toHaveLength(7);
    expect(order.map(rank)).toEqual([...order.map(rank)].sort());
  });

  it('restarts several workloads at once, never more than RESTART_CONCURRENCY', async () => {
    env = await setup({ latencyMs: 10 });
    for (let i = 0; i < 4 * RESTART_CONCURRENCY; i++)
      env.api.store.addDeployment(NS, `w${i}`, { template: contrastTemplate(`w${i}`), startedAt: OLD() });
    const summary = await env.side.restarts.restartStale(request());
    expect(summary.results.filter((r) => r.status === 'restarted')).toHaveLength(4 * RESTART_CONCURRENCY);
    expect(env.api.maxInFlight).toBeLessThanOrEqual(RESTART_CONCURRENCY);
    // More than the five parallel lists of discovery: the patches overlapped.
    expect(env.api.maxInFlight).toBeGreaterThan(5);
  });

  it('a restartedAt annotation from the future (a clock ahead beyond MAX_CLOCK_SKEW_MS) is no restart in progress; within the bound it is', async () => {
    env = await setup({});
    env.api.store.rolloutDelayMs = 10 * HOUR;
    const at = (ms: number) => new Date(Date.now() + ms).toISOString().replace(/\.\d+Z$/, 'Z');
    env.api.store.addDeployment(NS, 'ahead', {
      template: contrastTemplate('ahead', { annotations: { [RESTARTED_AT_ANNOTATION]: at(HOUR) } }),
      startedAt: OLD(),
    });
    env.api.store.addDeployment(NS, 'skewed', {
      template: contrastTemplate('skewed', { annotations: { [RESTARTED_AT_ANNOTATION]: at(MAX_CLOCK_SKEW_MS / 2) } }),
      startedAt: OLD(),
    });
    const summary = await env.side.restarts.restartStale(request());
    expect(statuses(summary)).toEqual({ ahead: 'restarted', skewed: 'skipped' });
    expect(summary.results.find((r) => r.name === 'skewed')!.reason).toMatch(/rollout restart since .* in progress/);
    expect(writes(env.api).map((w) => w.name)).toEqual(['ahead']);
  });

  it('issues a restart without waiting for its rollout, and does not patch a rollout in progress again', async () => {
    env = await setup({});
    env.api.store.rolloutDelayMs = 10 * HOUR;
    env.api.store.addDeployment(NS, 'slow', { template: contrastTemplate('slow'), startedAt: OLD() });
    const first = await env.side.restarts.restartStale(request());
    expect(first.results[0]).toMatchObject({ status: 'restarted', method: 'rollout-restart' });
    // Nothing reads the workload back (RBAC grants no get): the patch is the whole restart.
    expect(env.api.log.filter((r) => r.verb === 'get')).toEqual([]);
    env.api.resetStats();
    const again = await env.side.restarts.restartStale(request());
    expect(again.results[0]!.status).toBe('skipped');
    expect(again.results[0]!.reason).toMatch(/rollout restart since .* in progress \(1 old pod\(s\) left\)/);
    expect(writes(env.api)).toEqual([]);
  });

  describe('the stale rule: the contrast-initializer finished before the key was created', () => {
    const MIN = 60_000;

    it('restarts a pod initialized 30 minutes before the key, leaves one initialized after it and one still in Init', async () => {
      env = await setup({});
      const s = env.api.store;
      const key = new Date(Date.now() - 5 * MIN);
      // Started 40 min before the key, its initializer done 30 min before: a certificate of the lost CA.
      s.addPod(NS, 'old', {
        template: contrastTemplate('old'),
        startedAt: new Date(key.getTime() - 40 * MIN),
        initializerFinishedAt: new Date(key.getTime() - 30 * MIN),
      });
      // Started long before the key, but waited in Init and got through a minute after it.
      s.addPod(NS, 'waited', {
        template: contrastTemplate('waited'),
        startedAt: new Date(key.getTime() - 30 * MIN),
        initializerFinishedAt: new Date(key.getTime() + MIN),
      });
      // Still in Init: it fetches its certificate from the current Coordinator when it can.
      s.addPod(NS, 'init', {
        template: contrastTemplate('init'),
        startedAt: new Date(key.getTime() - 30 * MIN),
        initializerFinishedAt: 'waiting',
      });
      // A Contrast pod without initializer (skip-initializer) holds no mesh certificate.
      s.addPod(NS, 'noinit', {
        template: contrastTemplate('noinit', { initializer: false }),
        startedAt: new Date(key.getTime() - 30 * MIN),
      });
      const summary = await env.side.restarts.restartStale({ ...request('restart', key) });
      expect(statuses(summary)).toEqual({
        old: 'needs-manual-restart',
        waited: 'skipped',
        init: 'skipped',
        noinit: 'skipped',
      });
      const reason = (n: string) => summary.results.find((r) => r.name === n)!.reason;
      expect(reason('old')).toMatch(
        /1 pod\(s\) whose contrast-initializer finished before the mesh CA key was created.*delete pod\(s\) old/,
      );
      expect(reason('waited')).toMatch(/got their certificate after the mesh CA key was created/);
      expect(reason('init')).toMatch(/still in Init/);
      expect(reason('noinit')).toMatch(/without contrast-initializer hold no mesh certificate/);
      expect(summary.staleWorkloads).toBe(1);
      // The pod started before the key, which the old rule (start time) would have counted.
      const waited = env.api.store.get('pods', NS, 'waited')!;
      expect(Date.parse(waited.status!.startTime as string)).toBeLessThan(key.getTime());
    });

    it('with a Deployment: restarts when one pod is stale, by a single rollout restart', async () => {
      env = await setup({});
      const key = new Date(Date.now() - 5 * MIN);
      env.api.store.addDeployment(NS, 'web', {
        template: contrastTemplate('web'),
        replicas: 2,
        startedAt: new Date(key.getTime() - 30 * MIN),
      });
      env.api.store.addDeployment(NS, 'api', {
        template: contrastTemplate('api'),
        replicas: 2,
        startedAt: new Date(key.getTime() + MIN),
      });
      const summary = await env.side.restarts.restartStale(request('restart', key));
      expect(statuses(summary)).toEqual({ web: 'restarted', api: 'skipped' });
      expect(writes(env.api).map((w) => w.name)).toEqual(['web']);
    });

    it('allows the documented clock-skew margin, and no more', async () => {
      env = await setup({});
      const key = new Date(Math.floor(Date.now() / 1000) * 1000 - 10 * MIN);
      // Kubernetes times are whole seconds; the margin covers that and skew between clocks.
      s_add(env, 'within', new Date(key.getTime() - CLOCK_SKEW_MARGIN_MS + 1000));
      s_add(env, 'beyond', new Date(key.getTime() - CLOCK_SKEW_MARGIN_MS - 1000));
      expect(statuses(await env.side.restarts.restartStale(request('list', key)))).toEqual({
        within: 'skipped',
        beyond: 'would-restart',
      });
    });

    it("never patches twice for one key: the wave's start bounds it even when the key looks newer than our clock", async () => {
      env = await setup({});
      // The Coordinator's clock runs 5 min ahead: its key looks created "in the future".
      const key = new Date(Date.now() + 5 * MIN);
      env.api.store.addDeployment(NS, 'web', {
        template: contrastTemplate('web'),
        replicas: 2,
        startedAt: new Date(Date.now() - 60 * MIN),
      });
      const issued = new Date();
      const first = await env.side.restarts.restartStale({ ...request('restart', key), restartsIssuedAt: issued });
      expect(statuses(first)).toEqual({ web: 'restarted' });
      // Its new pods finished "before" the skewed key too; the annotation says the wave did it.
      await new Promise((r) => setTimeout(r, env!.api.store.initializerRunMs + 200));
      const again = await env.side.restarts.restartStale({ ...request('restart', key), restartsIssuedAt: issued });
      expect(again.results[0]).toMatchObject({
        status: 'skipped',
        reason: expect.stringMatching(/rollout restart since .* in progress/),
      });
      expect(writes(env.api)).toHaveLength(1);
      // Without the wave's time the same skew would patch again.
      expect(statuses(await env.side.restarts.restartStale(request('list', key)))).toEqual({ web: 'would-restart' });
    });

    it('judges a secure-pv pod (initializer as native sidecar) by its Initialized condition', async () => {
      env = await setup({});
      const key = new Date(Date.now() - 5 * MIN);
      const sidecar = (app: string) => {
        const t = contrastTemplate(app);
        (t.spec.initContainers as { restartPolicy?: string }[])[0]!.restartPolicy = 'Always';
        return t;
      };
      env.api.store.addPod(NS, 'pv-old', {
        template: sidecar('pv-old'),
        startedAt: new Date(key.getTime() - 30 * MIN),
        initializerFinishedAt: new Date(key.getTime() - 29 * MIN),
      });
      env.api.store.addPod(NS, 'pv-new', {
        template: sidecar('pv-new'),
        startedAt: new Date(key.getTime() - 30 * MIN),
        initializerFinishedAt: new Date(key.getTime() + MIN),
      });
      const pod = env.api.store.get('pods', NS, 'pv-old')!;
      const init = (pod.status!.initContainerStatuses as { state: Record<string, unknown>; started: boolean }[])[0]!;
      expect(Object.keys(init.state)).toEqual(['running']);
      expect(init.started).toBe(true);
      expect(statuses(await env.side.restarts.restartStale(request('list', key)))).toEqual({
        'pv-old': 'would-restart',
        'pv-new': 'skipped',
      });
    });

    it('reports, without writing, in report mode (a rotation this service did not cause)', async () => {
      env = await setup({});
      env.api.store.addDeployment(NS, 'web', { template: contrastTemplate('web'), startedAt: OLD() });
      env.api.store.addDeployment(NS, 'fresh', {
        template: contrastTemplate('fresh'),
        startedAt: new Date(Date.now() - 30_000),
      });
      const summary = await env.side.restarts.restartStale(request('report'));
      expect(statuses(summary)).toEqual({ web: 'stale', fresh: 'skipped' });
      expect(summary.results.find((r) => r.name === 'web')!.reason).toMatch(
        /not restarted: a rotation this service did not cause/,
      );
      expect(summary).toMatchObject({ complete: false, staleWorkloads: 1 });
      expect(writes(env.api)).toEqual([]);
    });

    it("a pod waiting in Init while the Coordinator is stale finishes once it serves, on the initializer's retry grid", async () => {
      env = await setup({});
      const s = env.api.store;
      const coordinator = { since: undefined as Date | undefined };
      s.coordinator = { servingSince: () => coordinator.since };
      s.initializerRetryMs = 200;
      s.addDeployment(NS, 'web', { template: contrastTemplate('web'), startedAt: new Date(Date.now() - 2_000) });
      const pod = () => s.workloadPods('deployments', NS, 'web')[0]!;
      const list = () => env!.side.restarts.restartStale(request('list', new Date(Date.now() - 60_000)));
      expect((await list()).results[0]!.reason).toMatch(/still in Init/);
      expect(pod().status).toMatchObject({
        phase: 'Pending',
        initContainerStatuses: [{ name: 'contrast-initializer', state: { running: {} } }],
      });
      const serving = (coordinator.since = new Date());
      await new Promise((r) => setTimeout(r, 700));
      const after = await list();
      expect(after.results[0]).toMatchObject({
        status: 'skipped',
        reason: expect.stringMatching(/got their certificate after/),
      });
      const finished = Date.parse(
        (pod().status!.initContainerStatuses as { state: { terminated: { finishedAt: string } } }[])[0]!.state
          .terminated.finishedAt,
      );
      expect(finished).toBeGreaterThanOrEqual(Math.floor(serving.getTime() / 1000) * 1000);
      expect(pod().status).toMatchObject({
        phase: 'Running',
        conditions: expect.arrayContaining([
          { type: 'Initialized', status: 'True', lastProbeTime: null, lastTransitionTime: expect.any(String) },
        ]),
      });
    });
  });
});

function s_add(env: Env, name: string, finished: Date): void {
  env.api.store.addPod(NS, name, {
    template: contrastTemplate(name),
    startedAt: new Date(finished.getTime() - 1000),
    initializerFinishedAt: finished,
  });
}
