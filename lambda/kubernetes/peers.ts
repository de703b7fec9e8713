/**
 * Step 3 of reconcile: is there a Ready peer Coordinator? A peer recovers a stale
 * Coordinator itself and keeps the mesh CA, so any Ready peer means "do not Recover".
 * When the pods cannot be listed we throw UnreachableError instead of guessing "no peers".
 *
 * Peers are found exactly as the Coordinator finds them before it refuses a user Recover
 * (edgelesssys/contrast coordinator/internal/peerdiscovery/peerdiscovery.go, GetPeers): pods
 * in the Coordinator's own namespace selected by the label `app.kubernetes.io/name=coordinator`,
 * kept only with the annotation `contrast.edgeless.systems/pod-role=coordinator`, a Ready
 * condition that is True, and a name other than the recovering pod's own. Like upstream,
 * a terminating pod that is still Ready counts: the Coordinator would count it too and
 * refuse our Recover.
 */
import { RecoveryError, UnreachableError } from '../shared/errors.ts';
import type { KubeApiClient } from './api.ts';
import { describeApiError, KubeApiError } from './errors.ts';
import type { Pod } from './objects.ts';
import { COORDINATOR_LABEL, COORDINATOR_ROLE, POD_ROLE_ANNOTATION } from './contrast.ts';
import type { PeerChecker, PeerQuery, PeerStatus } from './types.ts';

export interface PeerCheckerOptions {
  /** Namespace of the deployment's Coordinator. */
  namespace: string;
}

function isReady(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** A peer of the recovering Coordinator, by upstream's rule (see above). */
function isPeer(pod: Pod, excludePod?: string): boolean {
  return (
    pod.metadata.annotations?.[POD_ROLE_ANNOTATION] === COORDINATOR_ROLE &&
    pod.metadata.name !== excludePod &&
    isReady(pod)
  );
}

/** startedAt (epoch ms) of a pod's running containers: a restarted Coordinator container starts anew. */
function runningSince(pod: Pod): number[] {
  return (pod.status?.containerStatuses ?? []).flatMap((c) => {
    const t = Date.parse(c.state?.running?.startedAt ?? '');
    return Number.isNaN(t) ? [] : [t];
  });
}

export class KubePeerChecker implements PeerChecker {
  constructor(
    private readonly api: KubeApiClient,
    private readonly opts: PeerCheckerOptions,
  ) {}

  async readyPeers(deployment: string, query: PeerQuery = {}): Promise<PeerStatus> {
    const namespace = this.opts.namespace;
    let pods: Pod[];
    try {
      pods = await this.api.listPods(namespace, COORDINATOR_LABEL, query.signal);
    } catch (err) {
      const hint =
        err instanceof KubeApiError && (err.status === 401 || err.status === 403)
          ? ' — apply infra/k8s/rbac.yaml and map the function role to the contrast-autorecover group (EKS access entry)'
          : ' — check the API endpoint and network path from the function';
      const message = `cannot list Coordinator pods (${COORDINATOR_LABEL}) in namespace ${namespace} for deployment ${deployment}: ${describeApiError(err)}${hint}; not recovering without knowing whether a Ready peer exists`;
      // A refusal is a configuration fault (retrying does not help); anything else may pass.
      if (err instanceof KubeApiError && err.outcome === 'config-invalid')
        throw new RecoveryError('config-invalid', message, { cause: err });
      throw new UnreachableError(message, { cause: err });
    }
    return {
      readyPeers: pods.filter((p) => isPeer(p, query.excludePod)).map((p) => p.metadata.name),
      coordinatorPods: pods.map((p) => p.metadata.name),
      coordinatorContainersStartedAt: pods.flatMap(runningSince),
    };
  }
}
