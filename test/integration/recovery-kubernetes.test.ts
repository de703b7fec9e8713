/**
 * Reconcile with the real Kubernetes side over real sockets: moto (KMS, Secrets Manager),
 * the Coordinator emulator and the Kubernetes API stand-in under the RBAC of infra/k8s.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createKubernetesSide, type KubernetesSide } from '../../lambda/kubernetes/index.ts';
import type { RestartRecordStore } from '../../lambda/kubernetes/types.ts';
import { reconcile } from '../../lambda/reconcile/reconcile.ts';
import { motoAvailable, SKIP_REASON } from '../support/aws.ts';
import { CoordinatorEmulator } from '../../testing/coordinator-emulator.ts';
import { depsFor, enroll, targetFor } from '../support/fixture.ts';
import { contrastTemplate, coordinatorTemplate, kubeconfigFor, manifestRbac, startKubeApi, type KubeApi } from '../../testing/kube-api/index.ts';
import { makeWorkspace, type Workspace } from '../../testing/workspace.ts';

const TOKEN = 'stand-in-token';
const HOUR = 3_600_000;
let ws: Workspace;
const cleanup: (() => Promise<void> | void)[] = [];
beforeAll(async () => {
  ws = await makeWorkspace();
});
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function cluster(): Promise<{ api: KubeApi; side: KubernetesSide }> {
  const api = await startKubeApi({ tokens: [TOKEN], rbac: manifestRbac(['contrast', 'apps']) });
  const side = await createKubernetesSide({
    auth: { kind: 'kubeconfig', kubeconfig: kubeconfigFor(api.url, TOKEN, api.caData) },
    coordinatorNamespace: 'contrast',
    namespaces: { kind: 'list', names: ['contrast', 'apps'] },
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
  });
  cleanup.push(() => api.close(), () => side.close());
  const old = new Date(Date.now() - HOUR);
  api.store.addStatefulSet('contrast', 'coordinator', { template: coordinatorTemplate(), replicas: 1, startedAt: new Date(), updateStrategy: 'RollingUpdate' });
  for (const p of api.store.list('pods', 'contrast')) {
    (p.status as { conditions: { type: string; status: string }[] }).conditions.forEach((c) => (c.status = 'False'));
  }
  api.store.addDeployment('apps', 'web', { template: contrastTemplate('web'), replicas: 2, startedAt: old });
  api.store.addStatefulSet('apps', 'db', { template: contrastTemplate('db'), replicas: 1, startedAt: old, updateStrategy: 'RollingUpdate' });
  return { api, side };
}

function memoryRecords(): RestartRecordStore & { done: Set<string> } {
  const done = new Set<string>();
  return { done, isComplete: async (d, f) => done.has(`${d}/${f}`), markComplete: async (d, f) => void done.add(`${d}/${f}`) };
}

async function emulator() {
  const emu = await CoordinatorEmulator.start({ state: 'stale', manifest: ws.manifest, seed: ws.seed, salt: ws.salt });
  cleanup.push(() => emu.stop());
  return emu;
}

const patches = (api: KubeApi) => api.log.filter((r) => r.method === 'PATCH').map((r) => r.path);

describe.skipIf(!motoAvailable)(`recovery with the Kubernetes API stand-in${motoAvailable ? '' : ` (${SKIP_REASON})`}`, () => {
  it('a Ready peer Coordinator → peers-available: no KMS call, no Recover, nothing restarted', async () => {
    const { api, side } = await cluster();
    api.store.addPod('contrast', 'coordinator-1', { template: coordinatorTemplate(), ready: true, startedAt: new Date(Date.now() - HOUR) });
    const e = await enroll(ws);
    const emu = await emulator();
    const r = await reconcile(targetFor(e, emu), depsFor(e, undefined, { kubernetes: async () => side }));
    expect(r.outcome).toBe('peers-available');
    expect(r.message).toMatch(/coordinator-1/);
    expect(r.kmsDecrypts).toBe(0);
    expect(emu.recoverCalls).toHaveLength(0);
    expect(patches(api)).toEqual([]);
  });

  it('recovers, restarts every Contrast workload but the Coordinator, and a healthy reconcile then needs no Kubernetes call', async () => {
    const { api, side } = await cluster();
    const e = await enroll(ws);
    const emu = await emulator();
    const records = memoryRecords();
    const deps = depsFor(e, undefined, { kubernetes: async () => side, restartRecords: records });
    const r = await reconcile(targetFor(e, emu), deps);
    expect(r.outcome, r.message).toBe('recovered');
    expect(r.restarts?.results.map((x) => `${x.kind}/${x.name}:${x.status}`).sort()).toEqual(['Deployment/web:restarted', 'StatefulSet/db:restarted']);
    expect(patches(api).sort()).toEqual(['/apis/apps/v1/namespaces/apps/deployments/web', '/apis/apps/v1/namespaces/apps/statefulsets/db']);
    const patch = api.log.find((x) => x.method === 'PATCH')!;
    expect(patch.contentType).toBe('application/strategic-merge-patch+json');
    expect(records.done.size).toBe(1);

    api.resetStats();
    api.log.length = 0;
    const again = await reconcile(targetFor(e, emu), deps);
    expect(again.outcome).toBe('already-healthy');
    expect(api.log).toHaveLength(0);
  });

  it('a crash between Recover and the restarts is finished by the next reconcile (restarts-finished)', async () => {
    const { api, side } = await cluster();
    const e = await enroll(ws);
    const emu = await emulator();
    expect((await reconcile(targetFor(e, emu), depsFor(e))).outcome).toBe('recovered'); // "crashed" before step 6
    const r = await reconcile(targetFor(e, emu), depsFor(e, undefined, { kubernetes: async () => side, restartRecords: memoryRecords() }));
    expect(r.outcome).toBe('restarts-finished');
    expect(r.kmsDecrypts).toBe(0);
    expect(emu.recoverCalls).toHaveLength(1);
    expect(patches(api)).toHaveLength(2);
  });

  it('a denied patch → restart-partial with the reason; once allowed, only the rest is restarted', async () => {
    const { api, side } = await cluster();
    api.faults.push({ method: 'PATCH', resource: 'statefulsets', namespace: 'apps', name: 'db', status: 403, message: 'statefulsets.apps "db" is forbidden', times: Infinity });
    const e = await enroll(ws);
    const emu = await emulator();
    const records = memoryRecords();
    const deps = depsFor(e, undefined, { kubernetes: async () => side, restartRecords: records });
    const first = await reconcile(targetFor(e, emu), deps);
    expect(first.outcome).toBe('restart-partial');
    const failed = first.restarts!.results.find((x) => x.status === 'failed')!;
    expect(failed.name).toBe('db');
    expect(failed.reason).toMatch(/forbidden/);
    expect(records.done.size).toBe(0);

    api.faults.length = 0;
    api.log.length = 0;
    const second = await reconcile(targetFor(e, emu), deps);
    expect(second.outcome).toBe('restarts-finished');
    expect(patches(api)).toEqual(['/apis/apps/v1/namespaces/apps/statefulsets/db']);
    expect(emu.recoverCalls).toHaveLength(1);
  });
});
