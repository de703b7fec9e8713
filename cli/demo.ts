/**
 * `npm run demo`: the main job on local defaults, on a fresh machine with only Node.
 * Makes a Contrast workspace, enrolls it (into moto when it is installed; otherwise into a
 * clearly labelled local key provider), starts the Coordinator emulator in recovery mode and
 * a Kubernetes API stand-in with a few workloads, recovers the Coordinator, confirms the
 * manifest, restarts exactly the workloads holding certificates of the lost mesh CA (and says
 * why each other one is left alone), then reconciles again (a no-op without KMS or Kubernetes calls).
 *
 * The emulator presents real-format SEV-SNP evidence signed by a DEMO test chain (not AMD
 * hardware), so the demo wires the native verifier with that chain's root here, in code;
 * every check of a real recovery runs (signature, chain, binding, measurement, HOST_DATA,
 * policy, TCB). No flag or setting of the real commands can add such a root.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { cliReconcile } from './aws-clients.ts';
import { memoryRecordStore } from '../lambda/reconcile/mesh-ca.ts';
import { buildBundle } from '../lambda/reconcile/enroll.ts';
import { countKmsCalls } from '../lambda/keys/kms-calls.ts';
import { BundleStore } from '../lambda/keys/store.ts';
import { exitCodeFor, type Outcome } from '../lambda/shared/outcomes.ts';
import { reconcile } from '../lambda/reconcile/reconcile.ts';
import type { ReconcileResult } from '../lambda/reconcile/types.ts';
import type { KubernetesSide, PodResult, WorkloadResult } from '../lambda/kubernetes/types.ts';
import { CoordinatorEmulator } from '../testing/coordinator-emulator.ts';
import {
  contrastTemplate,
  coordinatorTemplate,
  kubeconfigFor,
  manifestRbac,
  plainTemplate,
  startKubeApi,
  type KubeApi,
} from '../testing/kube-api/index.ts';
import { findMotoPython, MOTO_INSTALL_HINT, startMoto, type MotoServer } from '../testing/moto-server.ts';
import { makeWorkspace, writeWorkspace } from '../testing/workspace.ts';
import {
  snpTestEvidence,
  makeTestManifest,
  TEST_POLICY_HASH_HEX,
  testSnpVerifierFactory,
} from '../testing/evidence/index.ts';
import { progressPrinter } from './output.ts';
import { readWorkspace } from './workspace-files.ts';

interface DemoStep {
  name: string;
  ms: number;
  outcome?: Outcome;
  detail?: string;
}

export interface DemoSummary {
  keyProvider: 'moto' | 'local-demo-key-provider (not AWS)';
  deployment: string;
  steps: DemoStep[];
  outcomes: Outcome[];
  recoverCalls: number;
  kmsDecrypts: { firstReconcile: number; secondReconcile: number };
  /** What the recovery did with each Contrast workload, and why. */
  workloads: Pick<WorkloadResult, 'kind' | 'namespace' | 'name' | 'status' | 'reason'>[];
  /** Every Contrast pod of the recovery, with its status and reason. */
  pods: PodResult[];
  /** Kubernetes API requests of the second reconcile (none: the restarts are recorded complete). */
  secondReconcileKubernetesRequests: number;
  ok: boolean;
}

const NS = 'demo';
const MIN = 60_000;
const DEMO_TOKEN = 'demo-token-not-secret';

/**
 * The demo cluster as the Coordinator restart left it. The mesh CA's NotBefore is backdated by
 * an hour, so `frontend` (ready 30 min ago) is exactly what a start-time rule would miss.
 */
function populateDemoCluster(api: KubeApi, emu: CoordinatorEmulator): void {
  const s = api.store;
  s.coordinator = { servingSince: () => emu.healthySince };
  const now = Date.now();
  // The restarted Coordinator: stale, hence not Ready (its readiness probe fails while stale).
  s.addStatefulSet(NS, 'coordinator', {
    template: coordinatorTemplate(),
    startedAt: new Date(now - MIN),
    ready: false,
  });
  s.addDeployment(NS, 'frontend', {
    template: contrastTemplate('frontend'),
    replicas: 2,
    startedAt: new Date(now - 31 * MIN),
    initializerFinishedAt: new Date(now - 30 * MIN),
  });
  s.addStatefulSet(NS, 'backend', {
    template: contrastTemplate('backend'),
    startedAt: new Date(now - 3 * 60 * MIN),
    initializerFinishedAt: new Date(now - 3 * 60 * MIN + 20_000),
  });
  // Started while the Coordinator was stale: waits in Init and gets its certificate from the new CA.
  s.addDeployment(NS, 'batch', { template: contrastTemplate('batch'), startedAt: new Date(now - 2 * MIN) });
  // Contrast runtime, but `skip-initializer`: no mesh certificate to renew.
  s.addDeployment(NS, 'sidecar-free', {
    template: contrastTemplate('sidecar-free', { initializer: false }),
    startedAt: new Date(now - 60 * MIN),
  });
  // Not a Contrast workload at all: never touched, never listed.
  s.addDeployment(NS, 'metrics', { template: plainTemplate('metrics'), startedAt: new Date(now - 60 * MIN) });
}

async function runDemo(opts: { json?: boolean; keyBits?: number }): Promise<DemoSummary> {
  const human = !opts.json;
  const say = (l: string) => human && process.stderr.write(`${l}\n`);
  const steps: DemoStep[] = [];
  const timed = async <T>(name: string, fn: () => Promise<T>, detail?: (v: T) => string): Promise<T> => {
    const t0 = performance.now();
    const v = await fn();
    const step: DemoStep = { name, ms: Math.round(performance.now() - t0) };
    const d = detail?.(v);
    if (d) step.detail = d;
    steps.push(step);
    say(`▶ ${name} (${step.ms} ms)${d ? `: ${d}` : ''}`);
    return v;
  };

  const deployment = 'demo';
  const dir = await mkdtemp(join(tmpdir(), 'contrast-autorecover-demo-'));
  let moto: MotoServer | undefined;
  let emulator: CoordinatorEmulator | undefined;
  let kube: KubeApi | undefined;
  let side: KubernetesSide | undefined;
  try {
    const ws = await timed(
      'create a Contrast workspace',
      async () => {
        const w = await makeWorkspace({
          modulusLength: opts.keyBits ?? 4096,
          coordinatorPolicyHash: TEST_POLICY_HASH_HEX,
          manifestExtra: { ReferenceValues: makeTestManifest({ tdx: false }).ReferenceValues },
        });
        await writeWorkspace(w, dir);
        return w;
      },
      () => `${dir} (RSA-${opts.keyBits ?? 4096} owner key, 64-byte seed, 32-byte salt)`,
    );

    const python = findMotoPython();
    let kms: KMSClient;
    let secrets: SecretsManagerClient;
    let kmsKeyId: string;
    // The secret is encrypted with a key of its own, never the recovery key (as the stack does).
    let secretsKeyId: string;
    let keyProvider: DemoSummary['keyProvider'];
    if (python) {
      moto = await timed(
        'start the moto server (KMS, Secrets Manager)',
        () => startMoto(python),
        (m) => m.endpoint,
      );
      const cfg = {
        endpoint: moto.endpoint,
        region: 'eu-central-1',
        credentials: { accessKeyId: 'demo', secretAccessKey: 'demo' },
      };
      kms = new KMSClient(cfg);
      secrets = new SecretsManagerClient(cfg);
      kmsKeyId = await timed(
        'create a KMS key',
        async () =>
          (await kms.send(new CreateKeyCommand({ Description: 'contrast-autorecover demo' }))).KeyMetadata!.Arn!,
        (k) => k,
      );
      secretsKeyId = (
        await kms.send(new CreateKeyCommand({ Description: 'contrast-autorecover demo: bundle secrets' }))
      ).KeyMetadata!.Arn!;
      keyProvider = 'moto';
    } else {
      say(`! moto is not installed: using the LOCAL DEMO KEY PROVIDER (in-process, not AWS); ${MOTO_INSTALL_HINT}`);
      const { LocalDemoKms, LocalDemoSecrets } = await import('./demo-local-aws.ts');
      const localKms = new LocalDemoKms();
      kms = localKms.asClient();
      secrets = new LocalDemoSecrets().asClient();
      kmsKeyId = localKms.keyId;
      secretsKeyId = 'local-demo-secrets-key';
      keyProvider = 'local-demo-key-provider (not AWS)';
    }
    const kmsCalls = python ? countKmsCalls(kms) : new Map<string, number>();
    const decrypts = () =>
      python ? (kmsCalls.get('DecryptCommand') ?? 0) : (kms as unknown as { decrypts: number }).decrypts;

    const secretId = `contrast-autorecover/${deployment}`;
    await timed(
      'enroll the workspace',
      async () => {
        const files = await readWorkspace(dir);
        try {
          const { document, summary } = await buildBundle({ deployment, kmsKeyId, files, kms });
          await new BundleStore(secrets).save(secretId, document, secretsKeyId);
          return summary;
        } finally {
          files.ownerKeyPem.fill(0);
        }
      },
      (s) => `secret ${secretId}, manifest ${s.manifestSha256.slice(0, 16)}…`,
    );

    emulator = await timed(
      'start the Coordinator emulator in recovery mode',
      () =>
        CoordinatorEmulator.start({
          state: 'stale',
          manifest: ws.manifest,
          seed: ws.seed,
          salt: ws.salt,
          evidence: snpTestEvidence(),
        }),
      (e) => `${e.address} (SEV-SNP evidence signed by a DEMO test chain, not AMD hardware)`,
    );
    ws.seed.fill(0);
    const emu = emulator;

    kube = await timed(
      'start a Kubernetes API stand-in with Contrast workloads',
      async () => {
        const api = await startKubeApi({ tokens: [DEMO_TOKEN], rbac: manifestRbac([NS]) });
        populateDemoCluster(api, emu);
        return api;
      },
      (api) =>
        `${api.url} (RBAC of infra/k8s/rbac.yaml; frontend, backend, batch waiting in Init, sidecar-free, metrics)`,
    );
    const { createKubernetesSide } = await import('../lambda/kubernetes/index.ts');
    side = await createKubernetesSide({
      auth: { kind: 'kubeconfig', kubeconfig: kubeconfigFor(kube.url, DEMO_TOKEN, kube.caData) },
      coordinatorNamespace: NS,
      namespaces: { kind: 'list', names: [NS] },
    });
    const kubeSide = side;

    const target = { name: deployment, secretId, coordinator: emulator.endpoint };
    // The record the function keeps in its lock table; here in memory for both reconciles.
    const records = memoryRecordStore();
    const { ports, time } = cliReconcile({ kms, secrets }, testSnpVerifierFactory(), {
      progress: progressPrinter(human, (l) => say(`    ${l}`)),
      kubernetes: async () => kubeSide,
      records,
    });
    const results: ReconcileResult[] = [];
    const before1 = decrypts();
    const first = await timed(
      'reconcile (recover)',
      () => reconcile(target, ports, time),
      (r) =>
        `${r.outcome}: ${r.message}${r.evidence ? ` [${r.evidence.kind} ${r.evidence.platform ?? ''}, measurement ${r.evidence.measurement?.slice(0, 16)}…, TCB ${r.evidence.tcb}]` : ''}`,
    );
    results.push(first);
    steps.at(-1)!.outcome = first.outcome;
    const workloads = (first.restarts?.results ?? []).map(({ kind, namespace, name, status, reason }) => ({
      kind,
      namespace,
      name,
      status,
      ...(reason ? { reason } : {}),
    }));
    for (const w of workloads)
      say(`    ${w.status === 'restarted' ? '↻' : '·'} ${w.status.padEnd(9)} ${w.kind}/${w.name}: ${w.reason ?? ''}`);
    const pods = first.restarts?.pods ?? [];
    for (const p of pods)
      say(`      pod ${p.status.padEnd(14)} ${p.name} (${p.workload}): ${p.reason}${p.action ? `; ${p.action}` : ''}`);
    const notBefore = records.record.meshCa?.certificateNotBefore;
    if (notBefore)
      say(
        `    (the new mesh CA certificate's NotBefore is ${new Date(notBefore).toISOString()}: Contrast backdates it by an hour, so a start-time rule would have missed frontend)`,
      );
    const d1 = decrypts() - before1;
    kube.resetStats();
    const before2 = decrypts();
    const second = await timed(
      'reconcile again',
      () => reconcile(target, ports, time),
      (r) => `${r.outcome} (KMS Decrypt calls: ${decrypts() - before2})`,
    );
    results.push(second);
    steps.at(-1)!.outcome = second.outcome;
    const d2 = decrypts() - before2;

    const statusOf = (name: string) => workloads.find((w) => w.name === name)?.status;
    const restartedRight =
      statusOf('frontend') === 'restarted' &&
      statusOf('backend') === 'restarted' &&
      statusOf('batch') === 'skipped' &&
      statusOf('sidecar-free') === 'skipped' &&
      statusOf('metrics') === undefined;
    const summary: DemoSummary = {
      keyProvider,
      deployment,
      steps,
      outcomes: results.map((r) => r.outcome),
      recoverCalls: emulator.recoverCalls.length,
      kmsDecrypts: { firstReconcile: d1, secondReconcile: d2 },
      workloads,
      pods,
      secondReconcileKubernetesRequests: kube.log.length,
      ok:
        first.outcome === 'recovered' &&
        second.outcome === 'already-healthy' &&
        emulator.recoverCalls.length === 1 &&
        d2 === 0 &&
        restartedRight &&
        kube.log.length === 0,
    };
    say(
      summary.ok
        ? "✔ demo passed: recovered once, restarted exactly the workloads holding the lost mesh CA's certificates, second reconcile was a no-op without KMS or Kubernetes calls"
        : '✘ demo failed',
    );
    return summary;
  } finally {
    side?.close?.();
    await kube?.close();
    await emulator?.stop();
    await moto?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function demoCommand(
  o: { json?: boolean; keyBits: number },
  run: (fn: () => Promise<number>) => Promise<void>,
): Promise<void> {
  await run(async () => {
    const summary = await runDemo(o);
    if (o.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return summary.ok
      ? 0
      : exitCodeFor(summary.outcomes.find((x) => x !== 'recovered' && x !== 'already-healthy') ?? 'unreachable') || 1;
  });
}
