/**
 * Entry of the Kubernetes side, loaded lazily by the handler and the CLI
 * (`await import('./kubernetes/index.ts')`) only when there is Kubernetes work.
 * @kubernetes/client-node is imported only for kubeconfig access (kubeconfig.ts): EKS mode
 * (eks.ts) never loads it.
 */
import { KubeApiClient } from './api.ts';
import { DEFAULT_COORDINATOR_LABEL } from './contrast.ts';
import { WorkloadDiscovery, type NamespaceSelection } from './discovery.ts';
import { eksConnection, type EksAuth } from './eks.ts';
import { DEFAULT_RETRY, KubeTransport, type RetryPolicy } from './http.ts';
import { KubePeerChecker } from './peers.ts';
import type { KubeconfigAuth } from './kubeconfig.ts';
import { KubeWorkloadRestarter } from './restart.ts';
import type { KubernetesSide } from './types.ts';

export type { KubernetesSide } from './types.ts';

export type KubeAuth = EksAuth | KubeconfigAuth;
export type { EksAuth } from './eks.ts';
export type { KubeconfigAuth, KubeconfigDocument } from './kubeconfig.ts';
export type { NamespaceSelection } from './discovery.ts';
export type { RetryPolicy } from './http.ts';
export { RESTART_ORDER_ANNOTATION } from './discovery.ts';
export { RESTARTED_AT_ANNOTATION } from './restart.ts';
export { createEksToken, eksTokenProvider } from './eks-token.ts';
export { CLOCK_SKEW_MARGIN_MS } from './stale.ts';
export { DEFAULT_COORDINATOR_LABEL } from './contrast.ts';

export interface KubernetesSettings {
  /** How to reach and authenticate to the cluster. */
  auth: KubeAuth;
  /** Namespace the Coordinator runs in (its pods are the peers of step 3). */
  coordinatorNamespace: string | ((deployment: string) => string);
  /** Where Contrast workloads are looked for: a list, all namespaces, or a namespace label selector. */
  namespaces: NamespaceSelection;
  /** Optional label selector the workloads themselves must match. */
  labelSelector?: string;
  /** Label selector of Coordinator pods; default `app.kubernetes.io/name=coordinator`. */
  coordinatorLabel?: string;
  /**
   * Delete pods where a rollout restart does nothing (OnDelete StatefulSets/DaemonSets,
   * ReplicaSets without a Deployment, bare pods). Needs infra/k8s/rbac-pod-deletion.yaml.
   * Default false: such workloads are reported as `needs-manual-restart`.
   */
  allowPodDeletion?: boolean;
  /** Workloads restarted concurrently (and sockets kept open). Default 8. */
  concurrency?: number;
  /** Wait for each patched workload to finish rolling out; a timeout marks it failed. */
  waitForRollout?: { timeoutMs: number; pollMs?: number };
  /** Retries of one API request on 409, 429, 5xx and network errors. */
  retry?: Partial<RetryPolicy>;
  /** Per-request timeout. Default 10 s. */
  requestTimeoutMs?: number;
  /** Items per list page. Default 500. */
  pageSize?: number;
}


export const DEFAULT_CONCURRENCY = 8;

export async function createKubernetesSide(settings: KubernetesSettings): Promise<Required<KubernetesSide>> {
  const concurrency = Math.max(1, Math.floor(settings.concurrency ?? DEFAULT_CONCURRENCY));
  const auth = settings.auth;
  const connection = auth.kind === 'eks' ? eksConnection(auth) : await (await import('./kubeconfig.ts')).kubeconfigConnection(auth);
  const transport = new KubeTransport(connection, {
    maxSockets: concurrency,
    requestTimeoutMs: settings.requestTimeoutMs ?? 10_000,
    retry: { ...DEFAULT_RETRY, ...settings.retry },
  });
  const api = new KubeApiClient(transport, settings.pageSize ?? 500);
  const coordinatorLabel = settings.coordinatorLabel ?? DEFAULT_COORDINATOR_LABEL;
  const ns = settings.coordinatorNamespace;
  const peers = new KubePeerChecker(api, { namespaceFor: typeof ns === 'function' ? ns : () => ns, coordinatorLabel });
  const discovery = new WorkloadDiscovery(api, { namespaces: settings.namespaces, labelSelector: settings.labelSelector, coordinatorLabel });
  const restarts = new KubeWorkloadRestarter(api, discovery, {
    allowPodDeletion: settings.allowPodDeletion ?? false,
    concurrency,
    ...(settings.waitForRollout ? { waitForRollout: settings.waitForRollout } : {}),
  });
  return { peers, restarts, requestCount: () => transport.requests, close: () => transport.close() };
}
