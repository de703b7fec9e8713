/**
 * The Lambda entry: event → trigger → per deployment (lease, pause switch, crash-loop guard)
 * → reconcile → result event, metrics, audit record. Thin on purpose; its parts:
 *   runtime.ts           what a container builds once (configuration, clients, stores, telemetry)
 *   events.ts            trigger schemas
 *   deployment-run.ts    lease and follow-ups per deployment
 *   guard.ts             pause switch, crash-loop guard, history
 *   report.ts            result event, metrics, audit record
 *   drill.ts, collateral-refresh.ts   the scheduled extras
 *
 * - Every invocation ends in time: budgets from getRemainingTimeInMillis() (deadline.ts) give
 *   each deployment a step deadline and keep time back for its outcome and audit record.
 * - Deployments run DEPLOYMENT_CONCURRENCY at a time (lambda/shared/budgets.ts), each under
 *   its own lease, with its own logger keys and trace subsegment.
 * - Transient outcomes throw (after reporting) so Lambda/EventBridge retry the invocation;
 *   permanent ones return a failure result. A direct invocation always returns its result:
 *   its caller is waiting for it and Lambda does not retry synchronous calls.
 * - Production verifier only. Tests inject theirs through createHandler(), in code.
 */
import type { Context } from 'aws-lambda';
import pMap from 'p-map';
import { OPERATIONS } from '../shared/contract.ts';
import type { ReconcileResult } from '../reconcile/types.ts';
import { errorMessage, RecoveryError } from '../shared/errors.ts';
import { DEPLOYMENT_CONCURRENCY } from '../shared/budgets.ts';
import { isRetryable, isSuccess, type Outcome } from '../shared/outcomes.ts';
import type { CollateralRefreshReport } from './collateral-refresh.ts';
import { ConfigError, findDeployment } from './config.ts';
import { runDeadlines } from './deadline.ts';
import { runDeployment } from './deployment-run.ts';
import { runDrills, type DrillResult } from './drill.ts';
import { deploymentsOf, EventInvalidError, parseTrigger, type InvocationContext, type Trigger } from './events.ts';
import { isPauseSwitchAction, type OperatorState, type PauseSwitchResult } from '../shared/operator-answers.ts';
import { operatorState, switchPause } from './pause-switch.ts';
import { emptyResult, reportContext, reportResult } from './report.ts';
import { createTelemetry, loadRuntime, type HandlerOverrides, type Runtime } from './runtime.ts';

export type { HandlerOverrides } from './runtime.ts';

export interface HandlerResponse {
  requestId: string;
  correlationId: string;
  trigger: Trigger['kind'] | 'invalid';
  /** The first non-ok outcome, else the first outcome. */
  outcome: Outcome;
  results: ReconcileResult[];
  drills?: DrillResult[];
  collateral?: CollateralRefreshReport[];
  /** pause/resume: the switch before and after (pause-switch.ts). */
  pauseSwitch?: PauseSwitchResult;
  /** status and resume: pause switches and the collateral cache's expiry. */
  operator?: OperatorState;
}

/** Thrown after reporting a transient outcome, so the async invocation is retried. */
export class TransientOutcomeError extends RecoveryError {}

type LambdaContext = Pick<Context, 'awsRequestId' | 'getRemainingTimeInMillis'> &
  Partial<Pick<Context, 'identity' | 'clientContext' | 'functionName' | 'invokedFunctionArn'>>;

/** Only a configured name may become a metric dimension (no cardinality from senders). */
function invalidDeploymentName(rt: Runtime, event: unknown): string {
  const e = (event ?? {}) as Record<string, unknown>;
  const detail = (e.detail ?? {}) as Record<string, unknown>;
  const named =
    typeof e.deployment === 'string'
      ? e.deployment
      : typeof detail.deployment === 'string'
        ? detail.deployment
        : undefined;
  return named && findDeployment(rt.config, named) ? named : 'unknown';
}

/** Kept back after the last report for returning the response. */
const RETURN_MS = 250;

/** An event that is not a trigger: reported as `event-invalid`, never retried. */
async function rejectEvent(
  rt: Runtime,
  event: unknown,
  err: EventInvalidError,
  requestId: string,
  reportBy: number,
): Promise<HandlerResponse> {
  const result = emptyResult(invalidDeploymentName(rt, event), 'event-invalid', err.message);
  const invalid: Trigger = {
    kind: 'direct',
    id: requestId,
    time: new Date(rt.now()).toISOString(),
    caller: { kind: 'direct-invoke', requestId },
    action: 'status',
    deployment: result.deployment,
    force: false,
    reason: 'invalid event',
  };
  await reportResult(rt, result, reportContext({ requestId, trigger: invalid, action: 'invalid', reportBy }));
  return { requestId, correlationId: requestId, trigger: 'invalid', outcome: 'event-invalid', results: [result] };
}

/**
 * The scheduled extras, one deployment at a time while its worst case still fits before
 * `until` (each call is bounded by the AWS budgets, so a drill's Decrypt always gets its
 * audit record); the rest waits for the next scheduled run, and the log says so.
 */
async function scheduledExtras(
  rt: Runtime,
  trigger: Trigger,
  requestId: string,
  until: number,
): Promise<Pick<HandlerResponse, 'drills' | 'collateral'>> {
  const out: Pick<HandlerResponse, 'drills' | 'collateral'> = {};
  const perDeploymentMs = 2 * rt.stepBudgets.awsCallMs; // GetSecretValue + Decrypt, or + PutSecretValue
  const skipped = (what: string, rest: string[]) =>
    rt.telemetry.logger.warn(`${what} skipped: not enough invocation time left; the next scheduled run does it`, {
      deployments: rest,
    });
  const subset = (d: Runtime['config']['deployments'][number]): Runtime => ({
    ...rt,
    config: { ...rt.config, deployments: [d] },
  });
  // A backstop wave's extras cover its own deployments only (the other waves do theirs).
  const deployments = rt.config.deployments.filter((d) => deploymentsOf(trigger).includes(d.name));
  if (rt.config.decryptDrill) out.drills = [];
  // Only a tick of the drill's own rule drills (drill.ts).
  if (rt.config.decryptDrill && trigger.kind === 'schedule' && trigger.drill) {
    out.drills = [];
    for (const [i, d] of deployments.entries()) {
      if (until - Date.now() < perDeploymentMs) {
        skipped(
          'decrypt drill',
          deployments.slice(i).map((x) => x.name),
        );
        break;
      }
      out.drills.push(...(await runDrills(subset(d), trigger, requestId)));
    }
  }
  if (rt.config.collateralMirrorUrl) {
    const { refreshAllCollateral } = await import('./collateral-refresh.ts');
    out.collateral = [];
    for (const [i, d] of deployments.entries()) {
      if (until - Date.now() < perDeploymentMs) {
        skipped(
          'collateral refresh',
          deployments.slice(i).map((x) => x.name),
        );
        break;
      }
      out.collateral.push(...(await refreshAllCollateral(subset(d), rt.config.collateralMirrorUrl)));
    }
  }
  return out;
}

export function createHandler(overrides: HandlerOverrides = {}) {
  const telemetry = createTelemetry(overrides);
  const { logger, trace } = telemetry;
  // Built once per container (the deployments read from Parameter Store with it); a failed build is retried.
  let runtime: Promise<Runtime> | undefined;

  return async function handler(event: unknown, context: LambdaContext): Promise<HandlerResponse> {
    // Everything below is planned against the function's own limit.
    const end = Date.now() + context.getRemainingTimeInMillis() - RETURN_MS;
    logger.resetKeys();
    logger.addContext(context as Context);
    logger.setCorrelationId(context.awsRequestId);
    let rt: Runtime;
    try {
      rt = await (runtime ??= loadRuntime(overrides, telemetry));
      await rt.ready;
    } catch (err) {
      runtime = undefined;
      // A configuration error, never a transient one: it fails every invocation the same way
      // (the FunctionErrors alarm) until the variable is fixed; triggers wait in the on-failure queue.
      logger.error('the function is misconfigured; fix the variable and redeploy', {
        error: errorMessage(err),
        ...(err instanceof ConfigError ? { variable: err.variable } : {}),
      });
      throw err;
    }

    let trigger: Trigger;
    try {
      trigger = parseTrigger(event, rt.config, context as InvocationContext, rt.now());
    } catch (err) {
      if (!(err instanceof EventInvalidError)) throw err;
      return rejectEvent(rt, event, err, context.awsRequestId, end);
    }
    logger.setCorrelationId(trigger.id);
    logger.info(OPERATIONS.logMessages.triggerAccepted, {
      trigger: { kind: trigger.kind, id: trigger.id, time: trigger.time },
      deployments: deploymentsOf(trigger),
    });
    if (trigger.receivedTime !== undefined) {
      logger.warn('the event time is outside the accepted window; the time of receipt is used instead', {
        receivedTime: trigger.receivedTime,
        time: trigger.time,
      });
    }

    // pause/resume flip the operator's switch (audited there); resume then reports the status recovery resumes from.
    let pauseSwitch: PauseSwitchResult | undefined;
    if (trigger.kind === 'direct' && isPauseSwitchAction(trigger.action)) {
      pauseSwitch = await switchPause(rt, trigger, context.awsRequestId);
      if (trigger.action === 'pause') {
        const p = pauseSwitch.after!;
        const result = emptyResult(
          trigger.deployment,
          'paused',
          `automatic recovery of ${trigger.deployment} is paused by ${p.by} since ${p.since}: ${p.reason}; resume with \`contrast-autorecover resume\``,
        );
        return {
          requestId: context.awsRequestId,
          correlationId: trigger.id,
          trigger: 'direct',
          outcome: 'paused',
          results: [result],
          pauseSwitch,
        };
      }
      trigger = { ...trigger, action: 'status' };
    }

    const names = deploymentsOf(trigger);
    const results = await trace.span('## handler', async () => {
      trace.annotate('correlationId', trigger.id);
      // DEPLOYMENT_CONCURRENCY at a time, started in configuration order; results in that order.
      // runDeployment turns every failure into a reported result, so no lane stops the others.
      const runs = await pMap(
        names,
        (name, i) => {
          const deadlines = runDeadlines(end, i, names.length, rt.budgets.reportReserveMs, DEPLOYMENT_CONCURRENCY);
          const invocation = {
            requestId: context.awsRequestId,
            remainingMs: () => context.getRemainingTimeInMillis(),
            deadlines,
          };
          return runDeployment(rt, findDeployment(rt.config, name)!, trigger, invocation);
        },
        { concurrency: DEPLOYMENT_CONCURRENCY },
      );
      return runs.flat();
    });
    const response: HandlerResponse = {
      requestId: context.awsRequestId,
      correlationId: trigger.id,
      trigger: trigger.kind,
      outcome: (results.find((r) => !isSuccess(r.outcome)) ?? results[0]!).outcome,
      results,
    };
    if (trigger.kind === 'schedule')
      Object.assign(response, await scheduledExtras(rt, trigger, context.awsRequestId, end));
    if (pauseSwitch) response.pauseSwitch = pauseSwitch;
    if (trigger.kind === 'direct' && trigger.action === 'status') {
      const d = findDeployment(rt.config, trigger.deployment)!;
      response.operator = await operatorState(rt, d.name, d.secretId);
    }

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
