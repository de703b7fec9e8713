import { afterEach, describe, expect, it } from 'vitest';
import { KUBERNETES_LIMITS } from '../../lambda/shared/budgets.ts';
import { UnreachableError } from '../../lambda/shared/errors.ts';
import {
  contrastTemplate,
  coordinatorTemplate,
  manifestRbac,
  plainTemplate,
  RbacAuthorizer,
  type KubeObject,
} from '../../testing/kube-api/index.ts';
import { OLD, request, setup, teardown, type Env } from './helpers.ts';

/** Discovery is observed through a dry run: every Contrast workload found has a result. */
function found(summary: { results: { kind: string; namespace: string; name: string; status: string }[] }): string[] {
  return summary.results.map((r) => `${r.namespace}/${r.kind}/${r.name}`);
}

function populate(env: Env): void {
  const s = env.api.store;
  const started = OLD();
  s.addNamespace('team-a', { 'contrast.edgeless.systems/restart': 'enabled' });
  s.addNamespace('team-b', { 'contrast.edgeless.systems/restart': 'enabled' });
  s.addNamespace('team-c');
  // team-a: every kind, runtime-class and initializer variants.
  s.addDeployment('team-a', 'web', {
    template: contrastTemplate('web', { initializer: false }),
    replicas: 2,
    startedAt: started,
  });
  s.addStatefulSet('team-a', 'db', {
    template: contrastTemplate('db', { runtimeClass: false }),
    replicas: 2,
    startedAt: started,
  });
  s.addDaemonSet('team-a', 'agent', { template: contrastTemplate('agent'), replicas: 3, startedAt: started });
  s.addReplicaSet('team-a', 'orphan', { template: contrastTemplate('orphan'), startedAt: started });
  s.addPod('team-a', 'bare', { template: contrastTemplate('bare'), startedAt: started });
  // Every other kind Contrast's generate injects into (issue #19 item 6).
  s.addReplicationController('team-a', 'legacy', { template: contrastTemplate('legacy'), startedAt: started });
  s.addJob('team-a', 'report', { template: contrastTemplate('report'), startedAt: started });
  s.addJob('team-a', 'done-run', { template: contrastTemplate('done-run'), startedAt: started, finished: 'Complete' });
  const nightly = s.addCronJob('team-a', 'nightly', { template: contrastTemplate('nightly') });
  s.addJob('team-a', 'nightly-1', { template: contrastTemplate('nightly'), startedAt: started, owner: nightly });
  // Controlled by an operator's own kind: listed with the controller, never dropped.
  const rollout = foreignController('Rollout', 'canary');
  s.addReplicaSet('team-a', 'canary-rs', { template: contrastTemplate('canary'), startedAt: started, owner: rollout });
  s.addPod('team-a', 'op-pod', {
    template: contrastTemplate('op'),
    startedAt: started,
    owner: foreignController('Cluster', 'pg'),
  });
  s.addJob('team-a', 'plain-job', { template: plainTemplate('plain-job'), startedAt: started });
  // Not Contrast: ignored.
  s.addDeployment('team-a', 'plain', { template: plainTemplate('plain'), startedAt: started });
  s.addPod('team-a', 'plain-pod', { template: plainTemplate('plain-pod'), startedAt: started });
  // The Coordinator in every disguise: never a workload.
  s.addStatefulSet('team-a', 'coordinator', { template: contrastTemplate('c'), startedAt: started });
  s.addDeployment('team-a', 'coord-by-label', { template: coordinatorTemplate(), startedAt: started });
  // The pod-role annotation alone makes no Coordinator: listed, judged by its pods, with the reason (issue 21 item 8).
  const byAnnotation = contrastTemplate('x', { annotations: { 'contrast.edgeless.systems/pod-role': 'coordinator' } });
  s.addPod('team-a', 'coord-by-annotation', { template: byAnnotation, startedAt: started });
  s.addDeployment('team-b', 'api', {
    template: contrastTemplate('api'),
    startedAt: started,
    labels: { tier: 'backend' },
  });
  s.addDeployment('team-c', 'elsewhere', { template: contrastTemplate('elsewhere'), startedAt: started });
}

/** An owner of a kind this service does not know, as an operator's controller sets it. */
function foreignController(kind: string, name: string): KubeObject {
  return {
    apiVersion: 'example.com/v1',
    kind,
    metadata: { name, namespace: 'team-a', uid: `uid-${name}`, resourceVersion: '1', creationTimestamp: '' },
  };
}

const TEAM_A = [
  'team-a/CronJob/nightly',
  'team-a/DaemonSet/agent',
  'team-a/Deployment/web',
  'team-a/Job/done-run',
  'team-a/Job/nightly-1',
  'team-a/Job/report',
  'team-a/Pod/bare',
  'team-a/Pod/coord-by-annotation',
  'team-a/Pod/op-pod',
  'team-a/ReplicaSet/canary-rs',
  'team-a/ReplicaSet/orphan',
  'team-a/ReplicationController/legacy',
  'team-a/StatefulSet/db',
];

describe('workload discovery over a real socket', () => {
  let env: Env | undefined;
  afterEach(async () => {
    await teardown(env);
    env = undefined;
  });

  it('finds every kind in listed namespaces, never the Coordinator or non-Contrast pods', async () => {
    env = await setup(
      { rbac: manifestRbac(['team-a', 'team-b']) },
      { namespaces: { kind: 'list', names: ['team-a', 'team-b'] } },
    );
    populate(env);
    const summary = await env.side.restarts.restartStale(request('list'));
    expect(found(summary)).toEqual([...TEAM_A, 'team-b/Deployment/api']);
    expect(summary.complete).toBe(false);
    expect(summary.results.find((r) => r.name === 'coord-by-annotation')).toMatchObject({
      status: 'needs-manual-restart',
      reason: expect.stringMatching(/pod-role annotation .* not restarted automatically/),
    });
    // web skips the initializer: a Contrast workload, but it holds no mesh certificate. A CronJob's
    // next run fetches a new certificate; a finished Job runs nothing.
    expect(summary.results.filter((r) => r.status === 'skipped').map((r) => r.name)).toEqual([
      'nightly',
      'web',
      'done-run',
    ]);
    // Every Contrast pod is listed with its status and reason (issue #19 item 8).
    const pods = summary.pods!;
    expect(new Set(pods.map((p) => p.workload.split('/')[1]))).toEqual(
      new Set(summary.results.filter((r) => r.kind !== 'CronJob').map((r) => r.name)),
    );
    expect(pods.filter((p) => p.workload === 'Job/done-run').map((p) => p.status)).toEqual(['finished']);
    expect(pods.find((p) => p.workload === 'Deployment/web')).toMatchObject({
      status: 'no-certificate',
      reason: expect.stringMatching(/no contrast-initializer/),
    });
    expect(pods.find((p) => p.workload === 'Job/report')).toMatchObject({
      status: 'lost-ca',
      action: 'needs-manual-restart',
      reason: expect.stringMatching(/contrast-initializer finished\), before the mesh CA key was created/),
    });
    // Deployment-owned ReplicaSets are not workloads of their own.
    expect(summary.results.some((r) => r.kind === 'ReplicaSet' && r.name.startsWith('web-'))).toBe(false);
    // Eight parallel lists per namespace (seven workload kinds and pods), nothing written.
    expect(env.api.log.filter((r) => r.method !== 'GET')).toEqual([]);
    expect(env.api.log).toHaveLength(16);
  });

  it('selects namespaces by label, and every Contrast workload in them (no workload filter)', async () => {
    env = await setup(
      { rbac: manifestRbac(['team-a', 'team-b']) },
      { namespaces: { kind: 'selector', labelSelector: 'contrast.edgeless.systems/restart=enabled' } },
    );
    populate(env);
    expect(found(await env.side.restarts.restartStale(request('list')))).toEqual([...TEAM_A, 'team-b/Deployment/api']);
    const nsList = env.api.log.find((r) => r.resource === 'namespaces')!;
    expect(nsList.query.get('labelSelector')).toBe('contrast.edgeless.systems/restart=enabled');
    // Workloads are listed whole: a workload is Contrast's by its pod spec, not by a label.
    expect(
      env.api.log.filter((r) => r.resource !== 'namespaces').every((r) => r.query.get('labelSelector') === null),
    ).toBe(true);
  });

  it('lists cluster-wide in "all" mode and pages through long lists', async () => {
    env = await setup({ rbac: RbacAuthorizer.allowAll() }, { namespaces: { kind: 'all' } });
    populate(env);
    // More pods than one page holds; they sort before elsewhere's pod, which is on the second page.
    for (let i = 0; i < KUBERNETES_LIMITS.pageSize; i++)
      env.api.store.addPod('team-c', `a-filler-${String(i).padStart(3, '0')}`, {
        template: plainTemplate('filler'),
        startedAt: OLD(),
      });
    const summary = await env.side.restarts.restartStale(request('list'));
    expect(found(summary)).toEqual([...TEAM_A, 'team-b/Deployment/api', 'team-c/Deployment/elsewhere']);
    // Its stale pod was found on the second page: without it the Deployment would have "no running pods".
    expect(summary.results.find((r) => r.name === 'elsewhere')).toMatchObject({ status: 'would-restart' });
    const podLists = env.api.log.filter((r) => r.path === '/api/v1/pods');
    expect(podLists.map((r) => [r.query.get('limit'), r.query.get('continue') !== null])).toEqual([
      [String(KUBERNETES_LIMITS.pageSize), false],
      [String(KUBERNETES_LIMITS.pageSize), true],
    ]);
  });

  it('is unreachable (never a partial guess) when a namespace cannot be listed', async () => {
    env = await setup(
      { rbac: manifestRbac(['team-a']) },
      { namespaces: { kind: 'list', names: ['team-a', 'team-b'] } },
    );
    populate(env);
    const err = await env.side.restarts.restartStale(request()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnreachableError);
    expect((err as Error).message).toMatch(
      /cannot list \w+ in namespace team-b: 403 Forbidden.*RoleBinding in namespace team-b/,
    );
    expect(env.api.log.filter((r) => r.method !== 'GET')).toEqual([]);
  });

  it('needs the cluster-scoped binding for "all" mode and says so', async () => {
    env = await setup({ rbac: manifestRbac(['team-a']) }, { namespaces: { kind: 'all' } });
    await expect(env.side.restarts.restartStale(request())).rejects.toThrow(/cluster-wide: 403 Forbidden/);
  });
});
