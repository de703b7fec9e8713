/**
 * `restart-to-recovered` (absolute, local): what an operator waits for. The emulated
 * Coordinator restarts (stale, keys lost), an event shaped exactly like the exporter's
 * (infra/k8s/exporter/config.yaml: source, detail-type, detail {deployment, pod, podUID,
 * cluster}) reaches a cold handler — a fresh Node process importing the function's bundle —
 * which takes the lease, reads the bundle, verifies the Coordinator's SEV-SNP evidence (the
 * production verifier's code, test roots injected in code), finds no Ready peer, records the
 * intent, decrypts the owner key (KMS + RSA-OAEP of the share, RSA-4096), sends Recover on a
 * new attested connection with its client certificate, confirms the manifest, and patches
 * every stale workload for a restart against the Kubernetes API stand-in (kubeconfig from
 * Secrets Manager, as with KUBE_AUTH=kubeconfig), then reports. The figure is the time from
 * the restart to the handler's return, with its breakdown; target ≤ 1.5 s on this machine
 * kind. Anchors: a Ready peer Coordinator recovers a restarted one on its own poll, every
 * 15 s; without either, a paged human takes minutes. README, figures, puts the same chain on
 * AWS on paper.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { EVENTS, TRIGGER_DETAIL } from '../lambda/shared/contract.ts';
import { CoordinatorEmulator } from '../testing/coordinator-emulator.ts';
import { snpTestEvidence, makeTestManifest, TEST_POLICY_HASH_HEX, testRoots } from '../testing/evidence/index.ts';
import {
  contrastTemplate,
  coordinatorTemplate,
  kubeconfigFor,
  KubeStore,
  manifestRbac,
  startKubeApi,
  type KubeApi,
} from '../testing/kube-api/index.ts';
import { MOTO_INSTALL_HINT } from '../testing/moto-server.ts';
import { makeWorkspace } from '../testing/workspace.ts';
import { bundleEntry, root, runCold, type ColdRun } from './bundle.ts';
import { median, type Benchmark, type Figure } from './harness.ts';
import { startStack } from './stack.ts';

const RUNS = 7;
/** Stale Contrast workloads in the deployment's namespace (Deployments with 2 pods each). */
const WORKLOADS = 10;
const NS = 'contrast';
const TOKEN = 'bench-token';
const MIN = 60_000;

/** The function's entry with the production verifier's code and the test chain's roots (passed in the environment). */
const entrySource = `import { createHandler } from ${JSON.stringify(join(root, 'lambda/function/handler.ts'))};
import { createVerifierWithRoots } from ${JSON.stringify(join(root, 'testing/attestation/with-roots.ts'))};
const roots = JSON.parse(process.env.BENCH_TEST_ROOTS);
export const handler = createHandler({ verifierFactory: (reference) => createVerifierWithRoots(reference, { roots }) });
`;

/** The exporter's event for a new Coordinator pod (infra/k8s/exporter/config.yaml, receivers). */
function exporterEvent(deployment: string): Record<string, unknown> {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': EVENTS.triggerDetailTypes[0],
    source: EVENTS.triggerSource,
    account: '123456789012',
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: 'eu-central-1',
    resources: [],
    detail: {
      [TRIGGER_DETAIL.deployment]: deployment,
      [TRIGGER_DETAIL.pod]: 'coordinator-0',
      [TRIGGER_DETAIL.podUid]: randomUUID(),
      [TRIGGER_DETAIL.cluster]: 'bench',
    },
  };
}

/** The cluster as it stands when the Coordinator restarted: its pod not Ready, the workloads initialized 30 minutes ago. */
function populate(api: KubeApi, emu: CoordinatorEmulator): void {
  const store = new KubeStore();
  store.coordinator = { servingSince: () => emu.healthySince };
  const now = Date.now();
  store.addStatefulSet(NS, 'coordinator', {
    template: coordinatorTemplate(),
    replicas: 1,
    startedAt: new Date(now),
    updateStrategy: 'RollingUpdate',
    ready: false,
  });
  for (let i = 0; i < WORKLOADS; i++) {
    store.addDeployment(NS, `app-${i}`, {
      template: contrastTemplate(`app-${i}`),
      replicas: 2,
      startedAt: new Date(now - 40 * MIN),
      initializerFinishedAt: new Date(now - 30 * MIN),
    });
  }
  api.store.close();
  api.store = store;
}

async function restartToRecovered(): Promise<Figure[]> {
  const stack = await startStack();
  if (!stack)
    return [
      {
        name: 'restart-to-recovered',
        value: Number.NaN,
        unit: 'ms',
        note: `skipped: moto not installed; ${MOTO_INSTALL_HINT}`,
      },
    ];
  const dir = await mkdtemp(join(tmpdir(), 'restart-to-recovered-'));
  const ws = await makeWorkspace({
    modulusLength: 4096,
    coordinatorPolicyHash: TEST_POLICY_HASH_HEX,
    manifestExtra: { ReferenceValues: makeTestManifest().ReferenceValues },
  });
  const emu = await CoordinatorEmulator.start({
    state: 'healthy',
    manifest: ws.manifest,
    seed: ws.seed,
    salt: ws.salt,
    evidence: snpTestEvidence(),
  });
  const api = await startKubeApi({ tokens: [TOKEN], rbac: manifestRbac([NS]) });
  try {
    const kubeconfigSecretId = `kubeconfig/bench-${randomUUID().slice(0, 8)}`;
    await stack.clients.secrets.send(
      new CreateSecretCommand({ Name: kubeconfigSecretId, SecretString: kubeconfigFor(api.url, TOKEN, api.caData) }),
    );
    const bundle = await bundleEntry(entrySource, dir, 'handler');

    const once = async (): Promise<{ run: ColdRun; patches: number }> => {
      // A deployment of its own per run: its record starts empty (the crash-loop guard allows 2 recoveries an hour).
      const deployment = `bench-${randomUUID().slice(0, 8)}`;
      const secretId = await stack.enroll(deployment, ws);
      const env = stack.env(
        [{ name: deployment, secretId, coordinator: emu.address, coordinatorNamespace: NS, namespaces: [NS] }],
        {
          KUBE_AUTH: 'kubeconfig',
          KUBECONFIG_SECRET_ID: kubeconfigSecretId,
          LAMBDA_TASK_ROOT: dir,
          BENCH_TEST_ROOTS: JSON.stringify(testRoots()),
        },
      );
      populate(api, emu);
      api.log.length = 0;
      emu.restart();
      const run = await runCold(bundle.entry, env, exporterEvent(deployment));
      const r = run.response.results?.[0];
      if (run.response.outcome !== 'recovered')
        throw new Error(`restart-to-recovered: ${run.response.outcome}: ${r?.message ?? ''}`);
      const patches = api.log.filter((x) => x.method === 'PATCH').length;
      if (patches !== WORKLOADS) throw new Error(`restart-to-recovered: ${patches} of ${WORKLOADS} workloads patched`);
      return { run, patches };
    };

    await once();
    const runs: ColdRun[] = [];
    for (let i = 0; i < RUNS; i++) runs.push((await once()).run);

    const stepMs = (run: ColdRun, step: string) =>
      run.response.results![0]!.steps!.filter((s) => s.step === step).reduce((n, s) => n + s.ms, 0);
    const steps = ['load-bundle', 'probe', 'peers', 'decrypt', 'recover', 'confirm', 'restarts'] as const;
    const part = (f: (r: ColdRun) => number) => median(runs.map(f));
    const stepsMs = (r: ColdRun) => steps.reduce((n, s) => n + stepMs(r, s), 0);
    const breakdown: Record<string, number> = {
      'node start': part((r) => r.bootMs),
      import: part((r) => r.importMs),
      // Configuration and clients, lease and guard before the first step; audit record, result event and lease release after the last.
      'init, lease, guard, report': part((r) => r.invokeMs - (r.response.results![0]!.durationMs ?? 0)),
      // Inside reconcile, between its steps: the Recover intent and its end, the mesh CA key and its restarts recorded.
      'record writes': part((r) => (r.response.results![0]!.durationMs ?? 0) - stepsMs(r)),
    };
    for (const s of steps) breakdown[s] = part((r) => stepMs(r, s));
    breakdown['process exit'] = part((r) => r.wallMs - r.bootMs - r.importMs - r.invokeMs);
    return [
      {
        name: 'restart-to-recovered',
        value: part((r) => r.wallMs),
        unit: 'ms',
        breakdown,
        note: `Coordinator restart → exporter event → cold handler → Recover confirmed and ${WORKLOADS} workloads patched; target ≤ 1500 ms (Contrast's own peer recovery polls every 15 s)`,
      },
    ];
  } finally {
    await api.close();
    await emu.stop();
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export const benchmarks: Benchmark[] = [{ group: 'restart-to-recovered', run: restartToRecovered }];
