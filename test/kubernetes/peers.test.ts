import { afterEach, describe, expect, it } from 'vitest';
import { RecoveryError, UnreachableError } from '../../lambda/shared/errors.ts';
import { COORDINATOR_LABEL, createKubernetesSide } from '../../lambda/kubernetes/index.ts';
import { BUDGETS } from '../../lambda/shared/budgets.ts';
import { contrastTemplate, coordinatorTemplate, kubeconfigFor, manifestRbac } from '../../testing/kube-api/index.ts';
import { OLD, setup, teardown, TOKEN, type Env } from './helpers.ts';

describe('PeerChecker over a real socket', () => {
  let env: Env | undefined;
  afterEach(async () => {
    await teardown(env);
    env = undefined;
  });

  it('reports a Ready peer, so reconcile leaves recovery to it', async () => {
    env = await setup({ rbac: manifestRbac(['contrast']) });
    const t = coordinatorTemplate();
    env.api.store.addPod('contrast', 'coordinator-0', { template: t, ready: false, startedAt: new Date() });
    env.api.store.addPod('contrast', 'coordinator-1', { template: t, ready: true, startedAt: OLD() });
    env.api.store.addPod('contrast', 'app-1', { template: contrastTemplate('app'), ready: true });
    const status = await env.side.peers.readyPeers('demo');
    expect(status.readyPeers).toEqual(['coordinator-1']);
    expect(status.coordinatorPods.sort()).toEqual(['coordinator-0', 'coordinator-1']);
    const list = env.api.log.find((r) => r.resource === 'pods')!;
    expect(list.path).toBe('/api/v1/namespaces/contrast/pods');
    expect(list.query.get('labelSelector')).toBe('app.kubernetes.io/name=coordinator');
  });

  it('finds peers as Contrast does: label, pod-role annotation, Ready, own namespace, not the recovering pod', async () => {
    env = await setup({});
    const t = coordinatorTemplate();
    const s = env.api.store;
    s.addPod('contrast', 'coordinator-0', { template: t, ready: true }); // the recovering pod itself (named by the trigger)
    s.addPod('contrast', 'coordinator-1', { template: t, ready: false }); // not Ready: stale or starting
    s.addPod('contrast', 'coordinator-2', {
      template: { ...t, metadata: { labels: t.metadata!.labels! } },
      ready: true,
    }); // no pod-role annotation
    s.addPod('contrast', 'coordinator-3', {
      template: { ...t, metadata: { annotations: t.metadata!.annotations! } },
      ready: true,
    }); // no name label
    s.addPod('other', 'coordinator-4', { template: t, ready: true }); // another namespace
    s.addPod('contrast', 'coordinator-5', { template: t, ready: true, deleting: true }); // terminating, still Ready: upstream counts it
    s.addPod('contrast', 'coordinator-6', { template: t, ready: true });
    const status = await env.side.peers.readyPeers('demo', { excludePod: 'coordinator-0' });
    expect(status.readyPeers.sort()).toEqual(['coordinator-5', 'coordinator-6']);
    expect(status.coordinatorPods.sort()).toEqual([
      'coordinator-0',
      'coordinator-1',
      'coordinator-2',
      'coordinator-5',
      'coordinator-6',
    ]);
    // Without a name to exclude, a Ready pod is a peer whatever its name.
    expect((await env.side.peers.readyPeers('demo')).readyPeers.sort()).toEqual([
      'coordinator-0',
      'coordinator-5',
      'coordinator-6',
    ]);
  });

  it('counts Ready only where it means "holds state": the HTTP /probe/readiness of PR #1467, not TCP on 1313', async () => {
    env = await setup({});
    const s = env.api.store;
    s.addPod('contrast', 'coordinator-0', { template: coordinatorTemplate({ readiness: 'tcp' }), ready: true });
    s.addPod('contrast', 'coordinator-1', { template: coordinatorTemplate({ readiness: 'state' }), ready: true });
    const noProbe = coordinatorTemplate();
    noProbe.spec.containers = [{ name: 'coordinator', image: 'x' }]; // Ready as soon as it runs
    s.addPod('contrast', 'coordinator-2', { template: noProbe, ready: true });
    const status = await env.side.peers.readyPeers('demo');
    expect(status.readyPeers).toEqual(['coordinator-1']);
    expect(status.readyWithoutState?.sort()).toEqual(['coordinator-0', 'coordinator-2']);
    // One replica of an older release, no pod named (schedule, alarm, direct, CLI): no peer at all.
    const t = coordinatorTemplate({ readiness: 'tcp' });
    expect(t.spec.containers).toMatchObject([{ readinessProbe: { tcpSocket: { port: 1313 } } }]);
    s.remove('pods', 'contrast', 'coordinator-1');
    expect((await env.side.peers.readyPeers('demo')).readyPeers).toEqual([]);
  });

  it('finds no Ready peer when only the stale Coordinator exists', async () => {
    env = await setup({});
    env.api.store.addPod('contrast', 'coordinator-0', { template: coordinatorTemplate(), ready: false });
    const status = await env.side.peers.readyPeers('demo', { excludePod: 'coordinator-0' });
    expect(status.readyPeers).toEqual([]);
    expect(status.coordinatorPods).toEqual(['coordinator-0']);
  });

  it("looks in the configured Coordinator namespace only, by Contrast's fixed label", async () => {
    env = await setup({}, { coordinatorNamespace: 'prod' });
    env.api.store.addPod('prod', 'coordinator-0', { template: coordinatorTemplate(), ready: true });
    env.api.store.addPod('contrast', 'coordinator-1', { template: coordinatorTemplate(), ready: true });
    expect((await env.side.peers.readyPeers('demo')).readyPeers).toEqual(['coordinator-0']);
    const list = env.api.log.find((r) => r.resource === 'pods')!;
    expect(list.path).toBe('/api/v1/namespaces/prod/pods');
    expect(list.query.get('labelSelector')).toBe(COORDINATOR_LABEL);
  });

  it('throws config-invalid (never "no peers", never retried as transient) on RBAC denial, naming the fix', async () => {
    env = await setup({ rbac: manifestRbac(['elsewhere']) });
    const err = await env.side.peers.readyPeers('demo').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecoveryError);
    expect((err as RecoveryError).outcome).toBe('config-invalid');
    expect((err as Error).message).toMatch(
      /cannot list Coordinator pods .* namespace contrast for deployment demo: 403 Forbidden: pods is forbidden.*rbac\.yaml/,
    );
  });

  it("throws UnreachableError after the budget's attempts on 5xx and when nothing listens", async () => {
    env = await setup({});
    env.api.faults.push({ resource: 'pods', status: 503, times: Infinity });
    await expect(env.side.peers.readyPeers('demo')).rejects.toThrow(/503/);
    // Without a budget given, lambda/shared/budgets.ts decides: 5 attempts.
    expect(env.api.log.filter((r) => r.resource === 'pods')).toHaveLength(BUDGETS.kubernetes.attempts);
    expect(BUDGETS.kubernetes.attempts).toBe(5);

    const { url, caData } = env.api;
    await teardown(env);
    env = undefined;
    const side = await createKubernetesSide({
      auth: { kind: 'kubeconfig', kubeconfig: kubeconfigFor(url, TOKEN, caData) },
      coordinatorNamespace: 'contrast',
      namespaces: { kind: 'all' },
      budget: { ...BUDGETS.kubernetes, attempts: 2 },
    });
    try {
      const err = await side.peers.readyPeers('demo').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnreachableError);
      expect((err as Error).message).toMatch(/ECONNREFUSED/);
    } finally {
      side.close();
    }
  });

  it('never puts the bearer token into an error', async () => {
    env = await setup({ tokens: ['another-token'] });
    const err = (await env.side.peers.readyPeers('demo').catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/401 Unauthorized/);
    expect(err.message).not.toContain(TOKEN);
  });
});
