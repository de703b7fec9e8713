/**
 * Entry of the Kubernetes side, loaded lazily by the handler and the CLI
 * (`await import('./kubernetes/index.ts')`) only when there is Kubernetes work.
 * @kubernetes/client-node is imported only for kubeconfig access (kubeconfig.ts): EKS mode
 * (eks.ts) never loads it.
 */
import { BUDGETS, type Budgets } from '../shared/budgets.ts';
import { KubeApiClient } from './api.ts';
import { WorkloadDiscovery, type NamespaceSelection } from './discovery.ts';
import { eksConnection, type EksAuth } from './eks.ts';
import { KubeTransport } from './http.ts';
import { KubePeerChecker } from './peers.ts';
import type { KubeconfigAuth } from './kubeconfig.ts';
import { KubeWorkloadRestarter, RESTART_CONCURRENCY } from './restart.ts';
import type { KubernetesSide } from './types.ts';

export type { KubernetesSide } from './types.ts';

export type KubeAuth = EksAuth | KubeconfigAuth;
export type { EksAuth } from './eks.ts';
export type { KubeconfigAuth, KubeconfigDocument } from './kubeconfig.ts';
export type { NamespaceSelection } from './discovery.ts';
export { JOB_POD_DELETION_ANNOTATION, RESTART_ORDER_ANNOTATION } from './discovery.ts';
export { RESTART_CONCURRENCY, RESTARTED_AT_ANNOTATION } from './restart.ts';
export { createEksToken, eksTokenProvider } from './eks-token.ts';
export { CLOCK_SKEW_MARGIN_MS } from './stale.ts';
export { COORDINATOR_LABEL } from './contrast.ts';

/**
 * What an operator chooses about the cluster: the function's configuration (CONTRAST_DEPLOYMENTS,
 * KUBE_AUTH, ALLOW_POD_DELETION; lambda/function/kubernetes-access.ts) and the CLI's flags
 * (cli/kubernetes.ts) set these, nothing else. What Contrast fixes (how a Coordinator is
 * labelled, contrast.ts) and how this service talks to the API (pages, concurrency, backoff)
 * are constants, not settings.
 */
export interface KubernetesSettings {
  /** How to reach and authenticate to the cluster. */
  auth: KubeAuth;
  /** Namespace the Coordinator runs in (its pods are the peers of step 3). */
  coordinatorNamespace: string;
  /** Where Contrast workloads are looked for: a list, all namespaces, or a namespace label selector. */
  namespaces: NamespaceSelection;
  /**
   * Delete pods where a rollout restart does nothing (OnDelete StatefulSets/DaemonSets,
   * ReplicaSets without a Deployment, bare pods). Needs infra/k8s/rbac-pod-deletion.yaml.
   * Default false: such workloads are reported as `needs-manual-restart`.
   */
  allowPodDeletion?: boolean;
  /**
   * Time budget of one API request: silence that ends an attempt, and attempts. Budget plumbing
   * only: the function passes its budgets (tests and the chaos suite scale them with budgetsWith);
   * default lambda/shared/budgets.ts.
   */
  budget?: Budgets['kubernetes'];
}

export async function createKubernetesSide(settings: KubernetesSettings): Promise<Required<KubernetesSide>> {
  const auth = settings.auth;
  const connection =
    auth.kind === 'eks' ? eksConnection(auth) : await (await import('./kubeconfig.ts')).kubeconfigConnection(auth);
  const budget = settings.budget ?? BUDGETS.kubernetes;
  // One socket per concurrent restart.
  const transport = new KubeTransport(connection, {
    maxSockets: RESTART_CONCURRENCY,
    requestTimeoutMs: budget.requestTimeoutMs,
    attempts: budget.attempts,
  });
  const api = new KubeApiClient(transport);
  const peers = new KubePeerChecker(api, { namespace: settings.coordinatorNamespace });
  const discovery = new WorkloadDiscovery(api, { namespaces: settings.namespaces });
  const restarts = new KubeWorkloadRestarter(api, discovery, {
    allowPodDeletion: settings.allowPodDeletion ?? false,
    coordinatorNamespace: settings.coordinatorNamespace,
  });
  return { peers, restarts, requestCount: () => transport.requests, close: () => transport.close() };
}
