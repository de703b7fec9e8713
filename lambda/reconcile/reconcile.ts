/**
 * One reconcile of one deployment (docs/architecture.md steps 1-7). Convergent and idempotent:
 * running it twice sends Recover at most once, and a healthy Coordinator costs no KMS call.
 * Every dependency is passed in; nothing here creates an SDK client.
 */
import type { KeyObject } from 'node:crypto';
import { createPublicKey, randomUUID } from 'node:crypto';
import type { ReferenceInput, Verifier } from '../attestation/verifier.ts';
import { probeStateOf } from '../coordinator/answers.ts';
import {
  CoordinatorNotListeningError,
  CoordinatorRpcError,
  CoordinatorSession,
  type ManifestsAnswer,
  type SessionOptions,
} from '../coordinator/client.ts';
import { parseManifest, type Manifest } from '../coordinator/manifest.ts';
import {
  decryptSeed,
  findShare,
  ownerKeyFromDer,
  parseSeedShareDocument,
  pemBufferFromDer,
  publicKeyHex,
} from '../coordinator/seedshares.ts';
import { RecoveryError, UnreachableError, errorMessage } from '../shared/errors.ts';
import { stepNeedMs, type StepBudgets } from '../shared/budgets.ts';
import type { RecoveryBundle } from '../keys/bundle.ts';
import type * as clientCertificate from '../coordinator/client-certificate.ts';
import { ownerKeyContext } from '../keys/context.ts';
// stale.ts is dependency-free: importing its margin loads nothing of the Kubernetes client.
import { CLOCK_SKEW_MARGIN_MS, MAX_CLOCK_SKEW_MS } from '../kubernetes/stale.ts';
import type { KubernetesSide, RestartMode, RestartSummary } from '../kubernetes/types.ts';
import { OUTCOMES, type Outcome } from '../shared/outcomes.ts';
import {
  currentGeneration,
  keyCreatedFromCertificate,
  meshCaCertificate,
  memoryRecordStore,
  type KeySighting,
} from './mesh-ca.ts';
import type {
  CoordinatorState,
  DeploymentTarget,
  MeshCaGeneration,
  ReconcileOptions,
  ReconcileResult,
  RecoverAttempt,
  RecoverAttemptStatus,
  RecoveryRecordStore,
  StepTiming,
} from './types.ts';

export type { ReconcileResult } from './types.ts';

export interface ProgressEvent {
  step: StepTiming['step'];
  status: 'start' | 'done' | 'failed';
  ms?: number;
  detail?: string;
}

/** Builds the verifier for one reconcile; it may use the bundle's collateral cache. */
export type BundleVerifierFactory = (reference: ReferenceInput, bundle?: RecoveryBundle) => Verifier;

/** Step 1: a deployment's bundle (Secrets Manager), nothing decrypted. */
export interface BundleSource {
  load(secretId: string): Promise<RecoveryBundle>;
}

/** Step 4: the KMS Decrypt of the owner key under `context`; returns PKCS#1 DER the caller zeroes. */
export interface OwnerKeyDecrypter {
  decryptOwnerKey(bundle: RecoveryBundle, context: Record<string, string>): Promise<Buffer>;
}

/**
 * What reconcile works through, declared here where it is used and passed in once (as
 * Contrast passes its narrow interfaces): the function builds them in lambda/function/ports.ts,
 * the CLI in cli/commands.ts from ./aws-deps.ts. Services only; time is ReconcileTime.
 */
export interface ReconcilePorts {
  bundles: BundleSource;
  ownerKeys: OwnerKeyDecrypter;
  verifierFactory: BundleVerifierFactory;
  /** Loaded only when there is Kubernetes work (peers of a stale Coordinator, restarts). */
  kubernetes?: () => Promise<KubernetesSide>;
  /**
   * The deployment's record: the Recover intent is written here before the request leaves,
   * the mesh CA key and its restarts after. Without one (the CLI) it lives for this run only.
   */
  records?: RecoveryRecordStore;
  /** Clock (epoch ms); tests. */
  now?: () => number;
  openSession?: (options: SessionOptions) => CoordinatorSession;
  /** Told when each step starts and ends (the CLI's progress lines, the function's step tracker). */
  progress?: (event: ProgressEvent) => void;
}

/**
 * The one time value of a reconcile: what each step may take (lambda/shared/budgets.ts, the
 * only source of the numbers) and, when there is one, the epoch ms no step may outlive
 * (invocation time, lease end).
 */
export interface ReconcileTime {
  readonly budgets: StepBudgets;
  readonly deadline?: number;
  /**
   * Aborts when the caller gives the run up (the invocation's cutoff, deadline.ts): no step
   * starts after it, and the Kubernetes steps cancel their requests — a run given up on never
   * patches what a retry already patched.
   */
  readonly signal?: AbortSignal;
}

class Run {
  readonly steps: StepTiming[] = [];
  readonly now: () => number;
  readonly records: RecoveryRecordStore;
  /** Said at the end of the message (e.g. a record write that failed after Recover). */
  readonly notes: string[] = [];
  readonly started = performance.now();
  result: Partial<ReconcileResult> = { kmsDecrypts: 0, recoverSent: false, coordinatorState: 'unknown' };

  constructor(
    readonly target: DeploymentTarget,
    readonly ports: ReconcilePorts,
    readonly time: ReconcileTime,
    readonly options: ReconcileOptions,
  ) {
    this.now = ports.now ?? Date.now;
    this.records = ports.records ?? memoryRecordStore(); // a record for one run (no durable store given)
  }

  /** Runs one step, timed and reported; `needMs` replaces the step's budgeted need (see checkTime). */
  async step<T>(
    step: StepTiming['step'],
    fn: () => Promise<T>,
    detail?: (value: T) => string | undefined,
    needMs?: number,
  ): Promise<T> {
    this.ports.progress?.({ step, status: 'start' });
    const t0 = performance.now();
    try {
      this.checkTime(step, needMs);
      const value = await fn();
      const ms = performance.now() - t0;
      const d = detail?.(value);
      this.steps.push({ step, ms, ...(d ? { detail: d } : {}) });
      this.ports.progress?.({ step, status: 'done', ms, ...(d ? { detail: d } : {}) });
      return value;
    } catch (err) {
      const ms = performance.now() - t0;
      this.steps.push({ step, ms, detail: 'failed' });
      this.ports.progress?.({ step, status: 'failed', ms, detail: errorMessage(err) });
      throw err;
    }
  }

  /** Stops before a step that might not end before the deadline; the next reconcile continues. */
  checkTime(step: StepTiming['step'], needMs?: number): void {
    if (this.time.signal?.aborted)
      throw new UnreachableError(
        `step ${step} not started: the run was given up at its cutoff; the next reconcile continues`,
      );
    if (this.time.deadline === undefined) return;
    const left = this.time.deadline - Date.now();
    const need = needMs ?? this.need(step);
    if (left < need) {
      throw new UnreachableError(
        `step ${step} not started: it may take ${need} ms and ${Math.max(0, Math.round(left))} ms are left before the deadline (invocation time or lease); the next reconcile continues`,
      );
    }
  }

  /** The time a step may take (lambda/shared/budgets.ts). */
  need(step: StepTiming['step']): number {
    return stepNeedMs(step, this.time.budgets, this.options);
  }

  finish(outcome: Outcome, message: string): ReconcileResult {
    return {
      ...this.result,
      deployment: this.target.name,
      outcome,
      message: this.notes.length ? `${message}; ${this.notes.join('; ')}` : message,
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
    const { handshakeTimeoutMs, rpcTimeoutMs } = this.time.budgets;
    const options: SessionOptions = {
      endpoint: this.target.coordinator,
      verifier: this.verifier!,
      ...(identity ? { clientIdentity: identity } : {}),
      handshakeTimeoutMs,
      rpcTimeoutMs,
    };
    return this.ports.openSession ? this.ports.openSession(options) : new CoordinatorSession(options);
  }

  verifier: Verifier | undefined;
}

export async function reconcile(
  target: DeploymentTarget,
  ports: ReconcilePorts,
  time: ReconcileTime,
  options: ReconcileOptions = {},
): Promise<ReconcileResult> {
  const run = new Run(target, ports, time, options);
  try {
    return await reconcileSteps(run);
  } catch (err) {
    if (err instanceof RecoveryError) return run.finish(err.outcome, err.message);
    // Unexpected bugs must not leak secrets either: only the error's class and message.
    return run.finish('unreachable', `unexpected failure: ${errorMessage(err)}`);
  }
}

async function reconcileSteps(run: Run): Promise<ReconcileResult> {
  const { target, ports, options } = run;

  // 1. Bundle: manifest + seed-share document; nothing decrypted.
  const { bundle, manifest } = await run.step(
    'load-bundle',
    async () => {
      const b = await ports.bundles.load(target.secretId);
      return { bundle: b, manifest: parseManifest(b.manifest, `the bundle's manifest (${target.secretId})`) };
    },
    (v) => `manifest ${v.manifest.sha256.slice(0, 12)}`,
  );
  run.result.manifestHash = manifest.sha256;
  run.verifier = ports.verifierFactory(
    { referenceValues: manifest.referenceValues, coordinatorPolicyHashes: manifest.coordinatorPolicyHashes },
    bundle,
  );

  // 2. Probe without a client certificate: evidence verified before GetManifests is sent.
  const probe = await run.step(
    'probe',
    () => probeCoordinator(run),
    (p) => p.state,
  );
  run.result.coordinatorState = probe.state;
  if (probe.evidence) run.result.evidence = probe.evidence;

  if (probe.state === 'no-manifest') {
    return run.finish(
      'no-state',
      'the Coordinator has no manifest configured; nothing to recover — run `contrast set` first',
    );
  }
  if (probe.state === 'healthy') {
    recordManifests(run, manifest, probe.answer!);
    return finishRestarts(run, probe.answer!, 'already-healthy');
  }

  // Stale.
  if (options.statusOnly)
    return run.finish('recovery-needed', 'the Coordinator is in recovery mode and waits for Recover');

  // 3. A Ready peer recovers it and keeps the mesh CA: then we must not.
  if (ports.kubernetes && !options.force) {
    const query = {
      ...(options.recoveringPod ? { excludePod: options.recoveringPod } : {}),
      ...(run.time.signal ? { signal: run.time.signal } : {}),
    };
    const peers = await run.step(
      'peers',
      async () => (await ports.kubernetes!()).peers.readyPeers(target.name, query),
      (p) => `${p.readyPeers.length} ready`,
    );
    run.result.readyPeers = peers.readyPeers;
    if (peers.readyWithoutState?.length)
      run.notes.push(
        `Coordinator pod(s) ${peers.readyWithoutState.join(', ')} are Ready by a probe that does not say they hold state (a Contrast release before PR #1467: TCP on 1313), so they were not counted as peers`,
      );
    if (peers.readyPeers.length > 0) {
      return run.finish(
        'peers-available',
        `Ready peer Coordinator(s) ${peers.readyPeers.join(', ')} will recover this one and keep the mesh CA; no user recovery`,
      );
    }
  }

  // 4. The only KMS Decrypt of a reconcile. A recovery's intent is recorded before it, so every
  // Decrypt of a recovery has an attempt in the record, and with it an audit record even when
  // the process dies right after (the next lease holder writes it; dry runs send nothing).
  // A refusal (the function's crash-loop guard) stops here, before anything is recorded or decrypted.
  if (options.recoveryRefused !== undefined) throw new RecoveryError('paused', options.recoveryRefused);
  const context = ownerKeyContext(target.name, bundle.manifest, bundle.seedShares);
  run.result.kmsEncryptionContext = context;
  // The decrypt step's budget counts the intent's write: checked before it, then the rest.
  if (!options.dryRun) run.checkTime('decrypt');
  const attempt = options.dryRun ? undefined : await recordIntent(run);
  let secrets: { ownerKey: KeyObject; seed: Buffer; salt: Buffer };
  try {
    secrets = await run.step(
      'decrypt',
      async () => {
        run.result.kmsDecrypts = (run.result.kmsDecrypts ?? 0) + 1;
        const der = await ports.ownerKeys.decryptOwnerKey(bundle, context);
        try {
          const ownerKey = ownerKeyFromDer(der);
          const doc = parseSeedShareDocument(bundle.seedShares, `the bundle's seed shares (${target.secretId})`);
          const seed = decryptSeed(findShare(doc, publicKeyHex(ownerKey)), ownerKey);
          return { ownerKey, seed, salt: doc.salt };
        } finally {
          der.fill(0);
        }
      },
      undefined,
      attempt ? run.need('decrypt') - run.time.budgets.awsCallMs : undefined,
    );
  } catch (err) {
    if (attempt) await settleAttempt(run, attempt, 'not-sent');
    throw err;
  }

  try {
    if (!attempt) return await dryRunList(run);
    // 5. Recover and confirm on one new aTLS connection with the owner's certificate.
    return await recoverAndConfirm(run, manifest, attempt, secrets.ownerKey, secrets.seed, secrets.salt);
  } finally {
    secrets.seed.fill(0);
  }
}

interface Probe {
  state: CoordinatorState;
  answer?: ManifestsAnswer;
  evidence?: ReconcileResult['evidence'];
}

/**
 * Step 2. The exporter reports a Coordinator's restart when its container starts, which can be
 * before it listens on 1313: a refused connection is tried again, with growing pauses, for up
 * to one handshake budget (the probe's budget counts it), instead of failing the invocation
 * and waiting a minute for Lambda's retry. Nothing secret is sent on this path.
 */
async function probeCoordinator(run: Run): Promise<Probe> {
  const waitUntil = Date.now() + run.time.budgets.handshakeTimeoutMs;
  for (let pause = 250; ; pause = Math.min(2 * pause, 2_000)) {
    try {
      return await probeOnce(run);
    } catch (err) {
      // The last pause is cut to what is left, so a slow attempt never ends the wait early.
      const left = waitUntil - Date.now();
      if (!(err instanceof CoordinatorNotListeningError) || left <= 0) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
    }
  }
}

async function probeOnce(run: Run): Promise<Probe> {
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

/**
 * Loaded on the first recovery, not at the top: only a real recovery needs @peculiar/x509
 * (cold start). The promise is kept, so later recoveries of the container skip the module
 * loader's resolve (~1.6 ms a recovery in the reconcile bench); a failed load is tried again.
 */
type ClientCertificateModule = typeof clientCertificate;
let clientCertificates: Promise<ClientCertificateModule> | undefined;
function clientCertificateModule(): Promise<ClientCertificateModule> {
  return (clientCertificates ??= import('../coordinator/client-certificate.ts').catch((err: unknown) => {
    clientCertificates = undefined;
    throw err;
  }));
}

async function recoverAndConfirm(
  run: Run,
  manifest: Manifest,
  attempt: RecoverAttempt,
  ownerKey: KeyObject,
  seed: Buffer,
  salt: Buffer,
): Promise<ReconcileResult> {
  const { clientCertificateFor } = await clientCertificateModule();
  const certPem = await clientCertificateFor(ownerKey, createPublicKey(ownerKey));
  const der = ownerKey.export({ type: 'pkcs1', format: 'der' });
  const keyPem = pemBufferFromDer('RSA PRIVATE KEY', der);
  der.fill(0);
  // The session copies the key into an OpenSSL context and zeroes keyPem.
  const session = run.open({ certPem, keyPem });
  try {
    try {
      await run.step(
        'recover',
        () => session.recover(seed, salt, run.options.force === true),
        () => (run.options.force ? 'force' : undefined),
      );
      run.result.recoverSent = true;
    } catch (err) {
      run.result.recoverSent =
        !(err instanceof RecoveryError && err.outcome === 'attestation-failed') &&
        !(err instanceof RecoveryError && err.outcome === 'unreachable' && session.verifiedConnections === 0);
      if (session.evidence) run.result.evidence = session.evidence;
      // Only a refusal Contrast sends before changing anything is `refused`. Any other answer
      // (UNIMPLEMENTED, one over the size limit, one that does not parse, an unknown error) may
      // follow a Recover that was carried out: `unknown`, counted by the crash-loop guard,
      // resolved by the next probe — and never sent again on another name (client.ts).
      const refused = err instanceof CoordinatorRpcError && err.refusedByCoordinator;
      await settleAttempt(run, attempt, !run.result.recoverSent ? 'not-sent' : refused ? 'refused' : 'unknown');
      if (run.result.recoverSent && !refused && err instanceof CoordinatorRpcError) {
        throw new UnreachableError(
          `${err.message}; Recover may have been carried out — the crash-loop guard counts this attempt and the next reconcile's probe finds out`,
          { cause: err },
        );
      }
      if (err instanceof CoordinatorRpcError && err.outcome === 'already-healthy') {
        // Someone recovered it between probe and Recover: finish like a healthy probe.
        const answer = await run.step('confirm', () => session.getManifests());
        run.result.coordinatorState = 'healthy';
        recordManifests(run, manifest, answer);
        return finishRestarts(run, answer, 'already-healthy');
      }
      throw err;
    }
    await settleAttempt(run, attempt, 'accepted');
    if (session.evidence) run.result.evidence = session.evidence;
    const answer = await run.step(
      'confirm',
      () => session.getManifests(),
      (a) => `latest ${a.latestManifestSha256?.slice(0, 12) ?? 'none'}`,
    );
    run.result.coordinatorState = 'healthy';
    recordManifests(run, manifest, answer);
    if (answer.latestManifestSha256 !== manifest.sha256) {
      return run.finish(
        'confirm-mismatch',
        `after Recover the Coordinator serves manifest ${answer.latestManifestSha256 ?? '(none)'} but the bundle holds ${manifest.sha256}: a manifest was set after enrollment — re-enroll with the current workspace and check who changed it`,
      );
    }
    return finishRestarts(run, answer, 'recovered', attempt);
  } finally {
    session.close();
  }
}

/**
 * Step 4, before the Decrypt (and so before Recover leaves): the intent goes into the
 * deployment's record, so a kill, timeout or crash after either is still counted by the
 * crash-loop guard, audited by the next invocation, and its new key recognised as this
 * service's. No record, no Decrypt, no Recover.
 */
async function recordIntent(run: Run): Promise<RecoverAttempt> {
  const attempt: RecoverAttempt = {
    id: randomUUID(),
    at: run.now(),
    status: 'pending',
    force: run.options.force === true,
  };
  if (run.result.kmsEncryptionContext) attempt.kmsEncryptionContext = run.result.kmsEncryptionContext;
  try {
    await run.records.update((r) => ({ ...r, attempts: [...r.attempts, attempt] }));
  } catch (err) {
    throw new UnreachableError(
      `could not record the Recover intent (${errorMessage(err)}); Recover was not sent — it is retried`,
      { cause: err },
    );
  }
  run.result.recoverAttemptId = attempt.id;
  return attempt;
}

/** After Recover: how the attempt ended. A failed write is left to the next invocation (it finds the intent). */
async function settleAttempt(run: Run, attempt: RecoverAttempt, status: RecoverAttemptStatus): Promise<void> {
  attempt.status = status;
  attempt.answeredAt = run.now();
  try {
    await run.records.update((r) => ({
      ...r,
      attempts: r.attempts.map((a) => (a.id === attempt.id ? { ...a, status, answeredAt: attempt.answeredAt! } : a)),
    }));
  } catch (err) {
    run.notes.push(
      `the Recover attempt's end (${status}) could not be recorded (${errorMessage(err)}); the next reconcile finds the intent`,
    );
  }
}

function recordManifests(run: Run, manifest: Manifest, answer: ManifestsAnswer): void {
  run.result.latestManifestHash = answer.latestManifestSha256;
  run.result.drift = answer.latestManifestSha256 !== undefined && answer.latestManifestSha256 !== manifest.sha256;
}

function healthyMessage(run: Run): string {
  const drift = run.result.drift
    ? ` — drift: it serves manifest ${run.result.latestManifestHash} but the bundle holds ${run.result.manifestHash}; re-enroll after \`contrast set\``
    : '';
  return `the Coordinator is healthy${drift}`;
}

/**
 * Step 6: the workloads holding certificates of a lost mesh CA (docs/operate.md). Restarted
 * after this service's own Recover — also when a later reconcile finishes what a crash left —
 * and after any rotation where the deployment opts in; otherwise reported. Status and dry
 * runs list them. Once none is left, the key's record says so and healthy reconciles skip
 * Kubernetes entirely.
 */
async function finishRestarts(
  run: Run,
  answer: ManifestsAnswer,
  base: 'recovered' | 'already-healthy',
  ours?: RecoverAttempt,
): Promise<ReconcileResult> {
  const { ports, target, options } = run;
  const okMessage =
    base === 'recovered' ? 'the Coordinator was recovered and serves the enrolled manifest' : healthyMessage(run);
  const cert = meshCaCertificate(answer.meshCaPem);
  // Without the mesh CA certificate no workload can be judged: after our Recover that is a
  // confirmation that failed (every Contrast release serves it, userapi.go GetManifests);
  // otherwise the result says the check was not made.
  const unreadable = `its MeshCA field is not a PEM certificate (${answer.meshCaPem.length} bytes), so no workload could be checked`;
  if (!cert && ours)
    return run.finish(
      'confirm-mismatch',
      `after Recover the Coordinator serves the enrolled manifest, but ${unreadable}; check the Coordinator and its Contrast version, then restart the workloads by hand`,
    );
  if (!cert) return run.finish(base, `${okMessage}; ${unreadable}`);
  const readOnly = options.statusOnly === true || options.dryRun === true;
  const record = await run.records.read();
  // A key the record does not hold (or an open two-keys finding): whose is it, and do the
  // replicas agree on it? Looked up only then, so a steady reconcile costs no Kubernetes call;
  // and not after our own Recover without Force: the peer check just found no Ready replica.
  const look =
    (!ours || options.force === true) &&
    (record.meshCa?.spkiSha256 !== cert.spkiSha256 || record.twoKeysSeenAt !== undefined);
  const coordinators = look ? await coordinatorFacts(run) : undefined;
  const window = coordinators && coordinators.pods > 1 ? await probeWindow(run, coordinators.pods) : [];
  const change = currentGeneration(record, cert, run.now(), CLOCK_SKEW_MARGIN_MS, ours, {
    history: answer.history,
    ...(coordinators ? { coordinators } : {}),
    ...(record.twoKeysSeenAt !== undefined && window.length > 0 ? { oneKeyAfterTwo: true } : {}),
  });
  const keys = new Set([cert.spkiSha256, ...window]);
  run.result.meshCaKeysSeen = change.twoKeys ? 2 : keys.size;
  if (run.result.meshCaKeysSeen > 1) return twoKeysFinding(run, base, okMessage, readOnly);
  let generation = change.generation;
  if (record.twoKeysSeenAt !== undefined) {
    // One key left after two: which one each pod's certificate is from cannot be told by time,
    // so every older pod is listed once as of unknown age, and nothing restarts.
    const { restartsIssuedAt: _issued, restartsCompleteAt: _complete, ...rest } = generation;
    generation = { ...rest, cause: 'baseline', createdAt: run.now(), createdAfter: 0 };
  }
  run.result.meshCa = {
    spkiSha256: generation.spkiSha256,
    createdAt: new Date(generation.createdAt).toISOString(),
    cause: generation.cause,
    // A baseline has no lower bound (0): none is shown.
    ...(generation.createdAfter ? { createdAfter: new Date(generation.createdAfter).toISOString() } : {}),
  };
  const done = generation.restartsCompleteAt !== undefined;
  const restart =
    generation.cause === 'recover' ||
    generation.cause === 'recovery' ||
    (generation.cause === 'observed' && target.restartAfterAnyRotation === true);
  const mode: RestartMode = readOnly ? 'list' : restart ? 'restart' : 'report';
  let saved = generation;
  // The wave's start is recorded before it (with a new key, in the same write): later runs
  // never patch what this wave patched, whatever the clocks say.
  const wave =
    mode === 'restart' && !done && ports.kubernetes !== undefined && generation.restartsIssuedAt === undefined;
  if (!readOnly) {
    // Every look is recorded (lastSeenAt bounds the next key's creation, mesh-ca.ts).
    const next = wave ? { ...generation, restartsIssuedAt: run.now() } : generation;
    try {
      await run.records.update((r) => {
        const { twoKeysSeenAt: _cleared, ...rest } = r;
        const superseded = [
          ...(change.replaced ? [change.replaced] : []),
          ...(r.supersededKeys ?? []).filter((k) => k.spkiSha256 !== next.spkiSha256),
        ].slice(0, SUPERSEDED_KEPT);
        return { ...rest, meshCa: next, ...(superseded.length ? { supersededKeys: superseded } : {}) };
      });
      saved = next;
    } catch (err) {
      // The next reconcile derives the same generation again (from the attempt or the certificate).
      run.notes.push(`the mesh CA key could not be recorded (${errorMessage(err)})`);
      saved = next;
    }
  }
  if (done) return run.finish(base, okMessage);
  if (!ports.kubernetes) return run.finish(base, `${okMessage}; workloads not checked (no Kubernetes access)`);

  let summary: RestartSummary;
  try {
    summary = await run.step(
      'restarts',
      async () =>
        (await ports.kubernetes!()).restarts.restartStale({
          deployment: target.name,
          meshCa: {
            spkiSha256: generation.spkiSha256,
            createdAt: new Date(generation.createdAt),
            ...(generation.createdAfter !== undefined
              ? { createdAfter: new Date(generation.createdAfter), unknownAgeReason: unknownAgeReason(generation) }
              : {}),
          },
          mode,
          clockSkewMarginMs: CLOCK_SKEW_MARGIN_MS,
          ...recoveredKeyBound(generation, ours),
          ...(saved.restartsIssuedAt !== undefined ? { restartsIssuedAt: new Date(saved.restartsIssuedAt) } : {}),
          ...(run.time.signal ? { signal: run.time.signal } : {}),
          reportReason: `the mesh CA key was created at ${new Date(generation.createdAt).toISOString()} by a manifest update (\`contrast set\`: the history changed and no Coordinator restarted); restart it by hand, or set restartAfterAnyRotation for ${target.name}`,
        }),
      (s) => restartCounts(s),
    );
  } catch (err) {
    const message = `${okMessage}; workload restarts could not run: ${errorMessage(err)}`;
    return run.finish(
      base === 'recovered' ? 'restart-partial' : err instanceof RecoveryError ? err.outcome : 'unreachable',
      message,
    );
  }
  run.result.restarts = summary;
  run.result.staleWorkloads = summary.staleWorkloads;
  const acted = summary.results.some((r) => r.status === 'restarted' || r.status === 'deleted');
  if (!readOnly && summary.complete) {
    await saveGeneration(run, { ...saved, restartsCompleteAt: run.now() }).catch((err: unknown) =>
      run.notes.push(
        `the restarts could not be recorded (${errorMessage(err)}); the next reconcile checks the workloads again`,
      ),
    );
  }
  if (mode === 'list') {
    const listed = summary.staleWorkloads
      ? `; ${summary.staleWorkloads} workload(s) hold certificates of a lost mesh CA (${restartCounts(summary)})`
      : ` (${restartCounts(summary)})`;
    return run.finish(base, `${okMessage}${listed}`);
  }
  if (mode === 'report') {
    const stale = summary.staleWorkloads
      ? `; ${summary.staleWorkloads} workload(s) hold certificates of an earlier mesh CA and were reported, not restarted: the key was rotated at ${new Date(generation.createdAt).toISOString()} by a \`contrast set\` — restart them, or set restartAfterAnyRotation`
      : ` (${restartCounts(summary)})`;
    return run.finish(base, `${okMessage}${stale}`);
  }
  if (!summary.complete) {
    return run.finish(
      'restart-partial',
      `${okMessage}; restarts incomplete (${restartCounts(summary)}) — the next reconcile finishes them`,
    );
  }
  const outcome: Outcome = base === 'recovered' ? 'recovered' : acted ? 'restarts-finished' : 'already-healthy';
  return run.finish(
    outcome,
    `${outcome === 'restarts-finished' ? OUTCOMES['restarts-finished'].summary : okMessage} (${restartCounts(summary)})`,
  );
}

/**
 * For a key a Recover made, a moment on the cluster's clock before which it did not exist
 * (RestartRequest.recoveredKeyMadeAfter, the Coordinator-start bound): the Recover's intent less
 * the clock skew tolerated (createdAt is the intent, a lower bound); right after our own Recover
 * also the NotBefore + 1 h of the certificate it made (first seen in this reconcile; the
 * Coordinator's own clock, Contrast's ca.New). Never for an observed key: a peer may have
 * handed it over, and it may be older than every running Coordinator.
 */
export function recoveredKeyBound(
  g: MeshCaGeneration,
  ours: RecoverAttempt | undefined,
): { recoveredKeyMadeAfter?: Date } {
  // Ours or someone else's Recover (mesh-ca.ts `recovery`): never a key a peer may have handed over.
  if (g.cause !== 'recover' && g.cause !== 'recovery') return {};
  const own =
    ours !== undefined && g.attemptId === ours.id
      ? keyCreatedFromCertificate({ spkiSha256: g.spkiSha256, notBefore: g.certificateNotBefore })
      : -Infinity;
  // Where the creation is only bounded, its lower bound is the latest moment the key surely did not exist.
  const notYet = g.createdAfter ?? g.createdAt;
  return { recoveredKeyMadeAfter: new Date(Math.max(notYet - MAX_CLOCK_SKEW_MS, own)) };
}

/**
 * A dry run on a stale Coordinator: what a Recover now would restart — every workload whose
 * pods got their certificate before now (the key Recover creates is newer than all of them).
 */
async function dryRunList(run: Run): Promise<ReconcileResult> {
  const said =
    'dry run: the Coordinator is stale, its attestation passed and the seed share decrypts; nothing was sent';
  if (!run.ports.kubernetes) return run.finish('dry-run-ok', said);
  let summary: RestartSummary;
  try {
    summary = await run.step(
      'restarts',
      async () =>
        (await run.ports.kubernetes!()).restarts.restartStale({
          deployment: run.target.name,
          meshCa: { spkiSha256: '', createdAt: new Date(run.now()) },
          mode: 'list',
          clockSkewMarginMs: CLOCK_SKEW_MARGIN_MS,
          ...(run.time.signal ? { signal: run.time.signal } : {}),
        }),
      (s) => restartCounts(s),
    );
  } catch (err) {
    return run.finish(
      err instanceof RecoveryError ? err.outcome : 'unreachable',
      `${said}; the workloads a recovery would restart could not be listed: ${errorMessage(err)}`,
    );
  }
  run.result.restarts = summary;
  run.result.staleWorkloads = summary.staleWorkloads;
  return run.finish(
    'dry-run-ok',
    `${said}; a Recover now would restart ${summary.staleWorkloads} workload(s) (${restartCounts(summary)})`,
  );
}

/** Replaced keys the record keeps to recognise their return (two keys at once). */
const SUPERSEDED_KEPT = 4;

/**
 * The deployment's Coordinator pods and when their containers started (the peer check's list,
 * peers.ts), for a key the record does not hold. Unknown without Kubernetes access or when
 * the list fails: then a first sight is a baseline and no restart dates a key (mesh-ca.ts).
 */
async function coordinatorFacts(run: Run): Promise<KeySighting['coordinators']> {
  if (!run.ports.kubernetes) return undefined;
  try {
    const status = await run.step(
      'peers',
      async () =>
        (await run.ports.kubernetes!()).peers.readyPeers(
          run.target.name,
          run.time.signal ? { signal: run.time.signal } : {},
        ),
      (p) => `${p.coordinatorPods.length} Coordinator pod(s)`,
    );
    return { pods: status.coordinatorPods.length, containersStartedAt: status.coordinatorContainersStartedAt ?? [] };
  } catch (err) {
    run.notes.push(
      `the Coordinator pods could not be listed (${errorMessage(err)}), so a new key's cause is judged without them`,
    );
    return undefined;
  }
}

/**
 * The probe window: with several Coordinator replicas, more probes on new connections (the
 * Service picks a replica per connection), so that replicas serving two keys at once — a forced
 * Recover beside Ready peers — are seen in one reconcile, not as a series of rotations. Returns
 * the keys the healthy answers served; a replica that answers otherwise (stale, unreachable)
 * adds none.
 */
async function probeWindow(run: Run, pods: number): Promise<string[]> {
  const keys: string[] = [];
  for (let i = 0; i < Math.min(PROBE_WINDOW_MAX, 2 * pods); i++) {
    try {
      const probe = await run.step(
        'probe',
        () => probeOnce(run),
        (p) => `window ${i + 1}: ${p.state}`,
      );
      const key = probe.answer ? meshCaCertificate(probe.answer.meshCaPem)?.spkiSha256 : undefined;
      if (key) keys.push(key);
    } catch {
      // A probe that fails tells nothing about keys; the first probe already saw one.
    }
  }
  return keys;
}

/** At most this many window probes (each an attested handshake). */
const PROBE_WINDOW_MAX = 8;

/** Two keys at once: a finding; nothing restarts and the record keeps its key until one remains. */
async function twoKeysFinding(
  run: Run,
  base: 'recovered' | 'already-healthy',
  okMessage: string,
  readOnly: boolean,
): Promise<ReconcileResult> {
  if (!readOnly) {
    await run.records
      .update((r) => ({ ...r, twoKeysSeenAt: run.now() }))
      .catch((err: unknown) => run.notes.push(`the finding could not be recorded (${errorMessage(err)})`));
  }
  return run.finish(
    base,
    `${okMessage}; finding: Coordinator replicas serve ${run.result.meshCaKeysSeen} different mesh CA keys at once (a forced Recover beside Ready peers?) — workloads get certificates from either, so nothing is restarted until one key remains: restart the Coordinator replicas that do not hold the key you keep, then their workloads`,
  );
}

/** Why pods of a key whose creation is only bounded are listed `unknown-age`. */
function unknownAgeReason(g: MeshCaGeneration): string {
  const created = new Date(g.createdAt).toISOString();
  if (g.cause === 'baseline')
    return `the key was first seen at ${new Date(g.firstSeenAt).toISOString()} with more than one Coordinator replica (or after replicas served two keys): a peer may have handed it over, so its age is unknown — restart by hand any of these that cannot reach the mesh`;
  return `the key was made after the previous key was last seen (${new Date(g.createdAfter!).toISOString()}) and by ${created}; a peer recovery re-issues the certificate, so the time between is not known — restart by hand any of these that cannot reach the mesh`;
}

/** Writes the key's generation; the function's record write is conditional, so it may throw. */
async function saveGeneration(run: Run, generation: MeshCaGeneration): Promise<MeshCaGeneration> {
  await run.records.update((r) => ({ ...r, meshCa: generation }));
  return generation;
}

function restartCounts(s: RestartSummary): string {
  const counts = new Map<string, number>();
  for (const r of s.results) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  return [...counts].map(([k, v]) => `${v} ${k}`).join(', ') || 'nothing to restart';
}
