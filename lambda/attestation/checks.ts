/**
 * A record of every check a verification ran, for the operator command and audit records.
 * Verifiers throw AttestationError on the first failure; the log keeps what passed before
 * it and what could not be evaluated (e.g. TDX TCB status without collateral).
 */
import { AttestationError } from '../errors.ts';

export type CheckStatus = 'pass' | 'fail' | 'not-evaluated';

export interface CheckResult {
  check: string;
  status: CheckStatus;
  detail: string;
}

export class CheckLog {
  readonly results: CheckResult[] = [];

  pass(check: string, detail = ''): void {
    this.results.push({ check, status: 'pass', detail });
  }

  notEvaluated(check: string, reason: string): void {
    this.results.push({ check, status: 'not-evaluated', detail: reason });
  }

  fail(check: string, detail: string): void {
    this.results.push({ check, status: 'fail', detail });
  }

  /** Runs `fn`; records its AttestationError as a failure of its check and rethrows. */
  record<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof AttestationError) this.fail(err.check, err.message);
      throw err;
    }
  }
}

/** A no-op sink for the production path, which only needs the first failure. */
export const NO_LOG = {
  pass(): void {},
  notEvaluated(): void {},
  fail(): void {},
};

export type CheckSink = Pick<CheckLog, 'pass' | 'notEvaluated' | 'fail'>;
