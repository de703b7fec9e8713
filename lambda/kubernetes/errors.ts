/** Errors of the Kubernetes side. Messages name the request and what to do; never a token. */

export class KubeApiError extends Error {
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
    super(`${method} ${path}: ${status ? `${status} ${reason}` : reason}: ${apiMessage}`, options);
    this.name = 'KubeApiError';
  }

  /** Whether the same request may succeed later (conflict, throttling, server or network trouble). */
  get retryable(): boolean {
    return this.status === 0 || this.status === 409 || this.status === 429 || this.status >= 500;
  }
}

/** Short "403 Forbidden: <message>" for per-workload results. */
export function describeApiError(err: unknown): string {
  if (err instanceof KubeApiError) {
    return err.status ? `${err.status} ${err.reason}: ${err.apiMessage}` : `${err.reason}: ${err.apiMessage}`;
  }
  return err instanceof Error ? err.message : String(err);
}
