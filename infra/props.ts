/**
 * The construct's props and their synth-time check. Every value the function will parse at
 * run time is checked here by the same parser (lambda/shared), so a stack that synthesizes
 * never deploys a function that refuses its own configuration; every topology choice that
 * lacks what it needs fails with a message that says what to add.
 */
import { Token } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { SCHEDULE_WAVE_SIZE } from '../lambda/shared/budgets.ts';
import { DEFAULTS, EVENTS } from '../lambda/shared/contract.ts';
import { DEPLOYMENT_NAME } from '../lambda/shared/names.ts';
import {
  collateralMirrorUrlProblem,
  unacceptableTdxTcbStatuses,
  type TdxTcbStatus,
} from '../lambda/shared/settings.ts';

/**
 * How the function reaches one deployment's Coordinator user API (aTLS, port 1313): always
 * through PrivateLink to an NLB with IP targets across the private connection.
 */
export type CoordinatorAccess =
  | {
      /** ARN of the internal NLB in front of the Coordinator (infra/k8s/coordinator-endpoint.yaml,
       * or one you created with IP targets on premises): the construct creates the VPC endpoint
       * service (only this account may connect) and the interface endpoint. The NLB must exist
       * before this stack is deployed. */
      readonly nlbArn: string;
      readonly port?: number;
    }
  | {
      /** An existing VPC endpoint service in front of the Coordinator, e.g.
       * `com.amazonaws.vpce.eu-central-1.vpce-svc-0123…`: only the interface endpoint is created. */
      readonly endpointServiceName: string;
      readonly port?: number;
    };

export interface ContrastDeploymentProps {
  /** Deployment name (lambda/shared/names.ts DEPLOYMENT_NAME): secret name suffix, KMS context value, metric dimension. */
  readonly name: string;
  readonly coordinator: CoordinatorAccess;
  /** Namespace of the Coordinator StatefulSet. @default "default" */
  readonly coordinatorNamespace?: string;
  /** Namespaces whose Contrast workloads are restarted after a recovery (["*"] = all). @default [coordinatorNamespace] */
  readonly namespaces?: string[];
  /** Alternatively select the namespaces by label (needs the namespace-list RBAC of infra/k8s/rbac.yaml). */
  readonly namespaceLabelSelector?: string;
  /** CloudWatch alarm ARNs whose transition to ALARM triggers a reconcile of this deployment. */
  readonly alarmArns?: string[];
  /** TDX only: Intel TCB statuses accepted besides UpToDate (never Revoked). @default only UpToDate */
  readonly tdxAcceptedTcbStatuses?: TdxTcbStatus[];
  /**
   * Also restart the workloads after a manifest update (`contrast set`: the history changed and
   * no Coordinator restarted; someone else's Recover restarts them anyway); by default they are reported
   * (StaleWorkloads metric and alarm, result event) and left to the operator (docs/operate.md).
   * @default false
   */
  readonly restartAfterAnyRotation?: boolean;
}

/**
 * (a) EKS Hybrid Nodes: the control plane in AWS, the bare-metal SEV-SNP/TDX nodes on premises.
 * The function authenticates with its IAM role through an EKS access entry (the cluster's
 * authentication mode must be API or API_AND_CONFIG_MAP) and reaches the private API endpoint.
 */
export interface EksHybridNodesCluster {
  readonly kind: 'eks-hybrid-nodes';
  readonly clusterName: string;
  /** API endpoint URL (https://…); the cluster's endpoint access must be private. */
  readonly endpoint: string;
  /** Base64 certificate authority data of the cluster. */
  readonly certificateAuthorityData: string;
  /**
   * Cluster security group. Function in the hub VPC: 443 from the function's security group.
   * Function in its own VPC: the construct adds the ingress rule 443 from that VPC's CIDR to
   * this group (a security group cannot be referenced across VPCs); without it, add the rule
   * yourself (`doctor` prints the command).
   */
  readonly clusterSecurityGroupId?: string;
  /** CIDR of the cluster VPC subnets holding the control plane's ENIs (function in its own VPC, or instead of the security group). */
  readonly controlPlaneCidr?: string;
  /** Create the access entry mapping the function role to the contrast-autorecover group. @default true */
  readonly createAccessEntry?: boolean;
}

/** (b) A self-managed bare-metal cluster (e.g. k3s) reached over VPN or Direct Connect. */
export interface SelfManagedCluster {
  readonly kind: 'self-managed';
  /** Secrets Manager secret holding the kubeconfig of the function's identity (group contrast-autorecover). */
  readonly kubeconfigSecretArn: string;
  /** KMS key of that secret, when it is a customer managed key (Decrypt via Secrets Manager is granted). */
  readonly kubeconfigSecretKeyArn?: string;
  /** Where the API server is (on premises, across the private connection). */
  readonly apiServerCidr: string;
  /** @default 6443 */
  readonly apiServerPort?: number;
}

export type ClusterProps = EksHybridNodesCluster | SelfManagedCluster;

/** An interface endpoint that already exists in the hub VPC and is reused. */
export interface ExistingEndpoint {
  readonly vpcEndpointId: string;
  /** Its security group: the construct admits HTTPS from the function's security group. */
  readonly securityGroupId: string;
  /** `https://vpce-….<service>.<region>.vpce.amazonaws.com` when the endpoint has no private DNS;
   * omit when the hub VPC resolves the service's regional name to it (private DNS). */
  readonly url?: string;
}

/**
 * The AWS APIs the function calls: exactly these five (Lambda ships logs and EMF metrics itself;
 * the EKS token is presigned). Systems Manager: the deployments' parameters, read once per container.
 */
export interface ServiceEndpoints<T> {
  readonly kms?: T;
  readonly secretsManager?: T;
  readonly dynamodb?: T;
  readonly eventbridge?: T;
  readonly ssm?: T;
}

/**
 * The function in its own isolated VPC (no internet route), created by the construct: interface
 * endpoints with private DNS there, PrivateLink to the Coordinator, and a transit gateway
 * attachment with routes to the Kubernetes API server (which the operator's TGW must route on).
 */
export interface OwnVpcNetwork {
  readonly kind: 'own-vpc';
  /** @default 10.80.0.0/20 */
  readonly cidr?: string;
  /** Availability zones (an env-agnostic stack needs them explicitly for more than one). */
  readonly availabilityZones?: string[];
  /** Transit gateway that routes to the API server: the function's subnets route these CIDRs to it. */
  readonly transitGateway?: { readonly id: string; readonly routes: string[] };
}

/**
 * The function in the hub VPC (the EKS cluster's VPC, or the VPC terminating the VPN/Direct
 * Connect to the bare-metal cluster). Endpoints listed in `existingEndpoints` are reused; the
 * others are created WITHOUT private DNS (which would take over the service's name for the
 * whole VPC, or collide with existing endpoints) and the SDK is pointed at them with
 * `AWS_ENDPOINT_URL_<SERVICE>`.
 */
export interface HubVpcNetwork {
  readonly kind: 'hub-vpc';
  /** Import with `Vpc.fromVpcAttributes` (no lookups). */
  readonly vpc: ec2.IVpc;
  /** Subnets of the function and the endpoints; they must have no route to the internet. @default PRIVATE_ISOLATED */
  readonly subnets?: ec2.SubnetSelection;
  readonly existingEndpoints?: ServiceEndpoints<ExistingEndpoint>;
}

export type NetworkProps = OwnVpcNetwork | HubVpcNetwork;

/**
 * Identity of the in-cluster event exporter: IRSA on EKS (pods on hybrid nodes included), or
 * IAM Roles Anywhere with an X.509 certificate from your CA (any cluster).
 */
export type ExporterIdentityProps =
  | {
      readonly kind: 'irsa';
      readonly oidcProviderArn: string;
      /** Issuer without scheme, e.g. `oidc.eks.eu-central-1.amazonaws.com/id/ABCDEF…`. */
      readonly oidcIssuer: string;
      /** @default contrast-autorecover-exporter */
      readonly namespace?: string;
      /** @default event-exporter */
      readonly serviceAccount?: string;
    }
  | {
      readonly kind: 'roles-anywhere';
      /** Trust anchor (your CA) in IAM Roles Anywhere. */
      readonly trustAnchorArn: string;
      /** Only certificates with this subject CN may assume the role. Strongly recommended. */
      readonly certificateCommonName?: string;
    };

export interface CollateralMirrorProps {
  /** Base URL of the attestation collateral mirror (https; lambda/shared/settings.ts). */
  readonly url: string;
  /** Where the mirror lives, for the egress rule. */
  readonly peer: ec2.IPeer;
  /** @default port of the URL, else 443 */
  readonly port?: number;
}

export interface ContrastRecoveryProps {
  /** The deployments to keep recovered (at least one). */
  readonly deployments: ContrastDeploymentProps[];
  /** The cluster's shape, chosen explicitly: EKS Hybrid Nodes or self-managed. */
  readonly cluster: ClusterProps;
  /** Where the function runs, chosen explicitly: its own VPC or the hub VPC. */
  readonly network: NetworkProps;
  /** Who may assume the enroller role (the only writer of bundles). Required: name it. */
  readonly enrollerPrincipal: iam.IPrincipal;
  /**
   * Administrators of the recovery key and the bundle secrets' key (administration only, never
   * use), besides the CloudFormation execution role. At least one: it is the way out when the
   * deployment role is gone (otherwise only AWS Support can restore access to the keys).
   */
  readonly keyAdmins: iam.IPrincipal[];
  /**
   * The role CloudFormation deploys this stack with: it creates and updates the keys and the
   * secrets, so it is a key administrator and may change the secrets' policies.
   * @default the cfn-exec role of the DefaultStackSynthesizer's bootstrap (required with any other synthesizer)
   */
  readonly cloudFormationExecutionRoleArn?: string;
  /** A break-glass role for an operator's local recover, assumable by this principal with MFA; every use alarms. */
  readonly breakGlassPrincipal?: iam.IPrincipal;
  /** Identity of the in-cluster exporter (events:PutEvents of the trigger event only). */
  readonly exporter?: ExporterIdentityProps;
  /**
   * A trail that sees IAM/STS events (multi-region, global service events) and the function's
   * Invoke data events; or an existing (organization) trail you keep. @default 'create'
   */
  readonly auditTrail?: 'create' | { readonly existingTrailArn: string };
  /**
   * Who may read the created trail's log files (the `Invoke` data events, every `Decrypt`):
   * `kms:Decrypt` on the operations key only under CloudTrail's encryption context
   * (`aws:cloudtrail:arn` of this account's trails), and read access to the trail's bucket.
   * The key policy trusts no IAM policy, so this is the only way in. Named like the key admins.
   */
  readonly auditors?: iam.IPrincipal[];
  /** Bus for trigger and result events. @default a new custom bus */
  readonly eventBus?: events.IEventBus;
  /** @default contrast.coordinator */
  readonly eventSource?: string;
  /** @default contrast.autorecover */
  readonly resultEventSource?: string;
  /** The backstop schedule reconciling every deployment, in minutes (1–60). @default 1 */
  readonly scheduleMinutes?: number;
  /** A daily decrypt drill on its own rule. @default false */
  readonly decryptDrill?: boolean;
  /**
   * The audit of `contrast-autorecover audit` on a schedule, by a function of its own: a use of
   * the owner key or a bundle that nothing accounts for alarms and puts a result event with its
   * CloudTrail event ID (infra/audit-schedule.ts). `true`: hourly. @default false
   */
  readonly auditSchedule?: boolean | { readonly intervalMinutes?: number };
  readonly collateralMirror?: CollateralMirrorProps;
  /** Crash-loop guard: user recoveries per deployment per hour. @default 2 */
  readonly maxRecoveriesPerHour?: number;
  /** Let the function delete pods of OnDelete StatefulSets/DaemonSets and bare pods (needs rbac-pod-deletion.yaml). @default false */
  readonly allowPodDeletion?: boolean;
  /** Reserved concurrency of the function. @default 5 */
  readonly reservedConcurrency?: number;
  /** @default ONE_YEAR */
  readonly logRetention?: logs.RetentionDays;
  /** Alarm when a deployment is stale longer than this. @default 15 */
  readonly staleAlarmMinutes?: number;
  /** Secret names are `<prefix>/<deployment>`. @default contrast-autorecover */
  readonly secretNamePrefix?: string;
  /** Email endpoints subscribed to the alarm topic. */
  readonly alarmEmails?: string[];
  /** Function entry (TypeScript, bundled at synth). @default the packaged, prebuilt function */
  readonly entry?: string;
}

/** A synth-time error that says where and what to do. */
export class PropsError extends Error {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'ContrastRecoveryPropsError';
  }
}

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/** [network, prefix length] of an IPv4 CIDR, or undefined. */
export function parseCidr(cidr: string): [number, number] | undefined {
  const m = CIDR.exec(cidr);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const bits = Number(m[5]);
  if (octets.some((o) => o > 255) || bits > 32) return undefined;
  const address = octets.reduce((a, o) => a * 256 + o, 0);
  return [address, bits];
}

/** Whether `outer` contains every address of `inner`. */
export function cidrContains(outer: string, inner: string): boolean {
  const o = parseCidr(outer);
  const i = parseCidr(inner);
  if (!o || !i || i[1] < o[1]) return false;
  const block = 2 ** (32 - o[1]);
  return Math.floor(o[0] / block) === Math.floor(i[0] / block);
}

function checkCidr(where: string, what: string, value: string): void {
  if (!Token.isUnresolved(value) && !parseCidr(value))
    throw new PropsError(where, `${what} ${JSON.stringify(value)} is not an IPv4 CIDR such as 10.20.0.0/16`);
}

function checkPort(where: string, what: string, port: number | undefined): void {
  if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535))
    throw new PropsError(where, `${what} ${port} is not a TCP port (1–65535)`);
}

/** The cluster API's destination as a CIDR, or undefined when it is reached by security group. */
export function apiServerCidr(cluster: ClusterProps): string | undefined {
  return cluster.kind === 'self-managed' ? cluster.apiServerCidr : cluster.controlPlaneCidr;
}

/**
 * Resources one deployment adds at most, counted in a synthesized template
 * (test/infra/fleet.test.ts): its bundle secret and the secret's resource policy, its
 * configuration parameter, its PrivateLink path (endpoint service and its permissions when the
 * construct fronts an NLB, the interface endpoint, its security group with one ingress and one
 * egress rule) and 9 alarms.
 */
export const RESOURCES_PER_DEPLOYMENT = 18;
/** The stack's own resources at most, with room: 62 to 70 in the tested topologies, up to 81 with the audit schedule (infra/audit-schedule.ts). */
export const STACK_OWN_RESOURCES_MAX = 84;
/**
 * Deployments one stack holds under CloudFormation's 500 resources per stack: 23 × 18 = 414,
 * leaving 86 for the stack's own. More deployments: more stacks, each with its own (docs/deploy.md).
 */
export const MAX_DEPLOYMENTS_PER_STACK = Math.floor((500 - STACK_OWN_RESOURCES_MAX) / RESOURCES_PER_DEPLOYMENT);

/** A standard Parameter Store parameter's value: at most 4 KB. */
const PARAMETER_VALUE_BYTES = 4096;
/** What the construct adds to a deployment's entry at deploy time: secret ARN, endpoint DNS name, keys. */
const PARAMETER_RESERVE_BYTES = 512;

function validateDeployments(where: string, deployments: readonly ContrastDeploymentProps[]): void {
  if (deployments.length === 0) throw new PropsError(where, 'configure at least one deployment');
  if (deployments.length > MAX_DEPLOYMENTS_PER_STACK) {
    throw new PropsError(
      where,
      `${deployments.length} deployments: one stack holds at most ${MAX_DEPLOYMENTS_PER_STACK} (CloudFormation's 500 resources per stack; each deployment adds up to ${RESOURCES_PER_DEPLOYMENT}); split them over several stacks, each with its own deployments (docs/deploy.md, "Many deployments")`,
    );
  }
  const seen = new Set<string>();
  for (const d of deployments) {
    const at = `${where}: deployment ${JSON.stringify(d.name)}`;
    if (!DEPLOYMENT_NAME.test(d.name)) {
      throw new PropsError(
        at,
        'the name must be 1–128 letters, digits, ".", "_" or "-", starting with a letter or digit (lambda/shared/names.ts)',
      );
    }
    if (seen.has(d.name)) throw new PropsError(at, 'configured twice');
    seen.add(d.name);
    // Its parameter (infra/deployment-parameters.ts) holds 4 KB (standard tier); the secret ARN
    // and the Coordinator endpoint's address, known only at deploy, take far less than the reserve.
    const chosen = Buffer.byteLength(JSON.stringify({ ...d, coordinator: undefined }));
    if (chosen + PARAMETER_RESERVE_BYTES > PARAMETER_VALUE_BYTES) {
      throw new PropsError(
        at,
        `its configuration takes ${chosen} bytes, and its parameter holds ${PARAMETER_VALUE_BYTES} with about ${PARAMETER_RESERVE_BYTES} for the secret ARN and the Coordinator's address: list fewer namespaces (or use namespaceLabelSelector) or fewer alarms`,
      );
    }
    if (d.namespaces !== undefined && d.namespaces.length === 0)
      throw new PropsError(
        at,
        'namespaces must not be empty (omit it for the Coordinator\'s namespace, ["*"] for all)',
      );
    const bad = unacceptableTdxTcbStatuses(d.tdxAcceptedTcbStatuses ?? []);
    if (bad.length)
      throw new PropsError(
        at,
        `tdxAcceptedTcbStatuses ${bad.join(', ')} not acceptable (Revoked never is); see ACCEPTABLE_TDX_TCB_STATUSES`,
      );
    checkPort(at, 'coordinator port', d.coordinator.port);
    if (!('nlbArn' in d.coordinator) && !('endpointServiceName' in d.coordinator)) {
      throw new PropsError(
        at,
        'coordinator needs nlbArn (the NLB in front of the Coordinator) or endpointServiceName (an existing endpoint service)',
      );
    }
  }
}

function validateTopology(where: string, props: ContrastRecoveryProps): void {
  const { cluster, network } = props;
  if (cluster.kind === 'eks-hybrid-nodes') {
    if (!Token.isUnresolved(cluster.endpoint) && !/^https:\/\/[^/]+\/?$/.test(cluster.endpoint)) {
      throw new PropsError(
        where,
        `cluster.endpoint ${JSON.stringify(cluster.endpoint)}: expected the https:// API endpoint (aws eks describe-cluster --query cluster.endpoint)`,
      );
    }
    if (
      !Token.isUnresolved(cluster.certificateAuthorityData) &&
      !/^[A-Za-z0-9+/]+={0,2}$/.test(cluster.certificateAuthorityData)
    ) {
      throw new PropsError(
        where,
        'cluster.certificateAuthorityData: expected base64 (aws eks describe-cluster --query cluster.certificateAuthority.data)',
      );
    }
    if (cluster.controlPlaneCidr !== undefined) checkCidr(where, 'cluster.controlPlaneCidr', cluster.controlPlaneCidr);
    if (network.kind === 'own-vpc' && !cluster.controlPlaneCidr) {
      throw new PropsError(
        where,
        "network own-vpc with an EKS cluster needs cluster.controlPlaneCidr (the cluster VPC's subnets): a security group cannot be referenced across VPCs",
      );
    }
    if (network.kind === 'hub-vpc' && !cluster.clusterSecurityGroupId && !cluster.controlPlaneCidr) {
      throw new PropsError(
        where,
        'network hub-vpc with an EKS cluster needs cluster.clusterSecurityGroupId (aws eks describe-cluster --query cluster.resourcesVpcConfig.clusterSecurityGroupId) or cluster.controlPlaneCidr',
      );
    }
    if (props.exporter?.kind === 'irsa' && !props.exporter.oidcIssuer)
      throw new PropsError(where, 'exporter irsa needs oidcIssuer');
  } else {
    checkCidr(where, 'cluster.apiServerCidr', cluster.apiServerCidr);
    checkPort(where, 'cluster.apiServerPort', cluster.apiServerPort);
    if (props.exporter?.kind === 'irsa') {
      throw new PropsError(
        where,
        'exporter irsa needs an EKS OIDC provider; a self-managed cluster uses exporter kind "roles-anywhere" (IAM Roles Anywhere with your CA)',
      );
    }
  }
  if (network.kind === 'own-vpc') {
    if (network.cidr !== undefined) checkCidr(where, 'network.cidr', network.cidr);
    const target = apiServerCidr(cluster)!;
    const tgw = network.transitGateway;
    if (!tgw) {
      throw new PropsError(
        where,
        `network own-vpc needs transitGateway {id, routes} to reach the Kubernetes API server at ${target} (the created VPC has no other route); or choose network hub-vpc`,
      );
    }
    for (const r of tgw.routes) checkCidr(where, 'network.transitGateway.routes', r);
    if (!Token.isUnresolved(target) && !tgw.routes.some((r) => cidrContains(r, target))) {
      throw new PropsError(
        where,
        `network.transitGateway.routes (${tgw.routes.join(', ')}) do not cover the Kubernetes API server at ${target}`,
      );
    }
  }
}

export function validateProps(where: string, props: ContrastRecoveryProps): void {
  if (!props.enrollerPrincipal)
    throw new PropsError(
      where,
      'enrollerPrincipal is required: the principal that runs contrast-autorecover enroll (the only writer of bundles)',
    );
  if (!props.cluster || !props.network)
    throw new PropsError(
      where,
      'choose the topology explicitly: cluster {kind: "eks-hybrid-nodes" | "self-managed"} and network {kind: "own-vpc" | "hub-vpc"} (docs/deploy.md)',
    );
  validateDeployments(where, props.deployments);
  validateTopology(where, props);
  if (!props.keyAdmins || props.keyAdmins.length === 0) {
    throw new PropsError(
      where,
      'keyAdmins: name at least one administrator role besides the deployment role; it is the way out of a lockout (the account root is not used)',
    );
  }
  if (props.auditors?.length && props.auditTrail !== undefined && props.auditTrail !== 'create') {
    throw new PropsError(
      where,
      "auditors read the trail this stack creates; with auditTrail.existingTrailArn grant them in that trail's key and bucket policies instead",
    );
  }
  if (props.collateralMirror) {
    const problem = collateralMirrorUrlProblem(props.collateralMirror.url);
    if (problem) throw new PropsError(where, `collateralMirror.url ${problem}`);
    checkPort(where, 'collateralMirror.port', props.collateralMirror.port);
  }
  const minutes = props.scheduleMinutes;
  if (minutes !== undefined && !(Number.isInteger(minutes) && minutes >= 1 && minutes <= 60)) {
    throw new PropsError(
      where,
      `scheduleMinutes ${minutes}: expected a whole number of minutes from 1 to 60 (the backstop bounds how long an unseen restart waits)`,
    );
  }
  if (props.staleAlarmMinutes !== undefined && !(props.staleAlarmMinutes > 0))
    throw new PropsError(where, 'staleAlarmMinutes must be > 0');
  if (
    props.reservedConcurrency !== undefined &&
    !(Number.isInteger(props.reservedConcurrency) && props.reservedConcurrency >= 1)
  ) {
    throw new PropsError(
      where,
      'reservedConcurrency must be a whole number ≥ 1 (0 would disable the function; use the pause switch instead)',
    );
  }
  const waves = Math.ceil(props.deployments.length / SCHEDULE_WAVE_SIZE);
  if ((props.reservedConcurrency ?? DEFAULTS.reservedConcurrency) < waves) {
    throw new PropsError(
      where,
      `reservedConcurrency ${props.reservedConcurrency}: the backstop invokes the function once per wave of ${SCHEDULE_WAVE_SIZE} deployments (${waves} waves) at every tick; allow at least ${waves}`,
    );
  }
  if ((props.eventSource ?? EVENTS.triggerSource) === (props.resultEventSource ?? EVENTS.resultSource)) {
    throw new PropsError(where, 'resultEventSource must differ from eventSource, or the function would trigger itself');
  }
}
