import type { Outcome } from './outcomes.ts';

/**
 * Every failure the service can name carries the outcome it maps to and a message that
 * says what failed and what to do next. Messages never contain secret material: callers
 * pass only non-secret facts (sizes, names, hashes, public keys).
 */
export class RecoveryError extends Error {
  readonly outcome: Outcome;

  constructor(outcome: Outcome, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.outcome = outcome;
  }
}

/**
 * Input from a file, a secret or an event is malformed or refused. The outcome says whose input
 * it is, named at every use: the bundle or enroll's workspace `bundle-invalid`, a setting
 * `config-invalid`, an event or the operator's request `event-invalid`.
 */
export class InputError extends RecoveryError {
  constructor(message: string, outcome: Outcome, options?: { cause?: unknown }) {
    super(outcome, message, options);
  }
}

/** The Coordinator's evidence was refused; the seed was not sent. */
export class AttestationError extends RecoveryError {
  /** Name of the failed check, e.g. `binding` or `snp.measurement`. */
  readonly check: string;

  constructor(check: string, message: string, options?: { cause?: unknown }) {
    super('attestation-failed', message, options);
    this.check = check;
  }
}

/** The Coordinator or an AWS dependency could not be reached within its deadline. */
export class UnreachableError extends RecoveryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('unreachable', message, options);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
