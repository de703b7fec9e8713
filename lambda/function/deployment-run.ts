/**
 * All reconciles one trigger causes for one deployment: take the deployment's lease (one
 * reconcile at a time; never a cached result), run the guarded reconcile, report it while the
 * lease is released, and run the follow-ups that triggers arriving meanwhile asked for.
 */
import type { ReconcileOptions, ReconcileResult } from '../reconcile/types.ts';
import { errorMessage } from '../shared/errors.ts';
import type { DeploymentConfig } from './config.ts';
import type { Trigger } from './events.ts';
import { guardedReconcile } from './guard.ts';
import type { AcquireResult } from './lease.ts';
import { emptyResult, reportResult, type ReportContext } from './report.ts';
import type { Runtime } from './runtime.ts';

/** Follow-up reconciles one holder runs at most before it lets the lease go. */
const MAX_FOLLOW_UPS = 2;

export interface InvocationInfo {
  requestId: string;
  remainingMs(): number;
}

export async function runDeployment(rt: Runtime, d: DeploymentConfig, trigger: Trigger, invocation: InvocationInfo): Promise<ReconcileResult[]> {
  const { logger } = rt.telemetry;
  const action = trigger.kind === 'direct' ? trigger.action : 'reconcile';
  const options: ReconcileOptions = {
    force: trigger.kind === 'direct' && trigger.force,
    dryRun: action === 'dry-run',
    statusOnly: action === 'status',
  };
  const ctx: ReportContext = { requestId: invocation.requestId, trigger, action };
  logger.appendKeys({ deployment: d.name });
  const results: ReconcileResult[] = [];
  try {
    // Status is read-only: no lease, no guard, never a KMS call.
    if (options.statusOnly) {
      const result = await traced(rt, d, () => guardedReconcile(rt, d, trigger, options, ctx), options);
      await reportResult(rt, result, ctx);
      results.push(result);
      return results;
    }
    const leaseSeconds = rt.config.leaseSeconds ?? Math.ceil(invocation.remainingMs() / 1000) + 60;
    let acquired: AcquireResult;
    try {
      acquired = await rt.lock.acquire(d.name, invocation.requestId, leaseSeconds);
      // Held: ask the holder for one more reconcile, since it may have probed before this
      // trigger's restart. If the lease vanished meanwhile, try to take it once more.
      if (!acquired.acquired && !(await rt.lock.requestFollowUp(d.name))) acquired = await rt.lock.acquire(d.name, invocation.requestId, leaseSeconds);
    } catch (err) {
      // Lock table unreachable: transient, retried.
      const result = emptyResult(d.name, 'unreachable', `could not coordinate the reconcile (${errorMessage(err)}); it is retried`, options);
      await reportResult(rt, result, ctx);
      results.push(result);
      return results;
    }
    if (!acquired.acquired) {
      const holder = acquired.holder ? ` (request ${acquired.holder.owner}, lease until ${new Date(acquired.holder.expiresAt * 1000).toISOString()})` : '';
      const result = emptyResult(d.name, 'in-progress', `another reconcile of ${d.name} holds the lock${holder}; it reconciles once more when done (follow-up recorded)`, options);
      await reportResult(rt, result, ctx);
      results.push(result);
      return results;
    }
    const lease = acquired.lease;
    let reportCtx = ctx;
    let result = await traced(rt, d, () => guardedReconcile(rt, d, trigger, options, ctx), options);
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
        reportResult(rt, result, reportCtx),
      ]);
      results.push(result);
      if (released || last || !(await rt.lock.takeFollowUp(lease).catch(() => false))) break;
      logger.info('follow-up reconcile requested by a trigger that found the lease held', { deployment: d.name });
      const followUpCtx: ReportContext = { requestId: invocation.requestId, trigger, action: 'reconcile' };
      reportCtx = followUpCtx;
      result = await traced(rt, d, () => guardedReconcile(rt, d, trigger, {}, followUpCtx), {});
    }
    return results;
  } finally {
    logger.removeKeys(['deployment']);
  }
}

/** One guarded reconcile in a trace span; AWS failures outside reconcile become `unreachable`. */
async function traced(rt: Runtime, d: DeploymentConfig, fn: () => Promise<ReconcileResult>, options: ReconcileOptions): Promise<ReconcileResult> {
  try {
    return await rt.telemetry.trace.span(`### reconcile ${d.name}`, fn);
  } catch (err) {
    return emptyResult(d.name, 'unreachable', `could not coordinate the reconcile (${errorMessage(err)}); it is retried`, options);
  }
}
