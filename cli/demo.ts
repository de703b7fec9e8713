/**
 * `npm run demo`: the main job on local defaults, on a fresh machine with only Node.
 * Makes a Contrast workspace, enrolls it (into moto when it is installed; otherwise into a
 * clearly labelled local key provider), starts the Coordinator emulator in recovery mode,
 * recovers it, confirms the manifest, then reconciles again (a no-op without KMS calls).
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
import { ATTESTATION_OIDS } from '../lambda/attestation/verifier.ts';
import { awsReconcileDeps } from '../lambda/reconcile/aws-deps.ts';
import { buildBundle } from '../lambda/reconcile/enroll.ts';
import { countKmsCalls } from '../lambda/keys/kms-calls.ts';
import { BundleStore } from '../lambda/keys/store.ts';
import { exitCodeFor, type Outcome } from '../lambda/shared/outcomes.ts';
import { reconcile } from '../lambda/reconcile/reconcile.ts';
import type { ReconcileResult } from '../lambda/reconcile/types.ts';
import { CoordinatorEmulator } from '../testing/coordinator-emulator.ts';
import { findMotoPython, MOTO_INSTALL_HINT, startMoto, type MotoServer } from '../testing/moto-server.ts';
import { makeWorkspace, writeWorkspace } from '../testing/workspace.ts';
import { makeSnpEvidence, makeTestManifest, TEST_POLICY_HASH, TEST_POLICY_HASH_HEX, testSnpVerifierFactory } from '../testing/evidence/index.ts';
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
  ok: boolean;
}

export async function runDemo(opts: { json?: boolean; keyBits?: number }): Promise<DemoSummary> {
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
    let keyProvider: DemoSummary['keyProvider'];
    if (python) {
      moto = await timed('start the moto server (KMS, Secrets Manager)', () => startMoto(python), (m) => m.endpoint);
      const cfg = { endpoint: moto.endpoint, region: 'eu-central-1', credentials: { accessKeyId: 'demo', secretAccessKey: 'demo' } };
      kms = new KMSClient(cfg);
      secrets = new SecretsManagerClient(cfg);
      kmsKeyId = await timed('create a KMS key', async () => (await kms.send(new CreateKeyCommand({ Description: 'contrast-autorecover demo' }))).KeyMetadata!.Arn!, (k) => k);
      keyProvider = 'moto';
    } else {
      say(`! moto is not installed: using the LOCAL DEMO KEY PROVIDER (in-process, not AWS); ${MOTO_INSTALL_HINT}`);
      const { LocalDemoKms, LocalDemoSecrets } = await import('./demo-local-aws.ts');
      const localKms = new LocalDemoKms();
      kms = localKms.asClient();
      secrets = new LocalDemoSecrets().asClient();
      kmsKeyId = localKms.keyId;
      keyProvider = 'local-demo-key-provider (not AWS)';
    }
    const kmsCalls = python ? countKmsCalls(kms) : new Map<string, number>();
    const decrypts = () => (python ? (kmsCalls.get('DecryptCommand') ?? 0) : (kms as unknown as { decrypts: number }).decrypts);

    const secretId = `contrast-autorecover/${deployment}`;
    await timed(
      'enroll the workspace',
      async () => {
        const files = await readWorkspace(dir);
        try {
          const { document, summary } = await buildBundle({ deployment, kmsKeyId, files, kms });
          await new BundleStore(secrets).save(secretId, document, kmsKeyId);
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
          evidence: (reportData) => [{ oid: ATTESTATION_OIDS.snp, value: makeSnpEvidence({ reportData, hostData: TEST_POLICY_HASH }) }],
        }),
      (e) => `${e.address} (SEV-SNP evidence signed by a DEMO test chain, not AMD hardware)`,
    );
    ws.seed.fill(0);

    const target = { name: deployment, secretId, coordinator: emulator.endpoint };
    const deps = { ...awsReconcileDeps({ kms, secrets }, testSnpVerifierFactory()), progress: progressPrinter(human, (l) => say(`    ${l}`)) };
    const results: ReconcileResult[] = [];
    const before1 = decrypts();
    const first = await timed(
      'reconcile (recover)',
      () => reconcile(target, deps),
      (r) => `${r.outcome}: ${r.message}${r.evidence ? ` [${r.evidence.kind} ${r.evidence.platform ?? ''}, measurement ${r.evidence.measurement?.slice(0, 16)}…, TCB ${r.evidence.tcb}]` : ''}`,
    );
    results.push(first);
    steps.at(-1)!.outcome = first.outcome;
    const d1 = decrypts() - before1;
    const before2 = decrypts();
    const second = await timed('reconcile again', () => reconcile(target, deps), (r) => `${r.outcome} (KMS Decrypt calls: ${decrypts() - before2})`);
    results.push(second);
    steps.at(-1)!.outcome = second.outcome;
    const d2 = decrypts() - before2;

    const summary: DemoSummary = {
      keyProvider,
      deployment,
      steps,
      outcomes: results.map((r) => r.outcome),
      recoverCalls: emulator.recoverCalls.length,
      kmsDecrypts: { firstReconcile: d1, secondReconcile: d2 },
      ok: first.outcome === 'recovered' && second.outcome === 'already-healthy' && emulator.recoverCalls.length === 1 && d2 === 0,
    };
    say(summary.ok ? '✔ demo passed: recovered once, second reconcile was a no-op without KMS calls' : '✘ demo failed');
    return summary;
  } finally {
    await emulator?.stop();
    await moto?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function demoCommand(o: { json?: boolean; keyBits: number }, run: (fn: () => Promise<number>) => Promise<void>): Promise<void> {
  await run(async () => {
    const summary = await runDemo(o);
    if (o.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return summary.ok ? 0 : exitCodeFor(summary.outcomes.find((x) => x !== 'recovered' && x !== 'already-healthy') ?? 'unreachable') || 1;
  });
}
