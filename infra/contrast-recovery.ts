/**
 * `ContrastRecovery`: everything the automated recovery of Contrast Coordinators needs, as one
 * construct composed of small named parts, each in its own module:
 *
 *   props.ts            props and their synth-time check (the function's own parsers)
 *   keys.ts             recovery key, bundle secrets key, operations key
 *   identities.ts       function, enroller, break-glass and exporter identities
 *   network.ts          own or hub VPC, service endpoints, PrivateLink to Coordinators, API path
 *   bundle-secrets.ts   one secret per deployment and its deny-only resource policy
 *   deployment-parameters.ts   one Parameter Store parameter per deployment (its configuration)
 *   cluster-access.ts   EKS access entry or kubeconfig
 *   function.ts         the function, its logs and queues
 *   triggers.ts         event, alarm, backstop schedule, decrypt drill
 *   alarms.ts           metric alarms; side-door-alarms.ts: CloudTrail-event alarms
 *   audit-trail.ts      the trail; dashboard.ts: the dashboard
 *
 * Every name the function reads comes from lambda/shared/contract.ts, set here as environment
 * variables, the deployments as parameters under the path one variable names
 * (lambda/function/config.ts parses both).
 */
import { Annotations, Aws, CfnOutput, DefaultStackSynthesizer, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as cloudtrail from 'aws-cdk-lib/aws-cloudtrail';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEFAULTS, ENV, EVENTS, LOCK_TABLE, METRICS_NAMESPACE, SERVICE_NAME } from '../lambda/shared/contract.ts';
import { MIN_LEASE_SECONDS } from '../lambda/shared/budgets.ts';
import { sourceFunctionScpDocument } from '../lambda/shared/scp.ts';
import { RecoveryAlarms } from './alarms.ts';
import { AuditTrail } from './audit-trail.ts';
import { AuditSchedule } from './audit-schedule.ts';
import { BundleSecrets, secretArnPattern } from './bundle-secrets.ts';
import { DeploymentParameters, deploymentsPathOf } from './deployment-parameters.ts';
import { grantClusterAccess } from './cluster-access.ts';
import { RecoveryDashboard } from './dashboard.ts';
import { FUNCTION_TIMEOUT, RecoveryFunction } from './function.ts';
import { createExporterIdentity, createIdentities } from './identities.ts';
import { BundleSecretsKey, createOpsKey, RecoveryKey } from './keys.ts';
import { createOwnVpc, FunctionNetwork, type EndpointAccess, type ServiceName } from './network.ts';
import { PropsError, validateProps, type ContrastRecoveryProps } from './props.ts';
import { SideDoorAlarms } from './side-door-alarms.ts';
import { drillRuleName, Triggers } from './triggers.ts';

export class ContrastRecovery extends Construct {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  /** Envelope key of the owner keys: every Decrypt on it is a recovery or a drill. */
  readonly key: kms.Key;
  /** Key of the bundle secrets (Secrets Manager only). */
  readonly bundleSecretsKey: kms.Key;
  readonly secrets: Record<string, secretsmanager.CfnSecret>;
  /** One parameter per deployment: what the function knows of it (CONTRAST_DEPLOYMENTS_PATH). */
  readonly deploymentParameters: DeploymentParameters;
  readonly lockTable: dynamodb.Table;
  readonly eventBus: events.IEventBus;
  readonly enrollerRole: iam.Role;
  readonly breakGlassRole?: iam.Role;
  readonly exporterRole?: iam.Role;
  readonly alarmTopic: sns.Topic;
  readonly triggerDeadLetterQueue: sqs.Queue;
  readonly failureQueue: sqs.Queue;
  readonly vpc: ec2.IVpc;
  readonly securityGroup: ec2.SecurityGroup;
  readonly trail?: cloudtrail.Trail;
  /** The created trail's bucket (its log files hold the Invoke data events). */
  readonly trailBucket?: s3.IBucket;
  /** The function's log group: its audit records (`contrast-autorecover audit` reads them). */
  readonly functionLogGroup: logs.ILogGroup;
  readonly dashboard: RecoveryDashboard;
  /** The role CloudFormation deploys with (a key administrator, the secrets' only changer). */
  readonly cloudFormationRoleArn: string;

  constructor(scope: Construct, id: string, props: ContrastRecoveryProps) {
    super(scope, id);
    validateProps(this.node.path, props);
    const names = props.deployments.map((d) => d.name);
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_YEAR;
    const eventSource = props.eventSource ?? EVENTS.triggerSource;
    const prefix = props.secretNamePrefix ?? DEFAULTS.secretPrefix;
    const secretArnPatterns = names.map((n) => secretArnPattern(prefix, n));

    this.cloudFormationRoleArn = cloudFormationRole(this, props);
    const admins = [...props.keyAdmins, new iam.ArnPrincipal(this.cloudFormationRoleArn)];
    const opsKey = createOpsKey(this, admins);
    const ids = createIdentities(this, props);
    this.role = ids.functionRole;
    this.enrollerRole = ids.enrollerRole;
    if (ids.breakGlassRole) this.breakGlassRole = ids.breakGlassRole;

    this.lockTable = createLockTable(this, this.role);
    this.eventBus =
      props.eventBus ?? new events.EventBus(this, 'Bus', { description: 'contrast-autorecover triggers and results' });
    const resultEventSource = props.resultEventSource ?? EVENTS.resultSource;
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'PutResultEvents',
        actions: ['events:PutEvents'],
        resources: [this.eventBus.eventBusArn],
        conditions: { StringEquals: { 'events:source': resultEventSource } },
      }),
    );

    // ---- Network ----
    const placement = props.network;
    this.vpc = placement.kind === 'own-vpc' ? createOwnVpc(this, placement, opsKey, logRetention) : placement.vpc;
    const subnets = (placement.kind === 'hub-vpc' ? placement.subnets : undefined) ?? {
      subnetType: ec2.SubnetType.PRIVATE_ISOLATED,
    };
    const access = endpointAccess(props, secretArnPatterns, this.lockTable, this.eventBus, deploymentsPathOf(this));
    const mirror = props.collateralMirror
      ? { peer: props.collateralMirror.peer, port: mirrorPort(props.collateralMirror) }
      : undefined;
    const net = new FunctionNetwork(this, 'Network', {
      network: placement,
      vpc: this.vpc,
      subnets,
      functionRoleArn: this.role.roleArn,
      access,
      deployments: props.deployments,
      cluster: props.cluster,
      ...(mirror ? { collateralMirror: mirror } : {}),
    });
    this.securityGroup = net.securityGroup;

    // ---- Keys and bundle secrets ----
    this.key = new RecoveryKey(this, 'RecoveryKey', {
      deploymentNames: names,
      admins,
      functionRole: this.role,
      kmsEndpointId: net.endpointIds.kms,
      enrollerRole: this.enrollerRole,
      ...(this.breakGlassRole ? { breakGlassRole: this.breakGlassRole } : {}),
    }).key;
    const readers: iam.IPrincipal[] = [this.role, ...(this.breakGlassRole ? [this.breakGlassRole] : [])];
    this.bundleSecretsKey = new BundleSecretsKey(this, 'BundleSecretsKey', {
      admins,
      secretArnPatterns,
      readers,
      writers: [this.enrollerRole, ...(props.collateralMirror ? [this.role] : [])],
      creators: [new iam.ArnPrincipal(this.cloudFormationRoleArn)],
    }).key;
    const bundles = new BundleSecrets(this, 'Bundles', {
      deploymentNames: names,
      prefix,
      key: this.bundleSecretsKey,
      functionRoleArn: this.role.roleArn,
      ...(this.breakGlassRole ? { breakGlassRoleArn: this.breakGlassRole.roleArn } : {}),
      enrollerRoleArn: this.enrollerRole.roleArn,
      cloudFormationRoleArn: this.cloudFormationRoleArn,
      functionWrites: props.collateralMirror !== undefined,
      secretsManagerEndpointId: net.endpointIds.secretsManager,
    });
    this.secrets = bundles.secrets;
    bundles.grantRead(this.role);
    if (this.breakGlassRole) bundles.grantRead(this.breakGlassRole);
    bundles.grantPutVersion(this.enrollerRole, 'WriteBundles');
    // With a mirror the function refreshes the bundle's non-secret collateral cache; it still
    // cannot forge an owner-key envelope (no GenerateDataKey with the owner-key context).
    if (props.collateralMirror) bundles.grantPutVersion(this.role, 'RefreshBundleCollateral');

    // ---- Function and triggers ----
    const cluster = grantClusterAccess(this, props.cluster, this.role);
    const drillRule = props.decryptDrill ? drillRuleName(this) : undefined;
    this.deploymentParameters = new DeploymentParameters(this, 'DeploymentParameters', {
      values: deploymentEntries(this, props, bundles, net.coordinatorAddress),
    });
    this.deploymentParameters.grantRead(this.role);
    const fn = new RecoveryFunction(this, 'Handler', {
      role: this.role,
      vpc: this.vpc,
      subnets,
      securityGroup: this.securityGroup,
      reservedConcurrency: props.reservedConcurrency ?? DEFAULTS.reservedConcurrency,
      logKey: opsKey,
      logRetention,
      ...(props.entry ? { entry: props.entry } : {}),
      environment: functionEnvironment(this, props, {
        network: net.environment,
        cluster: cluster.environment,
        deploymentsPath: this.deploymentParameters.path,
        lockTable: this.lockTable,
        eventBus: this.eventBus,
        drillRule,
      }),
    });
    this.function = fn.function;
    this.functionLogGroup = fn.logGroup;
    this.triggerDeadLetterQueue = fn.triggerDeadLetterQueue;
    this.failureQueue = fn.failureQueue;
    new Triggers(this, 'Triggers', {
      fn: this.function,
      eventBus: this.eventBus,
      eventSource,
      deploymentNames: names,
      alarmArns: props.deployments.flatMap((d) => d.alarmArns ?? []),
      scheduleMinutes: props.scheduleMinutes ?? DEFAULTS.scheduleMinutes,
      ...(drillRule ? { drillRuleName: drillRule } : {}),
      deadLetterQueue: this.triggerDeadLetterQueue,
    });
    if (props.exporter) this.exporterRole = exporterRole(this, props.exporter, this.eventBus, eventSource);

    // ---- Alarms, audit, dashboard ----
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'contrast-autorecover alarms',
      masterKey: opsKey,
      enforceSSL: true,
    });
    for (const [i, email] of (props.alarmEmails ?? []).entries()) {
      new sns.Subscription(this, `AlarmEmail${i}`, {
        topic: this.alarmTopic,
        protocol: sns.SubscriptionProtocol.EMAIL,
        endpoint: email,
      });
    }
    const sideDoors = new SideDoorAlarms(this, 'SideDoorAlarms', {
      topic: this.alarmTopic,
      keys: [this.key, this.bundleSecretsKey],
      fn: this.function,
      functionRole: this.role,
      ...(this.breakGlassRole ? { breakGlassRole: this.breakGlassRole } : {}),
      secretIdPrefixes: [
        `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${prefix}/`,
        `${prefix}/`,
      ],
      ...(props.cluster.kind === 'self-managed' ? { kubeconfigSecretArn: props.cluster.kubeconfigSecretArn } : {}),
    });
    const alarms = new RecoveryAlarms(this, 'Alarms', {
      topic: this.alarmTopic,
      fn: this.function,
      deploymentNames: names,
      deadLetterQueues: {
        TriggerDeadLetterQueue: this.triggerDeadLetterQueue,
        InvocationFailureQueue: this.failureQueue,
        SideDoorNotificationDeadLetterQueue: sideDoors.deadLetterQueue,
      },
      staleAlarmMinutes: props.staleAlarmMinutes ?? DEFAULTS.staleAlarmMinutes,
      decryptDrill: drillRule !== undefined,
    });
    const trail = props.auditTrail ?? 'create';
    if (trail === 'create') {
      const audit = new AuditTrail(this, 'Audit', {
        key: opsKey,
        fn: this.function,
        ...(props.auditors ? { auditors: props.auditors } : {}),
      });
      this.trail = audit.trail;
      this.trailBucket = audit.bucket;
    }
    if (props.auditSchedule) {
      const intervalMinutes = (props.auditSchedule === true ? undefined : props.auditSchedule.intervalMinutes) ?? 60;
      new AuditSchedule(this, 'AuditSchedule', {
        intervalMinutes,
        recordsLogGroup: fn.logGroup,
        functionRoleArn: this.role.roleArn,
        recoveryKeyArn: this.key.keyArn,
        bundleKeyArn: this.bundleSecretsKey.keyArn,
        ...(this.breakGlassRole ? { breakGlassRoleArn: this.breakGlassRole.roleArn } : {}),
        deployments: props.deployments.map((d) => ({ name: d.name, secretArn: bundles.secrets[d.name]!.ref })),
        eventBus: this.eventBus,
        resultSource: resultEventSource,
        topic: this.alarmTopic,
        logKey: opsKey,
        logRetention,
      });
    }
    this.dashboard = new RecoveryDashboard(this, 'Dashboard', {
      fn: this.function,
      deploymentNames: names,
      alarms: alarms.alarms,
    });

    this.outputs(props, bundles);
  }

  /**
   * An SCP (attach it in your organization) that lets the function role's credentials decrypt
   * the owner key and read the bundles only inside this function (lambda/shared/scp.ts says
   * why). It holds CloudFormation tokens: to paste it into Organizations, render it with the
   * deployed stack's ARNs (`contrast-autorecover scp --stack NAME`).
   */
  sourceFunctionScp(): iam.PolicyDocument {
    return iam.PolicyDocument.fromJson(
      sourceFunctionScpDocument({
        recoveryKeyArn: this.key.keyArn,
        bundleSecretArns: Object.values(this.secrets).map((s) => s.ref),
        functionRoleArn: this.role.roleArn,
        functionArn: this.function.functionArn,
      }),
    );
  }

  /** Invoke the function directly (`recover --via-function`, status, dry-run). */
  grantInvoke(grantee: iam.IGrantable): iam.Grant {
    return this.function.grantInvoke(grantee);
  }

  /** Switch automatic recovery off: put `pause#<deployment>` / `pause#*` items, nothing else. */
  grantPause(grantee: iam.IGrantable): iam.Grant {
    return this.grantPauseItems(grantee, ['dynamodb:PutItem', 'dynamodb:GetItem']);
  }

  /** Switch it on again: delete the pause items, nothing else. */
  grantUnpause(grantee: iam.IGrantable): iam.Grant {
    return this.grantPauseItems(grantee, ['dynamodb:DeleteItem', 'dynamodb:GetItem']);
  }

  private grantPauseItems(grantee: iam.IGrantable, actions: string[]): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions,
      resourceArns: [this.lockTable.tableArn],
      // Only the pause switch's items: leases, the crash-loop guard and restart records stay the function's.
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${LOCK_TABLE.pausePrefix}*`] } },
    });
  }

  private outputs(props: ContrastRecoveryProps, bundles: BundleSecrets): void {
    new CfnOutput(this, 'FunctionName', { value: this.function.functionName });
    new CfnOutput(this, 'RecoveryKeyArn', { value: this.key.keyArn });
    new CfnOutput(this, 'BundleSecretsKeyArn', { value: this.bundleSecretsKey.keyArn });
    new CfnOutput(this, 'EnrollerRoleArn', { value: this.enrollerRole.roleArn });
    new CfnOutput(this, 'EventBusName', { value: this.eventBus.eventBusName });
    new CfnOutput(this, 'EventBusArn', { value: this.eventBus.eventBusArn });
    new CfnOutput(this, 'LockTableName', { value: this.lockTable.tableName });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn });
    new CfnOutput(this, 'FunctionRoleArn', { value: this.role.roleArn });
    new CfnOutput(this, 'FunctionLogGroupName', { value: this.functionLogGroup.logGroupName });
    for (const [i, d] of props.deployments.entries()) {
      new CfnOutput(this, `BundleSecret${i}Arn`, {
        value: bundles.secrets[d.name]!.ref,
        description: `recovery bundle secret of ${d.name}`,
      });
    }
    if (this.exporterRole) new CfnOutput(this, 'ExporterRoleArn', { value: this.exporterRole.roleArn });
    if (props.exporter?.kind === 'roles-anywhere')
      new CfnOutput(this, 'ExporterTrustAnchorArn', { value: props.exporter.trustAnchorArn });
    if (this.breakGlassRole) new CfnOutput(this, 'BreakGlassRoleArn', { value: this.breakGlassRole.roleArn });
    // What `contrast-autorecover manifests` and `scp` render from (cli/manifests/): concrete values, no intrinsics for the operator to resolve.
    new CfnOutput(this, 'FunctionArn', { value: this.function.functionArn });
    new CfnOutput(this, 'Deployments', {
      description: 'deployments and their namespaces (contrast-autorecover manifests)',
      value: Stack.of(this).toJsonString(
        props.deployments.map((d) => ({
          name: d.name,
          coordinatorNamespace: d.coordinatorNamespace ?? DEFAULTS.coordinatorNamespace,
          ...(d.namespaces ? { namespaces: d.namespaces } : {}),
          ...(d.namespaceLabelSelector ? { namespaceSelector: true } : {}),
        })),
      ),
    });
    new CfnOutput(this, 'ClusterKind', { value: props.cluster.kind });
    if (props.cluster.kind === 'eks-hybrid-nodes')
      new CfnOutput(this, 'ClusterName', { value: props.cluster.clusterName });
    new CfnOutput(this, 'AllowPodDeletion', { value: String(props.allowPodDeletion ?? false) });
    if (props.collateralMirror) new CfnOutput(this, 'CollateralMirrorUrl', { value: props.collateralMirror.url });
    if (this.trailBucket) new CfnOutput(this, 'TrailBucketName', { value: this.trailBucket.bucketName });
    if (
      props.network.kind === 'own-vpc' &&
      props.cluster.kind === 'eks-hybrid-nodes' &&
      !props.cluster.clusterSecurityGroupId
    ) {
      // The construct cannot add the rule without the group: say exactly what to run.
      const command = Fn.join('', [
        'aws ec2 authorize-security-group-ingress --group-id <cluster security group> --protocol tcp --port 443 --cidr ',
        this.vpc.vpcCidrBlock,
      ]);
      new CfnOutput(this, 'ClusterSecurityGroupIngressCommand', {
        value: command,
        description: "admit the function's VPC to the EKS API (or name cluster.clusterSecurityGroupId)",
      });
      Annotations.of(this).addWarningV2(
        'contrast-autorecover:cluster-ingress',
        'own-vpc with EKS and no cluster.clusterSecurityGroupId: the cluster security group must admit this VPC on 443; name the group (the construct adds the rule) or run the command in the ClusterSecurityGroupIngressCommand output',
      );
    }
  }
}

const LOCK_TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
];

/** Lease lock, crash-loop guard, restart record and pause switch (lambda/function/lease.ts). */
function createLockTable(scope: Construct, role: iam.Role): dynamodb.Table {
  const table = new dynamodb.Table(scope, 'LockTable', {
    partitionKey: { name: LOCK_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    timeToLiveAttribute: LOCK_TABLE.ttlAttribute,
    encryption: dynamodb.TableEncryption.AWS_MANAGED,
    removalPolicy: RemovalPolicy.RETAIN,
    deletionProtection: true,
  });
  role.addToPolicy(
    new iam.PolicyStatement({ sid: 'LockTable', actions: LOCK_TABLE_ACTIONS, resources: [table.tableArn] }),
  );
  return table;
}

/** The exporter's identity, allowed to put the trigger events on the bus and nothing else. */
function exporterRole(
  scope: Construct,
  props: NonNullable<ContrastRecoveryProps['exporter']>,
  bus: events.IEventBus,
  eventSource: string,
): iam.Role {
  const exporter = createExporterIdentity(scope, props);
  exporter.role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'PutTriggerEvents',
      actions: ['events:PutEvents'],
      resources: [bus.eventBusArn],
      conditions: {
        StringEquals: { 'events:source': eventSource, 'events:detail-type': [...EVENTS.triggerDetailTypes] },
      },
    }),
  );
  if (exporter.profile) new CfnOutput(scope, 'ExporterProfileArn', { value: exporter.profile.attrProfileArn });
  return exporter.role;
}

/** What the function may call through each service endpoint (the endpoint policies). */
function endpointAccess(
  props: ContrastRecoveryProps,
  secretArnPatterns: string[],
  table: dynamodb.ITable,
  bus: events.IEventBus,
  deploymentsPath: string,
): Record<ServiceName, EndpointAccess> {
  const kubeconfig = props.cluster.kind === 'self-managed' ? [props.cluster.kubeconfigSecretArn] : [];
  return {
    // The key ARN is not named: the key policy references this endpoint (aws:SourceVpce), and
    // naming the key here would make the two resources depend on each other.
    kms: { actions: ['kms:Decrypt'], resources: [`arn:${Aws.PARTITION}:kms:${Aws.REGION}:${Aws.ACCOUNT_ID}:key/*`] },
    // DescribeSecret: the version check that spares a warm function the read (keys/warm-bundles.ts).
    secretsManager: {
      actions: [
        'secretsmanager:GetSecretValue',
        'secretsmanager:DescribeSecret',
        ...(props.collateralMirror ? ['secretsmanager:PutSecretValue'] : []),
      ],
      resources: [...secretArnPatterns, ...kubeconfig],
    },
    dynamodb: { actions: LOCK_TABLE_ACTIONS, resources: [table.tableArn] },
    eventbridge: { actions: ['events:PutEvents'], resources: [bus.eventBusArn] },
    ssm: {
      actions: ['ssm:GetParametersByPath'],
      resources: [`arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter${deploymentsPath}`],
    },
  };
}

/** The CloudFormation execution role: from the prop, else the DefaultStackSynthesizer's bootstrap. */
function cloudFormationRole(scope: Construct, props: ContrastRecoveryProps): string {
  if (props.cloudFormationExecutionRoleArn) return props.cloudFormationExecutionRoleArn;
  const synthesizer = Stack.of(scope).synthesizer;
  if (synthesizer instanceof DefaultStackSynthesizer) {
    // `${AWS::AccountId}`-style placeholders, resolved by CloudFormation.
    return Fn.sub(synthesizer.cloudFormationExecutionRoleArn);
  }
  throw new PropsError(
    scope.node.path,
    'cloudFormationExecutionRoleArn is required with a synthesizer other than DefaultStackSynthesizer: name the role CloudFormation deploys this stack with (it administers the keys and the secrets)',
  );
}

function mirrorPort(m: NonNullable<ContrastRecoveryProps['collateralMirror']>): number {
  if (m.port) return m.port;
  const url = new URL(m.url);
  return url.port ? Number(url.port) : url.protocol === 'http:' ? 80 : 443;
}

/**
 * The lease: the function's timeout + 60 s, so a live holder never loses it. Never below the
 * minimum one recovery needs under the time budgets (lambda/shared/budgets.ts), which the
 * function's configuration refuses as well.
 */
export function leaseSecondsFor(functionTimeoutSeconds: number): number {
  const lease = functionTimeoutSeconds + 60;
  if (lease < MIN_LEASE_SECONDS) {
    throw new Error(
      `contrast-autorecover: a lease of ${lease} s (function timeout ${functionTimeoutSeconds} s + 60 s) is shorter than the ${MIN_LEASE_SECONDS} s one recovery may take under the time budgets (lambda/shared/budgets.ts); raise the function timeout`,
    );
  }
  return lease;
}

/** Every variable the function reads (lambda/function/config.ts), names from lambda/shared/contract.ts. */
function functionEnvironment(
  scope: Construct,
  props: ContrastRecoveryProps,
  parts: {
    network: Record<string, string>;
    cluster: Record<string, string>;
    deploymentsPath: string;
    lockTable: dynamodb.ITable;
    eventBus: events.IEventBus;
    drillRule?: string | undefined;
  },
): Record<string, string> {
  return {
    ...parts.network,
    ...parts.cluster,
    [ENV.deploymentsPath]: parts.deploymentsPath,
    [ENV.lockTable]: parts.lockTable.tableName,
    [ENV.eventBus]: parts.eventBus.eventBusName,
    [ENV.eventSource]: props.eventSource ?? EVENTS.triggerSource,
    [ENV.resultEventSource]: props.resultEventSource ?? EVENTS.resultSource,
    [ENV.maxRecoveriesPerHour]: String(props.maxRecoveriesPerHour ?? DEFAULTS.maxRecoveriesPerHour),
    [ENV.leaseSeconds]: String(leaseSecondsFor(FUNCTION_TIMEOUT.toSeconds())),
    [ENV.allowPodDeletion]: String(props.allowPodDeletion ?? false),
    [ENV.decryptDrill]: String(parts.drillRule !== undefined),
    ...(parts.drillRule ? { [ENV.decryptDrillRule]: parts.drillRule } : {}),
    ...(props.collateralMirror ? { [ENV.collateralMirrorUrl]: props.collateralMirror.url } : {}),
    POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
    POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
  };
}

/** Each deployment's parameter value: exactly the keys lambda/function/config.ts accepts. */
function deploymentEntries(
  scope: Construct,
  props: ContrastRecoveryProps,
  bundles: BundleSecrets,
  coordinator: Record<string, string>,
): Record<string, string> {
  const entry = (d: ContrastRecoveryProps['deployments'][number]) =>
    Stack.of(scope).toJsonString({
      name: d.name,
      secretId: bundles.secrets[d.name]!.ref,
      coordinator: coordinator[d.name],
      ...(d.namespaces ? { namespaces: d.namespaces } : {}),
      ...(d.namespaceLabelSelector ? { namespaceLabelSelector: d.namespaceLabelSelector } : {}),
      ...(d.coordinatorNamespace ? { coordinatorNamespace: d.coordinatorNamespace } : {}),
      ...(d.alarmArns?.length ? { alarmNames: d.alarmArns.map((a) => alarmNameOf(scope, a)) } : {}),
      ...(d.tdxAcceptedTcbStatuses ? { tdxAcceptedTcbStatuses: d.tdxAcceptedTcbStatuses } : {}),
      ...(d.restartAfterAnyRotation ? { restartAfterAnyRotation: true } : {}),
    });
  return Object.fromEntries(props.deployments.map((d) => [d.name, entry(d)]));
}

function alarmNameOf(scope: Construct, alarmArn: string): string {
  const m = /^arn:[^:]+:cloudwatch:[^:]*:[^:]*:alarm:(.+)$/.exec(alarmArn);
  if (!m)
    throw new PropsError(
      scope.node.path,
      `${alarmArn} is not a CloudWatch alarm ARN (arn:aws:cloudwatch:<region>:<account>:alarm:<name>)`,
    );
  return m[1]!;
}
