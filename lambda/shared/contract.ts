/**
 * Names the function and everything around it must agree on: the CDK construct (infra/),
 * the function's configuration, the CLI and the Kubernetes manifests. One definition each;
 * infra/ imports this module, so a renamed metric or context key cannot drift apart.
 * Dependency-free on purpose: the construct loads it at synth time.
 */

/** Powertools service name and the `service` metric dimension. */
export const SERVICE_NAME = 'contrast-autorecover';

/** CloudWatch namespace of every metric the function emits. */
export const METRICS_NAMESPACE = 'ContrastAutorecover';

/** Metric names (the construct's alarms and dashboard are built against them). */
export const METRIC = {
  attempts: 'Attempts',
  failures: 'Failures',
  /** `Outcome-<outcome>`, one per outcome of lambda/shared/outcomes.ts. */
  outcome: (outcome: string) => `Outcome-${outcome}`,
  drift: 'DriftDetected',
  staleMinutes: 'StaleMinutes',
  workloadsRestarted: 'WorkloadsRestarted',
  /** Workloads still holding certificates of a lost mesh CA after a rotation this service did not cause. */
  staleWorkloads: 'StaleWorkloads',
  /** Distinct mesh CA keys the Coordinator replicas served within one reconcile's probe window (2+: a finding). */
  meshCaKeysSeen: 'MeshCaKeysSeen',
  /** `StepDuration-<step>`, one per reconcile step. */
  stepDuration: (step: string) => `StepDuration-${step}`,
  reconcileDuration: 'ReconcileDuration',
  drillFailed: 'DecryptDrillFailed',
  /** The scheduled audit (lambda/audit/handler.ts): uses nothing accounts for, and sources it could not read. */
  auditUnaccounted: 'AuditUnaccountedUse',
  auditSourceUnreadable: 'AuditSourceUnreadable',
  collateralRefreshFailed: 'CollateralRefreshFailed',
} as const;

/** Metric dimension naming the deployment (besides `service`). */
export const DEPLOYMENT_DIMENSION = 'Deployment';

/** Keys of the KMS encryption context of the owner-key envelope (CloudTrail shows them). */
export const CONTEXT_KEYS = {
  deployment: 'contrast-autorecover:deployment',
  purpose: 'contrast-autorecover:purpose',
  bundleSha256: 'contrast-autorecover:bundle-sha256',
} as const;

/** The only purpose the owner-key envelope is decrypted for. */
export const OWNER_KEY_PURPOSE = 'seedshare-owner-key';

/** Event sources and detail types on the bus. */
export const EVENTS = {
  /** Source of trigger events sent by the in-cluster exporter (configurable, this is the default). */
  triggerSource: 'contrast.coordinator',
  /** Source of the result events the function puts (configurable, this is the default). */
  resultSource: 'contrast.autorecover',
  /** Detail types of trigger events the function accepts from the trigger source. */
  triggerDetailTypes: ['Coordinator Restarted', 'Coordinator Recovery Requested'],
  /** Detail types of the result events. */
  resultDetailTypes: {
    recovered: 'Coordinator Recovered',
    failed: 'Coordinator Recovery Failed',
    skipped: 'Coordinator Recovery Skipped',
    drift: 'Coordinator Manifest Drift',
    /** The scheduled audit's finding: one event per unaccounted use, with its CloudTrail event ID. */
    unaccountedUse: 'Owner Key Use Unaccounted',
  },
  alarmDetailType: 'CloudWatch Alarm State Change',
  scheduleDetailType: 'Scheduled Event',
} as const;

export type TriggerDetailType = (typeof EVENTS.triggerDetailTypes)[number];

/**
 * Field names of a trigger event's `detail`, as the in-cluster exporter sends them
 * (infra/k8s/exporter/config.yaml `details:`) and the function reads them
 * (lambda/function/events.ts).
 */
export const TRIGGER_DETAIL = {
  deployment: 'deployment',
  pod: 'pod',
  podUid: 'podUID',
  cluster: 'cluster',
} as const;

/** Environment variables the function reads (lambda/function/config.ts) and the construct sets. */
export const ENV = {
  /** The deployments inline, as a JSON array (tests, the CLI's local runs); the construct uses the path below. */
  deployments: 'CONTRAST_DEPLOYMENTS',
  /** Parameter Store path holding one parameter per deployment (lambda/function/deployment-store.ts). */
  deploymentsPath: 'CONTRAST_DEPLOYMENTS_PATH',
  lockTable: 'LOCK_TABLE_NAME',
  eventBus: 'EVENT_BUS_NAME',
  eventSource: 'EVENT_SOURCE',
  resultEventSource: 'RESULT_EVENT_SOURCE',
  maxRecoveriesPerHour: 'MAX_RECOVERIES_PER_HOUR',
  leaseSeconds: 'LEASE_SECONDS',
  kubeAuth: 'KUBE_AUTH',
  eksClusterName: 'EKS_CLUSTER_NAME',
  eksEndpoint: 'EKS_ENDPOINT',
  eksCaData: 'EKS_CA_DATA',
  kubeconfigSecretId: 'KUBECONFIG_SECRET_ID',
  allowPodDeletion: 'ALLOW_POD_DELETION',
  collateralMirrorUrl: 'COLLATERAL_MIRROR_URL',
  decryptDrill: 'DECRYPT_DRILL',
  /** Name of the decrypt drill's own schedule rule: only its ticks drill (never the backstop's). */
  decryptDrillRule: 'DECRYPT_DRILL_RULE',
} as const;

/**
 * Service-specific endpoint variables of the AWS SDK for JavaScript v3, for the services the
 * function calls: `AWS_ENDPOINT_URL_` + the client's serviceId, upper-cased, spaces as `_`
 * (smithy-lang/smithy-typescript packages/middleware-endpoint/src/adaptors/getEndpointUrlConfig.ts).
 * The construct sets them when it addresses interface endpoints without private DNS.
 */
export const ENDPOINT_URL_ENV = {
  kms: 'AWS_ENDPOINT_URL_KMS',
  secretsManager: 'AWS_ENDPOINT_URL_SECRETS_MANAGER',
  dynamodb: 'AWS_ENDPOINT_URL_DYNAMODB',
  eventbridge: 'AWS_ENDPOINT_URL_EVENTBRIDGE',
  ssm: 'AWS_ENDPOINT_URL_SSM',
} as const;

/** The lock table's layout, as far as operators and the construct's grants need it. */
export const LOCK_TABLE = {
  partitionKey: 'pk',
  ttlAttribute: 'expiresAt',
  /** `pause#<deployment>` and `pause#*`: the operator pause switch (`paused` = true). */
  pausePrefix: 'pause#',
} as const;

/** Defaults shared by the construct's props and the function's configuration. */
export const DEFAULTS = {
  /** Crash-loop guard: user recoveries per deployment per hour. */
  maxRecoveriesPerHour: 2,
  /** Secret names are `<prefix>/<deployment>`. */
  secretPrefix: 'contrast-autorecover',
  /** The Kubernetes group the function's identity is mapped to (infra/k8s/rbac.yaml). */
  kubernetesGroup: 'contrast-autorecover',
  /** The Coordinator's user API port. */
  coordinatorPort: 1313,
  /** Namespace of the Coordinator when none is configured; also the default restart scope. */
  coordinatorNamespace: 'default',
  /**
   * The backstop schedule, in minutes: it bounds detection of a restart the exporter cannot
   * see (a container restarting inside its pod is an Event update, which the exporter drops).
   */
  scheduleMinutes: 1,
  /** The decrypt drill, when enabled, runs at most this often, on its own rule. */
  drillIntervalHours: 24,
  /** Alarm when a deployment's Coordinator has been in recovery mode longer than this. */
  staleAlarmMinutes: 15,
  /** Reserved concurrency of the function: enough for a schedule tick, events and an operator. */
  reservedConcurrency: 5,
} as const;

/** Image of the in-cluster exporter (infra/k8s/exporter): pinned, because forwarding of Event updates changed between releases. */
export const EXPORTER_IMAGE = 'ghcr.io/resmoio/kubernetes-event-exporter:v1.7';

/** Environment of the scheduled audit function (lambda/audit/handler.ts), set by infra/audit-schedule.ts. */
export const AUDIT_ENV = {
  /** JSON AuditTargets: function role, recovery key, bundle-secrets key, break-glass role, deployments' secrets. */
  targets: 'AUDIT_TARGETS',
  /** The recovery function's log group (its audit records). */
  logGroup: 'AUDIT_LOG_GROUP',
  /** Minutes between runs; each run reads twice that, so windows overlap the previous run's. */
  intervalMinutes: 'AUDIT_INTERVAL_MINUTES',
} as const;

/**
 * What the operator commands (`doctor`, `rehearse` in cli/) read of a deployed stack: the
 * function's default name, where the exporter runs, and the messages of the function's log
 * records they follow.
 */
export const OPERATIONS = {
  /** Default of `--function`; the stack output FunctionName names the real one. */
  functionName: 'contrast-autorecover',
  /** Namespace of the in-cluster event exporter (infra/k8s/exporter/). */
  exporterNamespace: 'contrast-autorecover-exporter',
  /** `message` of the function's log records (lambda/function/handler.ts, report.ts). */
  logMessages: { triggerAccepted: 'trigger accepted', audit: 'audit' },
} as const;
