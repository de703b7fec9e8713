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
   * Also restart stale workloads after a manifest update (`contrast set`: the history changed
   * and no Coordinator restarted). Default: report them. Someone else's Recover restarts them
   * without this (docs/operate.md).
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
  /**
   * Distinct mesh CA keys the Coordinator served within this reconcile's probe window. Two or
   * more is a finding (replicas on different keys, e.g. a forced Recover beside Ready peers):
   * nothing is restarted and the record keeps its key until one key remains.
   */
  meshCaKeysSeen?: number;
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
  /** Why the key changed (MeshCaCause). */
  cause: MeshCaCause;
  /** Set when the creation is only bounded: the key was made after this (ISO 8601); pods between are `unknown-age`. */
  createdAfter?: string;
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
  /**
   * Keys the current one replaced, newest first (a few): a rotation never returns to one, so
   * seeing one again means replicas serve two keys at once (mesh-ca.ts).
   */
  supersededKeys?: { spkiSha256: string; lastSeenAt: number }[];
  /** When a reconcile last saw two keys at once: until one key remains, nothing restarts. */
  twoKeysSeenAt?: number;
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

/**
 * - `recover`: this service's Recover made the key;
 * - `recovery`: someone else's Recover (the history unchanged, or a Coordinator container
 *   started after the previous key was last seen): restarted as after our own;
 * - `observed`: a manifest update (`contrast set`): reported unless the deployment opts in;
 * - `baseline`: first sight of a key a peer may have handed over: its age is unknown, nothing restarts.
 */
export type MeshCaCause = 'recover' | 'recovery' | 'observed' | 'baseline';

export interface MeshCaGeneration {
  spkiSha256: string;
  /**
   * Epoch ms: our Recover's intent time, or the latest the key can have been made (the earliest
   * certificate NotBefore + 1 h seen, or its first sight). Pods that got their certificate
   * before it hold an older key's — unless `createdAfter` says the creation is only bounded.
   */
  createdAt: number;
  /**
   * Epoch ms, set where the creation is only bounded: the key was made after it (the previous
   * key's last sighting; 0 for a baseline). Pods between it and `createdAt` are of unknown age.
   */
  createdAfter?: number;
  /** The manifest history's identity when the key was first seen (coordinator/manifest.ts, historyIdentity). */
  history?: string;
  /** Epoch ms of the latest reconcile that saw the key. */
  lastSeenAt?: number;
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
