/**
 * Time budgets of every call the service makes, one definition for the function, the CLI and
 * the CDK construct (which enforces the lease minimum at synth time). Dependency-free on
 * purpose, like contract.ts.
 *
 * What a budget bounds, and how:
 * - an AWS SDK call: each attempt ends after `requestTimeoutMs` in total — connecting, waiting
 *   and reading the body (aws-http.ts keeps the timer running through a trickling body) —, at
 *   most `maxAttempts` attempts, with the SDK's standard backoff in between (awsCallMs);
 * - a Coordinator session: the aTLS handshake ends after `handshakeTimeoutMs`, each RPC after
 *   `rpcTimeoutMs` (a gRPC deadline, which also covers connecting);
 * - a Kubernetes API request: each attempt ends after `requestTimeoutMs` in total — connecting,
 *   waiting and reading the body, so a server that trickles a byte at a time cannot stretch it —
 *   with `attempts` per request; what it may send is bounded too (KUBERNETES_LIMITS);
 * - an invocation: every reconcile step starts only when the time it may take fits before the
 *   invocation's deadline and before its lease ends (stepNeedMs); `reportReserveMs` per
 *   deployment is kept back for the outcome, the audit record and the result event.
 */

export interface Budgets {
  aws: { connectionTimeoutMs: number; requestTimeoutMs: number; maxAttempts: number };
  coordinator: { handshakeTimeoutMs: number; rpcTimeoutMs: number };
  kubernetes: { requestTimeoutMs: number; attempts: number };
  /** Kept back at the end of an invocation, per deployment, to report it. */
  reportReserveMs: number;
  /** The result event on the bus gets at most this; the audit record never waits for it. */
  resultEventMs: number;
  /** Clock differences between containers and the lease's whole-second rounding. */
  leaseMarginMs: number;
}

export const BUDGETS: Budgets = {
  aws: { connectionTimeoutMs: 2_000, requestTimeoutMs: 4_000, maxAttempts: 3 },
  coordinator: { handshakeTimeoutMs: 10_000, rpcTimeoutMs: 15_000 },
  kubernetes: { requestTimeoutMs: 10_000, attempts: 5 },
  reportReserveMs: 3_000,
  resultEventMs: 2_000,
  leaseMarginMs: 2_000,
};

/**
 * Deployments one invocation reconciles at the same time (a scheduled run over all of them),
 * each under its own lease. Small: at most this many Coordinator sessions, and twice as many
 * AWS calls (the guard snapshot beside the bundle, the result event beside the lease release),
 * are in flight — far below the 50 sockets of each SDK client's default agent
 * (@smithy/node-http-handler, NodeHttpHandler) and the services' request quotas.
 * What it buys: the report reserve is kept per wave of this many deployments instead of per
 * deployment (lambda/function/deadline.ts), so one invocation of FUNCTION_TIMEOUT_SECONDS
 * still gives the first wave the time of a no-op's first two steps (bundle, probe: 50 s) with
 * up to 16 × 83 = 1,328 deployments configured (README, figures: sweep-100).
 */
export const DEPLOYMENT_CONCURRENCY = 16;

/**
 * Deployments per wave of the backstop schedule (infra/triggers.ts): each wave is its own
 * scheduled invocation. As many as one invocation reconciles at the same time, so no
 * deployment of a wave waits for another's lane and none keeps report reserves for later ones
 * (deadline.ts): a wave lasts as long as its slowest deployment — a healthy no-op about a
 * second, far inside the one-minute schedule — however many deployments the stack has.
 */
export const SCHEDULE_WAVE_SIZE = DEPLOYMENT_CONCURRENCY;

/** The function's timeout (seconds); the construct sets it, the CLI waits this long for --via-function. */
export const FUNCTION_TIMEOUT_SECONDS = 300;

/** Budgets with some values replaced (tests and the chaos suite scale them down). */
export function budgetsWith(
  overrides: { [K in keyof Budgets]?: Budgets[K] extends object ? Partial<Budgets[K]> : Budgets[K] } = {},
): Budgets {
  return {
    aws: { ...BUDGETS.aws, ...overrides.aws },
    coordinator: { ...BUDGETS.coordinator, ...overrides.coordinator },
    kubernetes: { ...BUDGETS.kubernetes, ...overrides.kubernetes },
    reportReserveMs: overrides.reportReserveMs ?? BUDGETS.reportReserveMs,
    resultEventMs: overrides.resultEventMs ?? BUDGETS.resultEventMs,
    leaseMarginMs: overrides.leaseMarginMs ?? BUDGETS.leaseMarginMs,
  };
}

// The SDK's standard retry strategy waits, before retry i (0-based), a random time below
// min(20 s, base × 2^i) with base 1 s for throttling (50 ms otherwise), and at most 5 s more
// when the service sends a Retry-After hint (@smithy/core, submodules/retry/util-retry:
// StandardRetryStrategy, DefaultRetryBackoffStrategy, retries-2026-config).
const SDK_THROTTLING_BASE_MS = 1_000;
const SDK_MAX_BACKOFF_MS = 20_000;
const SDK_RETRY_AFTER_EXTRA_MS = 5_000;

/** The longest one AWS SDK call can take, retries and backoff included. */
export function awsCallMs(aws: Budgets['aws'] = BUDGETS.aws): number {
  let backoff = 0;
  for (let i = 0; i < aws.maxAttempts - 1; i++)
    backoff += Math.min(SDK_MAX_BACKOFF_MS, SDK_THROTTLING_BASE_MS * 2 ** i) + SDK_RETRY_AFTER_EXTRA_MS;
  return aws.maxAttempts * aws.requestTimeoutMs + backoff;
}

/** What reconcile needs to know of the budgets (ReconcileTime carries these with the deadline). */
export interface StepBudgets {
  handshakeTimeoutMs: number;
  rpcTimeoutMs: number;
  awsCallMs: number;
  kubernetesRequestMs: number;
}

export function stepBudgetsOf(b: Budgets = BUDGETS): StepBudgets {
  return {
    handshakeTimeoutMs: b.coordinator.handshakeTimeoutMs,
    rpcTimeoutMs: b.coordinator.rpcTimeoutMs,
    awsCallMs: awsCallMs(b.aws),
    kubernetesRequestMs: kubernetesCallMs(b.kubernetes),
  };
}

/**
 * Waits between the attempts of one Kubernetes request (lambda/kubernetes/http.ts): full jitter
 * below min(backoffMaxMs, backoffBaseMs × 2^(n-1)), or the server's Retry-After up to
 * retryAfterMaxMs.
 */
export const KUBERNETES_RETRY = { backoffBaseMs: 200, backoffMaxMs: 5_000, retryAfterMaxMs: 10_000 } as const;

/**
 * What the Kubernetes API may send (lambda/kubernetes/http.ts and api.ts). A hostile or broken
 * API server (or anything in front of it) must not crash the function or exhaust its 1,024 MB:
 * past a bound the request ends with KubeLimitError (`unreachable` before Recover,
 * `restart-partial` in the restart step), never an uncaught "Cannot create a string longer
 * than …". Peak memory is roughly the bytes in flight (at most RESTART_CONCURRENCY = 8 sockets ×
 * responseBytes) plus one page parsed at a time plus the items kept.
 */
export const KUBERNETES_LIMITS = {
  /**
   * Items asked per list page. An object's annotations may hold up to 256 KiB
   * (k8s.io/apimachinery, api/validation/objectmeta.go, TotalAnnotationSizeLimitB), and Contrast
   * pods carry their policy there (tens to a hundred KiB): 100 objects keep a page within
   * responseBytes; 1,000 workloads of a kind are still ten round trips.
   */
  pageSize: 100,
  /** Bytes of one answer: a page of 100 objects at the annotation limit plus spec and status (~320 KiB each). */
  responseBytes: 32 * 1024 * 1024,
  /** Items of one list, restarts not counted: 200 pages, far above the 1,000 workloads the service is sized for (npm run bench). */
  listItems: 20_000,
  /** Pages of one list, restarts included: twice what listItems needs, for servers that answer short pages. */
  listPages: 400,
  /** Restarts of one list after a 410 Gone on its continue token (the token expired, about every 5 minutes on a busy etcd). */
  listRestarts: 3,
} as const;

export type KubernetesLimits = { [K in keyof typeof KUBERNETES_LIMITS]: number };

/** The longest one Kubernetes request may take: every attempt's timeout and the longest wait between them. */
export function kubernetesCallMs(k: Budgets['kubernetes'] = BUDGETS.kubernetes): number {
  return (
    k.attempts * k.requestTimeoutMs +
    (k.attempts - 1) * Math.max(KUBERNETES_RETRY.backoffMaxMs, KUBERNETES_RETRY.retryAfterMaxMs)
  );
}

/** A new aTLS session and one RPC on it. */
function sessionMs(s: StepBudgets): number {
  return s.handshakeTimeoutMs + s.rpcTimeoutMs;
}

/** Recover on a new session, the write of how it ended, and the confirming GetManifests. */
export function recoverMs(s: StepBudgets): number {
  return sessionMs(s) + s.awsCallMs + s.rpcTimeoutMs;
}

export type ReconcileStep =
  'load-bundle' | 'probe' | 'peers' | 'decrypt' | 'recover' | 'confirm' | 'restarts' | 'report';

/**
 * The time a reconcile step may take: it starts only if that much is left. Loading the bundle
 * is the version check and, when the version changed, the read (lambda/keys/warm-bundles.ts).
 * Decrypt counts the read of the bundle before it (the function's kept copy is never decrypted
 * from), the Recover intent's write and the Recover after it (a Decrypt without time to use it
 * is a CloudTrail entry for nothing), and confirm is covered by Recover's budget (it never stops
 * a recovery that was sent).
 */
export function stepNeedMs(step: ReconcileStep, s: StepBudgets, opts: { dryRun?: boolean } = {}): number {
  switch (step) {
    case 'load-bundle':
      return 2 * s.awsCallMs;
    case 'probe':
      // One session, after waiting up to one handshake budget for a Coordinator that does not listen yet.
      return s.handshakeTimeoutMs + sessionMs(s);
    case 'peers':
    case 'restarts':
      return s.kubernetesRequestMs;
    case 'decrypt':
      return 2 * s.awsCallMs + (opts.dryRun ? 0 : s.awsCallMs + recoverMs(s));
    case 'recover':
      return recoverMs(s);
    case 'confirm':
    case 'report':
      return 0;
  }
}

/**
 * The shortest lease that lets one recovery finish under it: the guard snapshot and bundle
 * (read together; the bundle's version check, then its read), the probe, the peer check, the
 * Recover intent's write, the bundle's read and the KMS Decrypt, Recover, the write of its end
 * and the confirmation, plus the margin. A reconcile never starts a step that would outlive its
 * lease (it stops and is retried), so a shorter lease could only stop recoveries, never let two
 * through; this minimum keeps it from stopping them.
 */
export function minLeaseSeconds(s: StepBudgets = stepBudgetsOf(), leaseMarginMs = BUDGETS.leaseMarginMs): number {
  return Math.ceil(
    (stepNeedMs('load-bundle', s) +
      stepNeedMs('probe', s) +
      stepNeedMs('peers', s) +
      stepNeedMs('decrypt', s) +
      leaseMarginMs) /
      1000,
  );
}

/** LEASE_SECONDS may not be lower (configuration and construct refuse it). */
export const MIN_LEASE_SECONDS = minLeaseSeconds();
