/**
 * Step 6 of reconcile: restart every Contrast workload with a pod that holds a certificate of
 * a lost mesh CA — its contrast-initializer finished before the current key was created
 * (stale.ts) — so its pods fetch certificates from the current CA. Pods still in Init, and
 * pods whose initializer finished after the key, are left alone. Convergent: a workload
 * without stale pods, or whose rollout restart was issued after the key existed, is skipped,
 * so a second run after a crash or a partial failure finishes exactly what is left, and
 * nothing is restarted twice for the same key.
 *
 * Methods (docs/protocol.md §7):
 * - `rollout-restart`: strategic-merge patch of the pod template annotation
 *   `kubectl.kubernetes.io/restartedAt` (what `kubectl rollout restart` does), for
 *   Deployments and RollingUpdate StatefulSets/DaemonSets;
 * - `delete-pods`: delete the stale pods (their controller, if any, recreates them), for
 *   OnDelete StatefulSets/DaemonSets, ReplicaSets no Deployment owns, ReplicationControllers
 *   (`kubectl rollout restart` does not support them) and bare pods; only with
 *   `allowPodDeletion`, otherwise reported as `needs-manual-restart`;
 * - Jobs: deleting a running Job's pod reruns its work and counts as a failure against its
 *   `backoffLimit` (kubernetes.io, "Jobs": pod backoff failure policy; with `backoffLimit: 0`
 *   the Job fails), so a stale Job pod is `needs-manual-restart` unless the Job (or its
 *   CronJob) opts in (JOB_POD_DELETION_ANNOTATION, with `allowPodDeletion`) and deleting
 *   leaves the Job within its backoffLimit. A finished Job runs nothing; a CronJob's next run
 *   fetches a new certificate, so a CronJob itself needs nothing (its running Jobs are listed);
 * - a ReplicaSet or pod controlled by another kind (an operator's): `needs-manual-restart`,
 *   restarted through that controller.
 *
 * Ordering: the workload annotation RESTART_ORDER_ANNOTATION (integer, default 0) forms
 * groups whose restarts are issued one group after another, lowest first. A group's restarts
 * are issued, not waited for: rollouts take longer than an invocation's time budget
 * (lambda/shared/budgets.ts), and a restart issued once is never issued again for the same
 * key (above), so there is nothing to wait for.
 */
import pMap from 'p-map';
import type { KubeApiClient } from './api.ts';
import { JOB_POD_DELETION_ANNOTATION, type PodInfo, type Workload, type WorkloadDiscovery } from './discovery.ts';
import { describeApiError, KubeApiError } from './errors.ts';
import {
  CLOCK_SKEW_MARGIN_MS,
  coordinatorStartBound,
  holdsLostCertificate,
  MAX_CLOCK_SKEW_MS,
  staleBy,
  type InitializerState,
  type StaleBounds,
} from './stale.ts';
import type {
  PodResult,
  PodResultStatus,
  RestartRequest,
  RestartSummary,
  WorkloadRestarter,
  WorkloadResult,
  WorkloadResultStatus,
} from './types.ts';

export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';

/**
 * Workloads restarted at the same time (and sockets kept open): a few requests in flight keep
 * 1,000 restarts around a second (npm run bench, restart-1000) without loading the API server.
 */
export const RESTART_CONCURRENCY = 8;

export interface RestartOptions {
  /** Delete pods where a patch restarts nothing (OnDelete, orphan ReplicaSets, bare pods). */
  allowPodDeletion: boolean;
  /** The Coordinator's namespace: its pods date the Coordinator-start bound (stale.ts). */
  coordinatorNamespace?: string;
}

/** RFC 3339 without fractions, like kubectl writes restartedAt. */
function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Statuses of a workload still holding a lost mesh CA's certificates after the step. */
const STILL_STALE: readonly WorkloadResultStatus[] = ['stale', 'would-restart', 'needs-manual-restart', 'failed'];

/** Why a workload without stale pods is left alone. */
function notStaleReason(live: Workload['pods'], createdAt: Date): string {
  if (live.length === 0) return 'no running pods';
  const count = (k: string) => live.filter((p) => p.initializer.kind === k).length;
  const parts: string[] = [];
  const fresh = count('done');
  const waiting = count('in-init');
  const none = count('none');
  if (fresh)
    parts.push(`${fresh} pod(s) got their certificate after the mesh CA key was created (${rfc3339(createdAt)})`);
  if (waiting) parts.push(`${waiting} pod(s) still in Init: they fetch their certificate from the current Coordinator`);
  if (none) parts.push(`${none} pod(s) without contrast-initializer hold no mesh certificate`);
  return parts.join('; ');
}

const VIA: Record<Extract<InitializerState, { kind: 'done' }>['via'], string> = {
  finishedAt: 'contrast-initializer finished',
  'next-init-started': 'the init container after the initializer sidecar started',
  Initialized: 'pod Initialized after the initializer sidecar started',
};

/** Pods that run nothing: finished (a Job's) or being deleted. */
function isLive(p: PodInfo): boolean {
  return !p.deleting && p.phase !== 'Succeeded' && p.phase !== 'Failed';
}

/** Not stale, but got its certificate before the upper bound of a key whose creation is only bounded. */
function unknownAge(state: PodInfo['initializer'], bounds: StaleBounds): boolean {
  return bounds.keyCreatedBy !== undefined && holdsLostCertificate(state, bounds.keyCreatedBy, 0);
}

/** One pod's status and reason (docs/operate.md, "Which workloads are restarted"). */
function judgePod(p: PodInfo, bounds: StaleBounds): { status: PodResultStatus; reason: string } {
  if (p.deleting) return { status: 'terminating', reason: 'being deleted' };
  if (p.phase === 'Succeeded' || p.phase === 'Failed')
    return { status: 'finished', reason: `pod ${p.phase}: it runs nothing` };
  const s = p.initializer;
  if (s.kind === 'none')
    return { status: 'no-certificate', reason: 'no contrast-initializer: holds no mesh certificate' };
  if (s.kind === 'in-init')
    return {
      status: 'in-init',
      reason: `still in Init (${s.detail}): it fetches its certificate from the current Coordinator`,
    };
  const got = `certificate by ${rfc3339(s.at)} (${VIA[s.via]})`;
  const by = staleBy(s, bounds);
  if (by === 'key')
    return {
      status: 'lost-ca',
      reason: `${got}, before the mesh CA key was created (${rfc3339(bounds.keyCreatedAt)})`,
    };
  if (by === 'coordinator-start')
    return {
      status: 'lost-ca',
      reason: `${got}, before the earliest running Coordinator container started (${rfc3339(bounds.coordinatorStartedAt!)}), and the key was made by a Recover after that`,
    };
  if (unknownAge(s, bounds))
    return {
      status: 'unknown-age',
      reason: `${got}, after ${rfc3339(bounds.keyCreatedAt)} but before ${rfc3339(bounds.keyCreatedBy!)}: the mesh CA key was created somewhere between the two`,
    };
  return { status: 'fresh', reason: `${got}, after the mesh CA key was created (${rfc3339(bounds.keyCreatedAt)})` };
}

type Plan =
  | { action: 'none'; result: WorkloadResult }
  | { action: 'patch'; workload: Workload; stalePods: string[] }
  | { action: 'delete'; workload: Workload; stalePods: string[] };

export class KubeWorkloadRestarter implements WorkloadRestarter {
  constructor(
    private readonly api: KubeApiClient,
    private readonly discovery: WorkloadDiscovery,
    private readonly opts: RestartOptions,
  ) {}

  async restartStale(request: RestartRequest): Promise<RestartSummary> {
    const { signal } = request;
    const [workloads, coordinatorStartedAt] = await Promise.all([
      this.discovery.discover(signal),
      this.coordinatorStart(request, signal),
    ]);
    const bounds: StaleBounds = {
      // A bounded creation is judged stale only before its lower bound (reconcile/mesh-ca.ts).
      keyCreatedAt: request.meshCa.createdAfter ?? request.meshCa.createdAt,
      ...(request.meshCa.createdAfter ? { keyCreatedBy: request.meshCa.createdAt } : {}),
      marginMs: request.clockSkewMarginMs ?? CLOCK_SKEW_MARGIN_MS,
      ...(coordinatorStartedAt ? { coordinatorStartedAt } : {}),
    };
    const plans = workloads.map((w) => this.plan(w, request, bounds));
    const results: (WorkloadResult | undefined)[] = plans.map((p) => (p.action === 'none' ? p.result : undefined));
    const acting = plans.flatMap((plan, index) => (plan.action === 'none' ? [] : [{ plan, index }]));
    // Groups by restart order, lowest first; each group finishes before the next starts.
    const orders = [...new Set(acting.map((a) => a.plan.workload.order))].sort((x, y) => x - y);
    for (const order of orders) {
      const group = acting.filter((a) => a.plan.workload.order === order);
      // Cancelled, the pool starts no further workload (p-map's signal) and none sends a write.
      const done = await pMap(group, (a) => this.execute(a.plan, signal), { concurrency: RESTART_CONCURRENCY, signal });
      group.forEach((a, j) => (results[a.index] = done[j]));
    }
    const list = results.filter((r): r is WorkloadResult => r !== undefined);
    const staleWorkloads = list.filter((r) => STILL_STALE.includes(r.status)).length;
    const pods: PodResult[] = workloads.flatMap((w, i) =>
      w.pods.map((p) => {
        const judged = judgePod(p, bounds);
        return {
          namespace: w.namespace,
          name: p.name,
          workload: `${w.kind}/${w.name}`,
          ...judged,
          ...(judged.status === 'lost-ca' ? { action: list[i]!.status } : {}),
        };
      }),
    );
    return {
      meshCaSpkiSha256: request.meshCa.spkiSha256,
      results: list,
      pods,
      ...(coordinatorStartedAt ? { coordinatorStartedAt: rfc3339(coordinatorStartedAt) } : {}),
      complete: staleWorkloads === 0,
      staleWorkloads,
    };
  }

  /** The Coordinator-start bound, where the request allows it (stale.ts, coordinatorStartBound). */
  private async coordinatorStart(req: RestartRequest, signal: AbortSignal | undefined): Promise<Date | undefined> {
    const namespace = this.opts.coordinatorNamespace;
    if (!req.recoveredKeyMadeAfter || namespace === undefined) return undefined;
    const pods = await this.discovery.coordinatorPods(namespace, signal);
    return coordinatorStartBound(pods, req.recoveredKeyMadeAfter, req.clockSkewMarginMs ?? CLOCK_SKEW_MARGIN_MS);
  }

  /** Decides what a workload needs, without any API call. */
  private plan(w: Workload, req: RestartRequest, bounds: StaleBounds): Plan {
    const base = { kind: w.kind, namespace: w.namespace, name: w.name };
    const createdAt = bounds.keyCreatedAt;
    const margin = bounds.marginMs ?? CLOCK_SKEW_MARGIN_MS;
    const live = w.pods.filter(isLive);
    if (w.kind === 'CronJob')
      return {
        action: 'none',
        result: {
          ...base,
          status: 'skipped',
          reason:
            "each run's pods fetch their certificate from the current Coordinator when they start; its running Jobs are listed on their own",
        },
      };
    if (w.job?.finished)
      return {
        action: 'none',
        result: { ...base, status: 'skipped', reason: `Job ${w.job.finished}: it runs nothing` },
      };
    const stalePods = live.filter((p) => staleBy(p.initializer, bounds) !== undefined);
    const stale = stalePods.map((p) => p.name);
    // A bounded creation (reconcile/mesh-ca.ts): stale only before its lower bound, unknown-age up to its upper.
    const unknown = live.filter((p) => !stale.includes(p.name) && unknownAge(p.initializer, bounds));
    if (stale.length === 0 && unknown.length > 0) {
      const reason = `${unknown.length} pod(s) got their certificate before ${rfc3339(bounds.keyCreatedBy!)}, while the mesh CA key's creation is only known to lie ${createdAt.getTime() > 0 ? `after ${rfc3339(createdAt)}` : 'before it'}: ${unknown.map((p) => p.name).join(', ')} — ${req.meshCa.unknownAgeReason ?? 'restart them by hand if they cannot reach the mesh'}`;
      return { action: 'none', result: { ...base, status: 'unknown-age', reason } };
    }
    if (stale.length === 0)
      return { action: 'none', result: { ...base, status: 'skipped', reason: notStaleReason(live, createdAt) } };
    const byStart = stalePods.some((p) => staleBy(p.initializer, bounds) === 'coordinator-start');
    const why = `${stale.length} pod(s) whose contrast-initializer finished before the mesh CA key was created (${rfc3339(createdAt)})${byStart ? ` or before the earliest running Coordinator container started (${rfc3339(bounds.coordinatorStartedAt!)})` : ''}`;
    if (w.claimsCoordinatorRole) {
      const role =
        "its pod template carries the Coordinator's pod-role annotation (contrast.edgeless.systems/pod-role=coordinator) but no Coordinator label";
      return {
        action: 'none',
        result: {
          ...base,
          status: 'needs-manual-restart',
          reason: `${why}: ${stale.join(', ')} — ${role}, so it is not restarted automatically; check what it is and restart it by hand`,
        },
      };
    }
    const rolling =
      w.kind === 'Deployment' ||
      ((w.kind === 'StatefulSet' || w.kind === 'DaemonSet') && w.updateStrategy === 'RollingUpdate');
    if (rolling) {
      const restartedAt = Date.parse(w.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION] ?? '');
      // A rollout restart issued after the key existed — or since this service's wave for it
      // began, whatever the clocks say about the key — renews every pod: never patch twice.
      const since = Math.min(createdAt.getTime(), req.restartsIssuedAt?.getTime() ?? Infinity) - margin;
      // An annotation from the future (beyond MAX_CLOCK_SKEW_MS) was set by a broken clock: it is
      // no restart in progress, or a stale workload would be left alone forever.
      if (Number.isFinite(restartedAt) && restartedAt >= since && restartedAt <= Date.now() + MAX_CLOCK_SKEW_MS) {
        return {
          action: 'none',
          result: {
            ...base,
            status: 'skipped',
            method: 'rollout-restart',
            reason: `rollout restart since ${rfc3339(new Date(restartedAt))} in progress (${stale.length} old pod(s) left)`,
          },
        };
      }
    }
    const method = rolling ? 'rollout-restart' : 'delete-pods';
    if (req.mode === 'report')
      return {
        action: 'none',
        result: {
          ...base,
          status: 'stale',
          method,
          reason: `${why}: ${stale.join(', ')} — not restarted: ${req.reportReason ?? 'reported only'}`,
        },
      };
    const podList = stale.join(', ');
    // Never restarted by this service, whatever the mode: the reason says who can.
    const refuse = (reason: string): Plan => ({
      action: 'none',
      result: { ...base, status: 'needs-manual-restart', method: 'delete-pods', reason: `${why}; ${reason}` },
    });
    if (w.controlledBy) {
      const by = `${w.controlledBy.kind} ${w.controlledBy.name}`;
      return refuse(
        `controlled by ${by}, a kind this service does not restart: restart it through ${by} (or delete pod(s) ${podList} by hand)`,
      );
    }
    if (w.job) {
      const j = w.job;
      const owner = j.cronJob ? `Job of CronJob ${j.cronJob}` : 'Job';
      const cost = `deleting a running Job's pod reruns its work and counts as a failure against its backoffLimit (${j.backoffLimit}, ${j.failed} failed so far)`;
      if (!j.deletionOptIn)
        return refuse(
          `${owner}: ${cost}, so it is not deleted unless the Job opts in (annotation ${JOB_POD_DELETION_ANNOTATION}: "true"); delete pod(s) ${podList} by hand when rerunning is safe, or let the Job finish and rerun it`,
        );
      if (j.failed + stale.length > j.backoffLimit)
        return refuse(
          `${owner}: ${cost}; deleting ${stale.length} pod(s) would exceed it and fail the Job — delete by hand when that is acceptable, or raise backoffLimit`,
        );
      if (!this.opts.allowPodDeletion)
        return refuse(
          `${owner} opted in to pod deletion, but this deployment does not allow it: enable allowPodDeletion and apply infra/k8s/rbac-pod-deletion.yaml, or delete pod(s) ${podList} by hand`,
        );
    }
    const manual =
      w.kind === 'Pod'
        ? 'bare pod'
        : w.kind === 'ReplicaSet'
          ? 'ReplicaSet without a Deployment'
          : w.kind === 'ReplicationController'
            ? 'ReplicationController (rollout restart does not apply to it)'
            : w.kind === 'Job'
              ? 'Job (opted in to pod deletion; its controller reruns the pods)'
              : `${w.kind} with updateStrategy ${w.updateStrategy}`;
    if (req.mode === 'list')
      return {
        action: 'none',
        result: {
          ...base,
          status: 'would-restart',
          method,
          reason: rolling ? why : `${why}; ${manual}: delete ${podList}`,
        },
      };
    if (rolling) return { action: 'patch', workload: w, stalePods: stale };
    if (!this.opts.allowPodDeletion) {
      return {
        action: 'none',
        result: {
          ...base,
          status: 'needs-manual-restart',
          method: 'delete-pods',
          reason: `${why}; ${manual}: a rollout restart changes nothing; delete pod(s) ${podList} by hand, or enable allowPodDeletion and apply infra/k8s/rbac-pod-deletion.yaml`,
        },
      };
    }
    return { action: 'delete', workload: w, stalePods: stale };
  }

  private async execute(
    p: Extract<Plan, { workload: Workload }>,
    signal: AbortSignal | undefined,
  ): Promise<WorkloadResult> {
    signal?.throwIfAborted();
    const w = p.workload;
    const base = { kind: w.kind, namespace: w.namespace, name: w.name };
    if (p.action === 'delete') {
      for (const pod of p.stalePods) {
        try {
          signal?.throwIfAborted();
          await this.api.deletePod(w.namespace, pod, signal);
        } catch (err) {
          if (err instanceof KubeApiError && err.status === 404) continue; // already gone: that is the goal
          const hint =
            err instanceof KubeApiError && err.status === 403
              ? ' — apply infra/k8s/rbac-pod-deletion.yaml in this namespace'
              : '';
          return {
            ...base,
            status: 'failed',
            method: 'delete-pods',
            reason: `cannot delete pod ${pod}: ${describeApiError(err)}${hint}`,
          };
        }
      }
      return {
        ...base,
        status: 'deleted',
        method: 'delete-pods',
        reason: `deleted ${p.stalePods.length} pod(s) holding certificates of a lost mesh CA: ${p.stalePods.join(', ')}`,
      };
    }
    const body = {
      spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: rfc3339(new Date()) } } } },
    };
    try {
      await this.api.patch(w.kind, w.namespace, w.name, body, signal);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) {
        return { ...base, status: 'skipped', method: 'rollout-restart', reason: 'deleted while restarting' };
      }
      const hint =
        err instanceof KubeApiError && err.status === 403
          ? ' — apply infra/k8s/rbac.yaml with a RoleBinding in this namespace'
          : '';
      return { ...base, status: 'failed', method: 'rollout-restart', reason: `${describeApiError(err)}${hint}` };
    }
    const reason = `${p.stalePods.length} pod(s) whose contrast-initializer finished before the mesh CA key was created: ${p.stalePods.join(', ')}`;
    return { ...base, status: 'restarted', method: 'rollout-restart', reason };
  }
}
