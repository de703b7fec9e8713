/**
 * Types of one reconcile (docs/architecture.md steps 1-7). Kept apart from reconcile.ts so the
 * handler, CLI and tests can name them without loading the protocol stack.
 */
import type { EvidenceSummary } from '../attestation/verifier.ts';
import type { RestartSummary } from '../kubernetes/types.ts';
import type { CoordinatorEndpoint } from '../shared/names.ts';
import type { Outcome } from '../shared/outcomes.ts';

/** One Contrast deployment the service looks after. `name` comes from configuration only. */
export interface DeploymentTarget {
  name: string;
  secretId: string;
  coordinator: CoordinatorEndpoint;
  /**
   * Also restart stale workloads after mesh CA rotations this service did not cause (a
   * manifest update with `contrast set`, a manual `contrast recover`). Default: report them.
   */
  restartAfterAnyRotation?: boolean;
}

export type CoordinatorState = 'stale' | 'healthy' | 'no-manifest' | 'unknown';

export interface ReconcileOptions {
  /** Send Recover with Force=true. Only a human (CLI or direct invocation) may set it. */
  force?: boolean;
  /** Verify the Coordinator and decrypt the share, but send nothing and restart nothing. */
  dryRun?: boolean;
  /** Status only: probe, never decrypt, never Recover, never restart. */
  statusOnly?: boolean;
  /** The recovering Coordinator's pod, when the trigger names it: never counted as its own peer. */
  recoveringPod?: string;
  /**
   * Why a user recovery may not run now (the function's crash-loop guard decides it before the
   * reconcile): a stale Coordinator then ends `paused` with this message, just before the KMS
   * Decrypt and before anything is recorded; healthy reconciles and restarts still run.
   */
  recoveryRefused?: string;
}

export interface StepTiming {
  step: 'load-bundle' | 'probe' | 'peers' | 'decrypt' | 'recover' | 'confirm' | 'restarts' | 'report';
  ms: number;
  detail?: string;
}

export interface ReconcileResult {
  deployment: string;
  outcome: Outcome;
  /** What happened and, for failures, what to do next. Never contains secrets. */
  message: string;
  coordinatorState: CoordinatorState;
  evidence?: EvidenceSummary;
  /** SHA-256 hex of the enrolled manifest bytes. */
  manifestHash?: string;
  /** SHA-256 hex of the Coordinator's latest manifest, when it served one. */
  latestManifestHash?: string;
  /** True when the Coordinator serves a manifest other than the enrolled one (re-enroll). */
  drift?: boolean;
  /** The KMS encryption context of the Decrypt call, to match the CloudTrail entry. */
  kmsEncryptionContext?: Record<string, string>;
  /** KMS Decrypt calls this reconcile made (0 or 1). */
  kmsDecrypts: number;
  /**
   * The Recover request went out on an attested connection (the Coordinator may still have
   * refused it). Whether it was accepted is the outcome (`recovered`, `restart-partial`).
   */
  recoverSent: boolean;
  force: boolean;
  dryRun: boolean;
  restarts?: RestartSummary;
  /** The mesh CA key the Coordinator serves (after recovery or when healthy). */
  meshCa?: MeshCaSummary;
  /** Workloads still holding certificates of a lost mesh CA after this reconcile (listed in `restarts`). */
  staleWorkloads?: number;
  /** The Ready peer Coordinators step 3 found (with any, the outcome is `peers-available` or `peers-stuck`). */
  readyPeers?: string[];
  /** The Recover attempt of this reconcile, as recorded before it was sent. */
  recoverAttemptId?: string;
  steps: StepTiming[];
  durationMs: number;
}

export interface MeshCaSummary {
  /** SHA-256 hex of the mesh CA's SubjectPublicKeyInfo: names the key, not one certificate. */
  spkiSha256: string;
  /** When the key was created (ISO 8601): the earliest moment it can have existed. */
  createdAt: string;
  /** `recover`: this service's Recover made it; `observed`: a rotation it did not cause. */
  cause: MeshCaCause;
}

/**
 * The one durable record per deployment (the function keeps it in its lock table,
 * docs/operate.md): every Recover attempt, written before the request leaves — the crash-loop
 * guard counts these — and the current mesh CA key with its creation time and whether its
 * restarts are done.
 */
export interface RecoveryRecord {
  attempts: RecoverAttempt[];
  meshCa?: MeshCaGeneration;
  /** Since when (epoch ms) reconciles have found the Coordinator stale, if they have. */
  staleSince?: number;
  /** Since when (epoch ms) reconciles have found it stale with Ready peers (`peers-stuck` past a bound). */
  peersSince?: number;
}

/**
 * `pending`: recorded, no answer yet — found by a later invocation it means the process died
 * (then `interrupted`); `accepted`/`refused`: the Coordinator answered; `unknown`: sent, but
 * the answer was lost; `not-sent`: the request never left (attestation refused, no connection).
 */
export type RecoverAttemptStatus = 'pending' | 'accepted' | 'refused' | 'unknown' | 'not-sent' | 'interrupted';

export interface RecoverAttempt {
  id: string;
  /** Epoch ms, taken before the request left. */
  at: number;
  status: RecoverAttemptStatus;
  answeredAt?: number;
  force: boolean;
  /** KMS encryption context of the Decrypt before it (matches the CloudTrail entry). */
  kmsEncryptionContext?: Record<string, string>;
  /** Filled in by the function: the invocation and trigger that sent it. */
  requestId?: string;
  trigger?: { kind: string; id: string };
  /**
   * Its audit record was written: by its own invocation, or by a later one for an invocation
   * that died first. Every attempt gets exactly one (a Decrypt in CloudTrail without one is a finding).
   */
  reported?: boolean;
}

export type MeshCaCause = 'recover' | 'observed';

export interface MeshCaGeneration {
  spkiSha256: string;
  /** Epoch ms: our Recover's intent time, or certificate NotBefore + 1 h for an observed rotation. */
  createdAt: number;
  cause: MeshCaCause;
  /** The Recover attempt that made it (cause `recover`). */
  attemptId?: string;
  /** NotBefore (epoch ms) of the certificate first seen for the key. */
  certificateNotBefore: number;
  firstSeenAt: number;
  /** When this service first issued restarts for the key. */
  restartsIssuedAt?: number;
  /** When no workload was left holding a lost CA's certificate: later reconciles skip Kubernetes. */
  restartsCompleteAt?: number;
}

/** Where reconcile reads and writes the record (the lock table; in memory for the CLI). */
export interface RecoveryRecordStore {
  read(): Promise<RecoveryRecord>;
  /** Applies `change` and persists the result, or throws (then nothing that depends on it happens). */
  update(change: (record: RecoveryRecord) => RecoveryRecord): Promise<RecoveryRecord>;
}
