/** Errors of the Kubernetes side. Messages name the request and what to do; never a token. */
import { RecoveryError } from '../shared/errors.ts';

/**
 * An answer of the API server other than success, or no answer. Its outcome: 401/403 are
 * `config-invalid` (the function's identity or RBAC is missing: retrying does not help, see
 * infra/k8s/rbac.yaml and the EKS access entry); everything else is `unreachable`.
 */
export class KubeApiError extends RecoveryError {
  constructor(
    readonly status: number,
    /** `reason` of the API's Status body, e.g. `Forbidden`, `Conflict`, or `NetworkError`. */
    readonly reason: string,
    /** The API's own message (Status.message) or the network error text. */
    readonly apiMessage: string,
    readonly method: string,
    readonly path: string,
    /** Retry-After of a 429/503, in milliseconds. */
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(
      status === 401 || status === 403 ? 'config-invalid' : 'unreachable',
      `${method} ${path}: ${status ? `${status} ${reason}` : reason}: ${apiMessage}`,
      options,
    );
  }

  /** Whether the same request may succeed later (conflict, throttling, server or network trouble). */
  get retryable(): boolean {
    return this.status === 0 || this.status === 409 || this.status === 429 || this.status >= 500;
  }
}

/** Which bound of KUBERNETES_LIMITS (lambda/shared/budgets.ts) an answer broke. */
export type KubeLimit = 'response-bytes' | 'list-items' | 'list-pages' | 'list-restarts';

/**
 * The API server sent more than the service reads: an answer too large, a list too long or
 * without end. Not retried (the same request would get the same answer); its outcome is
 * `unreachable` (the caller maps it to `restart-partial` after a Recover), with an audit record.
 */
export class KubeLimitError extends KubeApiError {
  constructor(
    readonly limit: KubeLimit,
    status: number,
    message: string,
    method: string,
    path: string,
  ) {
    super(status, 'LimitExceeded', message, method, path);
  }

  override get retryable(): boolean {
    return false;
  }
}

/**
 * The caller gave the request up (its step missed the invocation's cutoff, deadline.ts): no
 * attempt starts after that, one under way is torn down, and nothing retries it.
 */
export class KubeCancelledError extends KubeApiError {
  constructor(method: string, path: string) {
    super(0, 'Cancelled', 'given up: the step ran out of its time and was cancelled', method, path);
  }

  override get retryable(): boolean {
    return false;
  }
}

/** Short "403 Forbidden: <message>" for per-workload results. */
export function describeApiError(err: unknown): string {
  if (err instanceof KubeApiError) {
    return err.status ? `${err.status} ${err.reason}: ${err.apiMessage}` : `${err.reason}: ${err.apiMessage}`;
  }
  return err instanceof Error ? err.message : String(err);
}
