/**
 * Example CDK app: one stack with one `ContrastRecovery`, configured from context
 * (cdk.json holds placeholder defaults so `npx cdk synth` works offline, without an account;
 * override with `-c key=value` or your own cdk.context.json). No lookups: the VPC is created
 * or imported by attributes.
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { ContrastRecovery, type ContrastDeploymentProps, type ContrastRecoveryProps } from './contrast-recovery.ts';
import { enableNag } from './nag.ts';

export interface AppSettings {
  stackName?: string;
  account?: string;
  region?: string;
  deployments: Array<Omit<ContrastDeploymentProps, 'coordinator'> & {
    coordinator: { endpointServiceName?: string; nlbArn?: string; host?: string; cidr?: string; port?: number };
  }>;
  vpc?: { vpcId: string; availabilityZones: string[]; subnetIds: string[]; vpcCidrBlock?: string };
  availabilityZones?: string[];
  eks?: { clusterName: string; endpoint: string; certificateAuthorityData: string; clusterSecurityGroupId: string; createAccessEntry?: boolean };
  kubeconfig?: { secretArn: string; secretKmsKeyArn?: string; apiCidr: string; apiPort?: number };
  exporter?: { oidcProviderArn: string; oidcIssuer: string; namespace?: string; serviceAccount?: string };
  scheduleMinutes?: number;
  collateralMirror?: { url: string; cidr: string; port?: number };
  logRetentionDays?: number;
  staleAlarmMinutes?: number;
  maxRecoveriesPerHour?: number;
  allowPodDeletion?: boolean;
  decryptDrill?: boolean;
  breakGlassPrincipalArn?: string;
  enrollerPrincipalArn?: string;
  auditTrail?: boolean;
  alarmEmails?: string[];
  /** Alternative function entry (default lambda/handler.ts). */
  entry?: string;
}

function contextValue<T>(app: App, key: string): T | undefined {
  const v: unknown = app.node.tryGetContext(key);
  if (typeof v === 'string' && (v.startsWith('{') || v.startsWith('['))) return JSON.parse(v) as T; // -c key='{"…"}'
  if (v === 'true') return true as T;
  if (v === 'false') return false as T;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v) as T;
  return v as T | undefined;
}

export function settingsFromContext(app: App): AppSettings {
  const keys: Array<keyof AppSettings> = [
    'stackName', 'account', 'region', 'deployments', 'vpc', 'availabilityZones', 'eks', 'kubeconfig', 'exporter',
    'scheduleMinutes', 'collateralMirror', 'logRetentionDays', 'staleAlarmMinutes', 'maxRecoveriesPerHour',
    'allowPodDeletion', 'decryptDrill', 'breakGlassPrincipalArn', 'enrollerPrincipalArn', 'auditTrail', 'alarmEmails', 'entry',
  ];
  const s: Record<string, unknown> = {};
  for (const k of keys) {
    const v = contextValue(app, `contrast:${k}`);
    if (v !== undefined && v !== null && v !== '') s[k] = v;
  }
  if (!Array.isArray(s.deployments)) throw new Error('context contrast:deployments: expected an array of deployments (see cdk.json)');
  return s as unknown as AppSettings;
}

export function buildStack(app: App, settings: AppSettings): Stack {
  const env = settings.account && settings.region ? { account: settings.account, region: settings.region } : undefined;
  const stack = new Stack(app, settings.stackName ?? 'ContrastAutorecover', {
    ...(env ? { env } : {}),
    description: 'contrast-autorecover: attested automatic recovery of Contrast Coordinators',
  });

  const props: { -readonly [K in keyof ContrastRecoveryProps]: ContrastRecoveryProps[K] } = {
    deployments: settings.deployments.map((d) => {
      const c = d.coordinator;
      const port = c.port !== undefined ? { port: c.port } : {};
      const coordinator = c.endpointServiceName
        ? { endpointServiceName: c.endpointServiceName, ...port }
        : c.nlbArn
          ? { nlbArn: c.nlbArn, ...port }
          : c.host && c.cidr
            ? { host: c.host, peer: ec2.Peer.ipv4(c.cidr), ...port }
            : undefined;
      if (!coordinator) throw new Error(`deployment ${d.name}: coordinator needs endpointServiceName, nlbArn, or host + cidr`);
      return { ...d, coordinator };
    }),
  };
  if (settings.vpc) {
    props.vpc = ec2.Vpc.fromVpcAttributes(stack, 'ImportedVpc', {
      vpcId: settings.vpc.vpcId,
      availabilityZones: settings.vpc.availabilityZones,
      isolatedSubnetIds: settings.vpc.subnetIds,
      ...(settings.vpc.vpcCidrBlock ? { vpcCidrBlock: settings.vpc.vpcCidrBlock } : {}),
    });
  }
  if (settings.availabilityZones) props.availabilityZones = settings.availabilityZones;
  if (settings.eks) props.eks = settings.eks;
  if (settings.kubeconfig) {
    const k = settings.kubeconfig;
    props.kubeconfig = {
      secretArn: k.secretArn,
      apiPeer: ec2.Peer.ipv4(k.apiCidr),
      ...(k.secretKmsKeyArn ? { secretKmsKeyArn: k.secretKmsKeyArn } : {}),
      ...(k.apiPort ? { apiPort: k.apiPort } : {}),
    };
  }
  if (settings.exporter) props.exporter = settings.exporter;
  if (settings.scheduleMinutes) props.schedule = events.Schedule.rate(Duration.minutes(settings.scheduleMinutes));
  if (settings.collateralMirror) {
    const m = settings.collateralMirror;
    props.collateralMirror = { url: m.url, peer: ec2.Peer.ipv4(m.cidr), ...(m.port ? { port: m.port } : {}) };
  }
  if (settings.logRetentionDays) props.logRetention = settings.logRetentionDays as logs.RetentionDays;
  if (settings.staleAlarmMinutes) props.staleAlarmMinutes = settings.staleAlarmMinutes;
  if (settings.maxRecoveriesPerHour) props.maxRecoveriesPerHour = settings.maxRecoveriesPerHour;
  if (settings.allowPodDeletion !== undefined) props.allowPodDeletion = settings.allowPodDeletion;
  if (settings.decryptDrill !== undefined) props.decryptDrill = settings.decryptDrill;
  if (settings.breakGlassPrincipalArn) props.breakGlassPrincipal = new iam.ArnPrincipal(settings.breakGlassPrincipalArn);
  if (settings.enrollerPrincipalArn) props.enrollerPrincipal = new iam.ArnPrincipal(settings.enrollerPrincipalArn);
  if (settings.auditTrail !== undefined) props.auditTrail = settings.auditTrail;
  if (settings.alarmEmails) props.alarmEmails = settings.alarmEmails;
  if (settings.entry) props.entry = path.resolve(settings.entry);

  new ContrastRecovery(stack, 'Recovery', props);
  return stack;
}

// Run as the CDK app (cdk.json: "npx tsx infra/app.ts"); importing this module has no effect.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const app = new App();
  enableNag(app);
  buildStack(app, settingsFromContext(app));
  app.synth();
}
