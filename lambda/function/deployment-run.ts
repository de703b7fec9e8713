/**
 * All reconciles one trigger causes for one deployment: take the deployment's lease (one
 * reconcile at a time; never a cached result), run the guarded reconcile, report it while the
 * lease is released, and run the follow-ups that triggers arriving meanwhile asked for.
 *
 * Time: the reconcile gets a deadline — the invocation's step deadline or its lease's end,
 * whichever comes first — and starts no step that could outlive it; a step without a hard
 * bound (Kubernetes restarts) is cut off. The outcome and audit record are written by
 * `reportBy`, before the function's limit (deadline.ts).
 */
import type { RecoveryBundle } from '../keys/bundle.ts';
import type { ReconcileOptions, ReconcileResult } from '../reconcile/types.ts';
import { errorMessage } from '../shared/errors.ts';
import { minLeaseSeconds } from '../shared/budgets.ts';
import type { DeploymentConfig } from './config.ts';
import { before, DeadlineError, StepTracker, type RunDeadlines } from './deadline.ts';
import type { Trigger } from './events.ts';
import { guardedReconcile, kmsKeyIdOf } from './guard.ts';
import type { AcquireResult, Lease } from './lease.ts';
import {
  emptyResult,
  recoverOutcomeUnknown,
  reportContext,
  reportResult,
  type ReportContext,
  type RunReport,
} from './report.ts';
import { collectRequestIds } from './request-ids.ts';
import type { Runtime } from './runtime.ts';

/** Follow-up reconciles one holder runs at most before it lets the lease go. */
const MAX_FOLLOW_UPS = 2;

export interface InvocationInfo {
  requestId: string;
  remainingMs(): number;
  /** This deployment's time plan within the invocation. */
  deadlines: RunDeadlines;
}

export async function runDeployment(
  shared: Runtime,
  d: DeploymentConfig,
  trigger: Trigger,
  invocation: InvocationInfo,
): Promise<ReconcileResult[]> {
  // Deployments may run side by side (handler.ts): each gets its own logger, keyed by its name.
  const logger = shared.telemetry.logger.createChild();
  logger.appendKeys({ deployment: d.name });
  const rt: Runtime = { ...shared, telemetry: { ...shared.telemetry, logger } };
  const { deadlines } = invocation;
  const action = trigger.kind === 'direct' ? trigger.action : 'reconcile';
  const options: ReconcileOptions = {
    force: trigger.kind === 'direct' && trigger.force,
    dryRun: action === 'dry-run',
    statusOnly: action === 'status',
  };
  const ctx = reportContext({ requestId: invocation.requestId, trigger, action, reportBy: deadlines.reportBy });
  const results: ReconcileResult[] = [];
  const lockCall = <T>(p: Promise<T>, what: string) => before(p, deadlines.cutoff, `lock table ${what}`);
  // Status is read-only: no lease, no guard, never a KMS call.
  if (options.statusOnly) {
    const { result, facts } = await bounded(rt, d, trigger, options, ctx, deadlines, deadlines.steps);
    await reportResult(rt, result, ctx, facts);
    results.push(result);
    return results;
  }
  // Never shorter than one recovery may take (configuration refuses a shorter LEASE_SECONDS).
  const leaseSeconds =
    rt.config.leaseSeconds ??
    Math.max(
      Math.ceil(invocation.remainingMs() / 1000) + 60,
      minLeaseSeconds(rt.stepBudgets, rt.budgets.leaseMarginMs),
    );
  let acquired: AcquireResult;
  try {
    acquired = await lockCall(rt.lock.acquire(d.name, invocation.requestId, leaseSeconds), 'lease');
    // Held: ask the holder for one more reconcile, since it may have probed before this
    // trigger's restart. If the lease vanished meanwhile, try to take it once more.
    if (!acquired.acquired && !(await lockCall(rt.lock.requestFollowUp(d.name), 'follow-up'))) {
      acquired = await lockCall(rt.lock.acquire(d.name, invocation.requestId, leaseSeconds), 'lease');
    }
  } catch (err) {
    // Lock table unreachable: transient, retried.
    const result = emptyResult(
      d.name,
      'unreachable',
      `could not coordinate the reconcile (${errorMessage(err)}); it is retried`,
      options,
    );
    await reportResult(rt, result, ctx);
    results.push(result);
    return results;
  }
  if (!acquired.acquired) {
    const holder = acquired.holder
      ? ` (request ${acquired.holder.owner}, lease until ${new Date(acquired.holder.expiresAt * 1000).toISOString()})`
      : '';
    const result = emptyResult(
      d.name,
      'in-progress',
      `another reconcile of ${d.name} holds the lock${holder}; it reconciles once more when done (follow-up recorded)`,
      options,
    );
    await reportResult(rt, result, ctx);
    results.push(result);
    return results;
  }
  const lease = acquired.lease;
  const stepDeadline = Math.min(deadlines.steps, leaseEnd(rt, lease));
  let reportCtx = ctx;
  let { result, facts } = await bounded(rt, d, trigger, options, ctx, deadlines, stepDeadline);
  // Let go, unless a trigger arrived meanwhile: then reconcile again (never with Force).
  // The result is reported while the lease is released; neither needs the other.
  for (let followUps = 0; ; followUps++) {
    const last = followUps >= MAX_FOLLOW_UPS;
    // A Recover whose answer was lost may still be under way at the Coordinator: the lease
    // stays until it expires, so no other reconcile sends a second Recover meanwhile.
    const keep = recoverOutcomeUnknown(result);
    if (keep)
      logger.warn('Recover was sent but its answer was lost; the lease is kept until it expires', {
        expiresAt: lease.expiresAt,
      });
    const [released] = await Promise.all([
      keep
        ? true
        : before(rt.lock.release(lease, last), deadlines.reportBy, 'releasing the lease').catch((err: unknown) => {
            // The lease then expires on its own; the next reconcile waits at most that long.
            logger.error('could not release the lease; it expires by itself', {
              error: errorMessage(err),
              expiresAt: lease.expiresAt,
            });
            return true;
          }),
      reportResult(rt, result, reportCtx, facts),
    ]);
    results.push(result);
    if (released || last || !(await lockCall(rt.lock.takeFollowUp(lease), 'follow-up').catch(() => false))) break;
    logger.info('follow-up reconcile requested by a trigger that found the lease held', { deployment: d.name });
    reportCtx = reportContext({
      requestId: invocation.requestId,
      trigger,
      action: 'reconcile',
      reportBy: deadlines.reportBy,
    });
    ({ result, facts } = await bounded(rt, d, trigger, {}, reportCtx, deadlines, stepDeadline));
  }
  return results;
}

/** Epoch ms (this container's clock) at which the lease, less the margin, ends. */
function leaseEnd(rt: Runtime, lease: Lease): number {
  return Date.now() + (lease.expiresAt * 1000 - rt.now()) - rt.budgets.leaseMarginMs;
}

/**
 * One guarded reconcile in a trace span, with its time (the step budgets and this run's
 * deadline), its AWS request IDs collected for the audit record, and cut off at the run's
 * cutoff if a step overruns. AWS failures outside reconcile become `unreachable`.
 */
async function bounded(
  rt: Runtime,
  d: DeploymentConfig,
  trigger: Trigger,
  options: ReconcileOptions,
  ctx: ReportContext,
  deadlines: RunDeadlines,
  stepDeadline: number,
): Promise<RunReport> {
  const tracker = new StepTracker();
  // Cut off at the cutoff, the run is cancelled, not only left: its steps stop, and its
  // Kubernetes requests with them (a retry in this container must not race it).
  const cancel = new AbortController();
  const time = { budgets: rt.stepBudgets, deadline: stepDeadline, signal: cancel.signal };
  let bundle: Promise<RecoveryBundle> | undefined;
  const { log, done } = collectRequestIds(() =>
    rt.telemetry.trace.span(`### reconcile ${d.name}`, () => {
      // Read here, inside the span that collects its request ID, while the guard reads its snapshot.
      bundle = rt.bundles.load(d.secretId);
      bundle.catch(() => {}); // a failure surfaces through reconcile's step 1
      return guardedReconcile(rt, d, trigger, options, ctx, { bundle, time, progress: (e) => tracker.on(e) });
    }),
  );
  try {
    const { result, facts } = await before(done, deadlines.cutoff, `the reconcile of ${d.name}`);
    return { result, facts: { ...facts, awsRequests: log } };
  } catch (err) {
    if (err instanceof DeadlineError) {
      cancel.abort(err);
      // A reconcile cut off after its step 1 still names the bundle's KMS key (if the read has ended).
      const kmsKeyId = bundle && tracker.wasStarted('load-bundle') ? await readNow(kmsKeyIdOf(bundle)) : undefined;
      return {
        result: cutOff(d.name, tracker, options),
        facts: { awsRequests: log, ...(kmsKeyId !== undefined ? { kmsKeyId } : {}) },
      };
    }
    return {
      result: emptyResult(
        d.name,
        'unreachable',
        `could not coordinate the reconcile (${errorMessage(err)}); it is retried`,
        options,
      ),
      facts: { awsRequests: log },
    };
  }
}

/** A promise's value if it has settled by now, else undefined: a cut-off never waits for it. */
function readNow<T>(p: Promise<T>): Promise<T | undefined> {
  return Promise.race([p, new Promise<undefined>((resolve) => setImmediate(() => resolve(undefined)))]);
}

/** The result of a reconcile that was still in a step when the invocation's time ran out. */
function cutOff(deployment: string, tracker: StepTracker, options: ReconcileOptions): ReconcileResult {
  const recovered = tracker.wasFinished('recover');
  const during = tracker.current ? `step ${tracker.current}` : 'the guard or between steps';
  const message = recovered
    ? `the Coordinator was recovered, but the invocation's time ran out during ${during}; the next reconcile finishes the workload restarts`
    : `the invocation's time ran out during ${during}; it is retried`;
  const result = emptyResult(deployment, recovered ? 'restart-partial' : 'unreachable', message, options);
  result.kmsDecrypts = tracker.wasStarted('decrypt') ? 1 : 0;
  result.recoverSent = tracker.wasStarted('recover');
  result.steps = [
    ...tracker.steps,
    ...(tracker.current ? [{ step: tracker.current, ms: 0, detail: 'cut off at the deadline' }] : []),
  ];
  return result;
}
