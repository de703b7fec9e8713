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
 * the restart to the child's exit, with its breakdown. Anchors: a Ready peer Coordinator
 * recovers a restarted one on its own poll, every 15 s; without either, a paged human takes
 * minutes. README, figures, puts the same chain on AWS on paper.
 *
 * Floor, same run, interleaved: the bare chain (bare-chain.ts) in a fresh process of its own,
 * making the calls one recorded run of the real chain made (recorder.ts: the AWS requests
 * through a proxy in front of moto, the stand-in's requests, the emulator's RPCs), in the same
 * order, against the same emulator, stand-in and moto. A second recorded run of the floor must
 * show the same calls in the same order, or the bench stops. Target ≤ 1.25 × floor; the
 * breakdown gives each part for both (`floor …`).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { createPublicKey } from 'node:crypto';
import { createClientCertificatePem } from '../lambda/coordinator/client-certificate.ts';
import { ownerKeyFromPem } from '../lambda/coordinator/seedshares.ts';
import { RESTART_CONCURRENCY } from '../lambda/kubernetes/restart.ts';
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
import { bareChainSource, toScript } from './bare-chain.ts';
import { bundleEntry, root, runCold, type ColdRun } from './bundle.ts';
import { startRecorder, type Call } from './recorder.ts';
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
  const recorder = await startRecorder(stack.moto.endpoint, api, emu);
  try {
    const kubeconfigSecretId = `kubeconfig/bench-${randomUUID().slice(0, 8)}`;
    await stack.clients.secrets.send(
      new CreateSecretCommand({ Name: kubeconfigSecretId, SecretString: kubeconfigFor(api.url, TOKEN, api.caData) }),
    );
    const bundle = await bundleEntry(entrySource, dir, 'handler');
    const ownerKey = ownerKeyFromPem(Buffer.from(ws.ownerKeyPem));
    const clientCert = await createClientCertificatePem(ownerKey, createPublicKey(ownerKey));

    /** A deployment of its own per run (its record starts empty: the crash-loop guard allows 2 recoveries an hour), the cluster repopulated, the Coordinator restarted. */
    const prepare = async (awsEndpoint = stack.moto.endpoint) => {
      const deployment = `bench-${randomUUID().slice(0, 8)}`;
      const secretId = await stack.enroll(deployment, ws);
      const env = {
        ...stack.env(
          [{ name: deployment, secretId, coordinator: emu.address, coordinatorNamespace: NS, namespaces: [NS] }],
          {
            KUBE_AUTH: 'kubeconfig',
            KUBECONFIG_SECRET_ID: kubeconfigSecretId,
            LAMBDA_TASK_ROOT: dir,
            BENCH_TEST_ROOTS: JSON.stringify(testRoots()),
          },
        ),
        AWS_ENDPOINT_URL: awsEndpoint,
      };
      populate(api, emu);
      api.log.length = 0;
      emu.restart();
      return { deployment, env };
    };
    const checkPatched = (what: string) => {
      const patches = api.log.filter((x) => x.method === 'PATCH').length;
      if (patches !== WORKLOADS)
        throw new Error(`restart-to-recovered: ${what} patched ${patches} of ${WORKLOADS} workloads`);
      if (emu.state !== 'healthy') throw new Error(`restart-to-recovered: ${what} left the Coordinator ${emu.state}`);
    };
    const ours = async (awsEndpoint?: string): Promise<ColdRun & { deployment: string }> => {
      const { deployment, env } = await prepare(awsEndpoint);
      const run = await runCold(bundle.entry, env, exporterEvent(deployment));
      const r = run.response.results?.[0];
      if (run.response.outcome !== 'recovered')
        throw new Error(`restart-to-recovered: ${run.response.outcome}: ${r?.message ?? ''}`);
      checkPatched('the function');
      return { ...run, deployment };
    };

    // One recorded run of the real chain gives the floor its calls.
    await ours();
    recorder.start();
    const recorded = await ours(recorder.endpoint);
    const calls = recorder.stop();
    const script = toScript(calls, recorded.deployment, kubeconfigSecretId);
    const scriptFile = join(dir, 'script.json');
    await writeFile(scriptFile, JSON.stringify(script));
    const floorBundle = await bundleEntry(bareChainSource(script, RESTART_CONCURRENCY), dir, 'bare-chain');
    const floorExtra = {
      BENCH_SCRIPT: scriptFile,
      BENCH_KUBE_URL: api.url,
      BENCH_KUBE_CA: api.caData,
      BENCH_KUBE_TOKEN: TOKEN,
      BENCH_COORDINATOR: emu.address,
      BENCH_CLIENT_CERT: clientCert,
    };
    const floor = async (awsEndpoint?: string): Promise<ColdRun & { parts: Record<string, number> }> => {
      const { deployment, env } = await prepare(awsEndpoint);
      const run = await runCold(floorBundle.entry, { ...env, ...floorExtra }, exporterEvent(deployment));
      if (run.response.outcome !== 'recovered') throw new Error(`restart-to-recovered floor: ${run.response.outcome}`);
      checkPatched('the bare chain');
      return { ...run, parts: (run.response as unknown as { parts: Record<string, number> }).parts };
    };
    // The bare chain, recorded in turn, must make the same calls in the same order.
    recorder.start();
    await floor(recorder.endpoint);
    const floorCalls = recorder.stop();
    const names = (cs: Call[]) =>
      cs.map((c) =>
        c.kind === 'aws' ? c.target : c.kind === 'kube' ? `${c.method} ${c.url.split('?')[0]}` : `coordinator ${c.rpc}`,
      );
    const sorted = (cs: Call[]) => names(cs).sort().join('\n');
    if (sorted(calls) !== sorted(floorCalls))
      throw new Error(
        `restart-to-recovered: the bare chain's calls differ from the recorded run's:\n${names(calls).join(', ')}\n---\n${names(floorCalls).join(', ')}`,
      );
    if (process.env.BENCH_SHOW_CALLS)
      process.stderr.write(
        `recorded calls (batches run together):\n${script.map((b) => `  ${b.part}: ${b.calls.map((c) => c.command ?? `${c.method ?? ''} ${c.url?.split('?')[0] ?? c.rpc}`).join(' | ')}`).join('\n')}\n`,
      );

    const runs: ColdRun[] = [];
    const floors: (ColdRun & { parts: Record<string, number> })[] = [];
    for (let i = 0; i < RUNS; i++) {
      runs.push(await ours());
      floors.push(await floor());
    }

    const stepMs = (run: ColdRun, step: string) =>
      run.response.results![0]!.steps!.filter((s) => s.step === step).reduce((n, s) => n + s.ms, 0);
    const steps = ['load-bundle', 'probe', 'peers', 'decrypt', 'recover', 'confirm', 'restarts'] as const;
    const part = (f: (r: ColdRun) => number) => median(runs.map(f));
    const floorPart = (f: (r: (typeof floors)[number]) => number) => median(floors.map(f));
    const stepsMs = (r: ColdRun) => steps.reduce((n, s) => n + stepMs(r, s), 0);
    const breakdown: Record<string, number> = {
      'node start': part((r) => r.bootMs),
      'floor node start': floorPart((r) => r.bootMs),
      import: part((r) => r.importMs),
      'floor import': floorPart((r) => r.importMs),
      // Configuration and clients, lease and guard before the first step; audit record, result event and lease release after the last.
      'init, lease, guard, report': part((r) => r.invokeMs - (r.response.results![0]!.durationMs ?? 0)),
      // Inside reconcile, between its steps: the Recover intent and its end, the mesh CA key and its restarts recorded.
      'record writes': part((r) => (r.response.results![0]!.durationMs ?? 0) - stepsMs(r)),
    };
    const floorParts = new Set(script.map((b) => b.part));
    // The floor's invocation outside its batches (clients made at import, the script read) counts with init.
    breakdown['floor init, lease, guard, report'] = floorPart(
      (r) =>
        r.invokeMs - Object.values(r.parts).reduce((n, v) => n + v, 0) + (r.parts['init, lease, guard, report'] ?? 0),
    );
    breakdown['floor record writes'] = floorPart((r) => r.parts['record writes'] ?? 0);
    for (const s of steps) {
      breakdown[s] = part((r) => stepMs(r, s));
      if (floorParts.has(s)) breakdown[`floor ${s}`] = floorPart((r) => r.parts[s] ?? 0);
    }
    breakdown['process exit'] = part((r) => r.wallMs - r.bootMs - r.importMs - r.invokeMs);
    breakdown['floor process exit'] = floorPart((r) => r.wallMs - r.bootMs - r.importMs - r.invokeMs);
    return [
      {
        name: 'restart-to-recovered',
        value: part((r) => r.wallMs),
        unit: 'ms',
        floor: floorPart((r) => r.wallMs),
        breakdown,
        note: `Coordinator restart → exporter event → cold handler → Recover confirmed and ${WORKLOADS} workloads patched; floor: a bare chain making the recorded run's ${calls.length} calls in the same order; target ≤ 1.25 × floor (Contrast's own peer recovery polls every 15 s)`,
      },
    ];
  } finally {
    await recorder.close();
    await api.close();
    await emu.stop();
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export const benchmarks: Benchmark[] = [{ group: 'restart-to-recovered', run: restartToRecovered }];
