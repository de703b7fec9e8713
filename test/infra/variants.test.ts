/**
 * The construct as a library: the hub VPC reusing existing endpoints, props refused at synth
 * with the function's own parsers and a message that says what to add, the grants for
 * operating it, the dashboard, and this repository's example app (cdk.json) with its us-east-1
 * companion for IAM events.
 */
import { App, CliCredentialsStackSynthesizer, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { describe, expect, it } from 'vitest';
import { ContrastRecovery } from '../../infra/contrast-recovery.ts';
import { buildStack, settingsFromContext } from '../../infra/app.ts';
import type { ContrastRecoveryProps } from '../../infra/props.ts';
import { ENDPOINT_URL_ENV, LOCK_TABLE, METRIC, METRICS_NAMESPACE } from '../../lambda/shared/contract.ts';
import {
  CDK_CONTEXT,
  eksHybridHub,
  functionEnv,
  keyPolicy,
  nagFindings,
  resourcesOfType,
  selfManagedHubReuse,
  selfManagedOwnVpc,
  statement,
  synthOnce,
} from './synth.ts';

const reuse = () => synthOnce(selfManagedHubReuse);

describe('hub VPC reusing existing endpoints', () => {
  it('creates only the endpoints the hub VPC lacks', () => {
    const created = resourcesOfType(reuse(), 'AWS::EC2::VPCEndpoint').filter(
      ([id]) => !id.includes('CoordinatorEndpoint'),
    );
    expect(created.map(([id]) => id.replace(/Endpoint.*$/, '').replace('RecoveryNetwork', '')).sort()).toEqual([
      'dynamodb',
      'eventbridge',
      'ssm',
    ]);
  });
  it("requires the existing KMS endpoint for the function's Decrypt and the existing Secrets Manager endpoint for its reads", () => {
    expect(
      statement(keyPolicy(reuse(), 'RecoveryRecoveryKey'), 'FunctionDecryptOwnerKey').Condition.StringEquals[
        'aws:SourceVpce'
      ],
    ).toBe('vpce-0existingkms');
    for (const [, p] of resourcesOfType(reuse(), 'AWS::SecretsManager::ResourcePolicy')) {
      expect(
        statement(p.Properties.ResourcePolicy.Statement, 'FunctionReadsOnlyThroughItsEndpoint').Condition
          .StringNotEquals['aws:SourceVpce'],
      ).toBe('vpce-0existingsm');
    }
  });
  it("admits the function into the existing endpoints' security groups on 443", () => {
    const ingress = resourcesOfType(reuse(), 'AWS::EC2::SecurityGroupIngress').map(([, r]) => [
      r.Properties.GroupId,
      r.Properties.FromPort,
    ]);
    expect(ingress).toEqual(
      expect.arrayContaining([
        ['sg-0kmsendpoint', 443],
        ['sg-0smendpoint', 443],
      ]),
    );
  });
  it('addresses an existing endpoint without private DNS by its URL, one with private DNS by the regional name', () => {
    const env = functionEnv(reuse());
    expect(env[ENDPOINT_URL_ENV.secretsManager]).toBe(
      'https://vpce-0existingsm-abc.secretsmanager.eu-central-1.vpce.amazonaws.com',
    );
    expect(env[ENDPOINT_URL_ENV.kms]).toBeUndefined();
    expect(env[ENDPOINT_URL_ENV.dynamodb]).toBeDefined();
  });
  it('has zero unacknowledged cdk-nag findings', () => {
    expect(nagFindings(reuse().app)).toEqual([]);
  });
});

describe('synth refuses what the function or the topology would refuse, saying what to do', () => {
  const attempt =
    (edit: (p: ContrastRecoveryProps) => ContrastRecoveryProps, base = eksHybridHub) =>
    () => {
      const stack = new Stack(new App(), 'S', { env: { account: '111122223333', region: 'eu-central-1' } });
      new ContrastRecovery(stack, 'R', edit(base(stack)));
    };
  it.each([
    [
      'a deployment name the function refuses',
      (p: ContrastRecoveryProps) => ({ ...p, deployments: [{ ...p.deployments[0]!, name: '-bad' }] }),
      /letters, digits.*names\.ts/,
    ],
    [
      'a TDX TCB status that is never acceptable',
      (p: ContrastRecoveryProps) => ({
        ...p,
        deployments: [{ ...p.deployments[0]!, tdxAcceptedTcbStatuses: ['Revoked' as never] }],
      }),
      /Revoked/,
    ],
    [
      'a plain-http collateral mirror',
      (p: ContrastRecoveryProps) => ({
        ...p,
        collateralMirror: { url: 'http://mirror.example', peer: ec2.Peer.ipv4('10.0.0.0/8') },
      }),
      /https URL/,
    ],
    ['no key administrator', (p: ContrastRecoveryProps) => ({ ...p, keyAdmins: [] }), /way out of a lockout/],
    [
      'no enroller',
      (p: ContrastRecoveryProps) => ({ ...p, enrollerPrincipal: undefined as never }),
      /enrollerPrincipal is required/,
    ],
    ['a backstop slower than an hour', (p: ContrastRecoveryProps) => ({ ...p, scheduleMinutes: 90 }), /1 to 60/],
    [
      'EKS in the hub VPC without a path to the API',
      (p: ContrastRecoveryProps) => ({
        ...p,
        cluster: {
          ...(p.cluster as never as object),
          kind: 'eks-hybrid-nodes',
          clusterSecurityGroupId: undefined,
        } as never,
      }),
      /clusterSecurityGroupId/,
    ],
    [
      'EKS in an own VPC without the control plane CIDR',
      (p: ContrastRecoveryProps) => ({
        ...p,
        network: { kind: 'own-vpc', transitGateway: { id: 'tgw-1', routes: ['10.0.0.0/8'] } },
      }),
      /controlPlaneCidr/,
    ],
    [
      'IRSA for a self-managed cluster',
      (p: ContrastRecoveryProps) => ({
        ...p,
        exporter: { kind: 'irsa', oidcProviderArn: 'arn:aws:iam::1:oidc-provider/x', oidcIssuer: 'x' },
      }),
      /roles-anywhere/,
      selfManagedOwnVpc,
    ],
    [
      'an own VPC without a transit gateway',
      (p: ContrastRecoveryProps) => ({ ...p, network: { kind: 'own-vpc' } }),
      /transitGateway.*192\.168\.10\.0\/24/,
      selfManagedOwnVpc,
    ],
    [
      'transit gateway routes that miss the API server',
      (p: ContrastRecoveryProps) => ({
        ...p,
        network: { kind: 'own-vpc', transitGateway: { id: 'tgw-1', routes: ['10.0.0.0/8'] } },
      }),
      /do not cover the Kubernetes API server/,
      selfManagedOwnVpc,
    ],
    [
      'a malformed API server CIDR',
      (p: ContrastRecoveryProps) => ({
        ...p,
        cluster: { ...(p.cluster as object), apiServerCidr: '192.168.10.0' } as never,
      }),
      /IPv4 CIDR/,
      selfManagedOwnVpc,
    ],
  ] as const)('refuses %s', (_what, edit, message, base = eksHybridHub) => {
    expect(attempt(edit as never, base)).toThrow(message);
  });
  it('needs the CloudFormation role named with a synthesizer other than the default', () => {
    const stack = new Stack(new App(), 'S', { synthesizer: new CliCredentialsStackSynthesizer() });
    expect(() => new ContrastRecovery(stack, 'R', eksHybridHub(stack))).toThrow(
      /cloudFormationExecutionRoleArn is required/,
    );
  });
});

describe('operating it: grants, dashboard', () => {
  const grantee = () => {
    const s = reuse();
    const role = new iam.Role(s.stack, `Operator${Math.random().toString(36).slice(2, 8)}`, {
      assumedBy: new iam.AccountRootPrincipal(),
    });
    return { s, role };
  };
  const statementsOf = (s: ReturnType<typeof reuse>, role: iam.Role) =>
    s.stack.resolve((role.node.tryFindChild('DefaultPolicy') as iam.Policy).document.toJSON()).Statement as any[];
  it('grantInvoke lets a principal invoke the function and nothing else', () => {
    const { s, role } = grantee();
    s.recovery.grantInvoke(role);
    const [st] = statementsOf(s, role);
    expect(st.Action).toBe('lambda:InvokeFunction');
  });
  it('grantPause and grantUnpause touch only the pause items of the lock table', () => {
    const { s, role } = grantee();
    s.recovery.grantPause(role);
    s.recovery.grantUnpause(role);
    const sts = statementsOf(s, role);
    expect(sts.map((st) => st.Action)).toEqual([
      ['dynamodb:PutItem', 'dynamodb:GetItem'],
      ['dynamodb:DeleteItem', 'dynamodb:GetItem'],
    ]);
    for (const st of sts)
      expect(st.Condition).toEqual({
        'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${LOCK_TABLE.pausePrefix}*`] },
      });
  });
  it('has a dashboard of outcomes, reconcile duration, stale workloads and alarms', () => {
    const [, dashboard] = resourcesOfType(reuse(), 'AWS::CloudWatch::Dashboard')[0]!;
    const body = JSON.stringify(reuse().stack.resolve(dashboard.Properties.DashboardBody));
    for (const needle of [
      METRICS_NAMESPACE,
      METRIC.outcome('recovered'),
      METRIC.outcome('attestation-failed'),
      METRIC.reconcileDuration,
      METRIC.staleWorkloads,
      'alarms',
    ]) {
      expect(body, needle).toContain(needle);
    }
  });
});

describe('the example app (cdk.json)', () => {
  const app = new App({
    context: { ...CDK_CONTEXT, 'contrast:account': '123456789012', 'contrast:region': 'eu-central-1' },
  });
  const stack = buildStack(app, settingsFromContext(app));
  it('synthesizes with zero unacknowledged cdk-nag findings', () => {
    expect(nagFindings(app)).toEqual([]);
  });
  it("adds a us-east-1 companion that forwards IAM trust changes to the stack's region", () => {
    const companion = app.node.children.find((c): c is Stack => c instanceof Stack && c !== stack)!;
    expect(companion.region).toBe('us-east-1');
    const rules = Object.values(
      app.synth().getStackByName(companion.stackName).template.Resources as Record<string, any>,
    ).filter((r) => r.Type === 'AWS::Events::Rule');
    expect(rules.length).toBe(1);
    expect(rules[0].Properties.EventPattern).toMatchObject({
      source: ['aws.iam'],
      detail: { eventName: ['UpdateAssumeRolePolicy'] },
    });
    expect(JSON.stringify(rules[0].Properties.Targets)).toContain(
      ':events:eu-central-1:123456789012:event-bus/default',
    );
  });
  it('warns when contrast:account and contrast:region are not both set (no forwarder can be placed)', () => {
    const partial = new App({ context: { ...CDK_CONTEXT, 'contrast:region': 'eu-central-1' } });
    const s = buildStack(partial, settingsFromContext(partial));
    expect(partial.node.children.filter((c) => c instanceof Stack)).toEqual([s]);
    const warnings = s.node.metadata.filter((m) => m.type === 'aws:cdk:warning').map((m) => String(m.data));
    expect(warnings.join('\n')).toMatch(/contrast:account and contrast:region are not both set: no IamEventForwarder/);
    expect(
      stack.node.metadata.filter((m) => m.type === 'aws:cdk:warning' && String(m.data).includes('IamEventForwarder')),
    ).toEqual([]);
  });
  it('names the deployment role it was given instead of the bootstrap default', () => {
    const custom = new App({
      context: { ...CDK_CONTEXT, 'contrast:cloudFormationExecutionRoleArn': 'arn:aws:iam::123456789012:role/deployer' },
    });
    const s = buildStack(custom, settingsFromContext(custom));
    const recovery = s.node.findChild('Recovery') as ContrastRecovery;
    const policy = s.resolve((recovery.key.node.defaultChild as kms.CfnKey).keyPolicy);
    expect(policy.Statement.find((st: any) => st.Sid === 'KeyAdministration').Principal.AWS).toContain(
      'arn:aws:iam::123456789012:role/deployer',
    );
  });
});
