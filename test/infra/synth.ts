/**
 * Synthesis for the infra tests. The topologies of issue 11 as construct props, each
 * synthesized once per test file (`synthOnce`), with the real handler bundled once per process
 * (infra/function-code.ts). Helpers read the template as plain JSON.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, Stack, type StackProps } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ContrastRecovery } from '../../infra/contrast-recovery.ts';
import type { ContrastRecoveryProps } from '../../infra/props.ts';

// CDK's built-in template validation (a cfn-lint pass on every synth) is not what these tests
// check and takes seconds per synthesis; cdk-nag runs explicitly (nagFindings).
process.env.CDK_VALIDATION = 'false';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const CDK_CONTEXT = JSON.parse(readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')).context as Record<
  string,
  unknown
>;

export const ACCOUNT = '111122223333';
export const REGION = 'eu-central-1';
export const ARN = {
  enroller: `arn:aws:iam::${ACCOUNT}:role/contrast-enroller`,
  admin: `arn:aws:iam::${ACCOUNT}:role/security-admin`,
  oncall: `arn:aws:iam::${ACCOUNT}:role/oncall`,
  nlb: `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:loadbalancer/net/contrast-coordinator-prod/0123456789abcdef`,
  kubeconfig: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:kubeconfig-AbCdEf`,
  kubeconfigKey: `arn:aws:kms:${REGION}:${ACCOUNT}:key/00000000-1111-2222-3333-444444444444`,
  trustAnchor: `arn:aws:rolesanywhere:${REGION}:${ACCOUNT}:trust-anchor/0123`,
  trail: `arn:aws:cloudtrail:us-east-1:${ACCOUNT}:trail/org-trail`,
};

type PropsOf = (stack: Stack) => ContrastRecoveryProps;

const common = () => ({
  enrollerPrincipal: new iam.ArnPrincipal(ARN.enroller),
  keyAdmins: [new iam.ArnPrincipal(ARN.admin)],
  breakGlassPrincipal: new iam.ArnPrincipal(ARN.oncall),
});

const hubVpc = (stack: Stack) =>
  ec2.Vpc.fromVpcAttributes(stack, 'HubVpc', {
    vpcId: 'vpc-0hub',
    availabilityZones: [`${REGION}a`, `${REGION}b`],
    isolatedSubnetIds: ['subnet-0a', 'subnet-0b'],
    isolatedSubnetRouteTableIds: ['rtb-0a', 'rtb-0b'],
  });

/** (a) EKS Hybrid Nodes, the function in the cluster's (hub) VPC, endpoints created without private DNS. */
export const eksHybridHub: PropsOf = (stack) => ({
  ...common(),
  deployments: [
    {
      name: 'prod',
      coordinator: { nlbArn: ARN.nlb },
      coordinatorNamespace: 'contrast-prod',
      alarmArns: [`arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:prod-coordinator-not-ready`],
      tdxAcceptedTcbStatuses: ['SWHardeningNeeded'],
    },
  ],
  cluster: {
    kind: 'eks-hybrid-nodes',
    clusterName: 'prod',
    endpoint: 'https://EXAMPLE0123456789ABCDEF.gr7.eu-central-1.eks.amazonaws.com',
    certificateAuthorityData: 'UExBQ0VIT0xERVItQ0EtREFUQQ==',
    clusterSecurityGroupId: 'sg-0cluster',
  },
  network: { kind: 'hub-vpc', vpc: hubVpc(stack) },
  exporter: {
    kind: 'irsa',
    oidcProviderArn: `arn:aws:iam::${ACCOUNT}:oidc-provider/oidc.eks.${REGION}.amazonaws.com/id/EXAMPLE`,
    oidcIssuer: `oidc.eks.${REGION}.amazonaws.com/id/EXAMPLE`,
  },
  decryptDrill: true,
});

/** (b) A self-managed cluster over VPN/Direct Connect, the function in its own VPC with a TGW route. */
export const selfManagedOwnVpc: PropsOf = () => ({
  ...common(),
  deployments: [
    {
      name: 'alpha',
      coordinator: { endpointServiceName: `com.amazonaws.vpce.${REGION}.vpce-svc-0123456789abcdef0` },
      coordinatorNamespace: 'alpha',
    },
    {
      name: 'beta',
      coordinator: { nlbArn: ARN.nlb, port: 1313 },
      coordinatorNamespace: 'beta',
      namespaces: ['beta', 'beta-apps'],
      restartAfterAnyRotation: true,
    },
  ],
  cluster: {
    kind: 'self-managed',
    kubeconfigSecretArn: ARN.kubeconfig,
    kubeconfigSecretKeyArn: ARN.kubeconfigKey,
    apiServerCidr: '192.168.10.0/24',
    apiServerPort: 6443,
  },
  network: {
    kind: 'own-vpc',
    availabilityZones: [`${REGION}a`, `${REGION}b`],
    transitGateway: { id: 'tgw-0123456789abcdef0', routes: ['192.168.0.0/16'] },
  },
  exporter: { kind: 'roles-anywhere', trustAnchorArn: ARN.trustAnchor, certificateCommonName: 'contrast-exporter' },
  collateralMirror: { url: 'https://collateral.internal.example:8443', peer: ec2.Peer.ipv4('10.1.2.0/24') },
  auditTrail: { existingTrailArn: ARN.trail },
});

/** (b) again, in the hub VPC that terminates the VPN, reusing its KMS and Secrets Manager endpoints. */
export const selfManagedHubReuse: PropsOf = (stack) => ({
  ...selfManagedOwnVpc(stack),
  network: {
    kind: 'hub-vpc',
    vpc: hubVpc(stack),
    existingEndpoints: {
      kms: { vpcEndpointId: 'vpce-0existingkms', securityGroupId: 'sg-0kmsendpoint' },
      secretsManager: {
        vpcEndpointId: 'vpce-0existingsm',
        securityGroupId: 'sg-0smendpoint',
        url: 'https://vpce-0existingsm-abc.secretsmanager.eu-central-1.vpce.amazonaws.com',
      },
    },
  },
});

export type Resource = {
  Type: string;
  Properties?: any;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
  Metadata?: any;
  DependsOn?: any;
};

export interface Synthesized {
  app: App;
  stack: Stack;
  recovery: ContrastRecovery;
  template: Template;
  json: { Resources: Record<string, Resource>; Outputs?: Record<string, any> };
}

export function synth(
  propsOf: PropsOf,
  stackProps: StackProps = { env: { account: ACCOUNT, region: REGION } },
): Synthesized {
  const app = new App();
  const stack = new Stack(app, 'Recovery', stackProps);
  const recovery = new ContrastRecovery(stack, 'Recovery', propsOf(stack));
  const template = Template.fromStack(stack);
  return { app, stack, recovery, template, json: template.toJSON() as Synthesized['json'] };
}

const cache = new Map<PropsOf, Synthesized>();
/** One synthesis per configuration and test file. */
export function synthOnce(propsOf: PropsOf): Synthesized {
  let s = cache.get(propsOf);
  if (!s) cache.set(propsOf, (s = synth(propsOf)));
  return s;
}

/** cdk-nag AwsSolutions findings not acknowledged (rule id → construct paths). */
export function nagFindings(app: App): Array<{ rule: string; paths: string[] }> {
  const report = new AwsSolutionsChecks().validateScope(app);
  return report.violations.map((v) => ({
    rule: v.ruleName,
    paths: v.violatingResources.map((r) => r.constructPath ?? '?'),
  }));
}

export function resourcesOfType(s: Synthesized, type: string): Array<[string, Resource]> {
  return Object.entries(s.json.Resources).filter(([, r]) => r.Type === type);
}

export function onlyResource(s: Synthesized, type: string, idPrefix?: string): [string, Resource] {
  const found = resourcesOfType(s, type).filter(([id]) => idPrefix === undefined || id.startsWith(idPrefix));
  if (found.length !== 1)
    throw new Error(
      `expected exactly one ${type}${idPrefix ? ` (${idPrefix}*)` : ''}, found ${found.map(([id]) => id).join(', ') || 'none'}`,
    );
  return found[0]!;
}

export function logicalIdOf(s: Synthesized, type: string, idPrefix: string): string {
  return onlyResource(s, type, idPrefix)[0];
}

export function asArray<T>(v: T | T[] | undefined): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** Every statement of every identity policy, with the policy's logical id. */
export function identityStatements(s: Synthesized): Array<{ policy: string; statement: any }> {
  const out: Array<{ policy: string; statement: any }> = [];
  for (const [id, r] of resourcesOfType(s, 'AWS::IAM::Policy'))
    for (const st of r.Properties.PolicyDocument.Statement) out.push({ policy: id, statement: st });
  for (const [id, r] of resourcesOfType(s, 'AWS::IAM::Role'))
    for (const p of r.Properties.Policies ?? [])
      for (const st of p.PolicyDocument.Statement) out.push({ policy: id, statement: st });
  return out;
}

export function keyPolicy(s: Synthesized, idPrefix: string): any[] {
  return onlyResource(s, 'AWS::KMS::Key', idPrefix)[1].Properties.KeyPolicy.Statement;
}

export function statement(statements: any[], sid: string): any {
  const found = statements.find((st) => st.Sid === sid);
  if (!found) throw new Error(`statement ${sid} missing (have ${statements.map((st) => st.Sid).join(', ')})`);
  return found;
}

export function functionEnv(s: Synthesized): Record<string, any> {
  return onlyResource(s, 'AWS::Lambda::Function')[1].Properties.Environment.Variables;
}

/** The event pattern of every rule targeting `targetId` (a logical id), by rule logical id. */
export function rulesTargeting(s: Synthesized, targetId: string): Array<[string, Resource]> {
  return resourcesOfType(s, 'AWS::Events::Rule').filter(([, r]) =>
    JSON.stringify(r.Properties.Targets ?? []).includes(`"${targetId}"`),
  );
}

/**
 * Replaces CloudFormation intrinsics with placeholder strings, keeping literal text: enough to
 * run the function's configuration parser on the synthesized environment.
 */
export function placeholders(value: any): any {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(placeholders);
  if (value && typeof value === 'object') {
    if ('Fn::Join' in value) {
      const [sep, parts] = value['Fn::Join'];
      return parts.map((p: any) => (typeof p === 'string' ? p : 'placeholder')).join(sep);
    }
    if ('Ref' in value || 'Fn::GetAtt' in value || 'Fn::Select' in value || 'Fn::Sub' in value) return 'placeholder';
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, placeholders(v)]));
  }
  return value;
}

/** The deployments' parameters as the function reads them (name, value with placeholders for intrinsics). */
export function storedDeployments(s: Synthesized): Array<{ name: string; value: string }> {
  return resourcesOfType(s, 'AWS::SSM::Parameter')
    .map(([, r]) => ({ name: r.Properties.Name as string, value: placeholders(r.Properties.Value) as string }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}
