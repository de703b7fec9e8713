/**
 * The invocation's clock: when each deployment's reconcile must stop starting steps, and when
 * its outcome and audit record must be written, so that every invocation reports before the
 * function's limit (budgets in lambda/shared/budgets.ts, README "Time budgets").
 */
import { UnreachableError } from '../shared/errors.ts';
import type { ProgressEvent } from '../reconcile/reconcile.ts';
import type { StepTiming } from '../reconcile/types.ts';

/** Time plan of one deployment's run within an invocation (epoch ms). */
export interface RunDeadlines {
  /** No reconcile step starts that could end after this. */
  steps: number;
  /** The run stops waiting for a step that overruns (a step without a hard bound) here. */
  cutoff: number;
  /** The outcome and audit record are written, and the result event put or given up, by then. */
  reportBy: number;
}

/**
 * Deployment i (0-based, in start order) of n in an invocation that ends at `end`, run at most
 * `concurrency` at a time: the deployments still to come keep `reserveMs` per wave of
 * `concurrency` for their reports, so slow first ones cannot starve the last of their audit
 * records. Deployment i + concurrency starts once i + 1 deployments ended, which all did by
 * reportBy(i) (reportBy grows with i), and its own reportBy is reportBy(i) + reserveMs: it
 * always has its reserve left to report. With concurrency 1 each deployment keeps its own.
 */
export function runDeadlines(end: number, i: number, n: number, reserveMs: number, concurrency = 1): RunDeadlines {
  const reportBy = end - reserveMs * Math.floor((n - i - 1) / Math.max(1, concurrency));
  const steps = reportBy - reserveMs;
  return { steps, cutoff: steps + Math.floor(reserveMs / 3), reportBy };
}

/** A wait given up at the invocation's deadline (the work itself may still be under way). */
export class DeadlineError extends UnreachableError {}

/** Waits for `promise` until `at` (epoch ms); then rejects with DeadlineError naming `what`. */
export async function before<T>(promise: Promise<T>, at: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new DeadlineError(`${what} did not finish before the invocation's deadline`)),
      Math.max(0, at - Date.now()),
    );
  });
  promise.catch(() => {}); // a rejection after the deadline is nobody's to handle
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Follows a reconcile's progress, so a run cut off at its deadline can say what it did. */
export class StepTracker {
  readonly steps: StepTiming[] = [];
  current: StepTiming['step'] | undefined;
  private readonly started = new Set<StepTiming['step']>();
  private readonly finished = new Set<StepTiming['step']>();

  on(e: ProgressEvent): void {
    if (e.status === 'start') {
      this.current = e.step;
      this.started.add(e.step);
      return;
    }
    this.current = undefined;
    if (e.status === 'done') this.finished.add(e.step);
    this.steps.push({ step: e.step, ms: e.ms ?? 0, ...(e.status === 'failed' ? { detail: 'failed' } : {}) });
  }

  wasStarted(step: StepTiming['step']): boolean {
    return this.started.has(step);
  }

  wasFinished(step: StepTiming['step']): boolean {
    return this.finished.has(step);
  }
}
