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
 *
 * One rule more than upstream's: Ready counts only where it means "holds state". A Coordinator
 * of a release before Contrast PR #1467 (merged 2025-05-20) is probed by TCP on 1313, so it is
 * Ready while in recovery mode — schedule, alarm, direct and CLI runs (which cannot name the
 * restarted pod) would count a single stale Coordinator as its own peer and never recover it.
 * The manifest cannot tell those releases apart, the pods can: only a pod whose readiness probe
 * is the HTTP GET of `/probe/readiness` (contrast.ts) is counted; any other Ready pod is listed
 * as `readyWithoutState` and is no peer. Such releases have no peer recovery either: it came
 * with PR #1373, whose HA guide relies on #1467's readiness (its review, 2025-05-21), so no
 * Ready pod of theirs could recover the Coordinator.
 */
import { RecoveryError, UnreachableError } from '../shared/errors.ts';
import type { KubeApiClient } from './api.ts';
import { describeApiError, KubeApiError } from './errors.ts';
import type { Pod } from './objects.ts';
import { COORDINATOR_LABEL, COORDINATOR_READINESS_PATH, COORDINATOR_ROLE, POD_ROLE_ANNOTATION } from './contrast.ts';
import type { PeerChecker, PeerQuery, PeerStatus } from './types.ts';

export interface PeerCheckerOptions {
  /** Namespace of the deployment's Coordinator. */
  namespace: string;
}

function isReady(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Ready by upstream's rule (see above): another Coordinator pod that Contrast would count. */
function isReadyCoordinator(pod: Pod, excludePod?: string): boolean {
  return (
    pod.metadata.annotations?.[POD_ROLE_ANNOTATION] === COORDINATOR_ROLE &&
    pod.metadata.name !== excludePod &&
    isReady(pod)
  );
}

/** Its Ready condition says it holds state: a container is probed by the HTTP readiness check of PR #1467. */
function readyMeansState(pod: Pod): boolean {
  return (pod.spec?.containers ?? []).some((c) => c.readinessProbe?.httpGet?.path === COORDINATOR_READINESS_PATH);
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
    const ready = pods.filter((p) => isReadyCoordinator(p, query.excludePod));
    return {
      readyPeers: ready.filter(readyMeansState).map((p) => p.metadata.name),
      readyWithoutState: ready.filter((p) => !readyMeansState(p)).map((p) => p.metadata.name),
      coordinatorPods: pods.map((p) => p.metadata.name),
      coordinatorContainersStartedAt: pods.flatMap(runningSince),
    };
  }
}
