/**
 * One reconcile of one deployment (docs/architecture.md steps 1-7). Convergent and idempotent:
 * running it twice sends Recover at most once, and a healthy Coordinator costs no KMS call.
 * Every dependency is passed in; nothing here creates an SDK client.
 */
import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import type { ReferenceInput, Verifier } from '../attestation/verifier.ts';
import { probeStateOf } from '../coordinator/answers.ts';
import { CoordinatorRpcError, CoordinatorSession, type ManifestsAnswer, type SessionOptions } from '../coordinator/client.ts';
import { parseManifest, type Manifest } from '../coordinator/manifest.ts';
import { decryptSeed, findShare, ownerKeyFromDer, parseSeedShareDocument, pemBufferFromDer, publicKeyHex } from '../coordinator/seedshares.ts';
import { RecoveryError, errorMessage } from '../shared/errors.ts';
import type { RecoveryBundle } from '../keys/bundle.ts';
import { ownerKeyContext } from '../keys/context.ts';
import type { KubernetesSide, RestartRecordStore, RestartSummary } from '../kubernetes/types.ts';
import { OUTCOMES, type Outcome } from '../shared/outcomes.ts';
import type { CoordinatorState, DeploymentTarget, ReconcileOptions, ReconcileResult, StepTiming } from './types.ts';

export type { ReconcileResult } from './types.ts';


export interface ProgressEvent {
  step: StepTiming['step'];
  status: 'start' | 'done' | 'failed';
  ms?: number;
  detail?: string;
}

/** Builds the verifier for one reconcile; it may use the bundle's collateral cache. */
export type BundleVerifierFactory = (reference: ReferenceInput, bundle?: RecoveryBundle) => Verifier;

export interface ReconcileDeps {
  /** Step 1: the bundle from Secrets Manager (no decryption). */
  loadBundle(secretId: string): Promise<RecoveryBundle>;
  /** Step 4: KMS Decrypt of the owner key under `context`; returns PKCS#1 DER to be zeroed. */
  decryptOwnerKey(bundle: RecoveryBundle, context: Record<string, string>): Promise<Buffer>;
  verifierFactory: BundleVerifierFactory;
  /** Loaded only when there is Kubernetes work (peers of a stale Coordinator, restarts). */
  kubernetes?: () => Promise<KubernetesSide>;
  restartRecords?: RestartRecordStore;
  openSession?: (options: SessionOptions) => CoordinatorSession;
  handshakeTimeoutMs?: number;
  rpcTimeoutMs?: number;
  progress?: (event: ProgressEvent) => void;
}

class Run {
  readonly steps: StepTiming[] = [];
  readonly started = performance.now();
  result: Partial<ReconcileResult> = { kmsDecrypts: 0, recoverSent: false, coordinatorState: 'unknown' };

  constructor(
    readonly target: DeploymentTarget,
    readonly deps: ReconcileDeps,
    readonly options: ReconcileOptions,
  ) {}

  async step<T>(step: StepTiming['step'], fn: () => Promise<T>, detail?: (value: T) => string | undefined): Promise<T> {
    this.deps.progress?.({ step, status: 'start' });
    const t0 = performance.now();
    try {
      const value = await fn();
      const ms = performance.now() - t0;
      const d = detail?.(value);
      this.steps.push({ step, ms, ...(d ? { detail: d } : {}) });
      this.deps.progress?.({ step, status: 'done', ms, ...(d ? { detail: d } : {}) });
      return value;
    } catch (err) {
      const ms = performance.now() - t0;
      this.steps.push({ step, ms, detail: 'failed' });
      this.deps.progress?.({ step, status: 'failed', ms, detail: errorMessage(err) });
      throw err;
    }
  }

  finish(outcome: Outcome, message: string): ReconcileResult {
    return {
      ...this.result,
      deployment: this.target.name,
      outcome,
      message,
      coordinatorState: this.result.coordinatorState ?? 'unknown',
      kmsDecrypts: this.result.kmsDecrypts ?? 0,
      recoverSent: this.result.recoverSent ?? false,
      force: this.options.force === true,
      dryRun: this.options.dryRun === true,
      steps: this.steps,
      durationMs: performance.now() - this.started,
    };
  }

  open(identity?: SessionOptions['clientIdentity']): CoordinatorSession {
    const options: SessionOptions = {
      endpoint: this.target.coordinator,
      verifier: this.verifier!,
      ...(identity ? { clientIdentity: identity } : {}),
      ...(this.deps.handshakeTimeoutMs ? { handshakeTimeoutMs: this.deps.handshakeTimeoutMs } : {}),
      ...(this.deps.rpcTimeoutMs ? { rpcTimeoutMs: this.deps.rpcTimeoutMs } : {}),
    };
    return this.deps.openSession ? this.deps.openSession(options) : new CoordinatorSession(options);
  }

  verifier: Verifier | undefined;
}

export async function reconcile(target: DeploymentTarget, deps: ReconcileDeps, options: ReconcileOptions = {}): Promise<ReconcileResult> {
  const run = new Run(target, deps, options);
  try {
    return await reconcileSteps(run);
  } catch (err) {
    if (err instanceof RecoveryError) return run.finish(err.outcome, err.message);
    // Unexpected bugs must not leak secrets either: only the error's class and message.
    return run.finish('unreachable', `unexpected failure: ${errorMessage(err)}`);
  }
}

async function reconcileSteps(run: Run): Promise<ReconcileResult> {
  const { target, deps, options } = run;

  // 1. Bundle: manifest + seed-share document; nothing decrypted.
  const { bundle, manifest } = await run.step(
    'load-bundle',
    async () => {
      const b = await deps.loadBundle(target.secretId);
      return { bundle: b, manifest: parseManifest(b.manifest, `the bundle's manifest (${target.secretId})`) };
    },
    (v) => `manifest ${v.manifest.sha256.slice(0, 12)}`,
  );
  run.result.manifestHash = manifest.sha256;
  run.verifier = deps.verifierFactory({ referenceValues: manifest.referenceValues, coordinatorPolicyHashes: manifest.coordinatorPolicyHashes }, bundle);

  // 2. Probe without a client certificate: evidence verified before GetManifests is sent.
  const probe = await run.step('probe', () => probeCoordinator(run), (p) => p.state);
  run.result.coordinatorState = probe.state;
  if (probe.evidence) run.result.evidence = probe.evidence;

  if (probe.state === 'no-manifest') {
    return run.finish('no-state', 'the Coordinator has no manifest configured; nothing to recover — run `contrast set` first');
  }
  if (probe.state === 'healthy') {
    recordManifests(run, manifest, probe.answer!);
    if (options.statusOnly || options.dryRun) return run.finish('already-healthy', healthyMessage(run));
    return finishRestarts(run, probe.answer!, 'already-healthy');
  }

  // Stale.
  if (options.statusOnly) return run.finish('recovery-needed', 'the Coordinator is in recovery mode and waits for Recover');

  // 3. A Ready peer recovers it and keeps the mesh CA: then we must not.
  if (deps.kubernetes && !options.force) {
    const peers = await run.step('peers', async () => (await deps.kubernetes!()).peers.readyPeers(target.name), (p) => `${p.readyPeers.length} ready`);
    if (peers.readyPeers.length > 0) {
      return run.finish('peers-available', `Ready peer Coordinator(s) ${peers.readyPeers.join(', ')} will recover this one and keep the mesh CA; no user recovery`);
    }
  }

  // 4. The only KMS Decrypt of a reconcile.
  const context = ownerKeyContext(target.name, bundle.manifest, bundle.seedShares);
  run.result.kmsEncryptionContext = context;
  const secrets = await run.step('decrypt', async () => {
    run.result.kmsDecrypts = (run.result.kmsDecrypts ?? 0) + 1;
    const der = await deps.decryptOwnerKey(bundle, context);
    try {
      const ownerKey = ownerKeyFromDer(der);
      const doc = parseSeedShareDocument(bundle.seedShares, `the bundle's seed shares (${target.secretId})`);
      const seed = decryptSeed(findShare(doc, publicKeyHex(ownerKey)), ownerKey);
      return { ownerKey, seed, salt: doc.salt };
    } finally {
      der.fill(0);
    }
  });

  try {
    if (options.dryRun) {
      return run.finish('dry-run-ok', 'dry run: the Coordinator is stale, its attestation passed and the seed share decrypts; nothing was sent');
    }
    // 5. Recover and confirm on one new aTLS connection with the owner's certificate.
    return await recoverAndConfirm(run, manifest, secrets.ownerKey, secrets.seed, secrets.salt);
  } finally {
    secrets.seed.fill(0);
  }
}

interface Probe {
  state: CoordinatorState;
  answer?: ManifestsAnswer;
  evidence?: ReconcileResult['evidence'];
}

async function probeCoordinator(run: Run): Promise<Probe> {
  const session = run.open();
  try {
    const answer = await session.getManifests();
    return { state: 'healthy', answer, ...(session.evidence ? { evidence: session.evidence } : {}) };
  } catch (err) {
    if (err instanceof CoordinatorRpcError) {
      const state = probeStateOf(err.code, err.details);
      if (state) return { state, ...(session.evidence ? { evidence: session.evidence } : {}) };
    }
    throw err;
  } finally {
    session.close();
  }
}

async function recoverAndConfirm(run: Run, manifest: Manifest, ownerKey: KeyObject, seed: Buffer, salt: Buffer): Promise<ReconcileResult> {
  // Loaded here, not at the top: only a real recovery needs @peculiar/x509 (cold start).
  const { clientCertificateFor } = await import('../coordinator/client-certificate.ts');
  const certPem = await clientCertificateFor(ownerKey, createPublicKey(ownerKey));
  const der = ownerKey.export({ type: 'pkcs1', format: 'der' });
  const keyPem = pemBufferFromDer('RSA PRIVATE KEY', der);
  der.fill(0);
  // The session copies the key into an OpenSSL context and zeroes keyPem.
  const session = run.open({ certPem, keyPem });
  try {
    try {
      await run.step('recover', () => session.recover(seed, salt, run.options.force === true), () => (run.options.force ? 'force' : undefined));
      run.result.recoverSent = true;
    } catch (err) {
      run.result.recoverSent = !(err instanceof RecoveryError && err.outcome === 'attestation-failed') && !(err instanceof RecoveryError && err.outcome === 'unreachable' && session.verifiedConnections === 0);
      if (session.evidence) run.result.evidence = session.evidence;
      if (err instanceof CoordinatorRpcError && err.outcome === 'already-healthy') {
        // Someone recovered it between probe and Recover: finish like a healthy probe.
        const answer = await run.step('confirm', () => session.getManifests());
        run.result.coordinatorState = 'healthy';
        recordManifests(run, manifest, answer);
        return finishRestarts(run, answer, 'already-healthy');
      }
      throw err;
    }
    if (session.evidence) run.result.evidence = session.evidence;
    const answer = await run.step('confirm', () => session.getManifests(), (a) => `latest ${a.latestManifestSha256?.slice(0, 12) ?? 'none'}`);
    run.result.coordinatorState = 'healthy';
    recordManifests(run, manifest, answer);
    if (answer.latestManifestSha256 !== manifest.sha256) {
      return run.finish(
        'confirm-mismatch',
        `after Recover the Coordinator serves manifest ${answer.latestManifestSha256 ?? '(none)'} but the bundle holds ${manifest.sha256}: a manifest was set after enrollment — re-enroll with the current workspace and check who changed it`,
      );
    }
    return finishRestarts(run, answer, 'recovered');
  } finally {
    session.close();
  }
}

function recordManifests(run: Run, manifest: Manifest, answer: ManifestsAnswer): void {
  run.result.latestManifestHash = answer.latestManifestSha256;
  run.result.drift = answer.latestManifestSha256 !== undefined && answer.latestManifestSha256 !== manifest.sha256;
  if (answer.meshCa) run.result.meshCaFingerprint = answer.meshCa.fingerprint;
}

function healthyMessage(run: Run): string {
  const drift = run.result.drift
    ? ` — drift: it serves manifest ${run.result.latestManifestHash} but the bundle holds ${run.result.manifestHash}; re-enroll after \`contrast set\``
    : '';
  return `the Coordinator is healthy${drift}`;
}

/** Step 6: restart workloads that started before the current mesh CA (convergent). */
async function finishRestarts(run: Run, answer: ManifestsAnswer, base: 'recovered' | 'already-healthy'): Promise<ReconcileResult> {
  const { deps, target } = run;
  const okMessage = base === 'recovered' ? 'the Coordinator was recovered and serves the enrolled manifest' : healthyMessage(run);
  if (!deps.kubernetes || !answer.meshCa) return run.finish(base, okMessage);
  const meshCa = answer.meshCa;
  if (deps.restartRecords && (await deps.restartRecords.isComplete(target.name, meshCa.fingerprint))) {
    return run.finish(base, okMessage);
  }
  let summary: RestartSummary;
  try {
    summary = await run.step(
      'restarts',
      async () =>
        (await deps.kubernetes!()).restarts.restartStale({
          deployment: target.name,
          meshCaNotBefore: meshCa.notBefore,
          meshCaFingerprint: meshCa.fingerprint,
          dryRun: run.options.dryRun === true,
        }),
      (s) => restartCounts(s),
    );
  } catch (err) {
    const message = `${okMessage}; workload restarts could not run: ${errorMessage(err)}`;
    return run.finish(base === 'recovered' ? 'restart-partial' : err instanceof RecoveryError ? err.outcome : 'unreachable', message);
  }
  run.result.restarts = summary;
  if (!summary.complete) {
    return run.finish('restart-partial', `${okMessage}; restarts incomplete (${restartCounts(summary)}) — the next reconcile finishes them`);
  }
  await deps.restartRecords?.markComplete(target.name, meshCa.fingerprint);
  const acted = summary.results.some((r) => r.status === 'restarted' || r.status === 'deleted');
  const outcome: Outcome = base === 'recovered' ? 'recovered' : acted ? 'restarts-finished' : 'already-healthy';
  return run.finish(outcome, `${outcome === 'restarts-finished' ? OUTCOMES['restarts-finished'].summary : okMessage} (${restartCounts(summary)})`);
}

function restartCounts(s: RestartSummary): string {
  const counts = new Map<string, number>();
  for (const r of s.results) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  return [...counts].map(([k, v]) => `${v} ${k}`).join(', ') || 'nothing to restart';
}
