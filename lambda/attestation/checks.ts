/**
 * A record of every check a verification ran, for the operator command and audit records.
 * Signatures and chains stop at their first failure (nothing after them means anything);
 * claims are judged all at once, as go-sev-guest and go-tdx-guest collect them
 * (multierr.Combine), so one refusal names every failed claim with expected and actual value.
 */
import { AttestationError, type RecoveryError } from '../shared/errors.ts';

export type CheckStatus = 'pass' | 'fail' | 'not-evaluated';

export interface CheckResult {
  check: string;
  status: CheckStatus;
  detail: string;
}

/** An error that names the check it belongs to (refused evidence, or collateral out of reach). */
export type CheckError = RecoveryError & { readonly check: string };

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
}

/** A no-op sink for the production path, which only needs the verdict. */
export const NO_LOG = {
  pass(): void {},
  notEvaluated(): void {},
  fail(): void {},
};

export type CheckSink = Pick<CheckLog, 'pass' | 'notEvaluated' | 'fail'>;

export interface ClaimFailure {
  check: string;
  expected: string;
  actual: string;
}

function describeFailure(f: ClaimFailure): string {
  return `expected ${f.expected}, got ${f.actual}`;
}

/** Claims refused: every failure, each with its check, expected and actual value. */
export class ClaimsError extends AttestationError {
  readonly failures: readonly ClaimFailure[];

  constructor(failures: ClaimFailure[], prefix = '') {
    const first = failures[0]!;
    const text = failures.map((f) => `${f.check}: ${describeFailure(f)}`).join('; ');
    super(first.check, `${prefix}${failures.length === 1 ? '' : `${failures.length} claims refused: `}${text}`);
    this.failures = failures;
  }
}

/** The verdicts of one set of claims (one reference entry, or the report's own consistency). */
export class ClaimSet {
  readonly passes: [string, string][] = [];
  readonly failures: ClaimFailure[] = [];

  pass(check: string, detail: string): void {
    this.passes.push([check, detail]);
  }

  fail(check: string, expected: string, actual: string): void {
    this.failures.push({ check, expected, actual });
  }

  /** Judges `ok`: passes with `detail`, or fails with expected and actual. */
  judge(check: string, ok: boolean, expected: string, actual: string, detail = actual): void {
    if (ok) this.pass(check, detail);
    else this.fail(check, expected, actual);
  }

  /** Writes every verdict to the log, each detail prefixed (e.g. with the reference entry). */
  writeTo(log: CheckSink, prefix = ''): void {
    for (const [check, detail] of this.passes) log.pass(check, prefix + detail);
    for (const f of this.failures) log.fail(f.check, prefix + describeFailure(f));
  }

  throwIfFailed(): void {
    if (this.failures.length) throw new ClaimsError(this.failures);
  }
}

/**
 * Contrast accepts the evidence when ANY reference entry accepts it (validators.Any,
 * internal/manifest/validators.go). The matching entry's verdicts are logged; when none
 * matches, every entry's verdicts are logged and thrown, each prefixed with its entry.
 * `base` holds the claims every entry shares (the report's own consistency).
 */
export function judgeReferences<R extends { index: number }>(
  kind: 'snp' | 'tdx',
  refs: readonly R[],
  base: ClaimSet,
  judge: (ref: R) => ClaimSet,
  log: CheckSink = NO_LOG,
): R {
  if (refs.length === 0) {
    const fail = new ClaimSet();
    fail.fail(
      `${kind}.reference-values`,
      `a ReferenceValues.${kind} entry`,
      `none in the manifest, so ${kind === 'snp' ? 'SEV-SNP' : 'TDX'} evidence cannot be accepted`,
    );
    base.writeTo(log);
    fail.writeTo(log);
    throw new ClaimsError([...base.failures, ...fail.failures]);
  }
  const judged = refs.map((ref) => ({ ref, claims: judge(ref) }));
  const match = base.failures.length === 0 ? judged.find((j) => j.claims.failures.length === 0) : undefined;
  base.writeTo(log);
  if (match) {
    match.claims.writeTo(log, refs.length > 1 ? `${kind}[${match.ref.index}]: ` : '');
    return match.ref;
  }
  const failures: ClaimFailure[] = [...base.failures];
  for (const { ref, claims } of judged) {
    const prefix = refs.length > 1 ? `${kind}[${ref.index}]: ` : '';
    claims.writeTo(log, prefix);
    failures.push(...claims.failures.map((f) => ({ ...f, expected: prefix + f.expected })));
  }
  throw new ClaimsError(
    failures.length ? failures : [{ check: `${kind}.reference-values`, expected: 'a matching entry', actual: 'none' }],
  );
}
