/**
 * cdk-nag AwsSolutions over the example app and over the other configurations (kubeconfig,
 * break-glass, collateral mirror, NLB-backed endpoint service): zero unacknowledged findings,
 * and every acknowledgement carries a reason. Plus the properties only those variants show.
 */
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { ContrastRecovery } from '../../infra/contrast-recovery.ts';
import { asArray, logicalIdOf, nagFindings, onlyResource, resourcesOfType, synthExample, type Synthesized } from './synth.ts';

let example: Synthesized;
let variant: Synthesized;

beforeAll(() => {
  example = synthExample();
  variant = synthExample({
    eks: undefined as never,
    exporter: undefined as never,
    kubeconfig: { secretArn: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:kubeconfig-AbCdEf', apiCidr: '10.0.0.0/16', apiPort: 6443 },
    breakGlassPrincipalArn: 'arn:aws:iam::123456789012:role/oncall',
    collateralMirror: { url: 'https://collateral.internal.example:8443', cidr: '10.1.2.0/24' },
    deployments: [
      { name: 'alpha', coordinator: { nlbArn: 'arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/net/coordinator/0123456789abcdef' } },
      { name: 'beta', coordinator: { host: 'coordinator.beta.internal', cidr: '10.2.0.0/16' }, namespaces: ['*'] },
    ],
    auditTrail: false,
    // Same function construct; a tiny entry spares a second esbuild run of the real handler
    // (security.test.ts checks the real bundle).
    entry: 'test/infra/fixtures/stub-handler.ts',
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('has zero unacknowledged findings on the example app', () => {
    expect(nagFindings(example.app)).toEqual([]);
  });
  it('has zero unacknowledged findings on the kubeconfig / break-glass / mirror / NLB variant', () => {
    expect(nagFindings(variant.app)).toEqual([]);
  });
  it('states a reason for every acknowledgement', () => {
    const acks: Array<[string, string]> = [];
    for (const c of example.app.node.findAll()) {
      for (const m of c.node.metadata) {
        if (m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY) acks.push(...Object.entries(m.data as Record<string, string>));
      }
    }
    expect(acks.length).toBeGreaterThan(0);
    for (const [id, reason] of acks) expect(reason.length, id).toBeGreaterThan(40);
  });
  it('reports findings when they are not acknowledged (the check is live)', () => {
    const app = new App();
    const stack = new Stack(app, 'Bare');
    new ec2.Vpc(stack, 'Vpc', { natGateways: 0, subnetConfiguration: [{ name: 'i', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
    expect(nagFindings(app).map((f) => f.rule)).toContain('AwsSolutions-VPC7');
  });
});

describe('variants', () => {
  const fnEnv = () => onlyResource(variant, 'AWS::Lambda::Function')[1].Properties.Environment.Variables;
  it('uses the kubeconfig secret and reads nothing else of the cluster', () => {
    expect(fnEnv().KUBE_AUTH).toBe('kubeconfig');
    expect(fnEnv().KUBECONFIG_SECRET_ID).toBe('arn:aws:secretsmanager:eu-central-1:123456789012:secret:kubeconfig-AbCdEf');
    expect(resourcesOfType(variant, 'AWS::EKS::AccessEntry')).toEqual([]);
  });
  it('opens egress to the API server and the collateral mirror only on their ports', () => {
    const fnSg = logicalIdOf(variant, 'AWS::EC2::SecurityGroup', 'RecoveryFunctionSecurityGroup');
    const inline = variant.json.Resources[fnSg]!.Properties.SecurityGroupEgress ?? [];
    const cidrs = inline.map((r: any) => [r.CidrIp, r.FromPort, r.ToPort]);
    expect(cidrs).toEqual(
      expect.arrayContaining([
        ['10.0.0.0/16', 6443, 6443],
        ['10.1.2.0/24', 8443, 8443],
        ['10.2.0.0/16', 1313, 1313],
      ]),
    );
    expect(cidrs.length).toBe(3);
    expect(fnEnv().COLLATERAL_MIRROR_URL).toBe('https://collateral.internal.example:8443');
  });
  it('creates the VPC endpoint service for the Coordinator NLB allowing only this account', () => {
    const [, svc] = onlyResource(variant, 'AWS::EC2::VPCEndpointService');
    expect(svc.Properties.NetworkLoadBalancerArns).toEqual(['arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/net/coordinator/0123456789abcdef']);
    const [, perms] = onlyResource(variant, 'AWS::EC2::VPCEndpointServicePermissions');
    expect(JSON.stringify(perms.Properties.AllowedPrincipals)).toBe(
      JSON.stringify([{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':root']] }]),
    );
  });
  it('lets the break-glass role decrypt only with the owner-key context', () => {
    const policy = onlyResource(variant, 'AWS::KMS::Key', 'RecoveryRecoveryKey')[1].Properties.KeyPolicy.Statement;
    const st = policy.find((x: any) => x.Sid === 'BreakGlassDecryptOwnerKey');
    expect(st.Condition.StringEquals['kms:EncryptionContext:contrast-autorecover:deployment']).toEqual(['alpha', 'beta']);
    expect(st.Condition.StringEquals['kms:EncryptionContext:contrast-autorecover:purpose']).toBe('seedshare-owner-key');
  });
  it('requires MFA to assume the break-glass role', () => {
    const [, role] = onlyResource(variant, 'AWS::IAM::Role', 'RecoveryBreakGlassRole');
    expect(role.Properties.AssumeRolePolicyDocument.Statement[0].Condition).toEqual({ Bool: { 'aws:MultiFactorAuthPresent': 'true' } });
  });
  it('lets the break-glass role (and the function) read the bundles, nobody else', () => {
    for (const [, policy] of resourcesOfType(variant, 'AWS::SecretsManager::ResourcePolicy')) {
      const deny = policy.Properties.ResourcePolicy.Statement.find((x: any) => x.Effect === 'Deny' && asArray(x.Action).includes('secretsmanager:GetSecretValue'));
      expect(deny.Condition.ArnNotEquals['aws:PrincipalArn']).toEqual([
        { 'Fn::GetAtt': [logicalIdOf(variant, 'AWS::IAM::Role', 'RecoveryFunctionRole'), 'Arn'] },
        { 'Fn::GetAtt': [logicalIdOf(variant, 'AWS::IAM::Role', 'RecoveryBreakGlassRole'), 'Arn'] },
      ]);
    }
  });
  it('with a collateral mirror lets the function (besides the enroller) put bundle versions, and nothing else', () => {
    const fnRole = { 'Fn::GetAtt': [logicalIdOf(variant, 'AWS::IAM::Role', 'RecoveryFunctionRole'), 'Arn'] };
    for (const [, policy] of resourcesOfType(variant, 'AWS::SecretsManager::ResourcePolicy')) {
      const deny = policy.Properties.ResourcePolicy.Statement.find((x: any) => x.Effect === 'Deny' && asArray(x.Action).includes('secretsmanager:PutSecretValue'));
      expect(deny.Condition.ArnNotEquals['aws:PrincipalArn']).toEqual([{ 'Fn::GetAtt': [logicalIdOf(variant, 'AWS::IAM::Role', 'RecoveryEnrollerRole'), 'Arn'] }, fnRole]);
    }
    const statements = resourcesOfType(variant, 'AWS::IAM::Policy').flatMap(([, p]) => p.Properties.PolicyDocument.Statement as any[]);
    const put = statements.find((st) => st.Sid === 'RefreshBundleCollateral');
    expect(asArray(put.Action)).toEqual(['secretsmanager:PutSecretValue']);
    const gdk = statements.find((st) => st.Sid === 'EncryptBundleVersionViaSecretsManager');
    expect(gdk.Condition.StringEquals['kms:ViaService']).toBeDefined();
    expect(gdk.Condition.StringLike['kms:EncryptionContext:SecretARN']).toBeDefined();
    // Without a mirror (the example app) the function writes nothing.
    const exampleStatements = resourcesOfType(example, 'AWS::IAM::Policy').flatMap(([, p]) => p.Properties.PolicyDocument.Statement as any[]);
    expect(exampleStatements.some((st) => st.Sid === 'RefreshBundleCollateral' || st.Sid === 'EncryptBundleVersionViaSecretsManager')).toBe(false);
  });
  it('creates one retained secret per deployment', () => {
    const secrets = resourcesOfType(variant, 'AWS::SecretsManager::Secret');
    expect(secrets.map(([, x]) => x.Properties.Name)).toEqual(['contrast-autorecover/alpha', 'contrast-autorecover/beta']);
  });
  it('omits the alarm rule when no alarm ARNs are configured', () => {
    expect(resourcesOfType(variant, 'AWS::Events::Rule').some(([, r]) => r.Properties.EventPattern?.source?.[0] === 'aws.cloudwatch')).toBe(false);
  });
});

describe('props validation', () => {
  const minimal = { deployments: [{ name: 'ok', coordinator: { endpointServiceName: 'com.amazonaws.vpce.eu-central-1.vpce-svc-0' } }] };
  it('rejects a deployment name that is not a DNS label', () => {
    const stack = new Stack(new App(), 'S');
    expect(() => new ContrastRecovery(stack, 'R', { ...minimal, deployments: [{ ...minimal.deployments[0]!, name: 'Not_OK' }] })).toThrow(/lowercase/);
  });
  it('rejects eks and kubeconfig together', () => {
    const stack = new Stack(new App(), 'S');
    expect(
      () =>
        new ContrastRecovery(stack, 'R', {
          ...minimal,
          eks: { clusterName: 'c', endpoint: 'https://x', certificateAuthorityData: 'eA==', clusterSecurityGroupId: 'sg-1' },
          kubeconfig: { secretArn: 'arn:aws:secretsmanager:eu-central-1:1:secret:k', apiPeer: ec2.Peer.ipv4('10.0.0.0/8') },
        }),
    ).toThrow(/either eks or kubeconfig/);
  });
  it('says clearly when the function entry is missing', () => {
    const stack = new Stack(new App(), 'S');
    expect(() => new ContrastRecovery(stack, 'R', { ...minimal, entry: '/nonexistent/handler.ts' })).toThrow(/does not exist/);
  });
});
