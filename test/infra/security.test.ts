/**
 * Pins every security property of issue 6 on the example stack (cdk.json context, the real
 * handler bundled by local esbuild). One property per test: removing it from the construct
 * makes exactly that test fail.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { asArray, identityStatements, logicalIdOf, onlyResource, resourcesOfType, synthExample, type Synthesized } from './synth.ts';

let s: Synthesized;
let roleId: string;
let enrollerId: string;
let keyPolicy: any[];

const getAtt = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
const ownerContext = {
  deployment: 'kms:EncryptionContext:contrast-autorecover:deployment',
  purpose: 'kms:EncryptionContext:contrast-autorecover:purpose',
  bundle: 'kms:EncryptionContext:contrast-autorecover:bundle-sha256',
};
const CRYPTO_ACTIONS = /^kms:(\*|Decrypt|Encrypt|GenerateDataKey|ReEncrypt|CreateGrant)/;
/** KMS actions that use or hand out the key; a wildcard in a policy must match none of them. */
const CRYPTO_ACTION_NAMES = [
  'kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:GenerateDataKeyPair',
  'kms:GenerateDataKeyPairWithoutPlaintext', 'kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:CreateGrant', 'kms:Sign', 'kms:GenerateMac',
];
const matchesAction = (pattern: string, action: string) => new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i').test(action);
const stmt = (sid: string) => {
  const found = keyPolicy.find((st) => st.Sid === sid);
  if (!found) throw new Error(`key policy statement ${sid} missing`);
  return found;
};
const principalsOf = (st: any): unknown[] => asArray(st.Principal?.AWS);

beforeAll(() => {
  s = synthExample();
  roleId = logicalIdOf(s, 'AWS::IAM::Role', 'RecoveryFunctionRole');
  enrollerId = logicalIdOf(s, 'AWS::IAM::Role', 'RecoveryEnrollerRole');
  keyPolicy = onlyResource(s, 'AWS::KMS::Key', 'RecoveryRecoveryKey')[1].Properties.KeyPolicy.Statement;
});

describe('recovery key', () => {
  it('rotates', () => {
    expect(onlyResource(s, 'AWS::KMS::Key', 'RecoveryRecoveryKey')[1].Properties.EnableKeyRotation).toBe(true);
  });
  it('has a 30-day deletion window', () => {
    expect(onlyResource(s, 'AWS::KMS::Key', 'RecoveryRecoveryKey')[1].Properties.PendingWindowInDays).toBe(30);
  });
  it('is retained', () => {
    const [, key] = onlyResource(s, 'AWS::KMS::Key', 'RecoveryRecoveryKey');
    expect([key.DeletionPolicy, key.UpdateReplacePolicy]).toEqual(['Retain', 'Retain']);
  });
  it('separates administration from use: administrators get no cryptographic action', () => {
    const admin = stmt('KeyAdministration');
    expect(asArray<string>(admin.Action).filter((a) => CRYPTO_ACTIONS.test(a))).toEqual([]);
    // Wildcards expanded: e.g. kms:Create* would include kms:CreateGrant.
    expect(asArray<string>(admin.Action).flatMap((a) => CRYPTO_ACTION_NAMES.filter((c) => matchesAction(a, c)))).toEqual([]);
  });
  it('has no unconditioned cryptographic grant (nothing like the default root kms:*)', () => {
    const unconditioned = keyPolicy.filter((st) => st.Effect === 'Allow' && !st.Condition && asArray<string>(st.Action).some((a) => CRYPTO_ACTIONS.test(a) || CRYPTO_ACTION_NAMES.some((c) => matchesAction(a, c))));
    expect(unconditioned).toEqual([]);
  });
  it('lets the function decrypt the owner key only with its deployments in the encryption context', () => {
    const st = stmt('FunctionDecryptOwnerKey');
    expect(principalsOf(st)).toEqual([getAtt(roleId)]);
    expect(asArray(st.Action)).toEqual(['kms:Decrypt']);
    expect(st.Condition.StringEquals[ownerContext.deployment]).toEqual(['demo']);
  });
  it('requires purpose seedshare-owner-key for the function\'s decrypt', () => {
    expect(stmt('FunctionDecryptOwnerKey').Condition.StringEquals[ownerContext.purpose]).toBe('seedshare-owner-key');
  });
  it('requires the bundle hash in the context of the function\'s decrypt', () => {
    expect(stmt('FunctionDecryptOwnerKey').Condition.Null).toEqual({ [ownerContext.bundle]: 'false' });
  });
  it('allows no context keys besides the three contrast-autorecover keys', () => {
    expect(stmt('FunctionDecryptOwnerKey').Condition['ForAllValues:StringEquals']['kms:EncryptionContextKeys'].sort()).toEqual(
      [ownerContext.deployment, ownerContext.purpose, ownerContext.bundle].map((k) => k.replace('kms:EncryptionContext:', '')).sort(),
    );
  });
  it('binds every Decrypt grant to an encryption context', () => {
    const decrypts = keyPolicy.filter((st) => st.Effect === 'Allow' && asArray<string>(st.Action).some((a) => a === 'kms:Decrypt' || a === 'kms:Decrypt*' || a === 'kms:*'));
    expect(decrypts.length).toBeGreaterThan(0);
    for (const st of decrypts) {
      const keys = Object.values(st.Condition ?? {}).flatMap((c) => Object.keys(c as object));
      expect(keys.some((k) => k.startsWith('kms:EncryptionContext:')), `statement ${st.Sid}`).toBe(true);
    }
  });
  it('lets Secrets Manager decrypt for the function only via secretsmanager and only for the bundle secrets', () => {
    const st = stmt('SecretsManagerDecrypt');
    expect(principalsOf(st)).toEqual([getAtt(roleId)]);
    expect(JSON.stringify(st.Condition.StringEquals['kms:ViaService'])).toContain('secretsmanager.');
    expect(JSON.stringify(st.Condition.StringLike['kms:EncryptionContext:SecretARN'])).toContain(':secret:contrast-autorecover/demo-??????');
  });
  it('gives Encrypt/GenerateDataKey with the owner-key context to the enroller only', () => {
    const encrypting = keyPolicy.filter((st) => st.Effect === 'Allow' && asArray<string>(st.Action).some((a) => /^kms:(Encrypt|GenerateDataKey)/.test(a)));
    for (const st of encrypting) {
      const viaSecretsManager = st.Condition?.StringEquals?.['kms:ViaService'] !== undefined;
      if (!viaSecretsManager) {
        expect(st.Sid).toBe('EnrollerEncryptOwnerKey');
        expect(principalsOf(st)).toEqual([getAtt(enrollerId)]);
        expect(st.Condition.StringEquals[ownerContext.purpose]).toBe('seedshare-owner-key');
      }
    }
    expect(encrypting.some((st) => st.Sid === 'EnrollerEncryptOwnerKey')).toBe(true);
  });
  it('never lets the function encrypt or generate data keys', () => {
    const fnStatements = keyPolicy.filter((st) => principalsOf(st).some((p) => JSON.stringify(p) === JSON.stringify(getAtt(roleId))));
    expect(fnStatements.flatMap((st) => asArray<string>(st.Action)).filter((a) => /Encrypt|GenerateDataKey/.test(a) && a !== 'kms:Decrypt')).toEqual([]);
  });
});

describe('bundle secrets', () => {
  it('are encrypted with the recovery key', () => {
    const [, secret] = onlyResource(s, 'AWS::SecretsManager::Secret');
    expect(secret.Properties.KmsKeyId).toEqual(getAtt(logicalIdOf(s, 'AWS::KMS::Key', 'RecoveryRecoveryKey')));
  });
  it('are retained', () => {
    const [, secret] = onlyResource(s, 'AWS::SecretsManager::Secret');
    expect([secret.DeletionPolicy, secret.UpdateReplacePolicy]).toEqual(['Retain', 'Retain']);
  });
  it('have a resource policy denying GetSecretValue to everyone but the function', () => {
    const [, policy] = onlyResource(s, 'AWS::SecretsManager::ResourcePolicy');
    const deny = policy.Properties.ResourcePolicy.Statement.find((st: any) => st.Effect === 'Deny' && asArray(st.Action).includes('secretsmanager:GetSecretValue'));
    expect(deny.Principal).toEqual({ AWS: '*' });
    expect(asArray(deny.Condition.ArnNotEquals['aws:PrincipalArn'])).toEqual([getAtt(roleId)]);
  });
  it('have a resource policy denying PutSecretValue to everyone but the enroller', () => {
    const [, policy] = onlyResource(s, 'AWS::SecretsManager::ResourcePolicy');
    const deny = policy.Properties.ResourcePolicy.Statement.find((st: any) => st.Effect === 'Deny' && asArray(st.Action).includes('secretsmanager:PutSecretValue'));
    expect(asArray(deny.Condition.ArnNotEquals['aws:PrincipalArn'])).toEqual([getAtt(enrollerId)]);
  });
  it('block public resource policies', () => {
    expect(onlyResource(s, 'AWS::SecretsManager::ResourcePolicy')[1].Properties.BlockPublicPolicy).toBe(true);
  });
});

describe('function', () => {
  const fn = () => onlyResource(s, 'AWS::Lambda::Function')[1].Properties;
  it('runs nodejs22.x or newer on arm64', () => {
    expect(Number(/^nodejs(\d+)\.x$/.exec(fn().Runtime)?.[1])).toBeGreaterThanOrEqual(22);
    expect(fn().Architectures).toEqual(['arm64']);
  });
  it('has the justified timeout and memory', () => {
    expect([fn().Timeout, fn().MemorySize]).toEqual([300, 1024]);
  });
  it('runs in the VPC with its own security group', () => {
    expect(fn().VpcConfig.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [logicalIdOf(s, 'AWS::EC2::SecurityGroup', 'RecoveryFunctionSecurityGroup'), 'GroupId'] }]);
  });
  it('runs only in isolated subnets', () => {
    const subnetIds = fn().VpcConfig.SubnetIds.map((r: any) => r.Ref);
    for (const id of subnetIds) expect(id).toMatch(/recoverySubnet/);
  });
  it('gets every variable lambda/config.ts reads', () => {
    const vars = Object.keys(fn().Environment.Variables);
    for (const v of [
      'CONTRAST_DEPLOYMENTS', 'LOCK_TABLE_NAME', 'EVENT_BUS_NAME', 'EVENT_SOURCE', 'RESULT_EVENT_SOURCE', 'MAX_RECOVERIES_PER_HOUR',
      'LEASE_SECONDS', 'KUBE_AUTH', 'EKS_CLUSTER_NAME', 'EKS_ENDPOINT', 'EKS_CA_DATA', 'ALLOW_POD_DELETION', 'DECRYPT_DRILL',
      'POWERTOOLS_SERVICE_NAME', 'POWERTOOLS_METRICS_NAMESPACE', 'AWS_ENDPOINT_URL_DYNAMODB',
    ]) expect(vars).toContain(v);
    expect(fn().Environment.Variables.POWERTOOLS_METRICS_NAMESPACE).toBe('ContrastAutorecover');
    expect(fn().Environment.Variables.KUBE_AUTH).toBe('eks');
  });
  it('describes each deployment with exactly the keys lambda/config.ts accepts', () => {
    const parts = fn().Environment.Variables.CONTRAST_DEPLOYMENTS['Fn::Join'][1] as unknown[];
    const json = parts.map((p) => (typeof p === 'string' ? p : 'TOKEN')).join('');
    const parsed = JSON.parse(json);
    expect(parsed).toEqual([
      { name: 'demo', secretId: 'TOKEN', coordinator: 'TOKEN:1313', namespaces: ['default'], coordinatorNamespace: 'default', alarmNames: ['contrast-demo-coordinator-not-ready'] },
    ]);
  });
  it('has a lease longer than its timeout', () => {
    expect(Number(fn().Environment.Variables.LEASE_SECONDS)).toBeGreaterThan(fn().Timeout);
  });
  it('is an ESM bundle that marks nothing external (the AWS SDK is bundled)', () => {
    const hash = String(fn().Code.S3Key).replace(/\.zip$/, '');
    const assetDir = path.join(s.app.outdir, `asset.${hash}`);
    const files = readdirSync(assetDir).filter((f) => f.endsWith('.mjs'));
    const code = files.map((f) => readFileSync(path.join(assetDir, f), 'utf8')).join('\n');
    expect(files).toContain('index.mjs');
    expect(fn().Handler).toBe('index.handler');
    // Only Node built-ins stay outside; the sole exceptions are the SDK's optional SigV4a/CRT
    // signers, which it require()s inside try/catch (multi-region access points only).
    const external = /(?:from\s*|import\(\s*|require\(\s*)["'](@aws-sdk\/(?!signature-v4-crt|signature-v4a)[^"']+|@smithy\/[^"']+|@aws-lambda-powertools\/[^"']+|@kubernetes\/client-node|@grpc\/grpc-js|@bufbuild\/protobuf|@peculiar\/x509|@noble\/curves|zod)["']/;
    expect(code.match(external)?.[0]).toBeUndefined();
    expect(existsSync(path.join(assetDir, 'node_modules'))).toBe(false);
  });
  it('keeps @kubernetes/client-node and @peculiar/x509 out of the code a cold start loads (split chunks)', () => {
    const hash = String(fn().Code.S3Key).replace(/\.zip$/, '');
    const assetDir = path.join(s.app.outdir, `asset.${hash}`);
    // The entry and its static imports are what Node parses at cold start.
    const eager = new Set<string>();
    const visit = (f: string) => {
      if (eager.has(f)) return;
      eager.add(f);
      const text = readFileSync(path.join(assetDir, f), 'utf8');
      for (const m of text.matchAll(/(?:^|[;}\s])import\s*(?:[^'"()]*?from\s*)?["']\.\/([^"']+\.mjs)["']/g)) visit(m[1]!);
    };
    visit('index.mjs');
    const eagerCode = [...eager].map((f) => readFileSync(path.join(assetDir, f), 'utf8')).join('\n');
    const all = readdirSync(assetDir).filter((f) => f.endsWith('.mjs'));
    expect(all.length).toBeGreaterThan(eager.size);
    // client-node's KubeConfig and peculiar's certificate generator exist in the asset, lazily.
    const allCode = all.map((f) => readFileSync(path.join(assetDir, f), 'utf8')).join('\n');
    expect(allCode).toMatch(/current-context/);
    expect(eagerCode).not.toMatch(/current-context/);
    expect(allCode).toMatch(/tsyringe requires a reflect polyfill/);
    expect(eagerCode).not.toMatch(/tsyringe requires a reflect polyfill/);
  });
  it('sends failed async invocations to the on-failure queue after retries', () => {
    const [, cfg] = onlyResource(s, 'AWS::Lambda::EventInvokeConfig');
    expect(cfg.Properties.DestinationConfig.OnFailure.Destination).toEqual(getAtt(logicalIdOf(s, 'AWS::SQS::Queue', 'RecoveryInvocationFailureQueue')));
    expect(cfg.Properties.MaximumRetryAttempts).toBe(2);
  });
  it('writes logs to a KMS-encrypted, retained log group with a retention period', () => {
    const id = logicalIdOf(s, 'AWS::Logs::LogGroup', 'RecoveryFunctionLogs');
    const lg = s.json.Resources[id]!;
    expect(lg.Properties.KmsKeyId).toBeDefined();
    expect(lg.Properties.RetentionInDays).toBe(365);
    expect(lg.DeletionPolicy).toBe('Retain');
    expect(fn().LoggingConfig.LogGroup).toEqual({ Ref: id });
  });
  it('is traced', () => {
    expect(fn().TracingConfig).toEqual({ Mode: 'Active' });
  });
});

describe('network', () => {
  it('has no NAT gateway', () => {
    expect(resourcesOfType(s, 'AWS::EC2::NatGateway')).toEqual([]);
  });
  it('has no internet gateway', () => {
    expect(resourcesOfType(s, 'AWS::EC2::InternetGateway')).toEqual([]);
    expect(resourcesOfType(s, 'AWS::EC2::VPCGatewayAttachment')).toEqual([]);
  });
  it('has no route at all in the function\'s route tables (no 0.0.0.0/0, no ::/0)', () => {
    expect(resourcesOfType(s, 'AWS::EC2::Route')).toEqual([]);
  });
  it('does not give subnets public IPs', () => {
    for (const [, subnet] of resourcesOfType(s, 'AWS::EC2::Subnet')) expect(subnet.Properties.MapPublicIpOnLaunch).toBe(false);
  });
  it('logs all VPC traffic', () => {
    expect(onlyResource(s, 'AWS::EC2::FlowLog')[1].Properties.TrafficType).toBe('ALL');
  });
  it('has an interface endpoint for every AWS API the function uses', () => {
    const services = resourcesOfType(s, 'AWS::EC2::VPCEndpoint').map(([, e]) => JSON.stringify(e.Properties.ServiceName));
    for (const svc of ['.kms', '.secretsmanager', '.sts', '.events', '.logs', '.monitoring', '.dynamodb']) {
      expect(services.some((n) => n.includes(`${svc}"`)), svc).toBe(true);
    }
  });
  it('restricts every AWS API endpoint policy to the function\'s role', () => {
    const awsEndpoints = resourcesOfType(s, 'AWS::EC2::VPCEndpoint').filter(([id]) => !id.startsWith('RecoveryCoordinatorEndpoint'));
    expect(awsEndpoints.length).toBe(7);
    for (const [id, e] of awsEndpoints) {
      const statements = e.Properties.PolicyDocument?.Statement ?? [];
      expect(statements.length, id).toBeGreaterThan(0);
      for (const st of statements) expect(st.Condition.ArnEquals['aws:PrincipalArn'], id).toEqual(getAtt(roleId));
    }
  });
  it('limits the KMS endpoint to Decrypt of the recovery key', () => {
    const [, e] = onlyResource(s, 'AWS::EC2::VPCEndpoint', 'RecoveryKmsEndpoint');
    const [st] = e.Properties.PolicyDocument.Statement;
    expect(asArray(st.Action)).toEqual(['kms:Decrypt']);
    expect(st.Resource).toEqual(getAtt(logicalIdOf(s, 'AWS::KMS::Key', 'RecoveryRecoveryKey')));
  });
  it('admits endpoint traffic only from the function\'s security group', () => {
    const endpointSg = logicalIdOf(s, 'AWS::EC2::SecurityGroup', 'RecoveryEndpointSecurityGroup');
    const sg = s.json.Resources[endpointSg]!;
    expect(sg.Properties.SecurityGroupIngress ?? []).toEqual([]);
    const ingress = resourcesOfType(s, 'AWS::EC2::SecurityGroupIngress').filter(([, r]) => JSON.stringify(r.Properties.GroupId).includes(endpointSg));
    expect(ingress.map(([, r]) => [r.Properties.FromPort, r.Properties.SourceSecurityGroupId])).toEqual([
      [443, { 'Fn::GetAtt': [logicalIdOf(s, 'AWS::EC2::SecurityGroup', 'RecoveryFunctionSecurityGroup'), 'GroupId'] }],
    ]);
  });
  it('gives the function no egress to any CIDR (only to security groups)', () => {
    const fnSg = logicalIdOf(s, 'AWS::EC2::SecurityGroup', 'RecoveryFunctionSecurityGroup');
    const inline = s.json.Resources[fnSg]!.Properties.SecurityGroupEgress ?? [];
    // CDK's placeholder rule for "no egress" (255.255.255.255/32, ICMP 252-86) is the only CIDR allowed.
    for (const r of inline) expect(r.CidrIp).toBe('255.255.255.255/32');
    const egress = resourcesOfType(s, 'AWS::EC2::SecurityGroupEgress').filter(([, r]) => JSON.stringify(r.Properties.GroupId).includes(fnSg));
    for (const [, r] of egress) {
      expect(r.Properties.CidrIp).toBeUndefined();
      expect(r.Properties.DestinationSecurityGroupId).toBeDefined();
    }
  });
  it('opens 443 from the function to the EKS cluster security group (both directions of the rule)', () => {
    const egress = resourcesOfType(s, 'AWS::EC2::SecurityGroupEgress').map(([, r]) => r.Properties);
    expect(egress.some((p) => p.DestinationSecurityGroupId === 'sg-0123456789abcdef0' && p.FromPort === 443 && p.ToPort === 443)).toBe(true);
    const ingress = resourcesOfType(s, 'AWS::EC2::SecurityGroupIngress').map(([, r]) => r.Properties);
    expect(ingress.some((p) => p.GroupId === 'sg-0123456789abcdef0' && p.FromPort === 443)).toBe(true);
  });
  it('reaches the Coordinator through a PrivateLink endpoint on 1313 only', () => {
    const [, e] = onlyResource(s, 'AWS::EC2::VPCEndpoint', 'RecoveryCoordinatorEndpoint0');
    expect(e.Properties.ServiceName).toBe('com.amazonaws.vpce.eu-central-1.vpce-svc-0123456789abcdef0');
    expect(e.Properties.VpcEndpointType).toBe('Interface');
    const sgId = logicalIdOf(s, 'AWS::EC2::SecurityGroup', 'RecoveryCoordinatorEndpointSecurityGroup0');
    const ingress = resourcesOfType(s, 'AWS::EC2::SecurityGroupIngress').filter(([, r]) => JSON.stringify(r.Properties.GroupId).includes(sgId));
    expect(ingress.map(([, r]) => [r.Properties.FromPort, r.Properties.ToPort])).toEqual([[1313, 1313]]);
  });
  it('has no egress to a collateral mirror unless one is configured', () => {
    expect(onlyResource(s, 'AWS::Lambda::Function')[1].Properties.Environment.Variables.COLLATERAL_MIRROR_URL).toBeUndefined();
  });
});

describe('lock table', () => {
  const table = () => onlyResource(s, 'AWS::DynamoDB::Table');
  it('keys on pk (S)', () => {
    expect(table()[1].Properties.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    expect(table()[1].Properties.AttributeDefinitions).toEqual([{ AttributeName: 'pk', AttributeType: 'S' }]);
  });
  it('is on-demand', () => {
    expect(table()[1].Properties.BillingMode).toBe('PAY_PER_REQUEST');
  });
  it('has point-in-time recovery', () => {
    expect(table()[1].Properties.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled).toBe(true);
  });
  it('expires items by expiresAt', () => {
    expect(table()[1].Properties.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
  });
  it('is encrypted at rest with KMS', () => {
    expect(table()[1].Properties.SSESpecification.SSEEnabled).toBe(true);
  });
  it('is retained and protected from deletion', () => {
    expect(table()[1].DeletionPolicy).toBe('Retain');
    expect(table()[1].Properties.DeletionProtectionEnabled).toBe(true);
  });
});

describe('queues and topic', () => {
  const queues = () => resourcesOfType(s, 'AWS::SQS::Queue');
  it('has the trigger DLQ and the on-failure queue', () => {
    expect(queues().map(([id]) => id.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual(['RecoveryInvocationFailureQueue', 'RecoveryTriggerDeadLetterQueue']);
  });
  it('encrypts the queues', () => {
    for (const [, q] of queues()) expect(q.Properties.SqsManagedSseEnabled ?? q.Properties.KmsMasterKeyId).toBeTruthy();
  });
  it('denies non-TLS access to every queue', () => {
    for (const [id] of queues()) {
      const policy = resourcesOfType(s, 'AWS::SQS::QueuePolicy').find(([, p]) => JSON.stringify(p.Properties.Queues).includes(id));
      expect(policy, id).toBeDefined();
      const deny = policy![1].Properties.PolicyDocument.Statement.find((st: any) => st.Effect === 'Deny');
      expect(deny.Condition).toEqual({ Bool: { 'aws:SecureTransport': 'false' } });
    }
  });
  it('retains the queues', () => {
    for (const [, q] of queues()) expect(q.DeletionPolicy).toBe('Retain');
  });
  it('encrypts the alarm topic with a customer managed key', () => {
    expect(onlyResource(s, 'AWS::SNS::Topic')[1].Properties.KmsMasterKeyId).toEqual(getAtt(logicalIdOf(s, 'AWS::KMS::Key', 'RecoveryOpsKey')));
  });
  it('denies non-TLS publishing to the alarm topic', () => {
    const deny = onlyResource(s, 'AWS::SNS::TopicPolicy')[1].Properties.PolicyDocument.Statement.find((st: any) => st.Effect === 'Deny');
    expect(deny.Condition).toEqual({ Bool: { 'aws:SecureTransport': 'false' } });
  });
  it('lets CloudWatch use the topic key (alarms can publish to the encrypted topic)', () => {
    const policy = onlyResource(s, 'AWS::KMS::Key', 'RecoveryOpsKey')[1].Properties.KeyPolicy.Statement;
    expect(policy.some((st: any) => st.Principal?.Service === 'cloudwatch.amazonaws.com')).toBe(true);
  });
});

describe('triggers', () => {
  const rules = () => resourcesOfType(s, 'AWS::Events::Rule').map(([, r]) => r.Properties);
  const failureDlq = () => getAtt(logicalIdOf(s, 'AWS::SQS::Queue', 'RecoveryTriggerDeadLetterQueue'));
  it('matches the custom Coordinator events of the configured deployments on the bus', () => {
    const r = rules().find((p) => p.EventPattern?.source?.[0] === 'contrast.coordinator');
    expect(r.EventPattern['detail-type']).toEqual(['Coordinator Restarted', 'Coordinator Recovery Requested']);
    expect(r.EventPattern.detail).toEqual({ deployment: ['demo'] });
    expect(r.EventBusName).toEqual({ Ref: logicalIdOf(s, 'AWS::Events::EventBus', 'RecoveryBus') });
  });
  it('matches configured alarms going into ALARM', () => {
    const r = rules().find((p) => p.EventPattern?.source?.[0] === 'aws.cloudwatch');
    expect(r.EventPattern['detail-type']).toEqual(['CloudWatch Alarm State Change']);
    expect(r.EventPattern.resources).toEqual(['arn:aws:cloudwatch:eu-central-1:123456789012:alarm:contrast-demo-coordinator-not-ready']);
    expect(r.EventPattern.detail).toEqual({ state: { value: ['ALARM'] } });
  });
  it('runs on a schedule', () => {
    expect(rules().find((p) => p.ScheduleExpression)?.ScheduleExpression).toBe('rate(15 minutes)');
  });
  it('gives every target a retry policy and the DLQ', () => {
    expect(rules().length).toBe(3);
    for (const r of rules()) {
      const [t] = r.Targets;
      expect(t.RetryPolicy.MaximumRetryAttempts).toBeGreaterThan(0);
      expect(t.RetryPolicy.MaximumEventAgeInSeconds).toBeGreaterThan(0);
      expect(t.DeadLetterConfig.Arn).toEqual(failureDlq());
    }
  });
  it('lets only EventBridge rules invoke the function, each scoped to its rule', () => {
    for (const [, p] of resourcesOfType(s, 'AWS::Lambda::Permission')) {
      expect(p.Properties.Principal).toBe('events.amazonaws.com');
      expect(p.Properties.SourceArn).toBeDefined();
    }
  });
});

describe('least-privilege IAM', () => {
  it('uses no wildcard actions', () => {
    for (const { policy, statement } of identityStatements(s)) {
      for (const a of asArray<string>(statement.Action)) expect(a, policy).not.toMatch(/(^\*$|:\*$)/);
    }
  });
  it('uses Resource "*" only for the ENI and X-Ray actions that have no resource-level permissions', () => {
    for (const { policy, statement } of identityStatements(s)) {
      if (asArray(statement.Resource).includes('*')) {
        for (const a of asArray<string>(statement.Action)) expect(a, policy).toMatch(/^(ec2:(Create|Describe|Delete)NetworkInterfaces?|ec2:DescribeSubnets|ec2:(Assign|Unassign)PrivateIpAddresses|xray:Put(TraceSegments|TelemetryRecords))$/);
      }
    }
  });
  it('uses no AWS managed policies', () => {
    for (const [id, r] of resourcesOfType(s, 'AWS::IAM::Role')) expect(r.Properties.ManagedPolicyArns ?? [], id).toEqual([]);
  });
  it('lets the function put only its result events', () => {
    const st = identityStatements(s).find(({ statement }) => statement.Sid === 'PutResultEvents')!.statement;
    expect(st.Condition).toEqual({ StringEquals: { 'events:source': 'contrast.autorecover' } });
  });
  it('limits the function\'s table access to the lock table items', () => {
    const st = identityStatements(s).find(({ statement }) => statement.Sid === 'LockTable')!.statement;
    expect(asArray<string>(st.Action).every((a) => /^dynamodb:(Get|BatchGet|Put|Update|Delete)Item$/.test(a))).toBe(true);
    expect(st.Resource).toEqual(getAtt(logicalIdOf(s, 'AWS::DynamoDB::Table', 'RecoveryLockTable')));
  });
  it('gives the enroller no decrypt anywhere', () => {
    const enrollerPolicies = identityStatements(s).filter(({ policy }) => policy.startsWith('RecoveryEnrollerRole'));
    expect(enrollerPolicies.flatMap(({ statement }) => asArray<string>(statement.Action)).filter((a) => /Decrypt|GetSecretValue/.test(a))).toEqual([]);
  });
  it('maps the function role to the contrast-autorecover Kubernetes group with an access entry', () => {
    const [, entry] = onlyResource(s, 'AWS::EKS::AccessEntry');
    expect(entry.Properties).toMatchObject({ ClusterName: 'contrast-demo', Type: 'STANDARD', KubernetesGroups: ['contrast-autorecover'], PrincipalArn: getAtt(roleId) });
  });
  it('lets only the exporter\'s service account assume the exporter role (IRSA)', () => {
    const [, role] = onlyResource(s, 'AWS::IAM::Role', 'RecoveryExporterRole');
    const [st] = role.Properties.AssumeRolePolicyDocument.Statement;
    expect(st.Action).toBe('sts:AssumeRoleWithWebIdentity');
    expect(st.Condition.StringEquals['oidc.eks.eu-central-1.amazonaws.com/id/EXAMPLE0123456789ABCDEF:sub']).toBe('system:serviceaccount:contrast-autorecover-exporter:event-exporter');
  });
  it('lets the exporter put only the trigger events', () => {
    const st = identityStatements(s).find(({ statement }) => statement.Sid === 'PutTriggerEvents')!.statement;
    expect(st.Condition.StringEquals['events:source']).toBe('contrast.coordinator');
    expect(st.Condition.StringEquals['events:detail-type']).toEqual(['Coordinator Restarted', 'Coordinator Recovery Requested']);
  });
});

describe('alarms', () => {
  const alarms = () => resourcesOfType(s, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
  const topic = () => ({ Ref: logicalIdOf(s, 'AWS::SNS::Topic', 'RecoveryAlarmTopic') });
  const byMetric = (name: string) => alarms().find((a) => a.MetricName === name && a.Namespace === 'ContrastAutorecover');
  it('notify the topic', () => {
    for (const a of alarms()) expect(a.AlarmActions).toEqual([topic()]);
  });
  it.each(['Failures', 'Outcome-attestation-failed', 'Outcome-paused', 'DriftDetected', 'DecryptDrillFailed'])('alarm on %s per deployment', (name) => {
    const a = byMetric(name);
    expect(a, name).toBeDefined();
    expect(a.Dimensions).toEqual(expect.arrayContaining([{ Name: 'service', Value: 'contrast-autorecover' }, { Name: 'Deployment', Value: 'demo' }]));
    expect(a.Threshold).toBe(1);
  });
  it('alarm when a deployment is stale longer than staleAlarmMinutes', () => {
    const a = byMetric('StaleMinutes');
    expect([a.Threshold, a.ComparisonOperator]).toEqual([15, 'GreaterThanThreshold']);
  });
  it('alarm on function errors', () => {
    expect(alarms().some((a) => a.MetricName === 'Errors' && a.Namespace === 'AWS/Lambda')).toBe(true);
  });
  it('alarm on the depth of both dead-letter queues', () => {
    const depth = alarms().filter((a) => a.MetricName === 'ApproximateNumberOfMessagesVisible');
    expect(depth.length).toBe(2);
  });
});

describe('audit trail', () => {
  it('records Lambda Invoke data events of the function', () => {
    const [, trail] = onlyResource(s, 'AWS::CloudTrail::Trail');
    const selectors = trail.Properties.EventSelectors;
    const lambdaSel = selectors.flatMap((sel: any) => sel.DataResources ?? []).find((d: any) => d.Type === 'AWS::Lambda::Function');
    expect(lambdaSel.Values).toEqual([getAtt(logicalIdOf(s, 'AWS::Lambda::Function', 'RecoveryFunction'))]);
  });
  it('includes management events (kms:Decrypt with its encryption context)', () => {
    const [, trail] = onlyResource(s, 'AWS::CloudTrail::Trail');
    expect(trail.Properties.EventSelectors.every((sel: any) => sel.IncludeManagementEvents !== false)).toBe(true);
  });
  it('validates log files and encrypts them', () => {
    const [, trail] = onlyResource(s, 'AWS::CloudTrail::Trail');
    expect(trail.Properties.EnableLogFileValidation).toBe(true);
    expect(trail.Properties.KMSKeyId).toBeDefined();
  });
});
