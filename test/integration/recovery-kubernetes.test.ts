/**
 * Reconcile with the real Kubernetes side over real sockets: moto (KMS, Secrets Manager),
 * the Coordinator emulator and the Kubernetes API stand-in under the RBAC of infra/k8s. The
 * stand-in's initializers see the emulator: while it is stale they wait in Init, retrying on
 * their grid, and finish once it serves (testing/kube-api/store.ts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CreateClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { recoverCommand } from '../../cli/commands.ts';
import { resolveKubeAccess } from '../../cli/kubernetes.ts';
import { createInsecureTestingVerifier } from '../../testing/attestation/insecure-verifier.ts';
import { createKubernetesSide, type KubernetesSettings, type KubernetesSide } from '../../lambda/kubernetes/index.ts';
import { memoryRecordStore } from '../../lambda/reconcile/mesh-ca.ts';
import { reconcile } from '../../lambda/reconcile/reconcile.ts';
import type { ReconcileResult } from '../../lambda/reconcile/types.ts';
import { awsClientConfig, motoAvailable, motoEndpoint, SKIP_REASON, TEST_REGION, uniqueName } from '../support/aws.ts';
import { runCliInProcess } from '../support/cli.ts';
import { portsFor, enroll, targetFor, TEST_TIME } from '../support/fixture.ts';
import { captureOutput, setupFixture } from '../function/handler-fixture.ts';
import { lambdaContext, restartEvent } from '../function/samples.ts';
import { CoordinatorEmulator, type EmulatorOptions } from '../../testing/coordinator-emulator.ts';
import {
  contrastTemplate,
  coordinatorTemplate,
  kubeconfigFor,
  manifestRbac,
  startKubeApi,
  type KubeApi,
} from '../../testing/kube-api/index.ts';
import { makeWorkspace, type Workspace } from '../../testing/workspace.ts';

const TOKEN = 'stand-in-token';
const MIN = 60_000;
/** Initializer retry period in the stand-in (upstream: 5 s), short so waiting pods finish within a test. */
const RETRY_MS = 200;
let ws: Workspace;
let dir: string;
const cleanup: (() => Promise<void> | void)[] = [];
beforeAll(async () => {
  ws = await makeWorkspace();
  dir = await mkdtemp(join(tmpdir(), 'car-kube-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

interface Cluster {
  api: KubeApi;
  side: KubernetesSide;
  settings: KubernetesSettings;
  kubeconfig: string;
}

/** The stand-in with the Coordinator's StatefulSet; its initializers see `emu`. */
async function cluster(emu: CoordinatorEmulator): Promise<Cluster> {
  const api = await startKubeApi({ tokens: [TOKEN], rbac: manifestRbac(['contrast', 'apps']) });
  api.store.coordinator = { servingSince: () => emu.healthySince };
  api.store.initializerRetryMs = RETRY_MS;
  const kubeconfig = kubeconfigFor(api.url, TOKEN, api.caData);
  const settings: KubernetesSettings = {
    auth: { kind: 'kubeconfig', kubeconfig },
    coordinatorNamespace: 'contrast',
    namespaces: { kind: 'list', names: ['contrast', 'apps'] },
  };
  const side = await createKubernetesSide(settings);
  cleanup.push(
    () => api.close(),
    () => side.close(),
  );
  api.store.addStatefulSet('contrast', 'coordinator', {
    template: coordinatorTemplate(),
    replicas: 1,
    startedAt: new Date(),
    updateStrategy: 'RollingUpdate',
    ready: emu.state === 'healthy',
  });
  return { api, side, settings, kubeconfig };
}

/**
 * Workloads as they stand when the Coordinator restarted: `web` started 40 min ago (its
 * initializer done 30 min ago: inside the hour the mesh CA's NotBefore is backdated by), `db`
 * an hour ago, `waiting` started 10 min ago and waits in Init for a Coordinator that serves.
 */
function populate(api: KubeApi, now = Date.now()): void {
  api.store.addDeployment('apps', 'web', {
    template: contrastTemplate('web'),
    replicas: 2,
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
  api.store.addDeployment('apps', 'waiting', {
    template: contrastTemplate('waiting'),
    replicas: 1,
    startedAt: new Date(now - 10 * MIN),
  });
}

async function emulator(opts: Partial<EmulatorOptions> = {}): Promise<CoordinatorEmulator> {
  const emu = await CoordinatorEmulator.start({
    state: 'stale',
    manifest: ws.manifest,
    seed: ws.seed,
    salt: ws.salt,
    ...opts,
  });
  cleanup.push(() => emu.stop());
  return emu;
}

const patches = (api: KubeApi) => api.log.filter((r) => r.method === 'PATCH').map((r) => r.path);
const statuses = (r: Pick<ReconcileResult, 'restarts'>) =>
  Object.fromEntries((r.restarts?.results ?? []).map((x) => [`${x.kind}/${x.name}`, x.status]));
const reasonOf = (r: ReconcileResult, name: string) => r.restarts!.results.find((x) => x.name === name)!.reason;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!motoAvailable)(
  `recovery with the Kubernetes API stand-in${motoAvailable ? '' : ` (${SKIP_REASON})`}`,
  () => {
    it('a Ready peer Coordinator → peers-available: no KMS call, no Recover, nothing restarted', async () => {
      const emu = await emulator();
      const { api, side } = await cluster(emu);
      api.store.addPod('contrast', 'coordinator-1', {
        template: coordinatorTemplate(),
        ready: true,
        startedAt: new Date(Date.now() - 60 * MIN),
      });
      const e = await enroll(ws);
      const r = await reconcile(
        targetFor(e, emu),
        portsFor(e, undefined, { kubernetes: async () => side }),
        TEST_TIME,
        { recoveringPod: 'coordinator-0' },
      );
      expect(r.outcome).toBe('peers-available');
      expect(r.message).toMatch(/coordinator-1/);
      expect(r.kmsDecrypts).toBe(0);
      expect(emu.recoverCalls).toHaveLength(0);
      expect(patches(api)).toEqual([]);
    });

    it('no record of the intent, no Recover: the seed stays, the reconcile is retried', async () => {
      const emu = await emulator();
      const e = await enroll(ws);
      const records = {
        read: () => Promise.resolve({ attempts: [] }),
        update: () => Promise.reject(new Error('ConditionalCheckFailed')),
      };
      const r = await reconcile(targetFor(e, emu), portsFor(e, undefined, { records }), TEST_TIME);
      expect(r.outcome).toBe('unreachable');
      expect(r.message).toMatch(/could not record the Recover intent .*Recover was not sent/);
      expect(r.recoverSent).toBe(false);
      expect(emu.recoverCalls).toHaveLength(0);
      expect(emu.state).toBe('stale');
    });

    it('a pod started 30 minutes before the recovery is restarted (its certificate is from the lost mesh CA)', async () => {
      const emu = await emulator();
      const { api, side } = await cluster(emu);
      populate(api);
      const e = await enroll(ws);
      const records = memoryRecordStore();
      const r = await reconcile(
        targetFor(e, emu),
        portsFor(e, undefined, { kubernetes: async () => side, records }),
        TEST_TIME,
      );
      expect(r.outcome, r.message).toBe('recovered');
      expect(statuses(r)).toMatchObject({ 'Deployment/web': 'restarted', 'StatefulSet/db': 'restarted' });
      expect(reasonOf(r, 'web')).toMatch(
        /2 pod\(s\) whose contrast-initializer finished before the mesh CA key was created/,
      );
      expect(patches(api).sort()).toEqual([
        '/apis/apps/v1/namespaces/apps/deployments/web',
        '/apis/apps/v1/namespaces/apps/statefulsets/db',
      ]);
      expect(api.log.find((x) => x.method === 'PATCH')!.contentType).toBe('application/strategic-merge-patch+json');
      // The key is this service's: dated by the intent recorded before Recover left.
      const [attempt] = records.record.attempts;
      expect(attempt).toMatchObject({ status: 'accepted' });
      expect(records.record.meshCa).toMatchObject({
        spkiSha256: emu.meshCaSpkiSha256,
        cause: 'recover',
        createdAt: attempt!.at,
        restartsCompleteAt: expect.any(Number),
      });
      // The certificate's NotBefore lies an hour before: the pod started after it, and is still stale.
      const notBefore = records.record.meshCa!.certificateNotBefore;
      expect(Date.now() - 40 * MIN).toBeGreaterThan(notBefore);

      // Restarts recorded complete: the next healthy reconcile makes no Kubernetes call.
      api.log.length = 0;
      expect(
        (
          await reconcile(
            targetFor(e, emu),
            portsFor(e, undefined, { kubernetes: async () => side, records }),
            TEST_TIME,
          )
        ).outcome,
      ).toBe('already-healthy');
      expect(api.log).toHaveLength(0);
    });

    it('a pod whose initializer finished after the recovery is not restarted', async () => {
      const emu = await emulator();
      const { api, side } = await cluster(emu);
      populate(api);
      const e = await enroll(ws);
      // Started 20 min before the recovery, it got its certificate just after it — from the new CA.
      let loads = 0;
      const kubernetes = async () => {
        if (++loads === 2)
          api.store.addPod('apps', 'late', {
            template: contrastTemplate('late'),
            startedAt: new Date(Date.now() - 20 * MIN),
            initializerFinishedAt: new Date(),
          });
        return side;
      };
      const r = await reconcile(
        targetFor(e, emu),
        portsFor(e, undefined, { kubernetes, records: memoryRecordStore() }),
        TEST_TIME,
      );
      expect(r.outcome, r.message).toBe('recovered');
      expect(statuses(r)).toMatchObject({ 'Pod/late': 'skipped', 'Deployment/web': 'restarted' });
      expect(reasonOf(r, 'late')).toMatch(/got their certificate after the mesh CA key was created/);
      expect(api.log.filter((x) => x.method !== 'GET' && x.name === 'late')).toEqual([]);
    });

    it('a pod that waited in Init while the Coordinator was stale is not restarted', async () => {
      const emu = await emulator();
      const { api, side } = await cluster(emu);
      populate(api);
      const pod = () => api.store.workloadPods('deployments', 'apps', 'waiting')[0]!;
      expect(pod().status).toMatchObject({
        phase: 'Pending',
        initContainerStatuses: [{ name: 'contrast-initializer', state: { running: {} } }],
      });
      const e = await enroll(ws);
      const records = memoryRecordStore();
      // The pod's next initializer retry comes after the restart step looked (the stand-in's clock
      // stands still meanwhile): on a busy machine the reconcile may take longer than one retry period.
      const frozen = api.store.now();
      api.store.now = () => frozen;
      const r = await reconcile(
        targetFor(e, emu),
        portsFor(e, undefined, { kubernetes: async () => side, records }),
        TEST_TIME,
      );
      expect(r.outcome, r.message).toBe('recovered');
      expect(statuses(r)['Deployment/waiting']).toBe('skipped');
      expect(reasonOf(r, 'waiting')).toMatch(
        /still in Init: they fetch their certificate from the current Coordinator/,
      );
      // On its next retry it gets through, from the new CA; a later look still leaves it alone.
      api.store.now = () => new Date();
      for (let i = 0; i < 500 && pod().status?.phase !== 'Running'; i++) {
        await sleep(RETRY_MS);
        api.store.settle();
      }
      expect(pod().status).toMatchObject({ phase: 'Running' });
      // Look at every workload again (as if the completion record were lost).
      const forgotten = memoryRecordStore({
        ...records.record,
        meshCa: { ...records.record.meshCa!, restartsCompleteAt: undefined },
      });
      const status = await reconcile(
        targetFor(e, emu),
        portsFor(e, undefined, { kubernetes: async () => side, records: forgotten }),
        TEST_TIME,
        { statusOnly: true },
      );
      expect(statuses(status)['Deployment/waiting']).toBe('skipped');
      expect(reasonOf(status, 'waiting')).toMatch(/got their certificate after the mesh CA key was created/);
      expect(api.log.filter((x) => x.method === 'PATCH' && x.name === 'waiting')).toEqual([]);
    });

    it('a peer recovery restarts nothing: a new certificate over the same key', async () => {
      const emu = await emulator();
      const { api, side } = await cluster(emu);
      populate(api);
      const e = await enroll(ws);
      const records = memoryRecordStore();
      const deps = portsFor(e, undefined, { kubernetes: async () => side, records });
      expect((await reconcile(targetFor(e, emu), deps, TEST_TIME)).outcome).toBe('recovered');
      const before = { pem: emu.meshCaPem, spki: emu.meshCaSpkiSha256 };
      // The Coordinator restarts and a Ready peer hands it the mesh CA key.
      emu.restart();
      await emu.peerRecover();
      expect(emu.meshCaPem).not.toBe(before.pem);
      expect(emu.meshCaSpkiSha256).toBe(before.spki);
      api.log.length = 0;
      const r = await reconcile(targetFor(e, emu), deps, TEST_TIME);
      expect(r.outcome).toBe('already-healthy');
      expect(r.meshCa).toMatchObject({ spkiSha256: before.spki, cause: 'recover' });
      expect(api.log).toEqual([]);
      // Even checking the workloads again (completion forgotten): every pod is fresh for this key.
      await records.update((rec) => ({ ...rec, meshCa: { ...rec.meshCa!, restartsCompleteAt: undefined } }));
      const again = await reconcile(targetFor(e, emu), deps, TEST_TIME);
      expect(again.outcome).toBe('already-healthy');
      expect(Object.values(statuses(again)).every((s) => s === 'skipped')).toBe(true);
      expect(patches(api)).toEqual([]);
      expect(emu.recoverCalls).toHaveLength(1);
    });

    it('a crash between Recover and the restarts converges to the same set', async () => {
      // Undisturbed: recover and restart in one go.
      const emuA = await emulator();
      const a = await cluster(emuA);
      populate(a.api);
      const eA = await enroll(ws);
      const undisturbed = await reconcile(
        targetFor(eA, emuA),
        portsFor(eA, undefined, { kubernetes: async () => a.side, records: memoryRecordStore() }),
        TEST_TIME,
      );
      expect(undisturbed.outcome, undisturbed.message).toBe('recovered');

      // Crashed after Recover (no restarts); the waiting pod gets its certificate meanwhile; the next reconcile finishes.
      const emuB = await emulator();
      const b = await cluster(emuB);
      populate(b.api);
      const eB = await enroll(ws);
      const records = memoryRecordStore();
      expect((await reconcile(targetFor(eB, emuB), portsFor(eB, undefined, { records }), TEST_TIME)).outcome).toBe(
        'recovered',
      );
      expect(patches(b.api)).toEqual([]);
      await sleep(2 * RETRY_MS + 100);
      const finished = await reconcile(
        targetFor(eB, emuB),
        portsFor(eB, undefined, { kubernetes: async () => b.side, records }),
        TEST_TIME,
      );
      expect(finished.outcome, finished.message).toBe('restarts-finished');
      expect(finished.kmsDecrypts).toBe(0);
      expect(emuB.recoverCalls).toHaveLength(1);

      expect(statuses(finished)).toEqual(statuses(undisturbed));
      expect(patches(b.api).sort()).toEqual(patches(a.api).sort());
      expect(patches(a.api)).toHaveLength(2);
    });

    it('a restart step given up at its cutoff is cancelled: under a slow list, one PATCH per stale workload', async () => {
      const emu = await emulator();
      const { api, side } = await cluster(emu);
      populate(api);
      const e = await enroll(ws);
      const records = memoryRecordStore();
      // The first run's lists are answered late, from a snapshot of when they were asked.
      const cutoff = new AbortController();
      const progress = (ev: { step: string; status: string }) => {
        if (ev.step === 'restarts' && ev.status === 'start') api.holdListAnswers = true;
      };
      const first = reconcile(
        targetFor(e, emu),
        portsFor(e, undefined, { kubernetes: async () => side, records, progress }),
        { ...TEST_TIME, signal: cutoff.signal },
      );
      for (let i = 0; i < 1500 && api.heldListAnswers === 0; i++) await sleep(20);
      expect(api.heldListAnswers).toBeGreaterThan(0);
      // Its cutoff passes (deployment-run.ts aborts the signal); the retry runs while those lists are still out.
      cutoff.abort();
      api.holdListAnswers = false;
      const retry = await reconcile(
        targetFor(e, emu),
        portsFor(e, undefined, { kubernetes: async () => side, records }),
        TEST_TIME,
      );
      expect(retry.outcome, retry.message).toBe('restarts-finished');
      expect(patches(api).sort()).toEqual([
        '/apis/apps/v1/namespaces/apps/deployments/web',
        '/apis/apps/v1/namespaces/apps/statefulsets/db',
      ]);
      // The late answers arrive; the first run, cancelled, patches nothing from them.
      api.releaseListAnswers();
      const given = await first;
      expect(patches(api).sort()).toEqual([
        '/apis/apps/v1/namespaces/apps/deployments/web',
        '/apis/apps/v1/namespaces/apps/statefulsets/db',
      ]);
      expect(given.outcome, given.message).toBe('restart-partial');
      expect(given.message).toMatch(/given up|cancelled/);
      expect(emu.recoverCalls).toHaveLength(1);
    });

    it('a manifest update is reported, not restarted, by default; restarted where the deployment opts in', async () => {
      // The Coordinator has served since an hour ago; the workloads got certificates since.
      let clock = Date.now() - 60 * MIN;
      const emu = await emulator({ state: 'healthy', clock: () => clock });
      const { api, side } = await cluster(emu);
      clock = Date.now();
      populate(api);
      const e = await enroll(ws);
      const records = memoryRecordStore();
      const deps = portsFor(e, undefined, { kubernetes: async () => side, records });
      const first = await reconcile(targetFor(e, emu), deps, TEST_TIME);
      expect(first.outcome).toBe('already-healthy');
      expect(first.staleWorkloads).toBe(0);
      expect(first.meshCa?.cause).toBe('observed');

      // `contrast set`: a new manifest, a new mesh CA key; nobody restarted the workloads.
      await emu.setManifest(Buffer.from(ws.manifest.toString().replace('"SANs"', '"SANs" ')));
      api.log.length = 0;
      const reported = await reconcile(targetFor(e, emu), deps, TEST_TIME);
      expect(reported.outcome).toBe('already-healthy');
      expect(reported.drift).toBe(true);
      expect(reported.meshCa).toMatchObject({ spkiSha256: emu.meshCaSpkiSha256, cause: 'observed' });
      // Its creation is read from the certificate: NotBefore + 1 h.
      expect(Math.abs(Date.parse(reported.meshCa!.createdAt) - emu.meshKeyCreatedAt!.getTime())).toBeLessThan(1000);
      expect(statuses(reported)).toEqual({
        'Deployment/web': 'stale',
        'StatefulSet/db': 'stale',
        'Deployment/waiting': 'stale',
      });
      expect(reported.staleWorkloads).toBe(3);
      expect(reported.message).toMatch(
        /3 workload\(s\) hold certificates of an earlier mesh CA and were reported, not restarted.*restartAfterAnyRotation/,
      );
      expect(reasonOf(reported, 'web')).toMatch(/not restarted: .*contrast set/);
      expect(patches(api)).toEqual([]);
      // Still reported on the next look (nothing is recorded complete while stale workloads remain).
      expect((await reconcile(targetFor(e, emu), deps, TEST_TIME)).staleWorkloads).toBe(3);

      const optedIn = await reconcile({ ...targetFor(e, emu), restartAfterAnyRotation: true }, deps, TEST_TIME);
      expect(optedIn.outcome, optedIn.message).toBe('restarts-finished');
      expect(statuses(optedIn)).toEqual({
        'Deployment/web': 'restarted',
        'StatefulSet/db': 'restarted',
        'Deployment/waiting': 'restarted',
      });
      expect(patches(api)).toHaveLength(3);
      expect(emu.recoverCalls).toHaveLength(0);
    });

    it('a denied patch → restart-partial with the reason; once allowed, only the rest is restarted', async () => {
      const emu = await emulator();
      const { api, side } = await cluster(emu);
      populate(api);
      api.faults.push({
        method: 'PATCH',
        resource: 'statefulsets',
        namespace: 'apps',
        name: 'db',
        status: 403,
        message: 'statefulsets.apps "db" is forbidden',
        times: Infinity,
      });
      const e = await enroll(ws);
      const records = memoryRecordStore();
      const deps = portsFor(e, undefined, { kubernetes: async () => side, records });
      const first = await reconcile(targetFor(e, emu), deps, TEST_TIME);
      expect(first.outcome).toBe('restart-partial');
      const failed = first.restarts!.results.find((x) => x.status === 'failed')!;
      expect(failed.name).toBe('db');
      expect(failed.reason).toMatch(/forbidden/);
      expect(records.record.meshCa?.restartsCompleteAt).toBeUndefined();

      api.faults.length = 0;
      api.log.length = 0;
      const second = await reconcile(targetFor(e, emu), deps, TEST_TIME);
      expect(second.outcome).toBe('restarts-finished');
      expect(patches(api)).toEqual(['/apis/apps/v1/namespaces/apps/statefulsets/db']);
      expect(emu.recoverCalls).toHaveLength(1);
    });
  },
);

describe.skipIf(!motoAvailable)(`the CLI with cluster access${motoAvailable ? '' : ` (${SKIP_REASON})`}`, () => {
  const awsEnv = {
    AWS_ENDPOINT_URL: motoEndpoint,
    AWS_REGION: TEST_REGION,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
  };

  /** recover/status in this process, with the emulator's test evidence accepted (a seam in code, not a flag). */
  async function cli(
    args: Parameters<typeof recoverCommand>[0],
    mode: 'recover' | 'status' = 'recover',
  ): Promise<{ code: number; result: ReconcileResult }> {
    const saved = { ...process.env };
    Object.assign(process.env, awsEnv);
    let stdout = '';
    const spy = vi
      .spyOn(process.stdout, 'write')
      .mockImplementation(((chunk: string) => ((stdout += chunk), true)) as typeof process.stdout.write);
    try {
      const code = await recoverCommand({ json: true, ...args }, mode, {
        verifierFactory: () => createInsecureTestingVerifier(),
      });
      return { code, result: JSON.parse(stdout) as ReconcileResult };
    } finally {
      spy.mockRestore();
      process.env = saved;
    }
  }

  it("the CLI's recover against the stand-in restarts what the Lambda would", async () => {
    // The function: kubeconfig from Secrets Manager, as deployed with KUBE_AUTH=kubeconfig.
    const kubeconfigSecret = uniqueName('kubeconfig');
    const fx = await setupFixture({
      env: { KUBE_AUTH: 'kubeconfig', KUBECONFIG_SECRET_ID: kubeconfigSecret },
      deploymentExtra: { namespaces: ['contrast', 'apps'], coordinatorNamespace: 'contrast' },
    });
    cleanup.push(() => fx.stop());
    const lambdaSide = await cluster(fx.emu);
    populate(lambdaSide.api);
    await new SecretsManagerClient(awsClientConfig()).send(
      new CreateSecretCommand({ Name: kubeconfigSecret, SecretString: lambdaSide.kubeconfig }),
    );
    const out = captureOutput();
    let lambda;
    try {
      lambda = await fx.handler(restartEvent(fx.deployment), lambdaContext());
    } finally {
      out.restore();
    }
    expect(lambda.outcome, lambda.results[0]!.message).toBe('recovered');

    // The CLI: the same workspace, enrolled for itself, a kubeconfig file for its own cluster.
    const emu = await emulator({ manifest: fx.ws.manifest, seed: fx.ws.seed, salt: fx.ws.salt });
    const cliSide = await cluster(emu);
    populate(cliSide.api);
    const e = await enroll(fx.ws);
    const file = join(dir, 'kubeconfig');
    await writeFile(file, cliSide.kubeconfig);
    const { code, result } = await cli({
      deployment: e.deployment,
      secretId: e.secretId,
      coordinator: emu.address,
      kubeconfig: file,
      coordinatorNamespace: 'contrast',
      namespace: ['contrast', 'apps'],
    });
    expect(code, result.message).toBe(0);
    expect(result.outcome).toBe('recovered');
    expect(statuses(result)).toEqual(statuses(lambda.results[0]!));
    expect(Object.values(statuses(result))).toContain('restarted');
    expect(patches(cliSide.api).sort()).toEqual(patches(lambdaSide.api).sort());
    // The peer check ran against the Coordinator's namespace with Contrast's selector.
    const peerList = cliSide.api.log.find(
      (x) => x.resource === 'pods' && x.namespace === 'contrast' && x.query.get('labelSelector'),
    )!;
    expect(peerList.query.get('labelSelector')).toBe('app.kubernetes.io/name=coordinator');
  });

  it('recover --dry-run lists the workloads a recovery would restart; status lists the stale ones', async () => {
    const emu = await emulator();
    const { api, kubeconfig } = await cluster(emu);
    populate(api);
    const e = await enroll(ws);
    const file = join(dir, 'kubeconfig-dry');
    await writeFile(file, kubeconfig);
    const base = {
      deployment: e.deployment,
      secretId: e.secretId,
      coordinator: emu.address,
      kubeconfig: file,
      coordinatorNamespace: 'contrast',
      namespace: ['apps'],
    };
    const dry = await cli({ ...base, dryRun: true });
    expect(dry.result.outcome).toBe('dry-run-ok');
    expect(statuses(dry.result)).toEqual({
      'Deployment/web': 'would-restart',
      'StatefulSet/db': 'would-restart',
      'Deployment/waiting': 'skipped',
    });
    expect(emu.recoverCalls).toHaveLength(0);
    expect(patches(api)).toEqual([]);

    // Someone else recovered it (an earlier `contrast recover`): status lists what still holds the lost CA's certificates.
    await reconcile(targetFor(e, emu), portsFor(e), TEST_TIME);
    const status = await cli(base, 'status');
    expect(status.code).toBe(0);
    expect(status.result.meshCa?.cause).toBe('observed');
    expect(statuses(status.result)).toMatchObject({
      'Deployment/web': 'would-restart',
      'StatefulSet/db': 'would-restart',
    });
    expect(status.result.staleWorkloads).toBe(2);
    expect(patches(api)).toEqual([]);
  });

  it('recover without any cluster access refuses unless --no-kubernetes is given', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'car-home-'));
    cleanup.push(() => rm(empty, { recursive: true, force: true }));
    const env = { ...awsEnv, HOME: empty, KUBECONFIG: '' };
    const refused = await runCliInProcess(
      ['recover', '--deployment', 'prod', '--secret-id', 'x', '--coordinator', '127.0.0.1:1'],
      env,
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /cannot check for Ready peer Coordinators or restart workloads without cluster access: give --kubeconfig FILE, set KUBECONFIG, use ~\/.kube\/config, or --eks-cluster NAME; or pass --no-kubernetes/,
    );
    const without = await runCliInProcess(
      [
        'recover',
        '--deployment',
        'prod',
        '--secret-id',
        uniqueName('absent'),
        '--coordinator',
        '127.0.0.1:1',
        '--no-kubernetes',
      ],
      env,
    );
    expect(without.stderr).toMatch(/--no-kubernetes: no peer check, no workload restarts/);
    expect(without.code).toBe(16); // it went on: the (absent) bundle is what stops it
    // A kubeconfig that is not a regular file is refused by name, without reading it.
    const notFile = await runCliInProcess(
      ['status', '--deployment', 'prod', '--secret-id', 'x', '--coordinator', '127.0.0.1:1', '--kubeconfig', empty],
      env,
    );
    expect(notFile.code).toBe(21);
    expect(notFile.stderr).toMatch(/is not a regular file/);
  });

  it("--eks-cluster finds endpoint and CA with DescribeCluster and signs with the CLI's own credentials; an unknown cluster is config-invalid", async () => {
    const name = uniqueName('eks');
    await new EKSClient(awsClientConfig()).send(
      new CreateClusterCommand({
        name,
        roleArn: 'arn:aws:iam::123456789012:role/eks',
        resourcesVpcConfig: { subnetIds: ['subnet-1'] },
      }),
    );
    const saved = { ...process.env };
    Object.assign(process.env, awsEnv);
    try {
      const secrets = new SecretsManagerClient({});
      const access = await resolveKubeAccess({ eksCluster: name, coordinatorNamespace: 'contrast' }, secrets);
      if (access.kind !== 'settings' || access.settings.auth.kind !== 'eks')
        throw new Error(`expected EKS settings, got ${access.kind}`);
      const auth = access.settings.auth;
      expect(auth).toMatchObject({
        clusterName: name,
        region: TEST_REGION,
        endpoint: expect.stringMatching(/^https:\/\/.*\.eks\.amazonaws\.com/),
        caData: expect.any(String),
      });
      expect(await auth.credentials!()).toMatchObject({ accessKeyId: 'testing' });
      expect(access.settings.namespaces).toEqual({ kind: 'list', names: ['contrast'] });
      const err = await resolveKubeAccess({ eksCluster: uniqueName('absent') }, secrets).catch((e: unknown) => e);
      expect(err).toMatchObject({
        outcome: 'config-invalid',
        message: expect.stringMatching(/EKS cluster .* does not exist in eu-central-1/),
      });
    } finally {
      process.env = saved;
    }
  });
});
