/**
 * Step 6 of reconcile: restart every Contrast workload whose pods started before the
 * current mesh CA, so they fetch certificates from the new CA. Convergent: a workload whose
 * pods all started after the CA, or whose rollout restart already happened after it, is
 * skipped, so a second run after a partial failure only finishes what is left.
 *
 * Methods (docs/protocol.md §7):
 * - `rollout-restart`: strategic-merge patch of the pod template annotation
 *   `kubectl.kubernetes.io/restartedAt` (what `kubectl rollout restart` does), for
 *   Deployments and RollingUpdate StatefulSets/DaemonSets;
 * - `delete-pods`: delete the stale pods (their controller, if any, recreates them), for
 *   OnDelete StatefulSets/DaemonSets, ReplicaSets no Deployment owns, and bare pods; only
 *   with `allowPodDeletion`, otherwise reported as `needs-manual-restart`.
 *
 * Ordering: the workload annotation RESTART_ORDER_ANNOTATION (integer, default 0) forms
 * groups restarted one after another, lowest first; with `waitForRollout` a group's
 * rollouts finish before the next group starts.
 */
import type { KubeApiClient } from './api.ts';
import type { Workload, WorkloadDiscovery } from './discovery.ts';
import { describeApiError, KubeApiError } from './errors.ts';
import type { WorkloadObject } from './objects.ts';
import type { RestartRequest, RestartSummary, WorkloadRestarter, WorkloadResult } from './types.ts';

export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';

export interface RestartOptions {
  /** Delete pods where a patch restarts nothing (OnDelete, orphan ReplicaSets, bare pods). */
  allowPodDeletion: boolean;
  /** Workloads restarted at the same time. */
  concurrency: number;
  /** Wait until patched workloads finished rolling out. */
  waitForRollout?: { timeoutMs: number; pollMs?: number };
  /** Clock (tests). */
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

/** Runs `fn` over `items` with at most `limit` at a time; results keep the input order. */
export async function mapPool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/** RFC 3339 without fractions, like kubectl writes restartedAt. */
function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

type Plan =
  | { action: 'none'; result: WorkloadResult }
  | { action: 'patch'; workload: Workload; stalePods: string[] }
  | { action: 'delete'; workload: Workload; stalePods: string[] };

export class KubeWorkloadRestarter implements WorkloadRestarter {
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly api: KubeApiClient,
    private readonly discovery: WorkloadDiscovery,
    private readonly opts: RestartOptions,
  ) {
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  async restartStale(request: RestartRequest): Promise<RestartSummary> {
    const workloads = await this.discovery.discover();
    const plans = workloads.map((w) => this.plan(w, request));
    const results: (WorkloadResult | undefined)[] = plans.map((p) => (p.action === 'none' ? p.result : undefined));
    const acting = plans.flatMap((plan, index) => (plan.action === 'none' ? [] : [{ plan, index }]));
    // Groups by restart order, lowest first; each group finishes before the next starts.
    const orders = [...new Set(acting.map((a) => a.plan.workload.order))].sort((x, y) => x - y);
    for (const order of orders) {
      const group = acting.filter((a) => a.plan.workload.order === order);
      const done = await mapPool(group, this.opts.concurrency, (a) => this.execute(a.plan));
      group.forEach((a, j) => (results[a.index] = done[j]));
    }
    const list = results.filter((r): r is WorkloadResult => r !== undefined);
    return {
      meshCaFingerprint: request.meshCaFingerprint,
      results: list,
      complete: list.every((r) => r.status !== 'failed' && r.status !== 'needs-manual-restart' && r.status !== 'would-restart'),
    };
  }

  /** Decides what a workload needs, without any API call. */
  private plan(w: Workload, req: RestartRequest): Plan {
    const base = { kind: w.kind, namespace: w.namespace, name: w.name };
    const notBefore = req.meshCaNotBefore.getTime();
    const live = w.pods.filter((p) => !p.deleting);
    const stale = live.filter((p) => p.startTime !== undefined && p.startTime.getTime() < notBefore).map((p) => p.name);
    if (stale.length === 0) {
      const reason = live.length === 0 ? 'no running pods' : `all ${live.length} pod(s) started after the mesh CA (${rfc3339(req.meshCaNotBefore)})`;
      return { action: 'none', result: { ...base, status: 'skipped', reason } };
    }
    const rolling = w.kind === 'Deployment' || ((w.kind === 'StatefulSet' || w.kind === 'DaemonSet') && w.updateStrategy === 'RollingUpdate');
    if (rolling) {
      const restartedAt = Date.parse(w.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION] ?? '');
      // A restart patched after the CA is rolling: patching again would only restart it twice.
      if (Number.isFinite(restartedAt) && restartedAt >= notBefore) {
        return { action: 'none', result: { ...base, status: 'skipped', method: 'rollout-restart', reason: `rollout restart since ${rfc3339(new Date(restartedAt))} in progress (${stale.length} old pod(s) left)` } };
      }
      if (req.dryRun) return { action: 'none', result: { ...base, status: 'would-restart', method: 'rollout-restart', reason: `${stale.length} pod(s) started before the mesh CA` } };
      return { action: 'patch', workload: w, stalePods: stale };
    }
    const why =
      w.kind === 'Pod' ? 'bare pod' : w.kind === 'ReplicaSet' ? 'ReplicaSet without a Deployment' : `${w.kind} with updateStrategy ${w.updateStrategy}`;
    if (req.dryRun) return { action: 'none', result: { ...base, status: 'would-restart', method: 'delete-pods', reason: `${why}: delete ${stale.join(', ')}` } };
    if (!this.opts.allowPodDeletion) {
      return {
        action: 'none',
        result: {
          ...base,
          status: 'needs-manual-restart',
          method: 'delete-pods',
          reason: `${why}: a rollout restart changes nothing; delete pod(s) ${stale.join(', ')} by hand, or enable allowPodDeletion and apply infra/k8s/rbac-pod-deletion.yaml`,
        },
      };
    }
    return { action: 'delete', workload: w, stalePods: stale };
  }

  private async execute(p: Extract<Plan, { workload: Workload }>): Promise<WorkloadResult> {
    const w = p.workload;
    const base = { kind: w.kind, namespace: w.namespace, name: w.name };
    if (p.action === 'delete') {
      for (const pod of p.stalePods) {
        try {
          await this.api.deletePod(w.namespace, pod);
        } catch (err) {
          if (err instanceof KubeApiError && err.status === 404) continue; // already gone: that is the goal
          const hint = err instanceof KubeApiError && err.status === 403 ? ' — apply infra/k8s/rbac-pod-deletion.yaml in this namespace' : '';
          return { ...base, status: 'failed', method: 'delete-pods', reason: `cannot delete pod ${pod}: ${describeApiError(err)}${hint}` };
        }
      }
      return { ...base, status: 'deleted', method: 'delete-pods', reason: `deleted ${p.stalePods.length} pod(s) started before the mesh CA` };
    }
    const now = this.opts.now?.() ?? new Date();
    const body = { spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: rfc3339(now) } } } } };
    let patched: WorkloadObject;
    try {
      patched = await this.api.patch(w.kind, w.namespace, w.name, body);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) {
        return { ...base, status: 'skipped', method: 'rollout-restart', reason: 'deleted while restarting' };
      }
      const hint = err instanceof KubeApiError && err.status === 403 ? ' — apply infra/k8s/rbac.yaml with a RoleBinding in this namespace' : '';
      return { ...base, status: 'failed', method: 'rollout-restart', reason: `${describeApiError(err)}${hint}` };
    }
    const reason = `${p.stalePods.length} pod(s) started before the mesh CA`;
    if (!this.opts.waitForRollout) return { ...base, status: 'restarted', method: 'rollout-restart', reason };
    const waited = await this.waitForRollout(w, patched.metadata?.generation ?? (w.generation ?? 0) + 1);
    return waited === true
      ? { ...base, status: 'restarted', method: 'rollout-restart', reason: `${reason}; rollout finished` }
      : { ...base, status: 'failed', method: 'rollout-restart', reason: `restart patched, but ${waited} — check \`kubectl -n ${w.namespace} rollout status ${w.kind.toLowerCase()}/${w.name}\`` };
  }

  /** Polls the workload until the new generation is fully rolled out; true, or why not. */
  private async waitForRollout(w: Workload, generation: number): Promise<true | string> {
    const { timeoutMs, pollMs = 1_000 } = this.opts.waitForRollout!;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let obj: WorkloadObject;
      try {
        obj = await this.api.get(w.kind, w.namespace, w.name);
      } catch (err) {
        return `its rollout status cannot be read: ${describeApiError(err)}`;
      }
      if (rolledOut(w.kind, obj, generation)) return true;
      if (Date.now() + pollMs > deadline) return `the rollout did not finish within ${timeoutMs} ms`;
      await this.sleep(pollMs);
    }
  }
}

/** The same conditions `kubectl rollout status` waits for. */
export function rolledOut(kind: Workload['kind'], o: WorkloadObject, generation: number): boolean {
  const s = o.status ?? {};
  if ((s.observedGeneration ?? 0) < generation) return false;
  if (kind === 'DaemonSet') {
    const desired = s.desiredNumberScheduled ?? 0;
    return (s.updatedNumberScheduled ?? 0) >= desired && (s.numberAvailable ?? 0) >= desired;
  }
  const want = o.spec?.replicas ?? 1;
  const updated = s.updatedReplicas ?? 0;
  if (updated < want) return false;
  if (kind === 'Deployment') return (s.replicas ?? 0) <= updated && (s.availableReplicas ?? 0) >= want;
  return (s.readyReplicas ?? 0) >= want;
}
