/**
 * Example CDK app: one stack with one `ContrastRecovery`, configured from context (cdk.json
 * holds placeholder values so `npx cdk synth` works offline, without an account; override with
 * `-c key=value` or your own cdk.context.json). No lookups: a hub VPC is imported by
 * attributes. With an explicit region other than us-east-1 a companion stack there forwards
 * IAM's events (which reach EventBridge only in us-east-1) to the recovery stack's region.
 * Your own app imports the construct from `contrast-autorecover/infra` instead.
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Annotations, App, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { ContrastRecovery } from './contrast-recovery.ts';
import { enableNag } from './nag.ts';
import type {
  ClusterProps,
  ContrastDeploymentProps,
  ContrastRecoveryProps,
  ExistingEndpoint,
  ExporterIdentityProps,
  OwnVpcNetwork,
  ServiceEndpoints,
} from './props.ts';
import { IamEventForwarder } from './side-door-alarms.ts';

/** The `contrast:*` context keys, as JSON (cdk.json). */
export interface AppSettings {
  stackName?: string;
  account?: string;
  region?: string;
  deployments: ContrastDeploymentProps[];
  cluster: ClusterProps;
  network:
    | OwnVpcNetwork
    | {
        kind: 'hub-vpc';
        vpcId: string;
        availabilityZones: string[];
        subnetIds: string[];
        /** Route tables of those subnets, in the same order (CDK warns without them). */
        routeTableIds?: string[];
        vpcCidrBlock?: string;
        existingEndpoints?: ServiceEndpoints<ExistingEndpoint>;
      };
  enrollerPrincipalArn: string;
  keyAdminArns: string[];
  cloudFormationExecutionRoleArn?: string;
  breakGlassPrincipalArn?: string;
  exporter?: ExporterIdentityProps;
  auditTrail?: 'create' | { existingTrailArn: string };
  scheduleMinutes?: number;
  decryptDrill?: boolean;
  collateralMirror?: { url: string; cidr: string; port?: number };
  logRetentionDays?: number;
  staleAlarmMinutes?: number;
  maxRecoveriesPerHour?: number;
  allowPodDeletion?: boolean;
  reservedConcurrency?: number;
  alarmEmails?: string[];
  /** Function entry (default: lambda/function/handler.ts). */
  entry?: string;
}

const KEYS: Array<keyof AppSettings> = [
  'stackName',
  'account',
  'region',
  'deployments',
  'cluster',
  'network',
  'enrollerPrincipalArn',
  'keyAdminArns',
  'cloudFormationExecutionRoleArn',
  'breakGlassPrincipalArn',
  'exporter',
  'auditTrail',
  'scheduleMinutes',
  'decryptDrill',
  'collateralMirror',
  'logRetentionDays',
  'staleAlarmMinutes',
  'maxRecoveriesPerHour',
  'allowPodDeletion',
  'reservedConcurrency',
  'alarmEmails',
  'entry',
];

const NUMBERS = new Set<string>([
  'scheduleMinutes',
  'logRetentionDays',
  'staleAlarmMinutes',
  'maxRecoveriesPerHour',
  'reservedConcurrency',
]);

function contextValue(app: App, name: string): unknown {
  const v: unknown = app.node.tryGetContext(`contrast:${name}`);
  if (typeof v === 'string' && (v.startsWith('{') || v.startsWith('['))) return JSON.parse(v); // -c key='{"…"}'
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (typeof v === 'string' && NUMBERS.has(name) && /^\d+$/.test(v)) return Number(v);
  return v;
}

export function settingsFromContext(app: App): AppSettings {
  const s: Record<string, unknown> = {};
  for (const k of KEYS) {
    const v = contextValue(app, k);
    if (v !== undefined && v !== null && v !== '') s[k] = v;
  }
  for (const required of ['deployments', 'cluster', 'network', 'enrollerPrincipalArn', 'keyAdminArns'] as const) {
    if (s[required] === undefined)
      throw new Error(`context contrast:${required} is required (see cdk.json and docs/deploy.md)`);
  }
  return s as unknown as AppSettings;
}

export function recoveryProps(stack: Stack, s: AppSettings): ContrastRecoveryProps {
  const n = s.network;
  const network: ContrastRecoveryProps['network'] =
    n.kind === 'hub-vpc'
      ? {
          kind: 'hub-vpc',
          vpc: ec2.Vpc.fromVpcAttributes(stack, 'HubVpc', {
            vpcId: n.vpcId,
            availabilityZones: n.availabilityZones,
            isolatedSubnetIds: n.subnetIds,
            ...(n.routeTableIds ? { isolatedSubnetRouteTableIds: n.routeTableIds } : {}),
            ...(n.vpcCidrBlock ? { vpcCidrBlock: n.vpcCidrBlock } : {}),
          }),
          ...(n.existingEndpoints ? { existingEndpoints: n.existingEndpoints } : {}),
        }
      : n;
  const m = s.collateralMirror;
  return {
    deployments: s.deployments,
    cluster: s.cluster,
    network,
    enrollerPrincipal: new iam.ArnPrincipal(s.enrollerPrincipalArn),
    keyAdmins: s.keyAdminArns.map((a) => new iam.ArnPrincipal(a)),
    ...(s.cloudFormationExecutionRoleArn ? { cloudFormationExecutionRoleArn: s.cloudFormationExecutionRoleArn } : {}),
    ...(s.breakGlassPrincipalArn ? { breakGlassPrincipal: new iam.ArnPrincipal(s.breakGlassPrincipalArn) } : {}),
    ...(s.exporter ? { exporter: s.exporter } : {}),
    ...(s.auditTrail ? { auditTrail: s.auditTrail } : {}),
    ...(s.scheduleMinutes ? { scheduleMinutes: s.scheduleMinutes } : {}),
    ...(s.decryptDrill !== undefined ? { decryptDrill: s.decryptDrill } : {}),
    ...(m
      ? { collateralMirror: { url: m.url, peer: ec2.Peer.ipv4(m.cidr), ...(m.port ? { port: m.port } : {}) } }
      : {}),
    ...(s.logRetentionDays ? { logRetention: s.logRetentionDays as logs.RetentionDays } : {}),
    ...(s.staleAlarmMinutes ? { staleAlarmMinutes: s.staleAlarmMinutes } : {}),
    ...(s.maxRecoveriesPerHour ? { maxRecoveriesPerHour: s.maxRecoveriesPerHour } : {}),
    ...(s.allowPodDeletion !== undefined ? { allowPodDeletion: s.allowPodDeletion } : {}),
    ...(s.reservedConcurrency ? { reservedConcurrency: s.reservedConcurrency } : {}),
    ...(s.alarmEmails ? { alarmEmails: s.alarmEmails } : {}),
    ...(s.entry ? { entry: path.resolve(s.entry) } : {}),
  };
}

export function buildStack(app: App, s: AppSettings): Stack {
  const env = s.account && s.region ? { account: s.account, region: s.region } : undefined;
  const stack = new Stack(app, s.stackName ?? 'ContrastAutorecover', {
    ...(env ? { env } : {}),
    description: 'contrast-autorecover: attested automatic recovery of Contrast Coordinators',
  });
  new ContrastRecovery(stack, 'Recovery', recoveryProps(stack, s));
  if (!env) {
    // Without both, the stack is environment-agnostic and no us-east-1 forwarder can be placed.
    Annotations.of(stack).addWarningV2(
      'contrast-autorecover:iam-event-forwarder',
      'contrast:account and contrast:region are not both set: no IamEventForwarder in us-east-1 is added, so the RoleTrust side-door alarm never sees IAM trust-policy changes (docs/deploy.md §1)',
    );
  }
  if (env && env.region !== 'us-east-1') {
    const forwarder = new Stack(app, `${stack.stackName}IamEvents`, {
      env: { account: env.account, region: 'us-east-1' },
      description: `contrast-autorecover: forwards IAM trust-policy changes to ${env.region}`,
    });
    new IamEventForwarder(forwarder, 'Forwarder', { homeRegion: env.region, account: env.account });
  }
  return stack;
}

// Run as the CDK app (cdk.json: "npx tsx infra/app.ts"); importing this module has no effect.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const app = new App();
  enableNag(app);
  buildStack(app, settingsFromContext(app));
  app.synth();
}
