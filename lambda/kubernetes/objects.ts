/**
 * The few Kubernetes object fields this service reads, as plain JSON shapes. Type-only:
 * the API answers are parsed with JSON.parse, not the generated client models.
 */

export interface OwnerReference {
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion?: string;
  generation?: number;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
}

export interface Container {
  name: string;
  /** `Always` on an init container makes it a native sidecar (it keeps running). */
  restartPolicy?: string;
  /** Only what peers.ts reads: which check makes the container Ready. */
  readinessProbe?: { httpGet?: { path?: string; port?: number | string }; tcpSocket?: { port?: number | string } };
}

export interface PodSpec {
  runtimeClassName?: string;
  initContainers?: Container[];
  containers?: Container[];
}

export interface PodTemplateSpec {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: PodSpec;
}

export interface PodCondition {
  type: string;
  status: string;
  lastTransitionTime?: string;
}

/** core/v1 ContainerState: exactly one of the three is set. */
export interface ContainerState {
  waiting?: { reason?: string; message?: string };
  running?: { startedAt?: string };
  terminated?: { exitCode: number; reason?: string; startedAt?: string; finishedAt?: string };
}

export interface ContainerStatus {
  name: string;
  state?: ContainerState;
  lastState?: ContainerState;
  ready?: boolean;
  /** For sidecars: the startup probe passed (or the container started when it has none). */
  started?: boolean;
  restartCount?: number;
}

export interface Pod {
  metadata: ObjectMeta;
  spec?: PodSpec;
  status?: {
    phase?: string;
    startTime?: string;
    conditions?: PodCondition[];
    initContainerStatuses?: ContainerStatus[];
    containerStatuses?: ContainerStatus[];
  };
}

export interface WorkloadObject {
  metadata: ObjectMeta;
  spec?: {
    template?: PodTemplateSpec;
    updateStrategy?: { type?: string };
    /** Job: failed pods tolerated before the Job fails (default 6). */
    backoffLimit?: number;
    /** CronJob: the Job template. */
    jobTemplate?: { metadata?: { annotations?: Record<string, string> }; spec?: { template?: PodTemplateSpec } };
  };
  status?: {
    /** Job: `Complete` or `Failed` with status True once it finished. */
    conditions?: { type: string; status: string }[];
    /** Job: pods that failed so far. */
    failed?: number;
  };
}

export interface Namespace {
  metadata: ObjectMeta;
}

export interface ObjectList<T> {
  metadata?: { continue?: string; resourceVersion?: string };
  items: T[];
}

/** `Status` body of an API error. */
export interface StatusBody {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
}
