/**
 * Types of one reconcile (docs/architecture.md steps 1-7). Kept apart from reconcile.ts so the
 * handler, CLI and tests can name them without loading the protocol stack.
 */
import type { EvidenceSummary } from '../attestation/verifier.ts';
import type { RestartSummary } from '../kubernetes/types.ts';
import type { Outcome } from '../shared/outcomes.ts';

export interface CoordinatorEndpoint {
  host: string;
  port: number;
}

/** One Contrast deployment the service looks after. `name` comes from configuration only. */
export interface DeploymentTarget {
  name: string;
  secretId: string;
  coordinator: CoordinatorEndpoint;
}

export type CoordinatorState = 'stale' | 'healthy' | 'no-manifest' | 'unknown';

export type TriggerKind = 'event' | 'alarm' | 'schedule' | 'direct' | 'cli' | 'demo';

export interface ReconcileOptions {
  /** Send Recover with Force=true. Only a human (CLI or direct invocation) may set it. */
  force?: boolean;
  /** Verify the Coordinator and decrypt the share, but send nothing and restart nothing. */
  dryRun?: boolean;
  /** Status only: probe, never decrypt, never Recover, never restart. */
  statusOnly?: boolean;
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
  /** SHA-256 hex of the mesh CA certificate the Coordinator serves (after recovery or when healthy). */
  meshCaFingerprint?: string;
  steps: StepTiming[];
  durationMs: number;
}
