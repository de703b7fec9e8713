/**
 * The one vocabulary of reconcile outcomes, shared by reconcile, handler, CLI, events and
 * metrics (docs/architecture.md). Add new outcomes here, never ad hoc strings elsewhere.
 */

export const OUTCOMES = {
  recovered: {
    ok: true,
    retry: false,
    exitCode: 0,
    summary: 'the Coordinator was recovered with the seed share and confirmed',
  },
  'already-healthy': {
    ok: true,
    retry: false,
    exitCode: 0,
    summary: 'the Coordinator already holds its keys; nothing to do',
  },
  'restarts-finished': {
    ok: true,
    retry: false,
    exitCode: 0,
    summary: 'the Coordinator was healthy; pending workload restarts were finished',
  },
  'peers-available': {
    ok: true,
    retry: false,
    exitCode: 0,
    summary: 'a Ready peer Coordinator exists; it recovers this one and keeps the mesh CA',
  },
  'in-progress': {
    ok: true,
    retry: false,
    exitCode: 0,
    summary: 'another reconcile of this deployment holds the lock',
  },
  paused: {
    ok: false,
    retry: false,
    exitCode: 10,
    summary: 'recovery is paused (operator switch or crash-loop guard)',
  },
  'no-state': {
    ok: false,
    retry: false,
    exitCode: 11,
    summary: 'the Coordinator has no persisted history to recover from',
  },
  unauthorized: {
    ok: false,
    retry: false,
    exitCode: 12,
    summary: 'the Coordinator does not accept this seed-share owner key',
  },
  'wrong-seed': {
    ok: false,
    retry: false,
    exitCode: 13,
    summary: "the seed or salt does not match the Coordinator's history",
  },
  unreachable: {
    ok: false,
    retry: true,
    exitCode: 14,
    summary: 'the Coordinator (or a dependency) could not be reached in time',
  },
  'attestation-failed': {
    ok: false,
    retry: false,
    exitCode: 15,
    summary: "the Coordinator's attestation evidence was refused; the seed was not sent",
  },
  'bundle-invalid': {
    ok: false,
    retry: false,
    exitCode: 16,
    summary: 'the recovery bundle is missing, malformed or cannot be decrypted',
  },
  'confirm-mismatch': {
    ok: false,
    retry: false,
    exitCode: 17,
    summary: 'after Recover the Coordinator does not serve the enrolled manifest',
  },
  'restart-partial': { ok: false, retry: true, exitCode: 18, summary: 'some workloads could not be restarted' },
  'event-invalid': { ok: false, retry: false, exitCode: 19, summary: 'the triggering event or request is malformed' },
  // Added for the read-only modes (CLI --dry-run / status, direct invocation "dry-run" / "status"):
  'dry-run-ok': {
    ok: true,
    retry: false,
    exitCode: 0,
    summary: 'dry run: attestation passed and the seed share decrypts; nothing was sent',
  },
  'recovery-needed': {
    ok: false,
    retry: false,
    exitCode: 20,
    summary: 'status: the Coordinator is stale (recovery mode) and waits for Recover',
  },
  // Settings the operator gave are unusable (e.g. the kubeconfig or EKS access): not the bundle, not transient.
  'config-invalid': {
    ok: false,
    retry: false,
    exitCode: 21,
    summary: 'a setting is invalid (e.g. the Kubernetes access); fix it — retrying does not help',
  },
  // A Ready peer was counted for longer than Contrast's peer recovery needs (lambda/kubernetes/contrast.ts,
  // PEERS_STUCK_AFTER_MS) while the Coordinator stayed stale: stuck, or not a Coordinator at all.
  'peers-stuck': {
    ok: false,
    retry: false,
    exitCode: 22,
    summary: 'Ready peer Coordinator(s) have not recovered this one within the bound: stuck, or forged pods',
  },
} as const satisfies Record<string, { ok: boolean; retry: boolean; exitCode: number; summary: string }>;

export type Outcome = keyof typeof OUTCOMES;

export const OUTCOME_NAMES = Object.keys(OUTCOMES) as Outcome[];

export function isOutcome(value: string): value is Outcome {
  return Object.hasOwn(OUTCOMES, value);
}

/** Whether a retry of the same reconcile can help (transient outcomes). */
export function isRetryable(outcome: Outcome): boolean {
  return OUTCOMES[outcome].retry;
}

export function isSuccess(outcome: Outcome): boolean {
  return OUTCOMES[outcome].ok;
}

/** CLI exit code for an outcome; 2 is reserved for usage errors, 1 for unexpected failures. */
export function exitCodeFor(outcome: Outcome): number {
  return OUTCOMES[outcome].exitCode;
}
