/**
 * Object store of the Kubernetes API stand-in: namespaces, pods, the apps/v1 workload kinds,
 * ReplicationControllers and batch/v1 Jobs and CronJobs, with resourceVersion and generation
 * bookkeeping, and the controller behaviour the restart code relies on (a changed pod template
 * rolls the pods; a deleted pod of a controller comes back with a new start time; a deleted
 * running Job pod counts as a failure against the Job's backoffLimit, and past it the Job fails
 * instead of rerunning — kubernetes.io, "Jobs", pod backoff failure policy).
 *
 * Init containers run in order as the kubelet runs them: a native sidecar (restartPolicy
 * Always) keeps running, and the next init container starts only once the sidecar reports
 * started (its startup probe passed; kubernetes.io "Sidecar Containers", KEP-753); the pod is
 * Initialized when the last init container finished.
 */
import { randomUUID } from 'node:crypto';

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  generation?: number;
  creationTimestamp: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: JsonObject;
  status?: JsonObject;
}

export interface ResourceInfo {
  resource: string;
  /** '' (core), 'apps', or the API group of the kinds the manifests create (RBAC, admission, …); always version v1. */
  group: string;
  kind: string;
  namespaced: boolean;
}

export const RESOURCES: Record<string, ResourceInfo> = {
  namespaces: { resource: 'namespaces', group: '', kind: 'Namespace', namespaced: false },
  pods: { resource: 'pods', group: '', kind: 'Pod', namespaced: true },
  deployments: { resource: 'deployments', group: 'apps', kind: 'Deployment', namespaced: true },
  statefulsets: { resource: 'statefulsets', group: 'apps', kind: 'StatefulSet', namespaced: true },
  daemonsets: { resource: 'daemonsets', group: 'apps', kind: 'DaemonSet', namespaced: true },
  replicasets: { resource: 'replicasets', group: 'apps', kind: 'ReplicaSet', namespaced: true },
  replicationcontrollers: {
    resource: 'replicationcontrollers',
    group: '',
    kind: 'ReplicationController',
    namespaced: true,
  },
  jobs: { resource: 'jobs', group: 'batch', kind: 'Job', namespaced: true },
  cronjobs: { resource: 'cronjobs', group: 'batch', kind: 'CronJob', namespaced: true },
  configmaps: { resource: 'configmaps', group: '', kind: 'ConfigMap', namespaced: true },
  // Kinds only created (by `kubectl apply` of the rendered manifests) and read back.
  services: { resource: 'services', group: '', kind: 'Service', namespaced: true },
  serviceaccounts: { resource: 'serviceaccounts', group: '', kind: 'ServiceAccount', namespaced: true },
  secrets: { resource: 'secrets', group: '', kind: 'Secret', namespaced: true },
  roles: { resource: 'roles', group: 'rbac.authorization.k8s.io', kind: 'Role', namespaced: true },
  rolebindings: { resource: 'rolebindings', group: 'rbac.authorization.k8s.io', kind: 'RoleBinding', namespaced: true },
  clusterroles: {
    resource: 'clusterroles',
    group: 'rbac.authorization.k8s.io',
    kind: 'ClusterRole',
    namespaced: false,
  },
  clusterrolebindings: {
    resource: 'clusterrolebindings',
    group: 'rbac.authorization.k8s.io',
    kind: 'ClusterRoleBinding',
    namespaced: false,
  },
  validatingadmissionpolicies: {
    resource: 'validatingadmissionpolicies',
    group: 'admissionregistration.k8s.io',
    kind: 'ValidatingAdmissionPolicy',
    namespaced: false,
  },
  validatingadmissionpolicybindings: {
    resource: 'validatingadmissionpolicybindings',
    group: 'admissionregistration.k8s.io',
    kind: 'ValidatingAdmissionPolicyBinding',
    namespaced: false,
  },
};

export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: JsonObject;
}

export interface WorkloadOptions {
  template: PodTemplate;
  replicas?: number;
  /** When the existing pods started (status.startTime). */
  startedAt: Date;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** StatefulSet/DaemonSet update strategy type. */
  updateStrategy?: 'RollingUpdate' | 'OnDelete';
  /** The existing pods' contrast-initializer finish (see PodOptions). */
  initializerFinishedAt?: Date | 'waiting';
  /** The existing pods' Ready condition (default true), e.g. false for a stale Coordinator. */
  ready?: boolean;
  /** A controller of another kind (e.g. an operator's) that owns this ReplicaSet. */
  owner?: KubeObject;
}

export interface JobOptions {
  template: PodTemplate;
  /** Running pods (parallelism); 0 with `finished` for a Job that is done. */
  pods?: number;
  startedAt: Date;
  initializerFinishedAt?: Date | 'waiting';
  /** spec.backoffLimit (Kubernetes' default 6). */
  backoffLimit?: number;
  /** A finished Job: its condition, its pods Succeeded (Complete) or Failed. */
  finished?: 'Complete' | 'Failed';
  annotations?: Record<string, string>;
  /** The CronJob that made it. */
  owner?: KubeObject;
}

export interface PodOptions {
  template: PodTemplate;
  startedAt?: Date;
  ready?: boolean;
  owner?: KubeObject;
  deleting?: boolean;
  /**
   * When its contrast-initializer finished. Default: as upstream's retry loop would, given
   * `coordinator.servingSince()`; `'waiting'` keeps it in Init. For a sidecar initializer,
   * when it reported started (certificate written, volume set up, startup probe passed).
   */
  initializerFinishedAt?: Date | 'waiting';
  /** A sidecar initializer that restarted at this time (restartCount 1, the first run in lastState). */
  sidecarRestartedAt?: Date;
  /** status.phase of a pod that finished (a Job's): Succeeded or Failed. */
  phase?: 'Succeeded' | 'Failed';
}

/** What initializers see of the Coordinator: since when it serves certificates (undefined: stale). */
export interface CoordinatorView {
  servingSince(): Date | undefined;
}

/** Contrast's initializer retries every 5 s while the Coordinator refuses it (initializer/main.go). */
export const INITIALIZER_RETRY_MS = 5_000;

/** Contrast's initializer init container name (internal/kuberesource/parts.go). */
const INITIALIZER = 'contrast-initializer';

interface InitContainerSpec {
  name: string;
  restartPolicy?: string;
}

export class KubeStore {
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private rv = 1000;
  /** Delay between a template change and the pods being rolled (0 = at once). */
  rolloutDelayMs = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** owner uid → resource → keys of the objects it owns (keeps controller work O(owned)). */
  private readonly owned = new Map<string, Map<string, Set<string>>>();
  /** The Coordinator initializers talk to; default: serving all along. */
  coordinator: CoordinatorView = { servingSince: () => new Date(0) };
  /** Initializer retry period (upstream 5 s; tests shorten it). */
  initializerRetryMs = INITIALIZER_RETRY_MS;
  /** How long one successful initializer run takes. */
  initializerRunMs = 300;
  /** How long each regular init container after the initializer runs (e.g. a database migration). */
  laterInitRunMs = 0;
  /** The kubelets' clock. */
  now: () => Date = () => new Date();
  /** Pods whose initializer has not finished yet: when it started, and the finish a fixture pinned. */
  private readonly initializing = new Map<
    string,
    { started: Date; pinned: Date | undefined; restartedAt: Date | undefined }
  >();

  constructor() {
    for (const r of Object.keys(RESOURCES)) this.objects.set(r, new Map());
  }

  nextResourceVersion(): string {
    return String(++this.rv);
  }

  key(namespace: string | undefined, name: string): string {
    return `${namespace ?? ''}/${name}`;
  }

  get(resource: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.objects.get(resource)?.get(this.key(namespace, name));
  }

  /** Objects of a resource, sorted by namespace/name like an API server's list. */
  list(resource: string, namespace?: string): KubeObject[] {
    const all = [...(this.objects.get(resource)?.values() ?? [])];
    const filtered = namespace === undefined ? all : all.filter((o) => o.metadata.namespace === namespace);
    return filtered.sort((a, b) =>
      this.key(a.metadata.namespace, a.metadata.name).localeCompare(this.key(b.metadata.namespace, b.metadata.name)),
    );
  }

  put(resource: string, obj: KubeObject): KubeObject {
    obj.metadata.resourceVersion = this.nextResourceVersion();
    const key = this.key(obj.metadata.namespace, obj.metadata.name);
    this.objects.get(resource)!.set(key, obj);
    for (const ref of obj.metadata.ownerReferences ?? []) {
      let byResource = this.owned.get(ref.uid);
      if (!byResource) this.owned.set(ref.uid, (byResource = new Map()));
      let keys = byResource.get(resource);
      if (!keys) byResource.set(resource, (keys = new Set()));
      keys.add(key);
    }
    return obj;
  }

  remove(resource: string, namespace: string | undefined, name: string): void {
    const key = this.key(namespace, name);
    const obj = this.objects.get(resource)?.get(key);
    this.objects.get(resource)?.delete(key);
    for (const ref of obj?.metadata.ownerReferences ?? []) this.owned.get(ref.uid)?.get(resource)?.delete(key);
  }

  /** Objects of `resource` whose ownerReferences name `owner`. */
  ownedBy(resource: string, owner: KubeObject): KubeObject[] {
    const keys = this.owned.get(owner.metadata.uid)?.get(resource);
    if (!keys) return [];
    const map = this.objects.get(resource)!;
    return [...keys].map((k) => map.get(k)).filter((o): o is KubeObject => o !== undefined);
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /**
   * Create as the API server does: a namespaced object needs its namespace to exist (404
   * `namespaces "x" not found`, which is why a manifest stream lists the Namespace first), a
   * taken name is 409 AlreadyExists. Returns the stored object or the failure.
   */
  create(
    resource: string,
    body: KubeObject,
  ): { obj: KubeObject } | { status: number; reason: string; message: string } {
    const info = RESOURCES[resource]!;
    const { name, namespace } = body.metadata ?? ({} as ObjectMeta);
    if (!name)
      return {
        status: 422,
        reason: 'Invalid',
        message: `${info.kind} "" is invalid: metadata.name: Required value: name or generateName is required`,
      };
    if (info.namespaced && !this.get('namespaces', undefined, namespace!))
      return { status: 404, reason: 'NotFound', message: `namespaces "${namespace}" not found` };
    if (this.get(resource, namespace, name))
      return {
        status: 409,
        reason: 'AlreadyExists',
        message: `${resource}${info.group ? `.${info.group}` : ''} "${name}" already exists`,
      };
    const m = meta(name, info.namespaced ? namespace : undefined, {
      ...body.metadata,
      ...(body.spec ? { generation: 1 } : {}),
    });
    return {
      obj: this.put(resource, {
        ...body,
        apiVersion: info.group ? `${info.group}/v1` : 'v1',
        kind: info.kind,
        metadata: m,
      }),
    };
  }

  // ---- fixtures -------------------------------------------------------------------------

  addNamespace(name: string, labels: Record<string, string> = {}): KubeObject {
    return this.put('namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: meta(name, undefined, { labels: { 'kubernetes.io/metadata.name': name, ...labels } }),
      status: { phase: 'Active' },
    });
  }

  private ensureNamespace(ns: string): void {
    if (!this.get('namespaces', undefined, ns)) this.addNamespace(ns);
  }

  addDeployment(ns: string, name: string, o: WorkloadOptions): KubeObject {
    this.ensureNamespace(ns);
    const d = this.put('deployments', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(name, ns, { labels: o.labels, annotations: o.annotations, generation: 1 }),
      spec: {
        replicas: o.replicas ?? 1,
        selector: { matchLabels: o.template.metadata?.labels ?? {} },
        template: clone(o.template) as unknown as JsonObject,
        strategy: { type: 'RollingUpdate' },
      },
    });
    const rs = this.addReplicaSetFor(d, o.startedAt, o.initializerFinishedAt);
    this.setWorkloadStatus(d, o.replicas ?? 1, true);
    void rs;
    return d;
  }

  private addReplicaSetFor(d: KubeObject, startedAt: Date, initializerFinishedAt?: Date | 'waiting'): KubeObject {
    const ns = d.metadata.namespace!;
    const hash = Math.abs(hashString(JSON.stringify(d.spec?.template)))
      .toString(36)
      .slice(0, 8);
    const replicas = (d.spec?.replicas as number) ?? 1;
    const rs = this.put('replicasets', {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: meta(`${d.metadata.name}-${hash}`, ns, {
        ownerReferences: [ownerRef(d)],
        generation: 1,
        labels: templateLabels(d),
      }),
      spec: { replicas, template: clone(d.spec!.template!) },
    });
    for (let i = 0; i < replicas; i++) {
      this.addPod(ns, `${rs.metadata.name}-${randomSuffix()}`, {
        template: d.spec!.template as unknown as PodTemplate,
        startedAt,
        owner: rs,
        ...(initializerFinishedAt ? { initializerFinishedAt } : {}),
      });
    }
    return rs;
  }

  addStatefulSet(ns: string, name: string, o: WorkloadOptions): KubeObject {
    return this.addSetLike('statefulsets', 'StatefulSet', ns, name, o, (i) => `${name}-${i}`);
  }

  addDaemonSet(ns: string, name: string, o: WorkloadOptions): KubeObject {
    return this.addSetLike('daemonsets', 'DaemonSet', ns, name, o, () => `${name}-${randomSuffix()}`);
  }

  /** A ReplicaSet no Deployment owns (another controller may, `o.owner`). */
  addReplicaSet(ns: string, name: string, o: WorkloadOptions): KubeObject {
    return this.addSetLike('replicasets', 'ReplicaSet', ns, name, o, () => `${name}-${randomSuffix()}`);
  }

  addReplicationController(ns: string, name: string, o: WorkloadOptions): KubeObject {
    return this.addSetLike(
      'replicationcontrollers',
      'ReplicationController',
      ns,
      name,
      o,
      () => `${name}-${randomSuffix()}`,
    );
  }

  /** A Job with its pods (batch/v1): running ones, or finished ones with its condition. */
  addJob(ns: string, name: string, o: JobOptions): KubeObject {
    this.ensureNamespace(ns);
    const count = o.pods ?? 1;
    const job = this.put('jobs', {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: meta(name, ns, {
        annotations: o.annotations,
        ...(o.owner ? { ownerReferences: [ownerRef(o.owner)] } : {}),
        generation: 1,
      }),
      spec: {
        parallelism: count,
        backoffLimit: o.backoffLimit ?? 6,
        template: clone(o.template) as unknown as JsonObject,
      },
      status: { startTime: rfc3339(o.startedAt), active: o.finished ? 0 : count, failed: 0, succeeded: 0 },
    });
    if (o.finished) {
      job.status!.conditions = [{ type: o.finished, status: 'True', lastTransitionTime: rfc3339(this.now()) }];
      job.status![o.finished === 'Complete' ? 'succeeded' : 'failed'] = count;
    }
    for (let i = 0; i < count; i++) {
      this.addPod(ns, `${name}-${randomSuffix()}`, {
        template: o.template,
        startedAt: o.startedAt,
        owner: job,
        ...(o.initializerFinishedAt ? { initializerFinishedAt: o.initializerFinishedAt } : {}),
        ...(o.finished ? { phase: o.finished === 'Complete' ? 'Succeeded' : 'Failed' } : {}),
      });
    }
    return job;
  }

  /** A CronJob (batch/v1); its runs are Jobs it owns (addJob with `owner`). */
  addCronJob(ns: string, name: string, o: { template: PodTemplate; annotations?: Record<string, string> }): KubeObject {
    this.ensureNamespace(ns);
    return this.put('cronjobs', {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: meta(name, ns, { annotations: o.annotations, generation: 1 }),
      spec: {
        schedule: '*/5 * * * *',
        jobTemplate: { spec: { template: clone(o.template) as unknown as JsonObject } },
      },
    });
  }

  private addSetLike(
    resource: string,
    kind: string,
    ns: string,
    name: string,
    o: WorkloadOptions,
    podName: (i: number) => string,
  ): KubeObject {
    this.ensureNamespace(ns);
    const replicas = o.replicas ?? 1;
    const spec: JsonObject = {
      selector: { matchLabels: o.template.metadata?.labels ?? {} },
      template: clone(o.template) as unknown as JsonObject,
    };
    if (kind !== 'DaemonSet') spec.replicas = replicas;
    if (kind === 'StatefulSet') spec.updateStrategy = { type: o.updateStrategy ?? 'RollingUpdate' };
    if (kind === 'DaemonSet') spec.updateStrategy = { type: o.updateStrategy ?? 'RollingUpdate' };
    const w = this.put(resource, {
      apiVersion: resource === 'replicationcontrollers' ? 'v1' : 'apps/v1',
      kind,
      metadata: meta(name, ns, {
        labels: o.labels,
        annotations: o.annotations,
        generation: 1,
        ...(o.owner ? { ownerReferences: [ownerRef(o.owner)] } : {}),
      }),
      spec,
    });
    for (let i = 0; i < replicas; i++) {
      this.addPod(ns, podName(i), {
        template: o.template,
        startedAt: o.startedAt,
        owner: w,
        ...(o.ready === false ? { ready: false } : {}),
        ...(o.initializerFinishedAt ? { initializerFinishedAt: o.initializerFinishedAt } : {}),
      });
    }
    this.setWorkloadStatus(w, replicas, true);
    return w;
  }

  addPod(ns: string, name: string, o: PodOptions): KubeObject {
    this.ensureNamespace(ns);
    const ready = o.ready ?? true;
    const started = o.startedAt ?? this.now();
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: meta(name, ns, {
        labels: o.template.metadata?.labels,
        annotations: o.template.metadata?.annotations,
        ownerReferences: o.owner ? [ownerRef(o.owner)] : undefined,
      }),
      spec: clone(o.template.spec),
      status: { phase: 'Running', startTime: rfc3339(started) },
    };
    const initializer = initializerOf(pod);
    let certAt: Date | undefined = started;
    if (initializer) {
      const finished =
        o.initializerFinishedAt === 'waiting'
          ? undefined
          : (o.initializerFinishedAt ?? this.initializerFinish(started));
      certAt = finished !== undefined && finished.getTime() <= this.now().getTime() ? finished : undefined;
    }
    const initialized = setPodStatus(pod, started, initializer, certAt, ready, this.kubelet(o.sidecarRestartedAt));
    if (!initialized) {
      // 'waiting': never gets through (e.g. its policy is not in the manifest) until the fixture changes.
      const pinned = o.initializerFinishedAt === 'waiting' ? new Date(8.64e15) : o.initializerFinishedAt;
      this.initializing.set(this.key(ns, name), { started, pinned, restartedAt: o.sidecarRestartedAt });
    }
    if (o.phase) {
      // A finished pod (a Job's): every container terminated.
      const status = pod.status as JsonObject;
      status.phase = o.phase;
      const code = o.phase === 'Succeeded' ? 0 : 1;
      for (const c of (status.containerStatuses as JsonObject[] | undefined) ?? [])
        c.state = {
          terminated: { exitCode: code, reason: code ? 'Error' : 'Completed', finishedAt: rfc3339(this.now()) },
        };
    }
    if (o.deleting) pod.metadata.deletionTimestamp = rfc3339(this.now());
    return this.put('pods', pod);
  }

  /**
   * When an initializer started at `started` finishes: its first attempt at or after the
   * moment the Coordinator serves, on its 5 s retry grid; undefined while it does not serve.
   */
  private kubelet(sidecarRestartedAt: Date | undefined): KubeletView {
    return { now: this.now(), laterInitRunMs: this.laterInitRunMs, sidecarRestartedAt };
  }

  private initializerFinish(started: Date): Date | undefined {
    const serving = this.coordinator.servingSince();
    if (!serving) return undefined;
    const wait = Math.max(0, serving.getTime() - started.getTime());
    const attempt = started.getTime() + Math.ceil(wait / this.initializerRetryMs) * this.initializerRetryMs;
    return new Date(attempt + this.initializerRunMs);
  }

  /**
   * Lets time pass for pods waiting in Init: those whose initializer got through by now
   * (the Coordinator serves again) finish, as the kubelet would report it. Called before
   * every read.
   */
  settle(): void {
    const now = this.now().getTime();
    for (const [key, { started, pinned, restartedAt }] of [...this.initializing]) {
      const pod = this.objects.get('pods')!.get(key);
      if (!pod) {
        this.initializing.delete(key);
        continue;
      }
      const finish = pinned ?? this.initializerFinish(started);
      if (!finish || finish.getTime() > now) continue;
      if (setPodStatus(pod, started, initializerOf(pod), finish, true, this.kubelet(restartedAt)))
        this.initializing.delete(key);
      pod.metadata.resourceVersion = this.nextResourceVersion();
    }
  }

  /** Pods whose controller is `owner`. */
  podsOf(owner: KubeObject): KubeObject[] {
    return this.ownedBy('pods', owner);
  }

  /** All pods of a workload, through its ReplicaSets for a Deployment. */
  workloadPods(resource: string, ns: string, name: string): KubeObject[] {
    const w = this.get(resource, ns, name);
    if (!w) return [];
    if (resource !== 'deployments') return this.podsOf(w);
    return this.ownedBy('replicasets', w).flatMap((rs) => this.podsOf(rs));
  }

  // ---- controller behaviour --------------------------------------------------------------

  /** Called after a patch changed a workload's pod template. */
  templateChanged(resource: string, w: KubeObject): void {
    w.metadata.generation = (w.metadata.generation ?? 1) + 1;
    const strategy =
      ((w.spec?.updateStrategy as JsonObject | undefined)?.type as string | undefined) ?? 'RollingUpdate';
    const rolls =
      resource === 'deployments' ||
      ((resource === 'statefulsets' || resource === 'daemonsets') && strategy === 'RollingUpdate');
    if (!rolls) {
      // OnDelete / ReplicaSet: the controller notes the new template, pods stay.
      this.setWorkloadStatus(w, replicasOf(w, this), false);
      return;
    }
    const roll = (): void => {
      const current = this.get(resource, w.metadata.namespace, w.metadata.name);
      if (!current) return;
      this.rollPods(resource, current);
      this.setWorkloadStatus(current, replicasOf(current, this), true);
      current.metadata.resourceVersion = this.nextResourceVersion();
    };
    if (this.rolloutDelayMs <= 0) {
      roll();
      return;
    }
    this.setWorkloadStatus(w, replicasOf(w, this), false);
    const t = setTimeout(() => {
      this.timers.delete(t);
      roll();
    }, this.rolloutDelayMs);
    this.timers.add(t);
  }

  private rollPods(resource: string, w: KubeObject): void {
    const ns = w.metadata.namespace!;
    const now = this.now();
    if (resource === 'deployments') {
      for (const rs of this.ownedBy('replicasets', w)) {
        for (const p of this.podsOf(rs)) this.remove('pods', ns, p.metadata.name);
        this.remove('replicasets', ns, rs.metadata.name);
      }
      this.addReplicaSetFor(w, now);
      return;
    }
    for (const p of this.podsOf(w)) {
      this.remove('pods', ns, p.metadata.name);
      const name = resource === 'statefulsets' ? p.metadata.name : `${w.metadata.name}-${randomSuffix()}`;
      this.addPod(ns, name, { template: w.spec!.template as unknown as PodTemplate, startedAt: now, owner: w });
    }
  }

  /** A pod was deleted: its controller (if any) creates a replacement with a new start time. */
  podDeleted(pod: KubeObject): void {
    const ns = pod.metadata.namespace!;
    this.remove('pods', ns, pod.metadata.name);
    const ref = pod.metadata.ownerReferences?.find((r) => r.controller);
    if (!ref) return;
    const resource = CONTROLLER_RESOURCES[ref.kind];
    if (!resource) return;
    const owner = this.get(resource, ns, ref.name);
    if (!owner) return;
    if (resource === 'jobs') {
      // A running Job pod deleted is a failed pod; past backoffLimit the Job fails and reruns nothing.
      const phase = (pod.status as JsonObject | undefined)?.phase;
      if (phase === 'Succeeded' || phase === 'Failed') return;
      const status = owner.status as JsonObject;
      status.failed = ((status.failed as number | undefined) ?? 0) + 1;
      owner.metadata.resourceVersion = this.nextResourceVersion();
      if ((status.failed as number) > ((owner.spec?.backoffLimit as number | undefined) ?? 6)) {
        status.active = Math.max(0, ((status.active as number | undefined) ?? 1) - 1);
        status.conditions = [
          {
            type: 'Failed',
            status: 'True',
            reason: 'BackoffLimitExceeded',
            message: 'Job has reached the specified backoff limit',
            lastTransitionTime: rfc3339(this.now()),
          },
        ];
        return;
      }
    }
    const name = resource === 'statefulsets' ? pod.metadata.name : `${owner.metadata.name}-${randomSuffix()}`;
    this.addPod(ns, name, { template: owner.spec!.template as unknown as PodTemplate, startedAt: this.now(), owner });
  }

  private setWorkloadStatus(w: KubeObject, replicas: number, updated: boolean): void {
    w.status = {
      observedGeneration: w.metadata.generation ?? 1,
      replicas,
      updatedReplicas: updated ? replicas : 0,
      readyReplicas: replicas,
      availableReplicas: replicas,
      ...(w.kind === 'DaemonSet'
        ? {
            desiredNumberScheduled: replicas,
            currentNumberScheduled: replicas,
            updatedNumberScheduled: updated ? replicas : 0,
            numberReady: replicas,
            numberAvailable: replicas,
          }
        : {}),
    };
  }
}

/** Controller kind → resource, for controllers that recreate a deleted pod. */
const CONTROLLER_RESOURCES: Record<string, string> = {
  StatefulSet: 'statefulsets',
  DaemonSet: 'daemonsets',
  ReplicaSet: 'replicasets',
  ReplicationController: 'replicationcontrollers',
  Job: 'jobs',
};

/** What the kubelet's status depends on besides the pod: its clock, and how init containers ran. */
interface KubeletView {
  now: Date;
  laterInitRunMs: number;
  sidecarRestartedAt: Date | undefined;
}

function initializerOf(pod: KubeObject): InitContainerSpec | undefined {
  const inits = (pod.spec?.initContainers as unknown as InitContainerSpec[] | undefined) ?? [];
  return inits.find((c) => c.name === INITIALIZER);
}

/**
 * The kubelet's view of a pod. Init containers run one after another from `started`: the
 * initializer until `certAt` (undefined: still fetching); a regular initializer then
 * terminates, a sidecar initializer keeps running and reports started, and only then the next
 * init container starts; each later regular init container runs `laterInitRunMs`. The pod is
 * Initialized when the last one finished, and its containers start then. Returns whether it is.
 */
function setPodStatus(
  pod: KubeObject,
  started: Date,
  initializer: InitContainerSpec | undefined,
  certAt: Date | undefined,
  ready: boolean,
  kubelet: KubeletView,
): boolean {
  const status = pod.status as JsonObject;
  const now = kubelet.now.getTime();
  let cursor: number | undefined = started.getTime(); // when the next init container may start
  const initStatuses: JsonObject[] = [];
  for (const c of (pod.spec?.initContainers as unknown as InitContainerSpec[] | undefined) ?? []) {
    const sidecar = c.restartPolicy === 'Always';
    const isInitializer = c === initializer || c.name === INITIALIZER;
    let state: JsonObject;
    let lastState: JsonObject = {};
    let restartCount = 0;
    let isStarted = false;
    if (cursor === undefined || cursor > now) {
      state = { waiting: { reason: 'PodInitializing' } };
    } else if (isInitializer) {
      const begin = rfc3339(new Date(cursor));
      if (certAt === undefined) {
        state = { running: { startedAt: begin } };
        cursor = undefined;
      } else if (sidecar) {
        const restarted = kubelet.sidecarRestartedAt;
        state = { running: { startedAt: restarted ? rfc3339(restarted) : begin } };
        if (restarted) {
          lastState = {
            terminated: { exitCode: 1, reason: 'Error', startedAt: begin, finishedAt: rfc3339(restarted) },
          };
          restartCount = 1;
        }
        isStarted = true;
        cursor = certAt.getTime();
      } else {
        state = { terminated: { exitCode: 0, reason: 'Completed', startedAt: begin, finishedAt: rfc3339(certAt) } };
        cursor = certAt.getTime();
      }
    } else if (sidecar) {
      state = { running: { startedAt: rfc3339(new Date(cursor)) } };
      isStarted = true;
    } else {
      const begin = cursor;
      const end = begin + kubelet.laterInitRunMs;
      if (end <= now) {
        state = {
          terminated: {
            exitCode: 0,
            reason: 'Completed',
            startedAt: rfc3339(new Date(begin)),
            finishedAt: rfc3339(new Date(end)),
          },
        };
        cursor = end;
      } else {
        state = { running: { startedAt: rfc3339(new Date(begin)) } };
        cursor = undefined;
      }
    }
    initStatuses.push({
      name: c.name,
      state,
      lastState,
      ready: sidecar ? isStarted : 'terminated' in state,
      restartCount,
      image: 'stand-in',
      imageID: '',
      started: isStarted,
    });
  }
  const initializedAt = cursor !== undefined && cursor <= now ? new Date(cursor) : undefined;
  const inInit = initializedAt === undefined;
  const since = rfc3339(initializedAt ?? started);
  const containers = ((pod.spec?.containers as JsonObject[] | undefined) ?? []).map((c) => ({
    name: c.name as string,
    state: inInit ? { waiting: { reason: 'PodInitializing' } } : { running: { startedAt: since } },
    lastState: {},
    ready: !inInit && ready,
    restartCount: 0,
    image: (c.image as string | undefined) ?? '',
    imageID: '',
    started: !inInit,
  }));
  const cond = (type: string, ok: boolean): JsonObject => ({
    type,
    status: ok ? 'True' : 'False',
    lastProbeTime: null,
    lastTransitionTime: ok ? since : rfc3339(started),
  });
  status.phase = inInit ? 'Pending' : 'Running';
  status.conditions = [
    cond('PodScheduled', true),
    cond('Initialized', !inInit),
    cond('ContainersReady', !inInit && ready),
    cond('Ready', !inInit && ready),
  ];
  (status.conditions[0] as JsonObject).lastTransitionTime = rfc3339(started);
  if (initStatuses.length) status.initContainerStatuses = initStatuses;
  else delete status.initContainerStatuses;
  status.containerStatuses = containers as unknown as Json;
  return !inInit;
}

function replicasOf(w: KubeObject, store: KubeStore): number {
  if (w.kind === 'DaemonSet') return store.podsOf(w).length;
  return (w.spec?.replicas as number | undefined) ?? 1;
}

function meta(name: string, namespace: string | undefined, extra: Partial<ObjectMeta> = {}): ObjectMeta {
  const m: ObjectMeta = { name, uid: randomUUID(), resourceVersion: '0', creationTimestamp: rfc3339(new Date()) };
  if (namespace !== undefined) m.namespace = namespace;
  if (extra.labels) m.labels = { ...extra.labels };
  if (extra.annotations) m.annotations = { ...extra.annotations };
  if (extra.ownerReferences) m.ownerReferences = extra.ownerReferences;
  if (extra.generation !== undefined) m.generation = extra.generation;
  return m;
}

function ownerRef(o: KubeObject): OwnerReference {
  return { apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, uid: o.metadata.uid, controller: true };
}

function templateLabels(d: KubeObject): Record<string, string> {
  return {
    ...((d.spec?.template as { metadata?: { labels?: Record<string, string> } } | undefined)?.metadata?.labels ?? {}),
  };
}

export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

let counter = 0;
function randomSuffix(): string {
  return (++counter).toString(36).padStart(5, '0');
}

function hashString(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h;
}
