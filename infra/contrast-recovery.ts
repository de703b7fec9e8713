/**
 * `ContrastRecovery`: everything the automated recovery of Contrast Coordinators needs, in one
 * construct, secure by default:
 *
 * - the recovery key (KMS) and one Secrets Manager secret per deployment (infra/key.ts);
 * - the function (local esbuild with code splitting, arm64) in isolated subnets, reaching AWS only
 *   through interface endpoints with endpoint policies, the Coordinator through PrivateLink
 *   and the EKS API through the cluster security group (infra/network.ts);
 * - the lock table (lease lock, crash-loop guard, pause switch);
 * - triggers (custom event, alarm state change, schedule) with retry policies and a DLQ, the
 *   function's async on-failure queue, alarms to an encrypted SNS topic (infra/alarms.ts);
 * - the EKS access entry for the function, the exporter's IRSA role, an optional audit trail.
 *
 * Every value the function reads comes from here as an environment variable (lambda/config.ts).
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CfnResource } from 'aws-cdk-lib';
import { Arn, ArnFormat, Aws, CfnOutput, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudtrail from 'aws-cdk-lib/aws-cloudtrail';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as eks from 'aws-cdk-lib/aws-eks';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { RecoveryAlarms } from './alarms.ts';
import { DEFAULTS, ENV, EVENTS, METRICS_NAMESPACE, SERVICE_NAME } from '../lambda/shared/contract.ts';
import { HANDLER, splitBundleCode } from './function-code.ts';
import { RecoveryKey } from './key.ts';
import { createIsolatedVpc, createServiceEndpoints, endpointHostName } from './network.ts';

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');


/** How the function reaches one deployment's Coordinator user API (aTLS, port 1313). */
export type CoordinatorAccess =
  | {
      /** An existing VPC endpoint service (PrivateLink) in front of the Coordinator, e.g.
       * `com.amazonaws.vpce.eu-central-1.vpce-svc-0123…`. An interface endpoint is created. */
      readonly endpointServiceName: string;
      readonly port?: number;
    }
  | {
      /** ARN of the internal NLB the AWS Load Balancer Controller created for
       * infra/k8s/coordinator-endpoint.yaml: the construct creates the VPC endpoint service
       * (allowing only this stack's account) and the interface endpoint to it. */
      readonly nlbArn: string;
      readonly port?: number;
    }
  | {
      /** A DNS name the function can reach directly (same or peered VPC). */
      readonly host: string;
      readonly port?: number;
      /** Where that host lives, for the security-group egress rule. */
      readonly peer: ec2.IPeer;
    };

export interface ContrastDeploymentProps {
  /** Deployment name: secret name suffix, KMS encryption context value, metric dimension. */
  readonly name: string;
  readonly coordinator: CoordinatorAccess;
  /** Namespaces whose Contrast workloads are restarted after a recovery (["*"] = all). @default ["*"] */
  readonly namespaces?: string[];
  /** Alternatively/additionally select namespaces by label. */
  readonly namespaceLabelSelector?: string;
  /** Namespace of the Coordinator StatefulSet (peer readiness check). */
  readonly coordinatorNamespace?: string;
  /** CloudWatch alarm ARNs whose transition to ALARM triggers a reconcile of this deployment. */
  readonly alarmArns?: string[];
  /** TDX only: Intel TCB statuses accepted besides UpToDate. */
  readonly tdxAcceptedTcbStatuses?: string[];
}

/** An EKS cluster the function authenticates to with its IAM role (access entry). */
export interface EksClusterProps {
  readonly clusterName: string;
  /** Private API endpoint URL (https://…). */
  readonly endpoint: string;
  /** Base64 certificate authority data of the cluster. */
  readonly certificateAuthorityData: string;
  /** The cluster security group: the function gets a 443 path to it. */
  readonly clusterSecurityGroupId: string;
  /** Create the EKS access entry mapping the role to the `contrast-autorecover` group. @default true */
  readonly createAccessEntry?: boolean;
}

/** Any other cluster: a kubeconfig in Secrets Manager. */
export interface KubeconfigProps {
  readonly secretArn: string;
  /** KMS key of that secret, when it is a customer managed key (kms:Decrypt via Secrets Manager is granted). */
  readonly secretKmsKeyArn?: string;
  /** Where the API server is, for the egress rule. */
  readonly apiPeer: ec2.IPeer;
  /** @default 443 */
  readonly apiPort?: number;
}

/** IRSA identity of the in-cluster event exporter (infra/k8s/exporter). */
export interface ExporterIdentityProps {
  /** ARN of the cluster's IAM OIDC provider. */
  readonly oidcProviderArn: string;
  /** Issuer without scheme, e.g. `oidc.eks.eu-central-1.amazonaws.com/id/ABCDEF…`. */
  readonly oidcIssuer: string;
  /** @default contrast-autorecover-exporter */
  readonly namespace?: string;
  /** @default event-exporter */
  readonly serviceAccount?: string;
}

export interface CollateralMirrorProps {
  /** Base URL of the attestation collateral mirror (VCEK/CRL/PCS). */
  readonly url: string;
  /** Where the mirror lives (e.g. a CIDR or a prefix list), for the egress rule. */
  readonly peer: ec2.IPeer;
  /** @default port of the URL, else 443 */
  readonly port?: number;
}

export interface ContrastRecoveryProps {
  /** The deployments to keep recovered (at least one). */
  readonly deployments: ContrastDeploymentProps[];
  /**
   * VPC for the function. Import one with `Vpc.fromVpcAttributes` (no lookups) or leave
   * undefined to create an isolated VPC (no IGW, no NAT). An imported VPC's selected subnets
   * must have no route to the internet.
   */
  readonly vpc?: ec2.IVpc;
  /** Subnets of the function and endpoints. @default PRIVATE_ISOLATED */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** AZs of a created VPC (offline synth of an env-specific stack needs them explicitly). */
  readonly availabilityZones?: string[];
  /** Create the AWS API interface endpoints. Set false when the VPC already has them. @default true */
  readonly createServiceEndpoints?: boolean;
  /** EKS cluster (token auth). Exclusive with `kubeconfig`; neither = no Kubernetes access. */
  readonly eks?: EksClusterProps;
  readonly kubeconfig?: KubeconfigProps;
  /** IRSA role for the in-cluster exporter (events:PutEvents of the trigger event only). */
  readonly exporter?: ExporterIdentityProps;
  /** Bus for trigger and result events. @default a new custom bus */
  readonly eventBus?: events.IEventBus;
  /** @default contrast.coordinator */
  readonly eventSource?: string;
  /** @default contrast.autorecover */
  readonly resultEventSource?: string;
  /** Safety-net schedule reconciling every deployment. @default rate(15 minutes) */
  readonly schedule?: events.Schedule;
  readonly collateralMirror?: CollateralMirrorProps;
  /** Crash-loop guard: user recoveries per deployment per hour. @default 2 */
  readonly maxRecoveriesPerHour?: number;
  /** Let the function delete pods of OnDelete StatefulSets/DaemonSets and bare pods. @default false */
  readonly allowPodDeletion?: boolean;
  /** Scheduled decrypt drill. @default false */
  readonly decryptDrill?: boolean;
  /** @default ONE_YEAR */
  readonly logRetention?: logs.RetentionDays;
  /** Alarm when a deployment is stale longer than this. @default 15 */
  readonly staleAlarmMinutes?: number;
  /** Who may assume the enroller role. @default the account (IAM policies decide) */
  readonly enrollerPrincipal?: iam.IPrincipal;
  /** Create a break-glass role (decrypt with context + GetSecretValue) assumable by this principal, with MFA. */
  readonly breakGlassPrincipal?: iam.IPrincipal;
  /** Administrators of the recovery key (admin actions only). @default the account */
  readonly keyAdmins?: iam.IPrincipal[];
  /** Create a CloudTrail trail with Lambda Invoke data events for the function. @default false */
  readonly auditTrail?: boolean;
  /** Secret names are `<prefix>/<deployment>`. @default contrast-autorecover */
  readonly secretNamePrefix?: string;
  /** Function entry. @default lambda/handler.ts of this project */
  readonly entry?: string;
  /** Email endpoints subscribed to the alarm topic. */
  readonly alarmEmails?: string[];
}

const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export class ContrastRecovery extends Construct {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly key: kms.Key;
  readonly secrets: Record<string, secretsmanager.CfnSecret>;
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

  constructor(scope: Construct, id: string, props: ContrastRecoveryProps) {
    super(scope, id);
    validateProps(this, props);
    const stack = Stack.of(this);
    const names = props.deployments.map((d) => d.name);
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_YEAR;
    const eventSource = props.eventSource ?? EVENTS.triggerSource;
    const resultEventSource = props.resultEventSource ?? EVENTS.resultSource;
    const prefix = props.secretNamePrefix ?? DEFAULTS.secretPrefix;
    const secretName = (d: string) => `${prefix}/${d}`;
    // Secrets Manager appends "-" and six random characters to the name in the ARN.
    const secretArnPattern = (d: string) =>
      `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${secretName(d)}-??????`;
    const secretArnPatterns = names.map(secretArnPattern);

    // ---- Operational key (logs, alarm topic). Not the recovery key: nothing secret here. ----
    const opsScope = new Construct(this, 'Ops');
    const opsKey = new kms.Key(opsScope, 'Key', {
      description: 'contrast-autorecover: logs and alarm notifications',
      enableKeyRotation: true,
      pendingWindow: Duration.days(30),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    opsKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogs',
        principals: [new iam.ServicePrincipal(`logs.${Aws.REGION}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:*` },
        },
      }),
    );
    opsKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsToEncryptedTopic',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );

    // ---- Network ----
    this.vpc =
      props.vpc ??
      createIsolatedVpc(this, 'Vpc', {
        logRetention,
        logKey: opsKey,
        ...(props.availabilityZones ? { availabilityZones: props.availabilityZones } : {}),
      });
    const subnets = props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
    this.securityGroup = new ec2.SecurityGroup(this, 'FunctionSecurityGroup', {
      vpc: this.vpc,
      description: 'contrast-autorecover function: egress only to endpoints, Coordinators and the cluster API',
      allowAllOutbound: false,
    });

    // ---- Roles ----
    this.role = new iam.Role(this, 'FunctionRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'contrast-autorecover recovery function',
    });
    this.enrollerRole = new iam.Role(this, 'EnrollerRole', {
      assumedBy: props.enrollerPrincipal ?? new iam.AccountRootPrincipal(),
      description: 'contrast-autorecover enroll: writes recovery bundles (encrypt only, never decrypt)',
      maxSessionDuration: Duration.hours(1),
    });
    if (props.breakGlassPrincipal) {
      this.breakGlassRole = new iam.Role(this, 'BreakGlassRole', {
        assumedBy: new iam.PrincipalWithConditions(props.breakGlassPrincipal, {
          Bool: { 'aws:MultiFactorAuthPresent': 'true' },
        }),
        description: 'contrast-autorecover break-glass: an operator\'s local recover (audited decrypt)',
        maxSessionDuration: Duration.hours(1),
      });
    }

    // ---- Recovery key and secrets ----
    this.key = new RecoveryKey(this, 'RecoveryKey', {
      deploymentNames: names,
      functionRole: this.role,
      enrollerRole: this.enrollerRole,
      ...(this.breakGlassRole ? { breakGlassRole: this.breakGlassRole } : {}),
      secretArnPatterns,
      ...(props.keyAdmins ? { admins: props.keyAdmins } : {}),
    }).key;

    const readerArns = [this.role.roleArn, ...(this.breakGlassRole ? [this.breakGlassRole.roleArn] : [])];
    this.secrets = {};
    // With a collateral mirror the function refreshes the bundle's (non-secret) collateral
    // cache before it expires, so it may put new versions too. It still cannot forge an owner
    // key envelope (no GenerateDataKey with the contrast context) and a changed manifest breaks
    // decryption, so the write adds no way to the seed.
    const writerArns = [this.enrollerRole.roleArn, ...(props.collateralMirror ? [this.role.roleArn] : [])];
    for (const [i, d] of props.deployments.entries()) {
      const secret = new secretsmanager.CfnSecret(this, `BundleSecret${i}`, {
        name: secretName(d.name),
        description: `contrast-autorecover recovery bundle of deployment ${d.name} (written by contrast-autorecover enroll)`,
        kmsKeyId: this.key.keyArn,
        // Fixed, non-secret placeholder: CloudFormation requires a value. Never change it, or
        // a stack update would overwrite the enrolled bundle. Until enrolled the function
        // reports bundle-invalid for this deployment.
        secretString: JSON.stringify({ enrolled: false }),
      });
      secret.applyRemovalPolicy(RemovalPolicy.RETAIN);
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason: 'The value is a KMS-enveloped recovery bundle written by contrast-autorecover enroll; rotating it means re-enrolling after contrast set, which the drift alarm prompts. A rotation Lambda cannot produce it.',
      });
      new secretsmanager.CfnResourcePolicy(this, `BundleSecretPolicy${i}`, {
        secretId: secret.ref,
        blockPublicPolicy: true,
        resourcePolicy: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'OnlyReadersGetTheBundle',
              effect: iam.Effect.DENY,
              principals: [new iam.AnyPrincipal()],
              actions: ['secretsmanager:GetSecretValue'],
              resources: ['*'],
              conditions: { ArnNotEquals: { 'aws:PrincipalArn': readerArns } },
            }),
            new iam.PolicyStatement({
              sid: 'OnlyTheEnrollerWritesTheBundle',
              effect: iam.Effect.DENY,
              principals: [new iam.AnyPrincipal()],
              actions: ['secretsmanager:PutSecretValue'],
              resources: ['*'],
              conditions: { ArnNotEquals: { 'aws:PrincipalArn': writerArns.length === 1 ? writerArns[0]! : writerArns } },
            }),
            new iam.PolicyStatement({
              sid: 'ReadersGetTheBundle',
              principals: readerArns.map((a) => new iam.ArnPrincipal(a)),
              actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
              resources: ['*'],
            }),
            new iam.PolicyStatement({
              sid: 'EnrollerWritesTheBundle',
              principals: writerArns.map((a) => new iam.ArnPrincipal(a)),
              actions: ['secretsmanager:PutSecretValue', 'secretsmanager:DescribeSecret'],
              resources: ['*'],
            }),
          ],
        }).toJSON(),
      });
      this.secrets[d.name] = secret;
    }
    const secretArns = props.deployments.map((d) => this.secrets[d.name]!.ref);

    // Identity policies (the secret and key policies above are the second lock).
    this.role.addToPolicy(
      new iam.PolicyStatement({ sid: 'ReadBundles', actions: ['secretsmanager:GetSecretValue'], resources: secretArns }),
    );
    if (props.collateralMirror) {
      this.role.addToPolicy(new iam.PolicyStatement({ sid: 'RefreshBundleCollateral', actions: ['secretsmanager:PutSecretValue'], resources: secretArns }));
      // Secrets Manager encrypts the new version with the recovery key on the function's behalf.
      this.role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'EncryptBundleVersionViaSecretsManager',
          actions: ['kms:GenerateDataKey'],
          resources: [this.key.keyArn],
          conditions: {
            StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` },
            StringLike: { 'kms:EncryptionContext:SecretARN': secretArnPatterns },
          },
        }),
      );
    }
    this.enrollerRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'WriteBundles',
        actions: ['secretsmanager:PutSecretValue', 'secretsmanager:CreateSecret', 'secretsmanager:DescribeSecret'],
        resources: secretArnPatterns,
      }),
    );
    this.enrollerRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'UseRecoveryKeyForEnrollment',
        actions: ['kms:GenerateDataKey', 'kms:Encrypt', 'kms:DescribeKey'],
        resources: [this.key.keyArn],
      }),
    );
    if (this.breakGlassRole) {
      this.breakGlassRole.addToPolicy(
        new iam.PolicyStatement({ sid: 'ReadBundles', actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], resources: secretArns }),
      );
      this.breakGlassRole.addToPolicy(
        new iam.PolicyStatement({ sid: 'DecryptOwnerKey', actions: ['kms:Decrypt'], resources: [this.key.keyArn] }),
      );
    }

    // ---- Lock table (lease lock, crash-loop guard, restart record, pause switch) ----
    this.lockTable = new dynamodb.Table(this, 'LockTable', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'expiresAt',
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
      deletionProtection: true,
    });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'LockTable',
        actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
        resources: [this.lockTable.tableArn],
      }),
    );

    // ---- Event bus ----
    this.eventBus = props.eventBus ?? new events.EventBus(this, 'Bus', { description: 'contrast-autorecover triggers and results' });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'PutResultEvents',
        actions: ['events:PutEvents'],
        resources: [this.eventBus.eventBusArn],
        conditions: { StringEquals: { 'events:source': resultEventSource } },
      }),
    );

    // ---- Logs ----
    const logGroup = new logs.LogGroup(this, 'FunctionLogs', {
      retention: logRetention,
      encryptionKey: opsKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'WriteOwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [`${logGroup.logGroupArn}`],
      }),
    );
    const eniPolicy = new iam.PolicyStatement({
      sid: 'VpcNetworkInterfaces',
      // Lambda's VPC attachment; EC2 does not support resource-level permissions for these.
      actions: [
        'ec2:CreateNetworkInterface',
        'ec2:DescribeNetworkInterfaces',
        'ec2:DescribeSubnets',
        'ec2:DeleteNetworkInterface',
        'ec2:AssignPrivateIpAddresses',
        'ec2:UnassignPrivateIpAddresses',
      ],
      resources: ['*'],
    });
    this.role.addToPolicy(eniPolicy);

    // ---- Network paths ----
    const egress = (peer: ec2.IPeer, port: number, what: string) => this.securityGroup.addEgressRule(peer, ec2.Port.tcp(port), what);
    const env: Record<string, string> = {};

    // Coordinators.
    const coordinatorOf: Record<string, string> = {};
    for (const [i, d] of props.deployments.entries()) {
      const c = d.coordinator;
      const port = c.port ?? DEFAULTS.coordinatorPort;
      if ('host' in c) {
        egress(c.peer, port, `Coordinator user API of ${d.name}`);
        coordinatorOf[d.name] = `${c.host}:${port}`;
        continue;
      }
      let serviceName: string;
      if ('nlbArn' in c) {
        const service = new ec2.VpcEndpointService(this, `CoordinatorService${i}`, {
          vpcEndpointServiceLoadBalancers: [{ loadBalancerArn: c.nlbArn }],
          acceptanceRequired: false,
          // Only this stack's account may connect.
          allowedPrincipals: [new iam.ArnPrincipal(`arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:root`)],
        });
        serviceName = service.vpcEndpointServiceName;
      } else {
        serviceName = c.endpointServiceName;
      }
      const endpointSg = new ec2.SecurityGroup(this, `CoordinatorEndpointSecurityGroup${i}`, {
        vpc: this.vpc,
        description: `contrast-autorecover: PrivateLink endpoint of the Coordinator of ${d.name}`,
        allowAllOutbound: false,
      });
      endpointSg.addIngressRule(this.securityGroup, ec2.Port.tcp(port), 'Coordinator user API from the recovery function');
      egress(endpointSg, port, `Coordinator user API of ${d.name}`);
      const endpoint = new ec2.InterfaceVpcEndpoint(this, `CoordinatorEndpoint${i}`, {
        vpc: this.vpc,
        service: new ec2.InterfaceVpcEndpointService(serviceName, port),
        subnets,
        privateDnsEnabled: false,
        securityGroups: [endpointSg],
        open: false,
      });
      coordinatorOf[d.name] = `${endpointHostName(endpoint)}:${port}`;
    }

    // Kubernetes API.
    if (props.eks) {
      const clusterSg = ec2.SecurityGroup.fromSecurityGroupId(this, 'ClusterSecurityGroup', props.eks.clusterSecurityGroupId, {
        mutable: true,
        allowAllOutbound: true,
      });
      this.securityGroup.connections.allowTo(clusterSg, ec2.Port.tcp(443), 'EKS private API endpoint');
      Object.assign(env, {
        [ENV.kubeAuth]: 'eks',
        [ENV.eksClusterName]: props.eks.clusterName,
        [ENV.eksEndpoint]: props.eks.endpoint,
        [ENV.eksCaData]: props.eks.certificateAuthorityData,
      });
      if (props.eks.createAccessEntry ?? true) {
        new eks.CfnAccessEntry(this, 'AccessEntry', {
          clusterName: props.eks.clusterName,
          principalArn: this.role.roleArn,
          type: 'STANDARD',
          kubernetesGroups: [DEFAULTS.kubernetesGroup],
        });
      }
    } else if (props.kubeconfig) {
      egress(props.kubeconfig.apiPeer, props.kubeconfig.apiPort ?? 443, 'Kubernetes API server');
      env[ENV.kubeAuth] = 'kubeconfig';
      env[ENV.kubeconfigSecretId] = props.kubeconfig.secretArn;
      this.role.addToPolicy(
        new iam.PolicyStatement({ sid: 'ReadKubeconfig', actions: ['secretsmanager:GetSecretValue'], resources: [props.kubeconfig.secretArn] }),
      );
      if (props.kubeconfig.secretKmsKeyArn) {
        this.role.addToPolicy(
          new iam.PolicyStatement({
            sid: 'DecryptKubeconfig',
            actions: ['kms:Decrypt'],
            resources: [props.kubeconfig.secretKmsKeyArn],
            conditions: {
              StringEquals: {
                'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com`,
                'kms:EncryptionContext:SecretARN': props.kubeconfig.secretArn,
              },
            },
          }),
        );
      }
    } else {
      env[ENV.kubeAuth] = 'none';
    }

    // Collateral mirror (only when configured; there is no other egress).
    if (props.collateralMirror) {
      const url = new URL(props.collateralMirror.url);
      const port = props.collateralMirror.port ?? (url.port ? Number(url.port) : url.protocol === 'http:' ? 80 : 443);
      egress(props.collateralMirror.peer, port, 'Attestation collateral mirror');
      env[ENV.collateralMirrorUrl] = props.collateralMirror.url;
    }

    // AWS APIs through interface endpoints.
    if (props.createServiceEndpoints ?? true) {
      const { endpoints } = createServiceEndpoints(this, this.vpc, subnets, this.securityGroup, this.role.roleArn, [
        { id: 'Kms', service: ec2.InterfaceVpcEndpointAwsService.KMS, actions: ['kms:Decrypt'], resources: [this.key.keyArn] },
        {
          id: 'SecretsManager',
          service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
          actions: ['secretsmanager:GetSecretValue', ...(props.collateralMirror ? ['secretsmanager:PutSecretValue'] : [])],
          resources: [...secretArns, ...(props.kubeconfig ? [props.kubeconfig.secretArn] : [])],
        },
        { id: 'Sts', service: ec2.InterfaceVpcEndpointAwsService.STS, actions: ['sts:GetCallerIdentity'], resources: ['*'] },
        {
          id: 'Events',
          service: ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE,
          actions: ['events:PutEvents'],
          resources: [this.eventBus.eventBusArn],
        },
        {
          id: 'Logs',
          service: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [logGroup.logGroupArn],
        },
        {
          id: 'Monitoring',
          service: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
          actions: ['cloudwatch:PutMetricData'],
          resources: ['*'],
          conditions: { StringEquals: { 'cloudwatch:namespace': METRICS_NAMESPACE } },
        },
        {
          id: 'DynamoDb',
          service: ec2.InterfaceVpcEndpointAwsService.DYNAMODB,
          actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
          resources: [this.lockTable.tableArn],
          // DynamoDB interface endpoints are addressed by their own DNS name (below).
          privateDns: false,
        },
      ]);
      // The SDK (v3) reads AWS_ENDPOINT_URL_DYNAMODB: the lock table is reached through the
      // interface endpoint above (a gateway endpoint would need an egress rule to a
      // region-specific prefix list, which cannot be resolved offline).
      env.AWS_ENDPOINT_URL_DYNAMODB = `https://${endpointHostName(endpoints.DynamoDb!)}`;
    }

    // ---- Queues ----
    const queueProps: sqs.QueueProps = {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.RETAIN,
    };
    this.triggerDeadLetterQueue = new sqs.Queue(this, 'TriggerDeadLetterQueue', queueProps);
    this.failureQueue = new sqs.Queue(this, 'InvocationFailureQueue', queueProps);
    for (const q of [this.triggerDeadLetterQueue, this.failureQueue]) {
      Validations.of(q).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason: 'This queue is itself a dead-letter queue (EventBridge target DLQ / Lambda on-failure destination); its depth is alarmed.',
      });
    }

    // ---- Function ----
    const entry = props.entry ?? path.join(PROJECT_ROOT, 'lambda', 'handler.ts');
    if (!existsSync(entry)) {
      throw new Error(
        `contrast-autorecover: the function entry ${entry} does not exist. The CDK app bundles lambda/handler.ts ` +
          '(exporting `handler`) with esbuild; check out the complete project or pass `entry`.',
      );
    }
    const timeout = Duration.minutes(5);
    this.function = new lambda.Function(this, 'Function', {
      code: splitBundleCode(entry, PROJECT_ROOT),
      handler: HANDLER,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      // 1024 MB: Lambda allots CPU in proportion to memory; a reconcile does RSA-4096 OAEP,
      // two aTLS handshakes with SNP/TDX chain verification and TLS/HTTP2 with grpc-js, and
      // at 1 GB these take well under a second. Memory use itself stays below 200 MB.
      memorySize: 1024,
      // 5 min: the worst case is probe + decrypt + Recover + GetManifests (seconds) and then
      // restarting every Contrast workload with bounded concurrency and retry/backoff on 409/
      // 429/5xx, optionally waiting for rollouts. The lease outlives it by 60 s.
      timeout,
      role: this.role,
      vpc: this.vpc,
      vpcSubnets: subnets,
      securityGroups: [this.securityGroup],
      allowPublicSubnet: false,
      logGroup,
      tracing: lambda.Tracing.ACTIVE,
      retryAttempts: 2,
      maxEventAge: Duration.hours(1),
      onFailure: new destinations.SqsDestination(this.failureQueue),
      environment: {
        ...env,
        [ENV.deployments]: stack.toJsonString(
          props.deployments.map((d) => ({
            name: d.name,
            secretId: this.secrets[d.name]!.ref,
            coordinator: coordinatorOf[d.name],
            ...(d.namespaces ? { namespaces: d.namespaces } : {}),
            ...(d.namespaceLabelSelector ? { namespaceLabelSelector: d.namespaceLabelSelector } : {}),
            ...(d.coordinatorNamespace ? { coordinatorNamespace: d.coordinatorNamespace } : {}),
            ...(d.alarmArns?.length ? { alarmNames: d.alarmArns.map((a) => alarmNameOf(this, a)) } : {}),
            ...(d.tdxAcceptedTcbStatuses ? { tdxAcceptedTcbStatuses: d.tdxAcceptedTcbStatuses } : {}),
          })),
        ),
        [ENV.lockTable]: this.lockTable.tableName,
        [ENV.eventBus]: this.eventBus.eventBusName,
        [ENV.eventSource]: eventSource,
        [ENV.resultEventSource]: resultEventSource,
        [ENV.maxRecoveriesPerHour]: String(props.maxRecoveriesPerHour ?? DEFAULTS.maxRecoveriesPerHour),
        [ENV.leaseSeconds]: String(timeout.toSeconds() + 60),
        [ENV.allowPodDeletion]: String(props.allowPodDeletion ?? false),
        [ENV.decryptDrill]: String(props.decryptDrill ?? false),
        POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      },
    });
    // The role's inline policy must exist before Lambda validates the VPC permissions.
    const cfnFunction = this.function.node.defaultChild as CfnResource;
    cfnFunction.node.addDependency(this.role);

    // ---- Triggers ----
    const targetOptions: targets.LambdaFunctionProps = {
      deadLetterQueue: this.triggerDeadLetterQueue,
      retryAttempts: 8,
      maxEventAge: Duration.hours(2),
    };
    new events.Rule(this, 'CoordinatorEventRule', {
      description: 'A Coordinator restarted or a recovery was requested',
      eventBus: this.eventBus,
      eventPattern: {
        source: [eventSource],
        detailType: [...EVENTS.triggerDetailTypes],
        detail: { deployment: names },
      },
      targets: [new targets.LambdaFunction(this.function, targetOptions)],
    });
    const alarmArns = props.deployments.flatMap((d) => d.alarmArns ?? []);
    if (alarmArns.length > 0) {
      // Alarm state changes are delivered to the default bus only.
      new events.Rule(this, 'AlarmRule', {
        description: 'A configured CloudWatch alarm went into ALARM',
        eventPattern: {
          source: ['aws.cloudwatch'],
          detailType: ['CloudWatch Alarm State Change'],
          resources: alarmArns,
          detail: { state: { value: ['ALARM'] } },
        },
        targets: [new targets.LambdaFunction(this.function, targetOptions)],
      });
    }
    new events.Rule(this, 'ScheduleRule', {
      description: 'Safety net: reconcile every deployment',
      schedule: props.schedule ?? events.Schedule.rate(Duration.minutes(15)),
      targets: [new targets.LambdaFunction(this.function, targetOptions)],
    });

    // ---- Exporter identity (IRSA) ----
    if (props.exporter) {
      const ns = props.exporter.namespace ?? 'contrast-autorecover-exporter';
      const sa = props.exporter.serviceAccount ?? 'event-exporter';
      this.exporterRole = new iam.Role(this, 'ExporterRole', {
        description: 'kubernetes-event-exporter: publishes Coordinator restarts to the bus',
        assumedBy: new iam.FederatedPrincipal(
          props.exporter.oidcProviderArn,
          {
            StringEquals: {
              [`${props.exporter.oidcIssuer}:sub`]: `system:serviceaccount:${ns}:${sa}`,
              [`${props.exporter.oidcIssuer}:aud`]: 'sts.amazonaws.com',
            },
          },
          'sts:AssumeRoleWithWebIdentity',
        ),
        maxSessionDuration: Duration.hours(1),
      });
      this.exporterRole.addToPolicy(
        new iam.PolicyStatement({
          sid: 'PutTriggerEvents',
          actions: ['events:PutEvents'],
          resources: [this.eventBus.eventBusArn],
          conditions: { StringEquals: { 'events:source': eventSource, 'events:detail-type': [...EVENTS.triggerDetailTypes] } },
        }),
      );
    }

    // ---- Alarms ----
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'contrast-autorecover alarms',
      masterKey: opsKey,
      enforceSSL: true,
    });
    for (const [i, email] of (props.alarmEmails ?? []).entries()) {
      new sns.Subscription(this, `AlarmEmail${i}`, { topic: this.alarmTopic, protocol: sns.SubscriptionProtocol.EMAIL, endpoint: email });
    }
    new RecoveryAlarms(this, 'Alarms', {
      topic: this.alarmTopic,
      fn: this.function,
      deploymentNames: names,
      deadLetterQueues: { TriggerDeadLetterQueue: this.triggerDeadLetterQueue, InvocationFailureQueue: this.failureQueue },
      staleAlarmMinutes: props.staleAlarmMinutes ?? 15,
      decryptDrill: props.decryptDrill ?? false,
    });

    // ---- Audit trail (optional) ----
    if (props.auditTrail) {
      this.trail = this.createTrail(opsKey);
    }

    // ---- Acknowledged cdk-nag findings (each with its reason) ----
    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'Pinned to nodejs22.x (LTS), the line closest to the Node 20 the test suite and CLI run on; moving to nodejs24.x is a deliberate upgrade once CI runs Node 24.',
    });
    Validations.of(this.role).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'Only two statements use "*": the ENI actions of Lambda\'s VPC attachment and X-Ray PutTraceSegments/PutTelemetryRecords; neither service supports resource-level permissions for them.',
      },
    );

    // ---- Outputs ----
    new CfnOutput(this, 'FunctionName', { value: this.function.functionName });
    new CfnOutput(this, 'RecoveryKeyArn', { value: this.key.keyArn });
    new CfnOutput(this, 'EnrollerRoleArn', { value: this.enrollerRole.roleArn });
    new CfnOutput(this, 'EventBusName', { value: this.eventBus.eventBusName });
    new CfnOutput(this, 'EventBusArn', { value: this.eventBus.eventBusArn });
    new CfnOutput(this, 'LockTableName', { value: this.lockTable.tableName });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn });
    for (const [i, d] of props.deployments.entries()) {
      new CfnOutput(this, `BundleSecret${i}Arn`, { value: this.secrets[d.name]!.ref, description: `recovery bundle secret of ${d.name}` });
    }
    if (this.exporterRole) new CfnOutput(this, 'ExporterRoleArn', { value: this.exporterRole.roleArn });
    if (this.breakGlassRole) new CfnOutput(this, 'BreakGlassRoleArn', { value: this.breakGlassRole.roleArn });
  }

  private createTrail(opsKey: kms.Key): cloudtrail.Trail {
    const accessLogs = new s3.Bucket(this, 'TrailAccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket receives the server access logs of the trail bucket; logging it into itself would loop.',
    });
    const bucket = new s3.Bucket(this, 'TrailBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      serverAccessLogsBucket: accessLogs,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    opsKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudTrailEncryptLogs',
        principals: [new iam.ServicePrincipal('cloudtrail.amazonaws.com')],
        actions: ['kms:GenerateDataKey*', 'kms:DescribeKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );
    const trail = new cloudtrail.Trail(this, 'AuditTrail', {
      bucket,
      encryptionKey: opsKey,
      enableFileValidation: true,
      includeGlobalServiceEvents: true,
      isMultiRegionTrail: false,
      // Management events include every kms:Decrypt with its encryption context.
      managementEvents: cloudtrail.ReadWriteType.ALL,
    });
    trail.addLambdaEventSelector([this.function], { readWriteType: cloudtrail.ReadWriteType.ALL, includeManagementEvents: true });
    return trail;
  }
}

function alarmNameOf(scope: Construct, alarmArn: string): string {
  const parts = Arn.split(alarmArn, ArnFormat.COLON_RESOURCE_NAME);
  if (parts.resource !== 'alarm' || !parts.resourceName) {
    throw new Error(`contrast-autorecover: ${alarmArn} is not a CloudWatch alarm ARN (arn:aws:cloudwatch:<region>:<account>:alarm:<name>) in ${scope.node.path}`);
  }
  return parts.resourceName;
}

function validateProps(scope: Construct, props: ContrastRecoveryProps): void {
  const where = scope.node.path;
  if (props.deployments.length === 0) throw new Error(`${where}: configure at least one deployment`);
  const seen = new Set<string>();
  for (const d of props.deployments) {
    if (!NAME_RE.test(d.name)) throw new Error(`${where}: deployment name ${JSON.stringify(d.name)} must be lowercase letters, digits and "-" (at most 63)`);
    if (seen.has(d.name)) throw new Error(`${where}: duplicate deployment ${d.name}`);
    seen.add(d.name);
    if (d.namespaces !== undefined && d.namespaces.length === 0) throw new Error(`${where}: deployment ${d.name}: namespaces must not be empty (use ["*"] for all)`);
  }
  if (props.eks && props.kubeconfig) throw new Error(`${where}: set either eks or kubeconfig, not both`);
  if (props.staleAlarmMinutes !== undefined && !(props.staleAlarmMinutes > 0)) throw new Error(`${where}: staleAlarmMinutes must be > 0`);
  if ((props.eventSource ?? EVENTS.triggerSource) === (props.resultEventSource ?? EVENTS.resultSource)) {
    throw new Error(`${where}: resultEventSource must differ from eventSource, or the function would trigger itself`);
  }
}
