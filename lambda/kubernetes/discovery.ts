/**
 * Finds the Contrast workloads and their pods, of every kind Contrast's `generate` injects the
 * initializer into (types.ts, WorkloadKind): Deployments, StatefulSets, DaemonSets,
 * ReplicaSets (those a Deployment owns only link it to its pods), ReplicationControllers,
 * Jobs, CronJobs and bare Pods, in the configured namespaces. A workload is a Contrast
 * workload when its pod template runs a `contrast-cc…` runtime class or has the
 * `contrast-initializer` init container (contrast.ts). The Coordinator is never one of them.
 * A ReplicaSet or pod controlled by something else (an operator's own kind) is listed too, with
 * its controller, so no Contrast pod goes unreported. Each pod comes with the state of its
 * initializer (stale.ts), which decides staleness.
 *
 * Per scope it makes eight list calls (seven workload kinds and pods) in parallel and joins
 * pods to workloads through ownerReferences, so the cost does not grow with the number of
 * workloads.
 */
import { UnreachableError } from '../shared/errors.ts';
import type { KubeApiClient } from './api.ts';
import { describeApiError, KubeApiError } from './errors.ts';
import {
  COORDINATOR_LABEL,
  COORDINATOR_LABEL_KEY,
  COORDINATOR_LABEL_VALUE,
  COORDINATOR_ROLE,
  INITIALIZER_NAME,
  POD_ROLE_ANNOTATION,
  RUNTIME_CLASS_PREFIX,
} from './contrast.ts';
import type { ObjectMeta, Pod, PodSpec, PodTemplateSpec, WorkloadObject } from './objects.ts';
import { initializerState, type InitializerState } from './stale.ts';
import type { WorkloadKind } from './types.ts';

/** Workload annotation: integer restart group, lower first (see restart.ts). */
export const RESTART_ORDER_ANNOTATION = 'contrast-autorecover.edgeless.systems/restart-order';

/**
 * Job or CronJob annotation `"true"`: its running pods that hold a lost mesh CA's certificate may
 * be deleted (with allowPodDeletion). Without it they are `needs-manual-restart`: deleting a Job's
 * pod reruns its work and counts against its backoffLimit (restart.ts).
 */
export const JOB_POD_DELETION_ANNOTATION = 'contrast-autorecover.edgeless.systems/delete-stale-job-pods';

export type NamespaceSelection =
  | { kind: 'list'; names: string[] }
  /** Cluster-wide lists: needs the workloads ClusterRole bound cluster-wide (see infra/k8s/rbac.yaml). */
  | { kind: 'all' }
  /** Namespaces matching a label selector, e.g. `contrast.edgeless.systems/restart=enabled`. */
  | { kind: 'selector'; labelSelector: string };

export interface DiscoveryOptions {
  namespaces: NamespaceSelection;
}

export interface PodInfo {
  name: string;
  /** status.startTime; undefined while the pod is not yet scheduled. */
  startTime: Date | undefined;
  deleting: boolean;
  /** status.phase: `Succeeded` and `Failed` pods run nothing. */
  phase: string | undefined;
  /** When (whether) its contrast-initializer got the pod's mesh certificate. */
  initializer: InitializerState;
}

export interface Workload {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  uid: string;
  annotations: Record<string, string>;
  template: PodTemplateSpec;
  /** `RollingUpdate` or `OnDelete` for StatefulSets and DaemonSets. */
  updateStrategy: string | undefined;
  pods: PodInfo[];
  /** Restart group from RESTART_ORDER_ANNOTATION, 0 when absent. */
  order: number;
  /**
   * Carries the Coordinator's pod-role annotation without being a Coordinator (no Coordinator
   * label, which Contrast's own peer discovery requires as well): judged by its pods, never
   * restarted automatically, and listed with the reason (restart.ts).
   */
  claimsCoordinatorRole?: true;
  /**
   * A ReplicaSet or pod whose controller is a kind this service does not restart (e.g. an
   * operator's): listed, restarted only through that controller.
   */
  controlledBy?: { kind: string; name: string };
  /** Jobs: what decides whether their pods may be deleted. */
  job?: JobFacts;
}

export interface JobFacts {
  /** `Complete` or `Failed` once the Job finished. */
  finished: string | undefined;
  /** spec.backoffLimit (Kubernetes' default 6) and status.failed. */
  backoffLimit: number;
  failed: number;
  /** JOB_POD_DELETION_ANNOTATION on the Job or its CronJob. */
  deletionOptIn: boolean;
  /** The CronJob that made it, if any. */
  cronJob?: string;
}

/** batch/v1 JobSpec.backoffLimit default (kubernetes.io, "Jobs", pod backoff failure policy). */
const DEFAULT_BACKOFF_LIMIT = 6;

function jobFacts(o: WorkloadObject, cronJob: WorkloadObject | undefined): JobFacts {
  const finished = o.status?.conditions?.find(
    (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
  )?.type;
  const optIn = [o.metadata.annotations, cronJob?.metadata.annotations].some(
    (a) => a?.[JOB_POD_DELETION_ANNOTATION] === 'true',
  );
  return {
    finished,
    backoffLimit: o.spec?.backoffLimit ?? DEFAULT_BACKOFF_LIMIT,
    failed: o.status?.failed ?? 0,
    deletionOptIn: optIn,
    ...(cronJob ? { cronJob: cronJob.metadata.name } : {}),
  };
}

function isContrastSpec(spec: PodSpec | undefined): boolean {
  if (!spec) return false;
  if (spec.runtimeClassName?.startsWith(RUNTIME_CLASS_PREFIX)) return true;
  return spec.initContainers?.some((c) => c.name === INITIALIZER_NAME) ?? false;
}

/**
 * Coordinator by its label or as the StatefulSet named `coordinator` (Contrast's peer
 * discovery selects by the label and the pod-role annotation together, peers.ts). The
 * annotation alone makes no Coordinator: anything may set it, and a workload is judged by its pods.
 */
function isCoordinator(kind: WorkloadKind, meta: ObjectMeta, template: PodTemplateSpec): boolean {
  if (kind === 'StatefulSet' && meta.name === 'coordinator') return true;
  for (const labels of [meta.labels, template.metadata?.labels]) {
    if (labels?.[COORDINATOR_LABEL_KEY] === COORDINATOR_LABEL_VALUE) return true;
  }
  return false;
}

function claimsCoordinatorRole(meta: ObjectMeta, template: PodTemplateSpec): boolean {
  return [meta.annotations, template.metadata?.annotations].some(
    (ann) => ann?.[POD_ROLE_ANNOTATION] === COORDINATOR_ROLE,
  );
}

function parseOrder(value: string | undefined): number {
  if (value === undefined) return 0;
  const n = Number(value.trim());
  return Number.isSafeInteger(n) ? n : 0;
}

function podInfo(p: Pod): PodInfo {
  const t = p.status?.startTime ? new Date(p.status.startTime) : undefined;
  return {
    name: p.metadata.name,
    startTime: t && !Number.isNaN(t.getTime()) ? t : undefined,
    deleting: !!p.metadata.deletionTimestamp,
    phase: p.status?.phase,
    initializer: initializerState(p),
  };
}

/** Controller kinds whose objects discovery lists: their pods join them (or are dropped with them). */
const LISTED_CONTROLLERS = new Set(['ReplicaSet', 'StatefulSet', 'DaemonSet', 'ReplicationController', 'Job']);

function controllerOf(meta: ObjectMeta): { kind: string; name: string; uid: string } | undefined {
  return meta.ownerReferences?.find((r) => r.controller) ?? undefined;
}

export class WorkloadDiscovery {
  constructor(
    private readonly api: KubeApiClient,
    private readonly opts: DiscoveryOptions,
  ) {}

  /** The namespaces to look in; undefined means cluster-wide lists. */
  async scopes(signal?: AbortSignal): Promise<(string | undefined)[]> {
    const sel = this.opts.namespaces;
    if (sel.kind === 'all') return [undefined];
    if (sel.kind === 'list') return [...new Set(sel.names)];
    const list = await this.guard('namespaces', undefined, () => this.api.listNamespaces(sel.labelSelector, signal));
    return list.map((n) => n.metadata.name).sort();
  }

  /** Contrast workloads (Coordinator excluded) with their pods, sorted by namespace, kind, name. */
  async discover(signal?: AbortSignal): Promise<Workload[]> {
    const scopes = await this.scopes(signal);
    const perScope = await Promise.all(scopes.map((ns) => this.discoverIn(ns, signal)));
    return perScope
      .flat()
      .sort(
        (a, b) =>
          a.namespace.localeCompare(b.namespace) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name),
      );
  }

  private async discoverIn(ns: string | undefined, signal: AbortSignal | undefined): Promise<Workload[]> {
    const list = (kind: WorkloadKind, resource: string) =>
      this.guard(resource, ns, () => this.api.list<WorkloadObject>(kind, ns, undefined, signal));
    const [deployments, statefulsets, daemonsets, replicasets, controllers, jobs, cronjobs, pods] = await Promise.all([
      list('Deployment', 'deployments'),
      list('StatefulSet', 'statefulsets'),
      list('DaemonSet', 'daemonsets'),
      list('ReplicaSet', 'replicasets'),
      list('ReplicationController', 'replicationcontrollers'),
      list('Job', 'jobs'),
      list('CronJob', 'cronjobs'),
      this.guard('pods', ns, () => this.api.listPods(ns, undefined, signal)),
    ]);

    const byUid = new Map<string, Workload>();
    const add = (kind: WorkloadKind, o: WorkloadObject, extra: Partial<Workload> = {}): void => {
      const template = (kind === 'CronJob' ? o.spec?.jobTemplate?.spec?.template : o.spec?.template) ?? {};
      if (!isContrastSpec(template.spec) || isCoordinator(kind, o.metadata, template)) return;
      byUid.set(o.metadata.uid, {
        kind,
        namespace: o.metadata.namespace ?? ns ?? 'default',
        name: o.metadata.name,
        uid: o.metadata.uid,
        annotations: o.metadata.annotations ?? {},
        template,
        updateStrategy:
          kind === 'StatefulSet' || kind === 'DaemonSet'
            ? (o.spec?.updateStrategy?.type ?? 'RollingUpdate')
            : undefined,
        pods: [],
        order: parseOrder(o.metadata.annotations?.[RESTART_ORDER_ANNOTATION]),
        ...(claimsCoordinatorRole(o.metadata, template) ? { claimsCoordinatorRole: true as const } : {}),
        ...extra,
      });
    };
    for (const d of deployments) add('Deployment', d);
    for (const s of statefulsets) add('StatefulSet', s);
    for (const d of daemonsets) add('DaemonSet', d);
    for (const r of controllers) add('ReplicationController', r);
    const cronByUid = new Map(cronjobs.map((c) => [c.metadata.uid, c]));
    for (const c of cronjobs) add('CronJob', c);
    for (const j of jobs) {
      const ctrl = controllerOf(j.metadata);
      const cron = ctrl?.kind === 'CronJob' ? cronByUid.get(ctrl.uid) : undefined;
      add('Job', j, { job: jobFacts(j, cron) });
    }

    // ReplicaSet uid → the uid that owns its pods for restart purposes.
    const rsOwner = new Map<string, string>();
    for (const rs of replicasets) {
      const ctrl = controllerOf(rs.metadata);
      if (ctrl?.kind === 'Deployment') {
        rsOwner.set(rs.metadata.uid, ctrl.uid);
      } else {
        add('ReplicaSet', rs, ctrl ? { controlledBy: { kind: ctrl.kind, name: ctrl.name } } : {});
        rsOwner.set(rs.metadata.uid, rs.metadata.uid);
      }
    }

    for (const p of pods) {
      const ctrl = controllerOf(p.metadata);
      // Controllers of kinds listed above own their pods through byUid; any other kind (an
      // operator's own) leaves the pod to be listed by itself, with its controller.
      if (!ctrl || !LISTED_CONTROLLERS.has(ctrl.kind)) {
        const template: PodTemplateSpec = {
          metadata: { labels: p.metadata.labels ?? {}, annotations: p.metadata.annotations ?? {} },
          spec: p.spec ?? {},
        };
        if (!isContrastSpec(p.spec) || isCoordinator('Pod', p.metadata, template)) continue;
        byUid.set(p.metadata.uid, {
          kind: 'Pod',
          namespace: p.metadata.namespace ?? ns ?? 'default',
          name: p.metadata.name,
          uid: p.metadata.uid,
          annotations: p.metadata.annotations ?? {},
          template,
          updateStrategy: undefined,
          pods: [podInfo(p)],
          order: parseOrder(p.metadata.annotations?.[RESTART_ORDER_ANNOTATION]),
          ...(claimsCoordinatorRole(p.metadata, template) ? { claimsCoordinatorRole: true as const } : {}),
          ...(ctrl ? { controlledBy: { kind: ctrl.kind, name: ctrl.name } } : {}),
        });
        continue;
      }
      const ownerUid = ctrl.kind === 'ReplicaSet' ? rsOwner.get(ctrl.uid) : ctrl.uid;
      const w = ownerUid ? byUid.get(ownerUid) : undefined;
      if (w) w.pods.push(podInfo(p));
    }
    return [...byUid.values()];
  }

  /**
   * The Coordinator's pods as its own peer discovery selects them (label and pod-role
   * annotation, peers.ts), for the Coordinator-start bound (stale.ts).
   */
  async coordinatorPods(namespace: string, signal?: AbortSignal): Promise<Pod[]> {
    const pods = await this.guard('pods', namespace, () => this.api.listPods(namespace, COORDINATOR_LABEL, signal));
    return pods.filter((p) => p.metadata.annotations?.[POD_ROLE_ANNOTATION] === COORDINATOR_ROLE);
  }

  /** Runs a list call; failures become UnreachableError naming the namespace and the fix. */
  private async guard<T>(resource: string, ns: string | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const where = ns === undefined ? 'cluster-wide' : `in namespace ${ns}`;
      const hint =
        err instanceof KubeApiError && err.status === 403
          ? resource === 'namespaces' || ns === undefined
            ? ' — apply infra/k8s/rbac.yaml including the cluster-scoped binding for this namespace mode'
            : ` — apply infra/k8s/rbac.yaml with a RoleBinding in namespace ${ns}`
          : '';
      throw new UnreachableError(
        `cannot list ${resource} ${where}: ${describeApiError(err)}${hint}; workloads to restart are unknown`,
        { cause: err },
      );
    }
  }
}
