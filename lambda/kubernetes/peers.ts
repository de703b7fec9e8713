/**
 * Step 3 of reconcile: is there a Ready peer Coordinator? A peer recovers a stale
 * Coordinator itself and keeps the mesh CA, so any Ready peer means "do not Recover".
 * When the pods cannot be listed we throw UnreachableError instead of guessing "no peers".
 */
import { UnreachableError } from '../shared/errors.ts';
import type { KubeApiClient } from './api.ts';
import { describeApiError, KubeApiError } from './errors.ts';
import type { Pod } from './objects.ts';
import type { PeerChecker, PeerStatus } from './types.ts';

export interface PeerCheckerOptions {
  /** Namespace of the Coordinator of a deployment. */
  namespaceFor: (deployment: string) => string;
  /** Label selector of the Coordinator pods; default `app.kubernetes.io/name=coordinator`. */
  coordinatorLabel: string;
}

/** Ready = condition Ready=True and not being deleted (a terminating pod hands nothing over). */
export function isReady(pod: Pod): boolean {
  if (pod.metadata.deletionTimestamp) return false;
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export class KubePeerChecker implements PeerChecker {
  constructor(
    private readonly api: KubeApiClient,
    private readonly opts: PeerCheckerOptions,
  ) {}

  async readyPeers(deployment: string): Promise<PeerStatus> {
    const namespace = this.opts.namespaceFor(deployment);
    let pods: Pod[];
    try {
      pods = await this.api.listPods(namespace, this.opts.coordinatorLabel);
    } catch (err) {
      const hint =
        err instanceof KubeApiError && (err.status === 401 || err.status === 403)
          ? ' — apply infra/k8s/rbac.yaml and map the function role to the contrast-autorecover group (EKS access entry)'
          : ' — check the API endpoint and network path from the function';
      throw new UnreachableError(
        `cannot list Coordinator pods (${this.opts.coordinatorLabel}) in namespace ${namespace} for deployment ${deployment}: ${describeApiError(err)}${hint}; not recovering without knowing whether a Ready peer exists`,
        { cause: err },
      );
    }
    return {
      readyPeers: pods.filter(isReady).map((p) => p.metadata.name),
      coordinatorPods: pods.map((p) => p.metadata.name),
    };
  }
}
