/**
 * Step 7 for the function: the result event on the bus and the audit record. Both are built
 * from the ReconcileResult (which never holds secrets) and the trigger; nothing else.
 *
 * The audit record is one structured log line per reconcile (`"audit": {...}`), so CloudWatch
 * Logs Insights can find it by deployment, request id or KMS encryption context, and its
 * `kms.encryptionContext` equals the `requestParameters.encryptionContext` of the CloudTrail
 * Decrypt entry; the KMS and Secrets Manager request IDs equal the entries' `requestID`
 * (docs/operate.md walks an auditor through it).
 *
 * The audit record is written first and never waits for a network call: the result event
 * follows it, bounded by its own budget, and a hung EventBridge costs the event, not the record.
 */
import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Caller, Trigger } from './events.ts';
import { requestsOf, type AwsRequestRecord } from './request-ids.ts';
import type { Runtime } from './runtime.ts';
import { EVENTS, METRIC, OPERATIONS } from '../shared/contract.ts';
import { errorMessage } from '../shared/errors.ts';
import { OUTCOMES, isRetryable, isSuccess, type Outcome } from '../shared/outcomes.ts';
import type { ReconcileOptions, ReconcileResult, RecoverAttempt } from '../reconcile/types.ts';

export const AUDIT_SCHEMA = 'contrast-autorecover/audit/v1';

/**
 * Whether this reconcile's Recover was accepted (a new mesh CA exists). `recoverSent` alone is
 * not enough: it is also true when the seed left the process and the Coordinator refused it.
 */
export function userRecoveryDone(result: Pick<ReconcileResult, 'recoverSent' | 'steps'>): boolean {
  return result.recoverSent && result.steps.some((s) => s.step === 'recover' && s.detail !== 'failed');
}

/**
 * Recover was sent to a verified Coordinator but no answer came back (connection lost,
 * deadline): it may well have recovered. The crash-loop guard counts it, so a Coordinator
 * that keeps restarting cannot draw the seed out more often by dropping the answer.
 */
export function recoverOutcomeUnknown(result: Pick<ReconcileResult, 'recoverSent' | 'steps' | 'outcome'>): boolean {
  return result.recoverSent && result.outcome === 'unreachable' && !userRecoveryDone(result);
}

/** A user recovery happened → Recovered; a failure outcome → Failed; anything else → Skipped. */
function detailTypeFor(result: Pick<ReconcileResult, 'outcome' | 'recoverSent' | 'steps'>): string {
  const ok = (OUTCOMES as Record<string, { ok: boolean }>)[result.outcome]?.ok ?? false;
  if (!ok) return EVENTS.resultDetailTypes.failed;
  return userRecoveryDone(result) ? EVENTS.resultDetailTypes.recovered : EVENTS.resultDetailTypes.skipped;
}

/**
 * What the deployment run knows of a reconcile before it runs. Built once by reportContext and
 * frozen: no step writes into it for a later one — what a step learns it returns (RunFacts).
 */
export interface ReportContext {
  readonly requestId: string;
  readonly trigger: Trigger;
  /** recover | status | dry-run for direct invocations; reconcile otherwise. */
  readonly action: string;
  /** Epoch ms by which the result event must have been put or given up. */
  readonly reportBy?: number;
}

export function reportContext(fields: ReportContext): ReportContext {
  return Object.freeze({ ...fields });
}

/** How long Ready peers have been left to recover a stale Coordinator (the result event's `peers`). */
export interface PeerWatch {
  readonly ready: readonly string[];
  /** ISO 8601: the first reconcile that found the Coordinator stale with Ready peers. */
  readonly since: string;
  readonly minutes: number;
}

/**
 * What one guarded reconcile returns besides its result (guard.ts; deployment-run.ts adds the
 * request IDs), for the audit record, the result event and the metrics.
 */
export interface RunFacts {
  /** Why the guard or pause switch stopped it, when one did. */
  readonly guard?: { readonly kind: 'pause-switch' | 'crash-loop-guard'; readonly detail: string };
  /** Direct invocations bypass the crash-loop guard; recorded when it would have tripped. */
  readonly guardBypassed?: boolean;
  readonly staleMinutes?: number;
  /** Ready peers left to recover a stale Coordinator, and since when (guard.ts, peerWatch; `peers-stuck` past a bound). */
  readonly peers?: PeerWatch;
  /** The KMS key of the bundle this reconcile read. */
  readonly kmsKeyId?: string;
  /** Request IDs of this reconcile's KMS and Secrets Manager calls (request-ids.ts). */
  readonly awsRequests?: readonly AwsRequestRecord[];
  /** Records that this reconcile's Recover attempt has its audit record (called right after it is written). */
  readonly markReported?: () => Promise<void>;
}

/** A reconcile's result and what else its report needs: what a deployment run hands to reportResult. */
export interface RunReport {
  readonly result: ReconcileResult;
  readonly facts: RunFacts;
}

function triggerSummary(t: Trigger): Record<string, unknown> {
  // receivedTime: the event's own time was outside the accepted window (events.ts).
  const base = {
    kind: t.kind,
    id: t.id,
    time: t.time,
    ...(t.receivedTime !== undefined ? { receivedTime: t.receivedTime } : {}),
  };
  switch (t.kind) {
    case 'event':
      return { ...base, detailType: t.detailType, pod: t.pod, podUid: t.podUid, cluster: t.cluster };
    case 'alarm':
      return { ...base, alarmName: t.alarmName };
    case 'schedule':
      return { ...base, rule: t.rule };
    case 'direct':
      return { ...base, action: t.action, force: t.force, reason: t.reason };
  }
}

function callerSummary(c: Caller): Record<string, unknown> {
  return { ...c };
}

const MAX_LISTED_WORKLOADS = 25;
/** Pods listed in the result event (each ~300 bytes: far below EventBridge's 256 KB with the rest). */
const MAX_LISTED_PODS = 100;

/** Pod statuses that need attention, listed first. */
const POD_ATTENTION = new Set(['lost-ca']);

/**
 * The restarts of a result: counts per status, and the workloads and every Contrast pod with
 * status and reason — needing attention first, capped for the result event (256 KB per event);
 * `full` (the audit record) keeps every one.
 */
export function restartSummary(result: ReconcileResult, full = false): Record<string, unknown> | undefined {
  const r = result.restarts;
  if (!r) return undefined;
  const counts: Record<string, number> = {};
  for (const w of r.results) counts[w.status] = (counts[w.status] ?? 0) + 1;
  // Events are limited to 256 KB: list the workloads that need attention first, then cap.
  const attention = r.results.filter(
    (w) =>
      w.status === 'failed' ||
      w.status === 'needs-manual-restart' ||
      w.status === 'stale' ||
      w.status === 'would-restart' ||
      w.status === 'unknown-age',
  );
  const rest = r.results.filter((w) => !attention.includes(w));
  const listed = full ? [...attention, ...rest] : [...attention, ...rest].slice(0, MAX_LISTED_WORKLOADS);
  const pods = r.pods ?? [];
  const podCounts: Record<string, number> = {};
  for (const p of pods) podCounts[p.status] = (podCounts[p.status] ?? 0) + 1;
  const orderedPods = [
    ...pods.filter((p) => POD_ATTENTION.has(p.status)),
    ...pods.filter((p) => !POD_ATTENTION.has(p.status)),
  ];
  const listedPods = full ? orderedPods : orderedPods.slice(0, MAX_LISTED_PODS);
  return {
    meshCaSpkiSha256: r.meshCaSpkiSha256,
    complete: r.complete,
    staleWorkloads: r.staleWorkloads,
    ...(r.coordinatorStartedAt ? { coordinatorStartedAt: r.coordinatorStartedAt } : {}),
    counts,
    workloads: listed,
    truncated: r.results.length > listed.length,
    podCounts,
    pods: listedPods,
    podsTruncated: pods.length > listedPods.length,
  };
}

function resultDetail(result: ReconcileResult, ctx: ReportContext, facts: RunFacts): Record<string, unknown> {
  const o = (OUTCOMES as Record<string, { ok: boolean; retry: boolean }>)[result.outcome];
  return {
    deployment: result.deployment,
    outcome: result.outcome,
    ok: o?.ok ?? false,
    retryable: o?.retry ?? false,
    message: result.message,
    action: ctx.action,
    trigger: triggerSummary(ctx.trigger),
    requestId: ctx.requestId,
    correlationId: ctx.trigger.id,
    coordinatorState: result.coordinatorState,
    evidence: result.evidence,
    manifestHash: result.manifestHash,
    latestManifestHash: result.latestManifestHash,
    drift: result.drift,
    recoverSent: result.recoverSent,
    force: result.force,
    dryRun: result.dryRun,
    kmsDecrypts: result.kmsDecrypts,
    meshCa: result.meshCa,
    staleWorkloads: result.staleWorkloads,
    restarts: restartSummary(result),
    staleMinutes: facts.staleMinutes,
    peers: facts.peers,
    guard: facts.guard,
    steps: result.steps.map((s) => ({ step: s.step, ms: Math.round(s.ms), ...(s.detail ? { detail: s.detail } : {}) })),
    durationMs: Math.round(result.durationMs),
  };
}

/**
 * One audit record per reconcile: trigger, caller, KMS context and request IDs, evidence,
 * Recover result, restarts. The result event carries the same requestId and correlationId.
 */
function auditRecord(result: ReconcileResult, ctx: ReportContext, facts: RunFacts): Record<string, unknown> {
  const requests = facts.awsRequests ?? [];
  return {
    schema: AUDIT_SCHEMA,
    requestId: ctx.requestId,
    correlationId: ctx.trigger.id,
    deployment: result.deployment,
    action: ctx.action,
    trigger: triggerSummary(ctx.trigger),
    caller: callerSummary(ctx.trigger.caller),
    force: result.force,
    dryRun: result.dryRun,
    guard: facts.guard,
    guardBypassed: facts.guardBypassed,
    outcome: result.outcome,
    message: result.message,
    coordinatorState: result.coordinatorState,
    evidence: result.evidence,
    manifestHash: result.manifestHash,
    latestManifestHash: result.latestManifestHash,
    drift: result.drift,
    kms: {
      decrypts: result.kmsDecrypts,
      keyId: facts.kmsKeyId,
      encryptionContext: result.kmsEncryptionContext,
      requests: requestsOf(requests, 'kms'),
    },
    secretsManager: { requests: requestsOf(requests, 'secretsmanager') },
    recover: {
      sent: result.recoverSent,
      force: result.force,
      attemptId: result.recoverAttemptId,
      meshCa: result.meshCa,
    },
    restarts: restartSummary(result, true),
    resultEvent: detailTypeFor(result),
    durationMs: Math.round(result.durationMs),
  };
}

export interface PublishOptions {
  client: EventBridgeClient;
  busName: string;
  source: string;
  /** Gives up after this long (retries included). */
  timeoutMs: number;
}

export interface PublishedEvents {
  ids: string[];
  /** Why an entry was refused (logged by the caller; the audit log record is still written). */
  errors: string[];
}

/** Puts the result event, plus `Coordinator Manifest Drift` when the manifests differ. */
async function publishResult(
  opts: PublishOptions,
  result: ReconcileResult,
  ctx: ReportContext,
  facts: RunFacts,
): Promise<PublishedEvents> {
  const detail = resultDetail(result, ctx, facts);
  const entries = [
    {
      Source: opts.source,
      DetailType: detailTypeFor(result),
      Detail: JSON.stringify(detail),
      EventBusName: opts.busName,
      Resources: [],
    },
  ];
  if (result.drift) {
    entries.push({
      Source: opts.source,
      DetailType: EVENTS.resultDetailTypes.drift,
      EventBusName: opts.busName,
      Resources: [],
      Detail: JSON.stringify({
        deployment: result.deployment,
        manifestHash: result.manifestHash,
        latestManifestHash: result.latestManifestHash,
        requestId: ctx.requestId,
        correlationId: ctx.trigger.id,
        action:
          'the Coordinator serves another manifest than the enrolled bundle: re-enroll with `contrast-autorecover enroll` after `contrast set`',
      }),
    });
  }
  const out = await withTimeout(
    (abortSignal) => opts.client.send(new PutEventsCommand({ Entries: entries }), { abortSignal }),
    opts.timeoutMs,
    `EventBridge did not answer within ${opts.timeoutMs} ms`,
  );
  const ids: string[] = [];
  const errors: string[] = [];
  (out.Entries ?? []).forEach((e, i) => {
    if (e.EventId) ids.push(e.EventId);
    else errors.push(`${entries[i]?.DetailType}: ${e.ErrorCode ?? 'error'} ${e.ErrorMessage ?? ''}`.trim());
  });
  return { ids, errors };
}

/** A result for a reconcile that did not run (invalid event, lease held, paused, lock table down). */
export function emptyResult(
  deployment: string,
  outcome: Outcome,
  message: string,
  options: ReconcileOptions = {},
): ReconcileResult {
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

/**
 * Runs a call with an abort signal and stops waiting after `ms` even if the call ignores the
 * signal (the SDK checks it between attempts).
 */
async function withTimeout<T>(call: (signal: AbortSignal) => Promise<T>, ms: number, message: string): Promise<T> {
  const abort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        abort.abort();
        reject(new Error(message));
      },
      Math.max(0, ms),
    );
  });
  try {
    return await Promise.race([call(abort.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Step 7: the audit record (first, synchronously), metrics, trace annotations, then the result
 * event within what is left of its budget.
 */
export async function reportResult(
  rt: Runtime,
  result: ReconcileResult,
  ctx: ReportContext,
  facts: RunFacts = {},
): Promise<void> {
  const { logger, metrics, trace } = rt.telemetry;
  const ok = isSuccess(result.outcome);
  const line = {
    deployment: result.deployment,
    outcome: result.outcome,
    detail: result.message,
    recoverSent: result.recoverSent,
    durationMs: Math.round(result.durationMs),
  };
  if (ok) logger.info('reconcile finished', line);
  else logger.warn('reconcile failed', { ...line, retryable: isRetryable(result.outcome) });
  logger.info(OPERATIONS.logMessages.audit, { audit: auditRecord(result, ctx, facts) });
  // The mark goes out beside the result event; if it is lost, the next holder writes a second record.
  const marked = facts.markReported?.().catch((err: unknown) =>
    logger.error('could not mark the Recover attempt as audited; the next reconcile audits it again', {
      deployment: result.deployment,
      error: errorMessage(err),
    }),
  );
  metrics.publish(result.deployment, (m) => {
    m.count(METRIC.attempts);
    m.count(METRIC.failures, ok ? 0 : 1);
    m.count(METRIC.outcome(result.outcome));
    if (result.drift !== undefined) m.count(METRIC.drift, result.drift ? 1 : 0);
    if (facts.staleMinutes !== undefined)
      m.value(METRIC.staleMinutes, Math.round(facts.staleMinutes * 10) / 10, 'None');
    if (result.restarts)
      m.count(
        METRIC.workloadsRestarted,
        result.restarts.results.filter((w) => w.status === 'restarted' || w.status === 'deleted').length,
      );
    if (result.staleWorkloads !== undefined) m.count(METRIC.staleWorkloads, result.staleWorkloads);
    if (result.meshCaKeysSeen !== undefined) m.count(METRIC.meshCaKeysSeen, result.meshCaKeysSeen);
    m.ms(METRIC.reconcileDuration, result.durationMs);
    for (const s of result.steps) m.ms(METRIC.stepDuration(s.step), s.ms);
  });
  trace.annotate('deployment', result.deployment);
  trace.annotate('outcome', result.outcome);
  trace.annotate('trigger', ctx.trigger.kind);
  trace.annotate('recoverSent', result.recoverSent);
  trace.annotate('kmsDecrypts', result.kmsDecrypts);

  const timeoutMs = Math.min(
    rt.budgets.resultEventMs,
    ctx.reportBy === undefined ? Infinity : ctx.reportBy - Date.now(),
  );
  try {
    const published = await publishResult(
      { client: rt.clients.events, busName: rt.config.eventBusName, source: rt.config.resultEventSource, timeoutMs },
      result,
      ctx,
      facts,
    );
    for (const e of published.errors)
      logger.error('result event refused by EventBridge', { deployment: result.deployment, error: e });
    if (published.ids.length > 0)
      logger.info('result event put', {
        deployment: result.deployment,
        requestId: ctx.requestId,
        eventIds: published.ids,
      });
  } catch (err) {
    logger.error('result event could not be put; the audit record above still stands', {
      deployment: result.deployment,
      error: errorMessage(err),
    });
  }
  await marked;
}

/**
 * The audit record of a Recover attempt whose invocation died after recording its intent
 * (killed, timed out, out of memory): written by the next invocation that holds the lease,
 * marked `interrupted` and naming both invocations. What the attempt did after its intent is
 * unknown — the Recover may have been sent — so it says so; the KMS encryption context ties it
 * to the CloudTrail Decrypt before it.
 */
function interruptedAttemptAudit(
  deployment: string,
  attempt: RecoverAttempt,
  ctx: Pick<ReportContext, 'requestId'>,
): Record<string, unknown> {
  return {
    schema: AUDIT_SCHEMA,
    interrupted: true,
    requestId: attempt.requestId,
    correlationId: attempt.trigger?.id,
    recordedBy: ctx.requestId,
    deployment,
    action: 'recover-attempt',
    trigger: attempt.trigger,
    force: attempt.force,
    outcome: 'unknown',
    message:
      attempt.status === 'pending'
        ? `the invocation${attempt.requestId ? ` ${attempt.requestId}` : ''} ended after recording its recovery intent at ${new Date(attempt.at).toISOString()} (before its KMS Decrypt) and before recording Recover's answer; the Decrypt and the Recover may have happened — the crash-loop guard counts it, and this reconcile finishes what it left`
        : `the invocation${attempt.requestId ? ` ${attempt.requestId}` : ''} ended after its Recover attempt of ${new Date(attempt.at).toISOString()} ended (${attempt.status}) and before writing its own audit record; this reconcile finishes what it left`,
    kms: { encryptionContext: attempt.kmsEncryptionContext },
    recover: {
      attemptId: attempt.id,
      intentAt: new Date(attempt.at).toISOString(),
      status: attempt.status === 'pending' ? 'interrupted' : attempt.status,
      sent: attempt.status === 'pending' ? 'unknown' : attempt.status !== 'not-sent',
      force: attempt.force,
    },
  };
}

/** Logs the interrupted attempt's audit record (a log line: it never waits on the network). */
export function logInterruptedAttempt(
  rt: Runtime,
  deployment: string,
  attempt: RecoverAttempt,
  ctx: Pick<ReportContext, 'requestId'>,
): void {
  rt.telemetry.logger.warn(OPERATIONS.logMessages.audit, { audit: interruptedAttemptAudit(deployment, attempt, ctx) });
}
