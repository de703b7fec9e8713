/**
 * The Lambda entry: event → trigger → (lease, pause switch, crash-loop guard) → reconcile →
 * result event, metrics, audit record. Thin on purpose: the steps live in reconcile.ts.
 *
 * - One reconcile at a time per deployment: a DynamoDB lease (lock.ts), never a cached
 *   result, so a genuine restart an hour later is handled again.
 * - Transient outcomes throw (after reporting) so Lambda/EventBridge retry the invocation;
 *   permanent ones return a failure result. A direct invocation always returns its result:
 *   its caller is waiting for it and Lambda does not retry synchronous calls.
 * - SDK clients are created once per container; the Kubernetes module (and with it
 *   @kubernetes/client-node) is imported only when reconcile has Kubernetes work.
 * - Production verifier only. Tests inject theirs through createHandler(), in code.
 */
import type { Context } from 'aws-lambda';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { findDeployment, loadConfig, targetOf, type DeploymentConfig, type HandlerConfig } from './config.ts';
import { decryptDrill, type DrillDeps, type DrillResult } from './drill.ts';
import { errorMessage, RecoveryError } from '../shared/errors.ts';
import { deploymentsOf, EventInvalidError, parseTrigger, type InvocationContext, type Trigger } from './events.ts';
import { decryptOwnerKey } from '../keys/envelope.ts';
import { BundleStore } from '../keys/store.ts';
import { guardTripped, LockTable, type AcquireResult, type GuardSnapshot } from './lease.ts';
import { METRIC } from '../shared/contract.ts';
import { createLogger, createMetricsSink, createTrace, type Telemetry } from './observability.ts';
import { isRetryable, isSuccess, type Outcome } from '../shared/outcomes.ts';
import { reconcile as realReconcile, type BundleVerifierFactory, type ReconcileDeps } from '../reconcile/reconcile.ts';
import { productionVerifierFactory } from '../reconcile/verification.ts';
import type { CollateralVerify } from '../attestation/collateral-verify.ts';
import type { ReconcileOptions, ReconcileResult } from '../reconcile/types.ts';
import type { KubernetesSettings } from '../kubernetes/index.ts';
import type { KubernetesSide, RestartRecordStore } from '../kubernetes/types.ts';
import { auditRecord, publishResult, recoverOutcomeUnknown, userRecoveryDone, type ReportContext } from './report.ts';

/** Follow-up reconciles one holder runs at most before it lets the lease go. */
const MAX_FOLLOW_UPS = 2;

export interface AwsClients {
  secrets: SecretsManagerClient;
  kms: KMSClient;
  dynamodb: DynamoDBClient;
  events: EventBridgeClient;
}

/** Test seams. Production passes none; nothing here is reachable from configuration. */
export interface HandlerOverrides {
  env?: Record<string, string | undefined>;
  config?: HandlerConfig;
  clients?: Partial<AwsClients>;
  verifierFactory?: BundleVerifierFactory;
  kubernetes?: (deployment: DeploymentConfig) => Promise<KubernetesSide>;
  telemetry?: Partial<Telemetry>;
  reconcile?: typeof realReconcile;
  /** Extra reconcile dependencies (e.g. timeouts). */
  reconcileDeps?: Partial<Pick<ReconcileDeps, 'handshakeTimeoutMs' | 'rpcTimeoutMs' | 'openSession'>>;
  now?: () => number;
  /** Verifies mirror documents in the scheduled collateral refresh (tests: test roots). */
  collateralVerify?: CollateralVerify;
}

export interface HandlerResponse {
  requestId: string;
  correlationId: string;
  trigger: Trigger['kind'] | 'invalid';
  /** The first non-ok outcome, else the first outcome. */
  outcome: Outcome;
  results: ReconcileResult[];
  drills?: DrillResult[];
  collateral?: { deployment: string; refreshed: string[]; failed: { file: string; reason: string }[]; written: boolean }[];
}

/** Thrown after reporting a transient outcome, so the async invocation is retried. */
export class TransientOutcomeError extends RecoveryError {}

type LambdaContext = Pick<Context, 'awsRequestId' | 'getRemainingTimeInMillis'> & Partial<Pick<Context, 'identity' | 'clientContext' | 'functionName' | 'invokedFunctionArn'>>;

interface Runtime {
  config: HandlerConfig;
  clients: AwsClients;
  lock: LockTable;
  bundles: BundleStore;
  verifierFactory: (deployment: DeploymentConfig) => BundleVerifierFactory;
  kubernetes: (deployment: DeploymentConfig) => (() => Promise<KubernetesSide>) | undefined;
}

function createClients(overrides: Partial<AwsClients> | undefined, trace: Telemetry['trace']): AwsClients {
  // Region, endpoint and credentials come from the standard environment (AWS_REGION, ...).
  return {
    // KMS and Secrets Manager carry secrets: not instrumented by the tracer.
    secrets: overrides?.secrets ?? new SecretsManagerClient({}),
    kms: overrides?.kms ?? new KMSClient({}),
    dynamodb: overrides?.dynamodb ?? trace.captureClient(new DynamoDBClient({})),
    events: overrides?.events ?? trace.captureClient(new EventBridgeClient({})),
  };
}

/** Loads lambda/kubernetes/ (and @kubernetes/client-node) on first use only; memoized per deployment. */
function lazyKubernetes(config: HandlerConfig, clients: AwsClients, override?: HandlerOverrides['kubernetes']) {
  const cache = new Map<string, Promise<KubernetesSide>>();
  return (d: DeploymentConfig): (() => Promise<KubernetesSide>) | undefined => {
    if (!override && config.kube.auth === 'none') return undefined;
    return () => {
      let side = cache.get(d.name);
      if (!side) {
        side = override
          ? override(d)
          : import('../kubernetes/index.ts').then(async (m) => m.createKubernetesSide(await kubernetesSettings(config, d, clients)));
        // A failed load is not cached: the next reconcile tries again.
        side.catch(() => cache.delete(d.name));
        cache.set(d.name, side);
      }
      return side;
    };
  };
}

/** Maps configuration to the Kubernetes side's settings (type-only import: nothing loaded here). */
async function kubernetesSettings(config: HandlerConfig, d: DeploymentConfig, clients: AwsClients): Promise<KubernetesSettings> {
  let auth: KubernetesSettings['auth'];
  if (config.kube.auth === 'eks') {
    auth = { kind: 'eks', clusterName: config.kube.clusterName!, endpoint: config.kube.endpoint!, caData: config.kube.caData!, region: await clients.secrets.config.region() };
  } else {
    const out = await clients.secrets.send(new GetSecretValueCommand({ SecretId: config.kube.kubeconfigSecretId! }));
    if (!out.SecretString) throw new Error(`secret ${config.kube.kubeconfigSecretId} (KUBECONFIG_SECRET_ID) holds no kubeconfig text`);
    auth = { kind: 'kubeconfig', kubeconfig: out.SecretString };
  }
  const namespaces: KubernetesSettings['namespaces'] = d.namespaceLabelSelector
    ? { kind: 'selector', labelSelector: d.namespaceLabelSelector }
    : d.namespaces.includes('*')
      ? { kind: 'all' }
      : { kind: 'list', names: d.namespaces };
  return {
    auth,
    // Contrast deploys the Coordinator into the workloads' namespace; `default` unless configured.
    coordinatorNamespace: d.coordinatorNamespace ?? (namespaces.kind === 'list' && namespaces.names.length === 1 ? namespaces.names[0]! : 'default'),
    namespaces,
    allowPodDeletion: config.allowPodDeletion,
  };
}

/**
 * The production verifier per deployment: pinned roots only; collateral from the evidence,
 * the bundle's cache, then COLLATERAL_MIRROR_URL; the deployment's accepted TDX TCB statuses.
 */
function verifierFactoryFor(config: HandlerConfig): (deployment: DeploymentConfig) => BundleVerifierFactory {
  const perDeployment = new Map<string, BundleVerifierFactory>();
  return (d) => {
    let f = perDeployment.get(d.name);
    if (!f) {
      f = productionVerifierFactory({
        ...(config.collateralMirrorUrl ? { collateralMirrorUrl: config.collateralMirrorUrl } : {}),
        ...(d.tdxAcceptedTcbStatuses?.length ? { acceptedTdxTcbStatuses: d.tdxAcceptedTcbStatuses } : {}),
      });
      perDeployment.set(d.name, f);
    }
    return f;
  };
}

export function createHandler(overrides: HandlerOverrides = {}) {
  const telemetry: Telemetry = {
    logger: overrides.telemetry?.logger ?? createLogger(),
    metrics: overrides.telemetry?.metrics ?? createMetricsSink(),
    trace: overrides.telemetry?.trace ?? createTrace(),
  };
  const { logger, metrics, trace } = telemetry;
  const reconcile = overrides.reconcile ?? realReconcile;
  const now = overrides.now ?? Date.now;
  let runtime: Runtime | undefined;

  /** Once per container: configuration, clients, stores. A bad configuration fails every invocation loudly. */
  function getRuntime(): Runtime {
    if (runtime) return runtime;
    const config = overrides.config ?? loadConfig(overrides.env ?? process.env);
    const clients = createClients(overrides.clients, trace);
    runtime = {
      config,
      clients,
      lock: new LockTable({ client: clients.dynamodb, tableName: config.lockTableName, now }),
      bundles: new BundleStore(clients.secrets),
      verifierFactory: overrides.verifierFactory ? () => overrides.verifierFactory! : verifierFactoryFor(config),
      kubernetes: lazyKubernetes(config, clients, overrides.kubernetes),
    };
    return runtime;
  }

  function emptyResult(deployment: string, outcome: Outcome, message: string, options: ReconcileOptions = {}): ReconcileResult {
    return {
      deployment,
      outcome,
      message,
      coordinatorState: 'unknown',
      kmsDecrypts: 0,
      recoverSent: false,
      force: options.force === true,
      dryRun: options.dryRun === true,
      steps: [],
      durationMs: 0,
    };
  }

  async function report(rt: Runtime | undefined, result: ReconcileResult, ctx: ReportContext): Promise<void> {
    const ok = isSuccess(result.outcome);
    metrics.publish(result.deployment, (m) => {
      m.count(METRIC.attempts);
      m.count(METRIC.failures, ok ? 0 : 1);
      m.count(METRIC.outcome(result.outcome));
      if (result.drift !== undefined) m.count(METRIC.drift, result.drift ? 1 : 0);
      if (ctx.staleMinutes !== undefined) m.value(METRIC.staleMinutes, Math.round(ctx.staleMinutes * 10) / 10, 'None');
      if (result.restarts) m.count(METRIC.workloadsRestarted, result.restarts.results.filter((w) => w.status === 'restarted' || w.status === 'deleted').length);
      for (const s of result.steps) m.ms(METRIC.stepDuration(s.step), s.ms);
    });
    trace.annotate('deployment', result.deployment);
    trace.annotate('outcome', result.outcome);
    trace.annotate('trigger', ctx.trigger.kind);
    trace.annotate('recoverSent', result.recoverSent);
    trace.annotate('kmsDecrypts', result.kmsDecrypts);

    let eventIds: string[] = [];
    if (rt) {
      try {
        const published = await publishResult({ client: rt.clients.events, busName: rt.config.eventBusName, source: rt.config.resultEventSource }, result, ctx);
        eventIds = published.ids;
        for (const e of published.errors) logger.error('result event refused by EventBridge', { deployment: result.deployment, error: e });
      } catch (err) {
        logger.error('result event could not be put; the audit record below still stands', { deployment: result.deployment, error: errorMessage(err) });
      }
    }
    const line = { deployment: result.deployment, outcome: result.outcome, detail: result.message, recoverSent: result.recoverSent, durationMs: Math.round(result.durationMs) };
    if (ok) logger.info('reconcile finished', line);
    else logger.warn('reconcile failed', { ...line, retryable: isRetryable(result.outcome) });
    logger.info('audit', { audit: auditRecord(result, ctx, eventIds) });
  }

  /** Stale bookkeeping for StaleMinutes; the crash-loop guard's history. */
  async function afterReconcile(rt: Runtime, result: ReconcileResult, snap: GuardSnapshot, trigger: Trigger, ctx: ReportContext): Promise<void> {
    const t = now();
    const triggerTime = trigger.kind === 'event' || trigger.kind === 'alarm' ? Date.parse(trigger.time) : NaN;
    const since = snap.staleSince ?? (Number.isFinite(triggerTime) && triggerTime < t ? triggerTime : t);
    if (userRecoveryDone(result)) {
      ctx.staleMinutes = (t - since) / 60_000;
      await rt.lock.recordRecovery(result.deployment, t);
      return;
    }
    if (recoverOutcomeUnknown(result)) {
      logger.warn('Recover was sent but its answer was lost; counted as a recovery by the crash-loop guard', { deployment: result.deployment });
      await rt.lock.recordRecovery(result.deployment, t, true);
    }
    if (result.coordinatorState === 'stale') {
      ctx.staleMinutes = (t - since) / 60_000;
      await rt.lock.markStale(result.deployment, since);
    } else if (result.coordinatorState === 'healthy' && snap.staleSince !== undefined) {
      ctx.staleMinutes = (t - snap.staleSince) / 60_000;
      await rt.lock.clearStale(result.deployment);
    }
  }

  async function reconcileOne(rt: Runtime, d: DeploymentConfig, trigger: Trigger, context: LambdaContext): Promise<ReconcileResult[]> {
    const action = trigger.kind === 'direct' ? trigger.action : 'reconcile';
    const options: ReconcileOptions = {
      force: trigger.kind === 'direct' && trigger.force,
      dryRun: action === 'dry-run',
      statusOnly: action === 'status',
    };
    const ctx: ReportContext = { requestId: context.awsRequestId, trigger, action };
    logger.appendKeys({ deployment: d.name });
    const results: ReconcileResult[] = [];
    try {
      // Status is read-only: no lease, no guard, never a KMS call.
      if (options.statusOnly) {
        results.push(await spanned(rt, d, () => guardedReconcile(rt, d, trigger, options, ctx), options, ctx));
        return results;
      }
      const leaseSeconds = rt.config.leaseSeconds ?? Math.ceil(context.getRemainingTimeInMillis() / 1000) + 60;
      let acquired: AcquireResult;
      try {
        acquired = await rt.lock.acquire(d.name, context.awsRequestId, leaseSeconds);
        // Held: ask the holder for one more reconcile, since it may have probed before this
        // trigger's restart. If the lease vanished meanwhile, try to take it once more.
        if (!acquired.acquired && !(await rt.lock.requestFollowUp(d.name))) acquired = await rt.lock.acquire(d.name, context.awsRequestId, leaseSeconds);
      } catch (err) {
        // Lock table unreachable: transient, retried.
        results.push(await reported(rt, emptyResult(d.name, 'unreachable', `could not coordinate the reconcile (${errorMessage(err)}); it is retried`, options), ctx));
        return results;
      }
      if (!acquired.acquired) {
        const holder = acquired.holder ? ` (request ${acquired.holder.owner}, lease until ${new Date(acquired.holder.expiresAt * 1000).toISOString()})` : '';
        results.push(await reported(rt, emptyResult(d.name, 'in-progress', `another reconcile of ${d.name} holds the lock${holder}; it reconciles once more when done (follow-up recorded)`, options), ctx));
        return results;
      }
      const lease = acquired.lease;
      let reportCtx = ctx;
      let result = await traced(d, () => guardedReconcile(rt, d, trigger, options, ctx), options);
      // Let go, unless a trigger arrived meanwhile: then reconcile again (never with Force).
      // The result is reported while the lease is released; neither needs the other.
      for (let followUps = 0; ; followUps++) {
        const last = followUps >= MAX_FOLLOW_UPS;
        const [released] = await Promise.all([
          rt.lock.release(lease, last).catch((err: unknown) => {
            // The lease then expires on its own; the next reconcile waits at most that long.
            logger.error('could not release the lease; it expires by itself', { error: errorMessage(err), expiresAt: lease.expiresAt });
            return true;
          }),
          report(rt, result, reportCtx),
        ]);
        results.push(result);
        if (released || last || !(await rt.lock.takeFollowUp(lease).catch(() => false))) break;
        logger.info('follow-up reconcile requested by a trigger that found the lease held', { deployment: d.name });
        reportCtx = { requestId: context.awsRequestId, trigger, action: 'reconcile' };
        const followUpCtx = reportCtx;
        result = await traced(d, () => guardedReconcile(rt, d, trigger, {}, followUpCtx), {});
      }
      return results;
    } finally {
      logger.removeKeys(['deployment']);
    }
  }

  /** One guarded reconcile in a trace span, reported; AWS failures outside reconcile become `unreachable`. */
  async function spanned(rt: Runtime, d: DeploymentConfig, fn: () => Promise<ReconcileResult>, options: ReconcileOptions, ctx: ReportContext): Promise<ReconcileResult> {
    return reported(rt, await traced(d, fn, options), ctx);
  }

  /** One guarded reconcile in a trace span; AWS failures outside reconcile become `unreachable`. */
  async function traced(d: DeploymentConfig, fn: () => Promise<ReconcileResult>, options: ReconcileOptions): Promise<ReconcileResult> {
    try {
      return await trace.span(`### reconcile ${d.name}`, fn);
    } catch (err) {
      return emptyResult(d.name, 'unreachable', `could not coordinate the reconcile (${errorMessage(err)}); it is retried`, options);
    }
  }

  async function reported(rt: Runtime, result: ReconcileResult, ctx: ReportContext): Promise<ReconcileResult> {
    await report(rt, result, ctx);
    return result;
  }

  async function guardedReconcile(rt: Runtime, d: DeploymentConfig, trigger: Trigger, options: ReconcileOptions, ctx: ReportContext): Promise<ReconcileResult> {
    // The bundle is read while the guard snapshot is: every reconcile that is not paused needs
    // both, and a paused one only costs an unused GetSecretValue (ciphertext, no Decrypt).
    const prefetched = rt.bundles.load(d.secretId);
    prefetched.catch(() => {}); // a failure surfaces through loadBundle below
    const snap = options.statusOnly ? undefined : await rt.lock.snapshot(d.name);
    if (snap?.pause.paused) {
      const key = snap.pause.scope === 'all' ? 'pause#*' : `pause#${d.name}`;
      ctx.guard = { kind: 'pause-switch', detail: `${key}${snap.pause.reason ? `: ${snap.pause.reason}` : ''}` };
      return emptyResult(
        d.name,
        'paused',
        `recovery of ${d.name} is paused by the operator switch ${key}${snap.pause.reason ? ` (${snap.pause.reason})` : ''}; delete that item from ${rt.config.lockTableName} to resume (docs/operate.md)`,
        options,
      );
    }
    // The crash-loop guard stops only the user recovery itself (just before the KMS Decrypt),
    // so a healthy deployment's reconciles and pending restarts still run while it holds.
    const automatic = trigger.kind !== 'direct';
    const tripped = snap !== undefined && !options.dryRun && guardTripped(snap, rt.config.maxRecoveriesPerHour);
    if (tripped && !automatic) ctx.guardBypassed = true;
    let guardStopped = false;
    const deps: ReconcileDeps = {
      loadBundle: async (secretId) => {
        const bundle = await (secretId === d.secretId ? prefetched : rt.bundles.load(secretId));
        ctx.kmsKeyId = bundle.document.ownerKey.kmsKeyId;
        return bundle;
      },
      decryptOwnerKey: async (bundle, context) => {
        if (tripped && automatic) {
          guardStopped = true;
          throw new RecoveryError(
            'paused',
            `crash-loop guard: ${snap!.recentRecoveries.length} user recoveries of ${d.name} in the last hour (limit ${rt.config.maxRecoveriesPerHour}, MAX_RECOVERIES_PER_HOUR); the Coordinator is stale again — find out why it keeps restarting, then recover by direct invocation or wait for the hour to pass`,
          );
        }
        return decryptOwnerKey(rt.clients.kms, bundle.document.ownerKey, context);
      },
      verifierFactory: rt.verifierFactory(d),
      // Under the lease, the snapshot's restart record is current (only the holder writes it).
      restartRecords: snap ? snapshotRestartRecords(rt.lock, d.name, snap) : rt.lock,
      ...overrides.reconcileDeps,
    };
    const kube = rt.kubernetes(d);
    if (kube) deps.kubernetes = kube;

    let result = await reconcile(targetOf(d), deps, options);
    if (guardStopped) {
      // reconcile counts the Decrypt it asked for; the guard refused it before KMS was called.
      result = { ...result, kmsDecrypts: 0 };
      delete result.kmsEncryptionContext;
      ctx.guard = { kind: 'crash-loop-guard', detail: `${snap!.recentRecoveries.length} recoveries in the last hour, limit ${rt.config.maxRecoveriesPerHour}` };
    }
    if (snap) {
      try {
        await afterReconcile(rt, result, snap, trigger, ctx);
      } catch (err) {
        logger.error('could not record recovery history; the crash-loop guard may undercount', { error: errorMessage(err) });
      }
    }
    return result;
  }

  /** The restart record as read by the snapshot, kept current by our own writes. */
  function snapshotRestartRecords(lock: LockTable, deployment: string, snap: GuardSnapshot): RestartRecordStore {
    let completeFor = snap.restartsCompleteFor;
    return {
      isComplete: async (name, fingerprint) => (name === deployment ? completeFor === fingerprint : lock.isComplete(name, fingerprint)),
      markComplete: async (name, fingerprint) => {
        await lock.markComplete(name, fingerprint);
        if (name === deployment) completeFor = fingerprint;
      },
    };
  }

  async function runDrills(rt: Runtime, trigger: Trigger, context: LambdaContext): Promise<DrillResult[]> {
    const deps: DrillDeps = {
      loadBundle: (id) => rt.bundles.load(id),
      decryptOwnerKey: (bundle, ctx) => decryptOwnerKey(rt.clients.kms, bundle.document.ownerKey, ctx),
    };
    const out: DrillResult[] = [];
    for (const d of rt.config.deployments) {
      const r = await trace.span(`### decrypt drill ${d.name}`, () => decryptDrill(targetOf(d), deps));
      out.push(r);
      metrics.publish(d.name, (m) => m.count(METRIC.drillFailed, r.ok ? 0 : 1));
      const line = { deployment: d.name, ok: r.ok, detail: r.message, durationMs: Math.round(r.durationMs) };
      if (r.ok) logger.info('decrypt drill passed', line);
      else logger.error('decrypt drill failed', line);
      logger.info('audit', {
        audit: {
          schema: 'contrast-autorecover/audit/v1',
          requestId: context.awsRequestId,
          correlationId: trigger.id,
          deployment: d.name,
          action: 'decrypt-drill',
          trigger: { kind: trigger.kind, id: trigger.id, time: trigger.time },
          caller: trigger.caller,
          outcome: r.ok ? 'drill-passed' : 'drill-failed',
          message: r.message,
          kms: { decrypts: r.kmsDecrypts, keyId: r.kmsKeyId, encryptionContext: r.kmsEncryptionContext },
          recover: { sent: false },
        },
      });
    }
    return out;
  }

  /**
   * Scheduled refresh of each bundle's collateral cache from COLLATERAL_MIRROR_URL, before it
   * expires (the function has no internet; the mirror is its only egress). Every fetched
   * document is verified against the pinned roots; only the non-secret collateral map of the
   * bundle changes, so the KMS encryption context stays the same. Loaded lazily.
   */
  async function refreshCollateral(rt: Runtime, mirrorUrl: string): Promise<NonNullable<HandlerResponse['collateral']>> {
    const [{ refreshBundleCollateral }, { MirrorCollateral }, { pinnedCollateralVerifier }] = await Promise.all([
      import('./collateral-refresh.ts'),
      import('../attestation/collateral.ts'),
      import('../attestation/collateral-verify.ts'),
    ]);
    const mirror = new MirrorCollateral(mirrorUrl);
    const out: NonNullable<HandlerResponse['collateral']> = [];
    for (const d of rt.config.deployments) {
      try {
        const bundle = await rt.bundles.load(d.secretId);
        const verify = overrides.collateralVerify ?? pinnedCollateralVerifier();
        const r = await refreshBundleCollateral({ store: rt.bundles, secretId: d.secretId, bundle, mirror, verify, now: new Date(now()) });
        out.push({ deployment: d.name, refreshed: r.refreshed, failed: r.failed, written: r.written });
        metrics.publish(d.name, (m) => m.count(METRIC.collateralRefreshFailed, r.failed.length > 0 ? 1 : 0));
        const line = { deployment: d.name, refreshed: r.refreshed, failed: r.failed, written: r.written };
        if (r.failed.length) logger.warn('collateral refresh incomplete; recoveries fall back to the mirror, fix it before the cache expires', line);
        else logger.info('collateral cache checked', line);
      } catch (err) {
        out.push({ deployment: d.name, refreshed: [], failed: [{ file: '(bundle)', reason: errorMessage(err) }], written: false });
        metrics.publish(d.name, (m) => m.count(METRIC.collateralRefreshFailed, 1));
        logger.error('collateral refresh failed', { deployment: d.name, error: errorMessage(err) });
      }
    }
    return out;
  }

  function invalidDeploymentName(rt: Runtime | undefined, event: unknown): string {
    // Only a configured name may become a metric dimension (no cardinality from senders).
    const e = (event ?? {}) as Record<string, unknown>;
    const detail = (e.detail ?? {}) as Record<string, unknown>;
    const named = typeof e.deployment === 'string' ? e.deployment : typeof detail.deployment === 'string' ? detail.deployment : undefined;
    return rt && named && findDeployment(rt.config, named) ? named : 'unknown';
  }

  return async function handler(event: unknown, context: LambdaContext): Promise<HandlerResponse> {
    logger.resetKeys();
    logger.addContext(context as Context);
    logger.setCorrelationId(context.awsRequestId);
    let rt: Runtime;
    try {
      rt = getRuntime();
    } catch (err) {
      logger.error('the function is misconfigured; fix the variable and redeploy', { error: errorMessage(err) });
      throw err;
    }

    let trigger: Trigger;
    try {
      trigger = parseTrigger(event, rt.config, context as InvocationContext);
    } catch (err) {
      if (!(err instanceof EventInvalidError)) throw err;
      const result = emptyResult(invalidDeploymentName(rt, event), 'event-invalid', err.message);
      const invalid: Trigger = { kind: 'direct', id: context.awsRequestId, time: new Date(now()).toISOString(), caller: { kind: 'direct-invoke', requestId: context.awsRequestId }, action: 'status', deployment: result.deployment, force: false, reason: 'invalid event' };
      await report(rt, result, { requestId: context.awsRequestId, trigger: invalid, action: 'invalid' });
      return { requestId: context.awsRequestId, correlationId: context.awsRequestId, trigger: 'invalid', outcome: 'event-invalid', results: [result] };
    }
    logger.setCorrelationId(trigger.id);
    logger.info('trigger accepted', { trigger: { kind: trigger.kind, id: trigger.id, time: trigger.time }, deployments: deploymentsOf(trigger) });

    const results = await trace.span('## handler', async () => {
      trace.annotate('correlationId', trigger.id);
      const out: ReconcileResult[] = [];
      for (const name of deploymentsOf(trigger)) out.push(...(await reconcileOne(rt, findDeployment(rt.config, name)!, trigger, context)));
      return out;
    });
    const response: HandlerResponse = {
      requestId: context.awsRequestId,
      correlationId: trigger.id,
      trigger: trigger.kind,
      outcome: (results.find((r) => !isSuccess(r.outcome)) ?? results[0]!).outcome,
      results,
    };
    if (trigger.kind === 'schedule' && rt.config.decryptDrill) response.drills = await runDrills(rt, trigger, context);
    if (trigger.kind === 'schedule' && rt.config.collateralMirrorUrl) response.collateral = await refreshCollateral(rt, rt.config.collateralMirrorUrl);

    const transient = results.filter((r) => isRetryable(r.outcome));
    if (transient.length > 0 && trigger.kind !== 'direct') {
      throw new TransientOutcomeError(
        transient[0]!.outcome,
        `transient outcome for ${transient.map((r) => `${r.deployment}: ${r.outcome}`).join(', ')}; the invocation fails so Lambda/EventBridge retry it (${transient[0]!.message})`,
      );
    }
    return response;
  };
}

/** The function AWS runs: production dependencies only. */
export const handler = createHandler();
