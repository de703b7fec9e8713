/**
 * Contract between reconcile (steps 3 and 6 of docs/architecture.md) and the Kubernetes side.
 * Type-only on purpose: reconcile imports it without loading @kubernetes/client-node,
 * which the handler loads lazily, only when there is Kubernetes work.
 */

export interface PeerStatus {
  /** Names of Coordinator pods that are Ready (other than a stale one, which is never Ready). */
  readyPeers: string[];
  /** All Coordinator pods seen. */
  coordinatorPods: string[];
}

/** Step 3. Throws UnreachableError when the API cannot be read: never guess "no peers". */
export interface PeerChecker {
  readyPeers(deployment: string): Promise<PeerStatus>;
}

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'ReplicaSet' | 'Pod';

export type WorkloadResultStatus = 'restarted' | 'deleted' | 'failed' | 'skipped' | 'needs-manual-restart' | 'would-restart';

export interface WorkloadResult {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  status: WorkloadResultStatus;
  /** Why: e.g. "pods started after the mesh CA", "403 Forbidden: patch deployments.apps". */
  reason?: string;
  method?: 'rollout-restart' | 'delete-pods';
}

export interface RestartSummary {
  /** Mesh CA this run restarted against (SHA-256 hex of the mesh CA certificate DER). */
  meshCaFingerprint: string;
  results: WorkloadResult[];
  /** True when no workload is left failed or needing a restart (needs-manual-restart counts as not complete). */
  complete: boolean;
}

export interface RestartRequest {
  deployment: string;
  /** NotBefore of the current mesh CA certificate: pods started before it need a restart. */
  meshCaNotBefore: Date;
  meshCaFingerprint: string;
  dryRun: boolean;
}

/** Step 6. Convergent: restarting twice against the same mesh CA restarts nothing new. */
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

/**
 * Durable "restarts complete for mesh CA <fingerprint>" record, so a healthy deployment
 * whose restarts are done needs no Kubernetes call.
 */
export interface RestartRecordStore {
  isComplete(deployment: string, meshCaFingerprint: string): Promise<boolean>;
  markComplete(deployment: string, meshCaFingerprint: string): Promise<void>;
}
