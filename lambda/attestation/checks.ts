/**
 * A record of every check a verification ran, for the operator command and audit records.
 * Verifiers throw AttestationError on the first failure; the log keeps what passed before
 * it and what could not be evaluated (e.g. TDX TCB status without collateral).
 */
import { AttestationError } from '../shared/errors.ts';

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

/**
 * Several reference-value entries: the first one that matches every claim wins. With one
 * entry its failure is reported as is; with several, each entry's first failure is named.
 */
export function firstMatchingReference<R>(
  kind: 'snp' | 'tdx',
  refs: readonly R[],
  validateEntry: (ref: R, log: CheckSink) => void,
  log: CheckSink = NO_LOG,
): R {
  const errors: AttestationError[] = [];
  for (const ref of refs) {
    try {
      // Log only the checks of the entry that matched (re-run with the log once it did).
      validateEntry(ref, refs.length === 1 ? log : NO_LOG);
      if (refs.length > 1) validateEntry(ref, log);
      return ref;
    } catch (err) {
      if (!(err instanceof AttestationError)) throw err;
      errors.push(err);
    }
  }
  if (errors.length === 1) throw errors[0]!;
  const checks = new Set(errors.map((e) => e.check));
  throw new AttestationError(
    checks.size === 1 ? errors[0]!.check : `${kind}.reference-values`,
    `no ReferenceValues.${kind} entry matches: ${errors.map((e, i) => `[${i}] ${e.message}`).join('; ')}`,
  );
}
