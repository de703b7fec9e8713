/**
 * Whose mesh CA key, and which pods to restart for it (issue 19 items 2, 3, 7), over real
 * sockets: moto (KMS, Secrets Manager), the Coordinator emulator — behaving as the state guard
 * does: a Recover keeps the history, SetManifest appends (stateguard.go) — and the Kubernetes
 * API stand-in. "The operator" runs `contrast recover` by hand: a Recover over the wire with
 * the owner key, by a run that shares no record with the service.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createKubernetesSide, type KubernetesSide } from '../../lambda/kubernetes/index.ts';
import { memoryRecordStore } from '../../lambda/reconcile/mesh-ca.ts';
import { reconcile } from '../../lambda/reconcile/reconcile.ts';
import type { DeploymentTarget, ReconcileResult, RecoveryRecordStore } from '../../lambda/reconcile/types.ts';
import { motoAvailable, SKIP_REASON } from '../support/aws.ts';
import { enroll, portsFor, targetFor, TEST_TIME, type Enrolled } from '../support/fixture.ts';
import { CoordinatorEmulator } from '../../testing/coordinator-emulator.ts';
import {
  contrastTemplate,
  coordinatorTemplate,
  kubeconfigFor,
  manifestRbac,
  startKubeApi,
  type KubeApi,
} from '../../testing/kube-api/index.ts';
import { startRoundRobin } from '../../testing/round-robin.ts';
import { makeWorkspace, type Workspace } from '../../testing/workspace.ts';

const TOKEN = 'stand-in-token';
const MIN = 60_000;
let ws: Workspace;
const cleanup: (() => Promise<void> | void)[] = [];
beforeAll(async () => {
  ws = await makeWorkspace();
});
afterAll(() => {});
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** A healthy Coordinator that has served since an hour ago (its key made then). */
async function emulator(): Promise<{ emu: CoordinatorEmulator; clock: { now: number } }> {
  const clock = { now: Date.now() - 60 * MIN };
  const emu = await CoordinatorEmulator.start({
    state: 'healthy',
    manifest: ws.manifest,
    seed: ws.seed,
    salt: ws.salt,
    clock: () => clock.now,
  });
  cleanup.push(() => emu.stop());
  clock.now = Date.now();
  return { emu, clock };
}

/** The stand-in with `coordinators` Coordinator replicas (started 2 h ago) and `web` (initializer done 30 min ago), `db` (59 min ago). */
async function cluster(
  emu: CoordinatorEmulator,
  coordinators: number,
): Promise<{ api: KubeApi; side: KubernetesSide }> {
  const api = await startKubeApi({ tokens: [TOKEN], rbac: manifestRbac(['contrast', 'apps']) });
  api.store.coordinator = { servingSince: () => emu.healthySince };
  const side = await createKubernetesSide({
    auth: { kind: 'kubeconfig', kubeconfig: kubeconfigFor(api.url, TOKEN, api.caData) },
    coordinatorNamespace: 'contrast',
    namespaces: { kind: 'list', names: ['contrast', 'apps'] },
  });
  cleanup.push(
    () => api.close(),
    () => side.close(),
  );
  const now = Date.now();
  api.store.addStatefulSet('contrast', 'coordinator', {
    template: coordinatorTemplate(),
    replicas: coordinators,
    startedAt: new Date(now - 120 * MIN),
    updateStrategy: 'RollingUpdate',
  });
  api.store.addDeployment('apps', 'web', {
    template: contrastTemplate('web'),
    replicas: 1,
    startedAt: new Date(now - 40 * MIN),
    initializerFinishedAt: new Date(now - 30 * MIN),
  });
  api.store.addStatefulSet('apps', 'db', {
    template: contrastTemplate('db'),
    replicas: 1,
    startedAt: new Date(now - 60 * MIN),
    initializerFinishedAt: new Date(now - 59 * MIN),
    updateStrategy: 'RollingUpdate',
  });
  return { api, side };
}

/** The Coordinator containers restarted now, as the kubelet reports a restarted container. */
function coordinatorContainersRestarted(api: KubeApi): void {
  const since = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  for (const pod of api.store.list('pods', 'contrast')) {
    const status = pod.status as { containerStatuses?: { state?: { running?: { startedAt?: string } } }[] };
    for (const c of status.containerStatuses ?? []) c.state = { running: { startedAt: since } };
    api.store.put('pods', pod);
  }
}

/** `contrast recover` by hand: a Recover over the wire that this service's record knows nothing of. */
async function operatorRecovers(e: Enrolled, emu: CoordinatorEmulator): Promise<void> {
  emu.restart();
  const r = await reconcile(targetFor(e, emu), portsFor(e, undefined, { records: memoryRecordStore() }), TEST_TIME);
  expect(r.outcome, r.message).toBe('recovered');
}

const patches = (api: KubeApi) =>
  api.log
    .filter((r) => r.method === 'PATCH')
    .map((r) => r.path)
    .sort();
const statuses = (r: Pick<ReconcileResult, 'restarts'>) =>
  Object.fromEntries((r.restarts?.results ?? []).map((x) => [`${x.kind}/${x.name}`, x.status]));
const reasonOf = (r: ReconcileResult, name: string) => r.restarts!.results.find((x) => x.name === name)!.reason;
const BOTH = ['/apis/apps/v1/namespaces/apps/deployments/web', '/apis/apps/v1/namespaces/apps/statefulsets/db'];

async function look(target: DeploymentTarget, e: Enrolled, side: KubernetesSide, records: RecoveryRecordStore) {
  return reconcile(target, portsFor(e, undefined, { kubernetes: async () => side, records }), TEST_TIME);
}

describe.skipIf(!motoAvailable)(`whose mesh CA key${motoAvailable ? '' : ` (${SKIP_REASON})`}`, () => {
  it("someone else's Recover (the history unchanged) restarts the stale workloads by default", async () => {
    const { emu } = await emulator();
    const { api, side } = await cluster(emu, 1);
    const e = await enroll(ws);
    const records = memoryRecordStore();
    const first = await look(targetFor(e, emu), e, side, records);
    expect(first.meshCa?.cause).toBe('observed');
    expect(first.staleWorkloads).toBe(0);
    const history = records.record.meshCa?.history;
    expect(history).toBe(`transition:${emu.latestTransitionHash!.toString('hex')}`);

    // The stand-in's Coordinator containers keep their start: here only the history tells (the next test: the restart).
    await operatorRecovers(e, emu);
    const r = await look(targetFor(e, emu), e, side, records);
    expect(r.meshCa).toMatchObject({ spkiSha256: emu.meshCaSpkiSha256, cause: 'recovery' });
    expect(r.outcome, r.message).toBe('restarts-finished');
    expect(statuses(r)).toEqual({ 'Deployment/web': 'restarted', 'StatefulSet/db': 'restarted' });
    expect(patches(api)).toEqual(BOTH);
    // A Recover appends no transition: the new key carries the same history.
    expect(records.record.meshCa?.history).toBe(history);
  });

  it('a `contrast set` and a manual Recover between two looks: a Coordinator restart since the last sighting makes it a recovery', async () => {
    const { emu } = await emulator();
    const { api, side } = await cluster(emu, 1);
    const e = await enroll(ws);
    const records = memoryRecordStore();
    await look(targetFor(e, emu), e, side, records);
    // Container start times have second precision: the restart comes in a later second.
    await new Promise((r) => setTimeout(r, 1_100));
    // The same manifest bytes set again: a new transition and a new key.
    await emu.setManifest(Buffer.from(ws.manifest));
    await operatorRecovers(e, emu);
    coordinatorContainersRestarted(api);
    const r = await look(targetFor(e, emu), e, side, records);
    expect(r.meshCa?.cause).toBe('recovery');
    expect(statuses(r)).toEqual({ 'Deployment/web': 'restarted', 'StatefulSet/db': 'restarted' });
    expect(patches(api)).toEqual(BOTH);
  });

  it('a `contrast set` alone (the history changed, no Coordinator restart) stays report-only', async () => {
    const { emu } = await emulator();
    const { api, side } = await cluster(emu, 1);
    const e = await enroll(ws);
    const records = memoryRecordStore();
    await look(targetFor(e, emu), e, side, records);
    await emu.setManifest(Buffer.from(ws.manifest));
    const r = await look(targetFor(e, emu), e, side, records);
    expect(r.meshCa?.cause).toBe('observed');
    expect(statuses(r)).toEqual({ 'Deployment/web': 'stale', 'StatefulSet/db': 'stale' });
    expect(patches(api)).toEqual([]);
  });

  it('first sight after a peer recovery with two replicas is a baseline: nothing restarts (opted in or not), older pods are unknown-age', async () => {
    const { emu, clock } = await emulator();
    const { api, side } = await cluster(emu, 2);
    // A replica restarted and recovered from its peer: the old key under a certificate minted now.
    emu.restart();
    clock.now = Date.now();
    await emu.peerRecover();
    const e = await enroll(ws);
    const records = memoryRecordStore();
    const r = await look({ ...targetFor(e, emu), restartAfterAnyRotation: true }, e, side, records);
    expect(r.meshCa?.cause).toBe('baseline');
    expect(r.meshCaKeysSeen).toBe(1);
    expect(statuses(r)).toEqual({ 'Deployment/web': 'unknown-age', 'StatefulSet/db': 'unknown-age' });
    expect(reasonOf(r, 'web')).toMatch(
      /first seen at .* more than one Coordinator replica .*a peer may have handed it over/,
    );
    expect(patches(api)).toEqual([]);
  });

  it("a later key first seen through a re-issued certificate is bounded: stale before the previous key's last sighting, unknown-age after", async () => {
    const { emu, clock } = await emulator();
    const { api, side } = await cluster(emu, 2);
    const e = await enroll(ws);
    const records = memoryRecordStore();
    expect((await look(targetFor(e, emu), e, side, records)).meshCa?.cause).toBe('baseline');
    const lastSeen = records.record.meshCa!.lastSeenAt!;
    // A pod that got its certificate after that look: from the old key or the new one, nobody can tell.
    await new Promise((r) => setTimeout(r, 1_100));
    api.store.addDeployment('apps', 'late', {
      template: contrastTemplate('late'),
      replicas: 1,
      startedAt: new Date(),
      initializerFinishedAt: new Date(),
    });
    // The operator recovers; then a replica restarts and recovers from its peer: the new key under a later certificate.
    await operatorRecovers(e, emu);
    emu.restart();
    clock.now = Date.now() + 10 * MIN;
    await emu.peerRecover();
    const r = await look(targetFor(e, emu), e, side, records);
    expect(r.meshCa).toMatchObject({ cause: 'recovery', createdAfter: new Date(lastSeen).toISOString() });
    expect(statuses(r)).toEqual({
      'Deployment/web': 'restarted',
      'StatefulSet/db': 'restarted',
      'Deployment/late': 'unknown-age',
    });
    expect(reasonOf(r, 'late')).toMatch(/made after the previous key was last seen/);
    expect(patches(api)).toEqual(BOTH);
  });

  it('two keys at once (a forced Recover beside a Ready peer): a finding, nothing restarted, no series of rotations', async () => {
    const { emu: a } = await emulator();
    const { emu: b } = await emulator();
    const lb = await startRoundRobin([a.endpoint]);
    cleanup.push(() => lb.close());
    const { api, side } = await cluster(a, 2);
    const e = await enroll(ws);
    const target: DeploymentTarget = { ...targetFor(e, a), coordinator: lb.endpoint };
    const records = memoryRecordStore();
    const first = await look(target, e, side, records);
    expect(first.meshCa?.spkiSha256).toBe(a.meshCaSpkiSha256);
    // Replica b was recovered by force beside its Ready peer: the same history, another key.
    expect(b.meshCaSpkiSha256).not.toBe(a.meshCaSpkiSha256);
    lb.setBackends([a.endpoint, b.endpoint]);
    // Successive connections alternate between the replicas. A reconcile whose probe reaches the
    // recorded key looks no further; the first that reaches the other key probes a window and
    // sees both; from then on every reconcile probes the window until one key remains.
    const seen: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await look(target, e, side, records);
      seen.push(r.meshCaKeysSeen ?? 0);
      if (r.meshCaKeysSeen === 2) {
        expect(r.message).toMatch(/finding: Coordinator replicas serve 2 different mesh CA keys at once/);
        expect(r.restarts).toBeUndefined();
        expect(records.record.twoKeysSeenAt).toEqual(expect.any(Number));
      }
      // Never a rotation: the record keeps its key and replaces none.
      expect(records.record.meshCa?.spkiSha256).toBe(a.meshCaSpkiSha256);
      expect(records.record.supersededKeys).toBeUndefined();
    }
    expect(seen).toEqual([1, 2, 2, 2]);
    expect(lb.counts[1]).toBeGreaterThan(0);
    expect(patches(api)).toEqual([]);
    // Replica b is gone: one key remains, the finding clears.
    lb.setBackends([a.endpoint]);
    const after = await look(target, e, side, records);
    expect(after.meshCaKeysSeen).toBe(1);
    expect(records.record.twoKeysSeenAt).toBeUndefined();
    // Which key each pod's certificate is from cannot be told by time: listed, not restarted.
    expect(after.meshCa?.cause).toBe('baseline');
    expect(statuses(after)).toEqual({ 'Deployment/web': 'unknown-age', 'StatefulSet/db': 'unknown-age' });
    expect(patches(api)).toEqual([]);
  });
});
