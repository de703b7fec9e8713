/**
 * Contract between reconcile (steps 3 and 6 of docs/architecture.md) and the Kubernetes side.
 * Type-only on purpose: reconcile imports it without loading @kubernetes/client-node,
 * which the handler loads lazily, only when there is Kubernetes work.
 */

export interface PeerStatus {
  /** Names of the Ready peer Coordinators, found as Contrast finds them (peers.ts). */
  readyPeers: string[];
  /**
   * Coordinator pods Ready by a probe that does not say they hold state (a release before
   * Contrast PR #1467: TCP on 1313): never peers — a stale Coordinator is among them.
   */
  readyWithoutState?: string[];
  /** All pods the Coordinator label selects. */
  coordinatorPods: string[];
  /**
   * When their running containers started (epoch ms): a Coordinator container that started
   * after a key was last seen can have lost it (reconcile/mesh-ca.ts). Absent from stand-ins that do not tell.
   */
  coordinatorContainersStartedAt?: number[];
}

export interface PeerQuery {
  /** The recovering Coordinator's own pod, when known (the trigger names it): never its own peer. */
  excludePod?: string;
  /** Cancels the check's requests (the step missed its cutoff). */
  signal?: AbortSignal;
}

/** Step 3. Throws UnreachableError when the API cannot be read: never guess "no peers". */
export interface PeerChecker {
  readyPeers(deployment: string, query?: PeerQuery): Promise<PeerStatus>;
}

/**
 * Every kind Contrast's `generate` injects the initializer into (edgelesssys/contrast
 * internal/kuberesource/mutators.go, MapPodSpecWithMeta: CronJob, DaemonSet, Deployment, Job,
 * Pod, ReplicaSet, ReplicationController, StatefulSet).
 */
export type WorkloadKind =
  'Deployment' | 'StatefulSet' | 'DaemonSet' | 'ReplicaSet' | 'ReplicationController' | 'Job' | 'CronJob' | 'Pod';

/**
 * - `restarted` / `deleted`: a restart was issued (rollout restart, or stale pods deleted);
 * - `skipped`: nothing to do (why in `reason`: no stale pod, still in Init, rollout already
 *   under way after the key existed);
 * - `stale`: holds certificates of a lost mesh CA and was left alone on purpose (a rotation
 *   this service did not cause, without the deployment's opt-in);
 * - `would-restart`: dry run / status;
 * - `needs-manual-restart`, `failed`: stale and not restarted (the reason says what to do).
 */
export type WorkloadResultStatus =
  | 'restarted'
  | 'deleted'
  | 'failed'
  | 'skipped'
  | 'stale'
  | 'needs-manual-restart'
  | 'would-restart'
  /** Its pods got their certificate where the key's creation is only bounded: restarted by hand, never silently fresh. */
  | 'unknown-age';

export interface WorkloadResult {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  status: WorkloadResultStatus;
  /** Why, e.g. "2 pod(s) whose contrast-initializer finished before …", "403 Forbidden: …". */
  reason?: string;
  method?: 'rollout-restart' | 'delete-pods';
}

/**
 * A Contrast pod as the step judged it:
 * - `lost-ca`: holds a certificate of a lost mesh CA (`action`: what its workload's result is);
 * - `fresh`: got its certificate from the current key;
 * - `in-init`: still in Init, fetches its certificate from the current Coordinator;
 * - `no-certificate`: no contrast-initializer, holds no mesh certificate;
 * - `finished`: Succeeded or Failed (a Job's), runs nothing;
 * - `terminating`: being deleted.
 */
export type PodResultStatus =
  'lost-ca' | 'unknown-age' | 'fresh' | 'in-init' | 'no-certificate' | 'finished' | 'terminating';

export interface PodResult {
  namespace: string;
  name: string;
  /** `Kind/name` of the workload it belongs to (itself for a bare pod). */
  workload: string;
  status: PodResultStatus;
  reason: string;
  /** For `lost-ca` pods: their workload's result status. */
  action?: WorkloadResultStatus;
}

export interface RestartSummary {
  /** The mesh CA key the step ran against (SHA-256 hex of its SubjectPublicKeyInfo). */
  meshCaSpkiSha256: string;
  results: WorkloadResult[];
  /**
   * Every Contrast pod of those workloads, with its status and reason (docs/operate.md); always
   * set by the real step (stand-ins of the whole side may leave it out).
   */
  pods?: PodResult[];
  /**
   * The earliest running Coordinator container's start, where the Coordinator-start bound
   * applied (RestartRequest.recoveredKeyMadeAfter; stale.ts, staleBy).
   */
  coordinatorStartedAt?: string;
  /** True when no workload is left holding a lost mesh CA's certificate (or failed). */
  complete: boolean;
  /** Workloads still holding certificates of a lost mesh CA (stale, would-restart, needs-manual-restart, failed). */
  staleWorkloads: number;
}

/** What the restart step does with stale workloads. */
export type RestartMode =
  /** Restart them (this service's own recovery, or the deployment opted in). */
  | 'restart'
  /** Report them as `stale`, change nothing (a rotation this service did not cause). */
  | 'report'
  /** Dry run and status: list them as `would-restart`, change nothing. */
  | 'list';

export interface RestartRequest {
  deployment: string;
  /**
   * The current mesh CA key: pods whose initializer finished before `createdAt` are stale —
   * unless `createdAfter` is set (the creation is only bounded): then pods before it are
   * stale and pods between the two are `unknown-age`, for `unknownAgeReason`.
   */
  meshCa: { spkiSha256: string; createdAt: Date; createdAfter?: Date; unknownAgeReason?: string };
  mode: RestartMode;
  /** Why stale workloads are only reported (mode `report`), for their results. */
  reportReason?: string;
  /** Defaults to CLOCK_SKEW_MARGIN_MS (stale.ts). */
  clockSkewMarginMs?: number;
  /**
   * Only for a key a Recover made (never one a peer may have handed over without a Recover): a
   * moment before which the key did not exist, on the cluster's clock. Enables the
   * Coordinator-start bound: pods whose initializer finished before the earliest running
   * Coordinator container started hold a lost key's certificate, when that container started
   * before this moment (stale.ts, coordinatorStartBound).
   */
  recoveredKeyMadeAfter?: Date;
  /**
   * When this service started restarting for this key (its own clock): a rollout restart
   * stamped since then is one of ours, even where clocks disagree about the key's creation.
   */
  restartsIssuedAt?: Date;
  /**
   * Cancels the step (it missed the invocation's cutoff): no list, PATCH or DELETE starts after
   * it aborts, so a retry's restarts are never repeated by a run given up on.
   */
  signal?: AbortSignal;
}

/** Step 6. Convergent: running it twice against the same key restarts nothing new. */
export interface WorkloadRestarter {
  restartStale(request: RestartRequest): Promise<RestartSummary>;
}

/**
 * What reconcile needs of a cluster: the peer check (step 3) and the restarts (step 6).
 * createKubernetesSide (index.ts) builds the real one; tests pass stand-ins.
 */
export interface KubernetesSide {
  peers: PeerChecker;
  restarts: WorkloadRestarter;
  /** Requests sent so far, retries included (figures and tests). */
  requestCount?(): number;
  /** Closes kept-alive sockets (a Lambda can leave them; tests and the CLI should close). */
  close?(): void;
}
