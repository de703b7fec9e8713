/**
 * Issue 11's rules on the synthesized template, in both topologies: (a) EKS Hybrid Nodes with
 * the function in the hub VPC, (b) a self-managed cluster with the function in its own VPC.
 * One rule per test; breaking the rule in the construct fails that test. Each configuration is
 * synthesized once for the file.
 */
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lambda/function/config.ts';
import {
  CONTEXT_KEYS,
  DEFAULTS,
  ENDPOINT_URL_ENV,
  ENV,
  EVENTS,
  METRICS_NAMESPACE,
  TRIGGER_DETAIL,
} from '../../lambda/shared/contract.ts';
import { KEY_VALIDATION_VERSION_ID } from '../../infra/keys.ts';
import { leaseSecondsFor } from '../../infra/contrast-recovery.ts';
import { MIN_LEASE_SECONDS } from '../../lambda/shared/budgets.ts';
import {
  ARN,
  asArray,
  eksHybridHub,
  functionEnv,
  identityStatements,
  keyPolicy,
  logicalIdOf,
  nagFindings,
  onlyResource,
  placeholders,
  resourcesOfType,
  rulesTargeting,
  selfManagedOwnVpc,
  statement,
  storedDeployments,
  synthOnce,
  type Synthesized,
} from './synth.ts';

const topologies = [
  ['EKS Hybrid Nodes, hub VPC', eksHybridHub],
  ['self-managed, own VPC', selfManagedOwnVpc],
] as const;
const eks = () => synthOnce(eksHybridHub);
const selfManaged = () => synthOnce(selfManagedOwnVpc);

const getAtt = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
const roleArn = (s: Synthesized, prefix: string) => getAtt(logicalIdOf(s, 'AWS::IAM::Role', prefix));
const recoveryKeyPolicy = (s: Synthesized) => keyPolicy(s, 'RecoveryRecoveryKey');
const bundleKeyPolicy = (s: Synthesized) => keyPolicy(s, 'RecoveryBundleSecretsKey');
const cfnExecRole = {
  'Fn::Sub': 'arn:${AWS::Partition}:iam::111122223333:role/cdk-hnb659fds-cfn-exec-role-111122223333-eu-central-1',
};
const CRYPTO = [
  'kms:Decrypt',
  'kms:Encrypt',
  'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
  'kms:CreateGrant',
];
const matches = (pattern: string, action: string) =>
  new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i').test(action);
const secretPolicies = (s: Synthesized) =>
  resourcesOfType(s, 'AWS::SecretsManager::ResourcePolicy').map(
    ([, p]) => p.Properties.ResourcePolicy.Statement as any[],
  );
const serviceEndpoints = (s: Synthesized) =>
  resourcesOfType(s, 'AWS::EC2::VPCEndpoint').filter(([id]) => !id.includes('CoordinatorEndpoint'));
const serviceOf = (e: any) =>
  JSON.stringify(e.Properties.ServiceName)
    .match(/\.([a-z-]+)"\]\]\}$|\.([a-z-]+)"$/)
    ?.slice(1)
    .find(Boolean);

describe.each(topologies)('%s', (_name, propsOf) => {
  const s = () => synthOnce(propsOf);

  describe('11.1 two keys: the owner-key envelope and the secret itself', () => {
    it('encrypts the bundle secrets with the bundle secrets key, not the recovery key', () => {
      const bundleKey = logicalIdOf(s(), 'AWS::KMS::Key', 'RecoveryBundleSecretsKey');
      for (const [, secret] of resourcesOfType(s(), 'AWS::SecretsManager::Secret'))
        expect(secret.Properties.KmsKeyId).toEqual(getAtt(bundleKey));
    });
    it('gives no principal a Decrypt on the recovery key without the owner-key context', () => {
      const decrypts = recoveryKeyPolicy(s()).filter(
        (st) => st.Effect === 'Allow' && asArray<string>(st.Action).some((a) => CRYPTO.some((c) => matches(a, c))),
      );
      expect(decrypts.length).toBeGreaterThan(0);
      for (const st of decrypts) {
        expect(st.Condition.StringEquals[`kms:EncryptionContext:${CONTEXT_KEYS.purpose}`], st.Sid).toBe(
          'seedshare-owner-key',
        );
        expect(st.Condition.StringEquals['kms:ViaService'], st.Sid).toBeUndefined();
      }
    });
    it("lets CloudFormation's role pass Secrets Manager's key-access check, and decrypt nothing else", () => {
      const st = statement(bundleKeyPolicy(s()), 'SecretsManagerValidateKeyAccess');
      expect(asArray(st.Principal.AWS)).toEqual([cfnExecRole]);
      expect(asArray(st.Action)).toEqual(['kms:Decrypt']);
      expect(st.Condition.StringEquals['kms:EncryptionContext:SecretVersionId']).toBe(KEY_VALIDATION_VERSION_ID);
      expect(st.Condition.StringEquals['kms:ViaService']).toEqual({
        'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']],
      });
      const readers = statement(bundleKeyPolicy(s()), 'SecretsManagerReadBundles');
      expect(JSON.stringify(readers.Principal)).not.toContain('cfn-exec-role');
    });
    it('lets every writer (enroller, CloudFormation) generate data keys for new versions, via Secrets Manager only', () => {
      const st = statement(bundleKeyPolicy(s()), 'SecretsManagerWriteBundles');
      expect(asArray(st.Principal.AWS)).toEqual(
        expect.arrayContaining([roleArn(s(), 'RecoveryEnrollerRole'), cfnExecRole]),
      );
      expect(asArray(st.Action)).toEqual(['kms:GenerateDataKey']);
      expect(st.Condition.StringLike['kms:EncryptionContext:SecretARN']).toBeDefined();
      expect(st.Condition.StringEquals['kms:ViaService']).toBeDefined();
    });
    it('lets the function read the bundles through Secrets Manager only', () => {
      const st = statement(bundleKeyPolicy(s()), 'SecretsManagerReadBundles');
      expect(asArray(st.Principal.AWS)).toContainEqual(roleArn(s(), 'RecoveryFunctionRole'));
      expect(st.Condition.StringEquals['kms:ViaService']).toBeDefined();
    });
  });

  describe('11.2 network', () => {
    it('creates endpoints only for the APIs the code calls (no Logs, Monitoring, STS)', () => {
      const services = serviceEndpoints(s())
        .map(([, e]) => serviceOf(e))
        .sort();
      expect(services.every((x) => ['kms', 'secretsmanager', 'dynamodb', 'events', 'ssm'].includes(x!))).toBe(true);
      expect(services).not.toContain('logs');
      expect(services).not.toContain('monitoring');
      expect(services).not.toContain('sts');
    });
    it("restricts every created endpoint's policy to the function's role", () => {
      for (const [, e] of serviceEndpoints(s())) {
        for (const st of e.Properties.PolicyDocument.Statement)
          expect(st.Condition.ArnEquals['aws:PrincipalArn']).toEqual(roleArn(s(), 'RecoveryFunctionRole'));
      }
    });
    it('reaches every Coordinator through a PrivateLink endpoint without private DNS', () => {
      const coordinator = resourcesOfType(s(), 'AWS::EC2::VPCEndpoint').filter(([id]) =>
        id.includes('CoordinatorEndpoint'),
      );
      expect(coordinator.length).toBe(propsOf === eksHybridHub ? 1 : 2);
      for (const [, e] of coordinator) expect(e.Properties.PrivateDnsEnabled).toBe(false);
      const deployments = storedDeployments(s()).map((p) => JSON.parse(p.value));
      for (const d of deployments) expect(d.coordinator).toBe(`placeholder:${DEFAULTS.coordinatorPort}`);
    });
    it('offers an NLB to PrivateLink for this account only', () => {
      const [, perms] = onlyResource(s(), 'AWS::EC2::VPCEndpointServicePermissions');
      expect(perms.Properties.AllowedPrincipals).toEqual([
        { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::111122223333:root']] },
      ]);
      const [, svc] = onlyResource(s(), 'AWS::EC2::VPCEndpointService');
      expect(svc.Properties.NetworkLoadBalancerArns).toEqual([ARN.nlb]);
    });
    it('has no route to the internet: no internet or NAT gateway, no 0.0.0.0/0', () => {
      expect(resourcesOfType(s(), 'AWS::EC2::InternetGateway')).toEqual([]);
      expect(resourcesOfType(s(), 'AWS::EC2::NatGateway')).toEqual([]);
      for (const [, r] of resourcesOfType(s(), 'AWS::EC2::Route'))
        expect(r.Properties.DestinationCidrBlock).not.toBe('0.0.0.0/0');
    });
    it('gives the function egress to no CIDR except the API server and the collateral mirror', () => {
      const fnSg = logicalIdOf(s(), 'AWS::EC2::SecurityGroup', 'RecoveryNetworkFunctionSecurityGroup');
      const cidrs = (s().json.Resources[fnSg]!.Properties.SecurityGroupEgress ?? []).map(
        (r: any) => `${r.CidrIp}:${r.FromPort}`,
      );
      expect(cidrs.sort()).toEqual(propsOf === eksHybridHub ? [] : ['10.1.2.0/24:8443', '192.168.10.0/24:6443']);
    });
  });

  describe('11.3 triggers', () => {
    it('runs the backstop schedule every minute by default', () => {
      const fnId = logicalIdOf(s(), 'AWS::Lambda::Function', 'RecoveryHandlerFunction');
      const schedules = rulesTargeting(s(), fnId)
        .map(([, r]) => r.Properties.ScheduleExpression)
        .filter(Boolean);
      expect(schedules).toContain(`rate(${DEFAULTS.scheduleMinutes} minute)`);
    });
    it("matches exactly the exporter's event: source, detail types and the deployment field it sends", () => {
      const [, rule] = resourcesOfType(s(), 'AWS::Events::Rule').find(([id]) => id.includes('CoordinatorEventRule'))!;
      const names = propsOf === eksHybridHub ? ['prod'] : ['alpha', 'beta'];
      expect(rule.Properties.EventPattern).toEqual({
        source: [EVENTS.triggerSource],
        'detail-type': [...EVENTS.triggerDetailTypes],
        detail: { [TRIGGER_DETAIL.deployment]: names },
      });
    });
    it('gives every function target retries and the dead-letter queue', () => {
      const fnId = logicalIdOf(s(), 'AWS::Lambda::Function', 'RecoveryHandlerFunction');
      const rules = rulesTargeting(s(), fnId);
      expect(rules.length).toBeGreaterThanOrEqual(2);
      for (const [, r] of rules) {
        const t = r.Properties.Targets[0];
        expect(t.RetryPolicy.MaximumRetryAttempts).toBe(8);
        expect(t.DeadLetterConfig.Arn).toEqual(
          getAtt(logicalIdOf(s(), 'AWS::SQS::Queue', 'RecoveryHandlerTriggerDeadLetterQueue')),
        );
      }
    });
  });

  describe('11.6 side doors', () => {
    it("lets the function decrypt the owner key only through the stack's KMS endpoint", () => {
      const st = statement(recoveryKeyPolicy(s()), 'FunctionDecryptOwnerKey');
      const kmsEndpoint = serviceEndpoints(s()).find(([, e]) => serviceOf(e) === 'kms')![0];
      expect(st.Condition.StringEquals['aws:SourceVpce']).toEqual({ Ref: kmsEndpoint });
    });
    it('lets the break-glass role decrypt the owner key only with MFA', () => {
      expect(statement(recoveryKeyPolicy(s()), 'BreakGlassDecryptOwnerKey').Condition.Bool).toEqual({
        'aws:MultiFactorAuthPresent': 'true',
      });
      const [, role] = onlyResource(s(), 'AWS::IAM::Role', 'RecoveryBreakGlassRole');
      expect(role.Properties.AssumeRolePolicyDocument.Statement[0].Condition).toEqual({
        Bool: { 'aws:MultiFactorAuthPresent': 'true' },
      });
    });
    it("names key administrators explicitly (CloudFormation's role among them), never the account root", () => {
      for (const prefix of ['RecoveryRecoveryKey', 'RecoveryBundleSecretsKey', 'RecoveryOps']) {
        const policy = keyPolicy(s(), prefix);
        expect(asArray(statement(policy, 'KeyAdministration').Principal.AWS)).toEqual([ARN.admin, cfnExecRole]);
        expect(JSON.stringify(policy)).not.toMatch(/:root"|"AWS":"\*"/);
      }
    });
    it('gives key administrators no cryptographic action', () => {
      const admin = asArray<string>(statement(recoveryKeyPolicy(s()), 'KeyAdministration').Action);
      expect(admin.flatMap((a) => CRYPTO.filter((c) => matches(a, c)))).toEqual([]);
    });
    it('denies reading a bundle to everyone but the function and the break-glass role', () => {
      for (const policy of secretPolicies(s())) {
        expect(statement(policy, 'OnlyReadersGetTheBundle').Condition.ArnNotEquals['aws:PrincipalArn']).toEqual([
          roleArn(s(), 'RecoveryFunctionRole'),
          roleArn(s(), 'RecoveryBreakGlassRole'),
        ]);
      }
    });
    it("denies the function's read from anywhere but the stack's Secrets Manager endpoint", () => {
      const smEndpoint = serviceEndpoints(s()).find(([, e]) => serviceOf(e) === 'secretsmanager')![0];
      for (const policy of secretPolicies(s())) {
        const st = statement(policy, 'FunctionReadsOnlyThroughItsEndpoint');
        expect(st.Effect).toBe('Deny');
        expect(st.Condition).toEqual({
          ArnEquals: { 'aws:PrincipalArn': roleArn(s(), 'RecoveryFunctionRole') },
          StringNotEquals: { 'aws:SourceVpce': { Ref: smEndpoint } },
        });
      }
    });
    it("denies the break-glass role's read without MFA", () => {
      for (const policy of secretPolicies(s())) {
        expect(statement(policy, 'BreakGlassReadsOnlyWithMfa').Condition.BoolIfExists).toEqual({
          'aws:MultiFactorAuthPresent': 'false',
        });
      }
    });
    it('denies new versions to everyone but the enroller, CloudFormation and (with a mirror) the function', () => {
      const expected = [
        roleArn(s(), 'RecoveryEnrollerRole'),
        cfnExecRole,
        ...(propsOf === selfManagedOwnVpc ? [roleArn(s(), 'RecoveryFunctionRole')] : []),
      ];
      for (const policy of secretPolicies(s()))
        expect(statement(policy, 'OnlyWritersPutVersions').Condition.ArnNotEquals['aws:PrincipalArn']).toEqual(
          expected,
        );
    });
    it('denies changing the secret or its policy to everyone but CloudFormation', () => {
      for (const policy of secretPolicies(s())) {
        const st = statement(policy, 'OnlyDeploymentChangesTheSecret');
        expect(asArray(st.Action)).toEqual(
          expect.arrayContaining([
            'secretsmanager:UpdateSecret',
            'secretsmanager:PutResourcePolicy',
            'secretsmanager:DeleteResourcePolicy',
          ]),
        );
        expect(st.Condition.ArnNotEquals['aws:PrincipalArn']).toEqual(cfnExecRole);
        const stages = statement(policy, 'OnlyEnrollerAndDeploymentMoveStages');
        expect(asArray(stages.Action)).toEqual(['secretsmanager:UpdateSecretVersionStage']);
      }
    });
    it.each([
      ['aws.kms', ['PutKeyPolicy', 'ScheduleKeyDeletion', 'DisableKey', 'CreateGrant']],
      ['aws.lambda', [{ prefix: 'UpdateFunctionCode' }, { prefix: 'UpdateFunctionConfiguration' }]],
      ['aws.lambda', [{ prefix: 'CreateFunction' }, { prefix: 'UpdateFunctionConfiguration' }]],
      ['aws.ec2', ['ModifyVpcEndpoint', 'DeleteVpcEndpoints']],
      ['aws.secretsmanager', ['PutResourcePolicy', 'DeleteResourcePolicy']],
      ['aws.iam', ['UpdateAssumeRolePolicy']],
    ])('alarms on %s %j through the alarm topic', (source, eventNames) => {
      const topic = logicalIdOf(s(), 'AWS::SNS::Topic', 'RecoveryAlarmTopic');
      const found = rulesTargeting(s(), topic).filter(
        ([, r]) =>
          r.Properties.EventPattern.source?.[0] === source &&
          JSON.stringify(r.Properties.EventPattern.detail.eventName) === JSON.stringify(eventNames),
      );
      expect(found.length).toBe(1);
      expect(found[0]![1].Properties.EventPattern['detail-type']).toEqual(['AWS API Call via CloudTrail']);
    });
    it('alarms on a change of the kubeconfig secret (self-managed), by every name a caller can give it', () => {
      const topic = logicalIdOf(s(), 'AWS::SNS::Topic', 'RecoveryAlarmTopic');
      const found = rulesTargeting(s(), topic).filter(([id]) => id.includes('KubeconfigSecret'));
      if (propsOf !== selfManagedOwnVpc) {
        expect(found).toEqual([]);
        return;
      }
      expect(found.length).toBe(1);
      const pattern = found[0]![1].Properties.EventPattern;
      expect(pattern.source).toEqual(['aws.secretsmanager']);
      expect(pattern['detail-type']).toEqual(['AWS API Call via CloudTrail']);
      expect(pattern.detail.eventName).toEqual(
        expect.arrayContaining(['PutSecretValue', 'UpdateSecret', 'UpdateSecretVersionStage', 'PutResourcePolicy']),
      );
      const name = ARN.kubeconfig.split(':secret:')[1]!.replace(/-AbCdEf$/, '');
      expect(pattern.detail.$or[0].requestParameters.secretId).toEqual([
        ARN.kubeconfig,
        ARN.kubeconfig.replace(/-AbCdEf$/, ''),
        name,
      ]);
      expect(pattern.detail.$or[1].responseElements.arn).toEqual([ARN.kubeconfig]);
    });
    it('alarms on a pass of the function role, naming the role', () => {
      const topic = logicalIdOf(s(), 'AWS::SNS::Topic', 'RecoveryAlarmTopic');
      const [, rule] = rulesTargeting(s(), topic).find(([id]) => id.includes('FunctionRolePassed'))!;
      expect(rule.Properties.EventPattern.detail.requestParameters.role).toEqual([
        roleArn(s(), 'RecoveryFunctionRole'),
      ]);
    });
    it('alarms on key changes of both keys', () => {
      const [, rule] = resourcesOfType(s(), 'AWS::Events::Rule').find(([id]) => id.includes('KeyPolicyOrGrant'))!;
      const arns = rule.Properties.EventPattern.detail.$or[0].resources.ARN;
      expect(arns).toEqual([
        getAtt(logicalIdOf(s(), 'AWS::KMS::Key', 'RecoveryRecoveryKey')),
        getAtt(logicalIdOf(s(), 'AWS::KMS::Key', 'RecoveryBundleSecretsKey')),
      ]);
    });
    it('alarms on every use of the break-glass role, read-only calls included', () => {
      const [, rule] = resourcesOfType(s(), 'AWS::Events::Rule').find(([id]) => id.includes('BreakGlassUse'))!;
      expect(rule.Properties.State).toBe('ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS');
      expect(rule.Properties.EventPattern.detail.userIdentity.sessionContext.sessionIssuer.arn).toEqual([
        roleArn(s(), 'RecoveryBreakGlassRole'),
      ]);
      expect(rule.Properties.EventPattern.detail.eventName).toEqual(['Decrypt', 'GetSecretValue']);
    });
    it('watches the trust of the function and break-glass roles by name', () => {
      const [, rule] = resourcesOfType(s(), 'AWS::Events::Rule').find(([id]) => id.includes('RoleTrust'))!;
      expect(rule.Properties.EventPattern.detail.requestParameters.roleName).toEqual([
        { Ref: logicalIdOf(s(), 'AWS::IAM::Role', 'RecoveryFunctionRole') },
        { Ref: logicalIdOf(s(), 'AWS::IAM::Role', 'RecoveryBreakGlassRole') },
      ]);
    });
    it("offers an SCP that confines the function role's credentials to its function", () => {
      const scp = s().stack.resolve(s().recovery.sourceFunctionScp().toJSON());
      const st = scp.Statement[0];
      expect(st.Effect).toBe('Deny');
      expect(st.Action).toEqual(['kms:Decrypt', 'secretsmanager:GetSecretValue']);
      expect(Object.keys(st.Condition.ArnNotLike)).toEqual(['lambda:SourceFunctionArn']);
      expect(st.Condition.ArnEquals['aws:PrincipalArn']).toEqual(roleArn(s(), 'RecoveryFunctionRole'));
    });
  });

  describe('11.7 audit', () => {
    it('keeps the backstop schedule free of drills: the drill, when on, has its own daily rule', () => {
      const env = functionEnv(s());
      const drills = resourcesOfType(s(), 'AWS::Events::Rule').filter(([id]) => id.includes('DecryptDrillRule'));
      if (propsOf === eksHybridHub) {
        expect(env[ENV.decryptDrill]).toBe('true');
        expect(drills.length).toBe(1);
        expect(drills[0]![1].Properties.ScheduleExpression).toBe(
          events.Schedule.rate(Duration.hours(DEFAULTS.drillIntervalHours)).expressionString,
        );
        expect(DEFAULTS.drillIntervalHours).toBeGreaterThanOrEqual(24);
        expect(drills[0]![1].Properties.Name).toBe(env[ENV.decryptDrillRule]);
      } else {
        expect(env[ENV.decryptDrill]).toBe('false');
        expect(drills).toEqual([]);
      }
    });
  });

  describe('11.8 least privilege', () => {
    it('reserves concurrency for the function', () => {
      expect(onlyResource(s(), 'AWS::Lambda::Function')[1].Properties.ReservedConcurrentExecutions).toBe(
        DEFAULTS.reservedConcurrency,
      );
    });
    it('keeps Resource "*" in the one acknowledged policy (ENI and X-Ray actions)', () => {
      const unscoped = logicalIdOf(s(), 'AWS::IAM::Policy', 'RecoveryHandlerUnscopedServiceActions');
      for (const { policy, statement: st } of identityStatements(s())) {
        if (asArray(st.Resource).includes('*')) expect(policy, st.Sid).toBe(unscoped);
      }
      const acked = s()
        .app.node.findAll()
        .filter((c) => c.node.metadata.some((m) => JSON.stringify(m.data ?? '').includes('AwsSolutions-IAM5')));
      expect(acked.map((c) => c.node.path)).toEqual(['Recovery/Recovery/Handler/UnscopedServiceActions']);
    });
    it('uses no AWS managed policies', () => {
      for (const [, r] of resourcesOfType(s(), 'AWS::IAM::Role'))
        expect(r.Properties.ManagedPolicyArns).toBeUndefined();
    });
    it("lets only the stack's EventBridge rules invoke the function, each scoped to its rule", () => {
      const perms = resourcesOfType(s(), 'AWS::Lambda::Permission');
      expect(perms.length).toBe(
        rulesTargeting(s(), logicalIdOf(s(), 'AWS::Lambda::Function', 'RecoveryHandlerFunction')).length,
      );
      for (const [, p] of perms) {
        expect(p.Properties.Principal).toBe('events.amazonaws.com');
        expect(p.Properties.SourceArn['Fn::GetAtt'][1]).toBe('Arn');
      }
    });
    it('lets the function ask a bundle secret its current version (DescribeSecret: metadata, no KMS call) beside reading it, through its endpoint', () => {
      const secrets = resourcesOfType(s(), 'AWS::SecretsManager::Secret').map(([id]) => ({ Ref: id }));
      const reads = identityStatements(s()).filter(
        ({ policy, statement: st }) => st.Sid === 'ReadBundles' && policy.startsWith('RecoveryFunctionRole'),
      );
      expect(reads).toHaveLength(1);
      expect(asArray(reads[0]!.statement.Action)).toEqual([
        'secretsmanager:GetSecretValue',
        'secretsmanager:DescribeSecret',
      ]);
      expect(asArray(reads[0]!.statement.Resource)).toEqual(secrets);
      for (const [, e] of serviceEndpoints(s()).filter(([, e]) => serviceOf(e) === 'secretsmanager'))
        for (const st of e.Properties.PolicyDocument.Statement)
          expect(asArray(st.Action)).toEqual(expect.arrayContaining(['secretsmanager:DescribeSecret']));
    });
    it('uses no wildcard service actions in identity policies', () => {
      for (const { statement: st } of identityStatements(s()))
        for (const a of asArray<string>(st.Action)) expect(a, st.Sid).not.toMatch(/:\*$|^\*$/);
    });
  });

  describe('function, table, queues, alarms', () => {
    const fn = () => onlyResource(s(), 'AWS::Lambda::Function')[1].Properties;
    const assetDir = () => path.join(s().app.outdir, `asset.${String(fn().Code.S3Key).replace(/\.zip$/, '')}`);
    it('runs nodejs22.x on arm64 with the justified timeout and memory, traced', () => {
      expect(fn()).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Timeout: 300,
        MemorySize: 1024,
        TracingConfig: { Mode: 'Active' },
        Handler: 'index.handler',
      });
      expect(Number(functionEnv(s())[ENV.leaseSeconds])).toBeGreaterThan(fn().Timeout);
    });
    it('runs in the VPC with its own security group only', () => {
      expect(fn().VpcConfig.SecurityGroupIds).toEqual([
        {
          'Fn::GetAtt': [
            logicalIdOf(s(), 'AWS::EC2::SecurityGroup', 'RecoveryNetworkFunctionSecurityGroup'),
            'GroupId',
          ],
        },
      ]);
    });
    it('is an ESM bundle that marks nothing external (the AWS SDK is bundled)', () => {
      const files = readdirSync(assetDir()).filter((f) => f.endsWith('.mjs'));
      expect(files).toContain('index.mjs');
      const code = files.map((f) => readFileSync(path.join(assetDir(), f), 'utf8')).join('\n');
      // Only Node built-ins stay outside; the SDK's optional SigV4a/CRT signers are require()d in try/catch.
      const external =
        /(?:from\s*|import\(\s*|require\(\s*)["'](@aws-sdk\/(?!signature-v4-crt|signature-v4a)[^"']+|@smithy\/[^"']+|@aws-lambda-powertools\/[^"']+|@kubernetes\/client-node|@grpc\/grpc-js|@bufbuild\/protobuf|@peculiar\/x509|@noble\/curves|zod)["']/;
      expect(code.match(external)?.[0]).toBeUndefined();
    });
    it('keeps @kubernetes/client-node and @peculiar/x509 out of the code a cold start loads (split chunks)', () => {
      const eager = new Set<string>();
      const visit = (f: string) => {
        if (eager.has(f)) return;
        eager.add(f);
        for (const m of readFileSync(path.join(assetDir(), f), 'utf8').matchAll(
          /(?:^|[;}\s])import\s*(?:[^'"()]*?from\s*)?["']\.\/([^"']+\.mjs)["']/g,
        ))
          visit(m[1]!);
      };
      visit('index.mjs');
      const read = (files: Iterable<string>) =>
        [...files].map((f) => readFileSync(path.join(assetDir(), f), 'utf8')).join('\n');
      const all = readdirSync(assetDir()).filter((f) => f.endsWith('.mjs'));
      expect(all.length).toBeGreaterThan(eager.size);
      expect(read(all)).toMatch(/current-context/);
      expect(read(eager)).not.toMatch(/current-context/);
      expect(read(all)).toMatch(/tsyringe requires a reflect polyfill/);
      expect(read(eager)).not.toMatch(/tsyringe requires a reflect polyfill/);
    });
    it('sends failed async invocations to the on-failure queue and logs to an encrypted, retained group', () => {
      const [, config] = onlyResource(s(), 'AWS::Lambda::EventInvokeConfig');
      expect(config.Properties.DestinationConfig.OnFailure.Destination).toEqual(
        getAtt(logicalIdOf(s(), 'AWS::SQS::Queue', 'RecoveryHandlerInvocationFailureQueue')),
      );
      const [, group] = onlyResource(s(), 'AWS::Logs::LogGroup', 'RecoveryHandlerLogs');
      expect(group.Properties.KmsKeyId).toBeDefined();
      expect(group.Properties.RetentionInDays).toBe(365);
      expect(group.DeletionPolicy).toBe('Retain');
    });
    it('keeps the lock table on pk with TTL, on demand, point-in-time recovery, retained and deletion-protected', () => {
      const [, t] = onlyResource(s(), 'AWS::DynamoDB::Table');
      expect(t.Properties).toMatchObject({
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        SSESpecification: { SSEEnabled: true },
        DeletionProtectionEnabled: true,
      });
      expect(t.DeletionPolicy).toBe('Retain');
    });
    it('encrypts and retains every queue (trigger DLQ, on-failure queue, side-door notification DLQ) and denies them non-TLS access', () => {
      const queues = resourcesOfType(s(), 'AWS::SQS::Queue');
      expect(queues.length).toBe(3);
      for (const [, q] of queues) {
        expect(q.Properties.SqsManagedSseEnabled).toBe(true);
        expect(q.DeletionPolicy).toBe('Retain');
      }
      const policies = resourcesOfType(s(), 'AWS::SQS::QueuePolicy').map(([, p]) =>
        JSON.stringify(p.Properties.PolicyDocument),
      );
      expect(policies.length).toBe(3);
      for (const p of policies) expect(p).toContain('"aws:SecureTransport":"false"');
    });
    it('encrypts the alarm topic with the operations key and alarms on every failure metric per deployment', () => {
      const [, topic] = onlyResource(s(), 'AWS::SNS::Topic');
      expect(topic.Properties.KmsMasterKeyId).toEqual(getAtt(logicalIdOf(s(), 'AWS::KMS::Key', 'RecoveryOps')));
      const metrics = resourcesOfType(s(), 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties.MetricName);
      for (const name of [
        'Failures',
        'Outcome-attestation-failed',
        'Outcome-paused',
        'Outcome-peers-stuck',
        'DriftDetected',
        'StaleMinutes',
        'StaleWorkloads',
        'MeshCaKeysSeen',
        'Errors',
        'ApproximateNumberOfMessagesVisible',
      ])
        expect(metrics).toContain(name);
      expect(metrics.includes('DecryptDrillFailed')).toBe(propsOf === eksHybridHub);
    });
  });

  describe('contract with the function', () => {
    it("sets an environment the function's configuration parser accepts", () => {
      const env = placeholders(functionEnv(s()));
      const config = loadConfig(env, storedDeployments(s()));
      expect(config.deployments.map((d) => d.name).length).toBeGreaterThan(0);
      expect(env.POWERTOOLS_METRICS_NAMESPACE).toBe(METRICS_NAMESPACE);
      // Each deployment's opt-in reaches the function as its configuration reads it.
      const props = propsOf(new Stack());
      expect(config.deployments.map((d) => [d.name, d.restartAfterAnyRotation])).toEqual(
        props.deployments.map((d) => [d.name, d.restartAfterAnyRotation === true]),
      );
    });
    it('gives the lease at least the time one recovery may take under the budgets', () => {
      expect(Number(functionEnv(s())[ENV.leaseSeconds])).toBeGreaterThanOrEqual(MIN_LEASE_SECONDS);
      expect(() => leaseSecondsFor(MIN_LEASE_SECONDS - 61)).toThrow(/shorter than the \d+ s one recovery may take/);
      expect(leaseSecondsFor(MIN_LEASE_SECONDS - 60)).toBe(MIN_LEASE_SECONDS);
    });
    it('sets only variables the function or the SDK reads', () => {
      const known = new Set<string>([
        ...Object.values(ENV),
        ...Object.values(ENDPOINT_URL_ENV),
        'POWERTOOLS_SERVICE_NAME',
        'POWERTOOLS_METRICS_NAMESPACE',
      ]);
      expect(Object.keys(functionEnv(s())).filter((k) => !known.has(k))).toEqual([]);
    });
  });
});

describe('(a) EKS Hybrid Nodes in the hub VPC', () => {
  it('creates its endpoints without private DNS and points the SDK at each', () => {
    const env = functionEnv(eks());
    for (const [id, e] of serviceEndpoints(eks())) expect(e.Properties.PrivateDnsEnabled, id).toBe(false);
    expect(
      Object.keys(env)
        .filter((k) => k.startsWith('AWS_ENDPOINT_URL_'))
        .sort(),
    ).toEqual(Object.values(ENDPOINT_URL_ENV).sort());
    expect(serviceEndpoints(eks()).length).toBe(5);
  });
  it('maps the function role to the contrast-autorecover group with an access entry', () => {
    const [, entry] = onlyResource(eks(), 'AWS::EKS::AccessEntry');
    expect(entry.Properties).toMatchObject({
      ClusterName: 'prod',
      PrincipalArn: roleArn(eks(), 'RecoveryFunctionRole'),
      KubernetesGroups: [DEFAULTS.kubernetesGroup],
      Type: 'STANDARD',
    });
    expect(functionEnv(eks())[ENV.kubeAuth]).toBe('eks');
  });
  it('reaches the private API endpoint through the cluster security group on 443 only', () => {
    const ingress = resourcesOfType(eks(), 'AWS::EC2::SecurityGroupIngress').filter(
      ([, r]) => r.Properties.GroupId === 'sg-0cluster',
    );
    expect(ingress.map(([, r]) => [r.Properties.FromPort, r.Properties.ToPort])).toEqual([[443, 443]]);
  });
  it('creates the trail: multi-region with global service events, file validation, Invoke data events', () => {
    const [, trail] = onlyResource(eks(), 'AWS::CloudTrail::Trail');
    expect(trail.Properties).toMatchObject({
      IsMultiRegionTrail: true,
      IncludeGlobalServiceEvents: true,
      EnableLogFileValidation: true,
      IsLogging: true,
    });
    expect(JSON.stringify(trail.Properties.EventSelectors)).toContain('AWS::Lambda::Function');
  });
  it("lets only the exporter's service account assume the exporter role, to put trigger events only", () => {
    const [, role] = onlyResource(eks(), 'AWS::IAM::Role', 'RecoveryExporterRole');
    expect(JSON.stringify(role.Properties.AssumeRolePolicyDocument)).toContain(
      'system:serviceaccount:contrast-autorecover-exporter:event-exporter',
    );
    const put = identityStatements(eks()).find(({ statement: st }) => st.Sid === 'PutTriggerEvents')!.statement;
    expect(put.Condition.StringEquals).toEqual({
      'events:source': EVENTS.triggerSource,
      'events:detail-type': [...EVENTS.triggerDetailTypes],
    });
  });
});

describe('(b) self-managed cluster in its own VPC', () => {
  it('creates endpoints with private DNS in its own VPC, except DynamoDB (addressed by name)', () => {
    const byService = Object.fromEntries(
      serviceEndpoints(selfManaged()).map(([, e]) => [serviceOf(e), e.Properties.PrivateDnsEnabled]),
    );
    expect(byService).toEqual({ kms: true, secretsmanager: true, events: true, ssm: true, dynamodb: false });
    expect(Object.keys(functionEnv(selfManaged())).filter((k) => k.startsWith('AWS_ENDPOINT_URL_'))).toEqual([
      ENDPOINT_URL_ENV.dynamodb,
    ]);
  });
  it("routes only the operator's CIDRs to the transit gateway, from every subnet, after the attachment", () => {
    const [attachmentId, attachment] = onlyResource(selfManaged(), 'AWS::EC2::TransitGatewayAttachment');
    expect(attachment.Properties.TransitGatewayId).toBe('tgw-0123456789abcdef0');
    const routes = resourcesOfType(selfManaged(), 'AWS::EC2::Route');
    expect(routes.length).toBe(2);
    for (const [, r] of routes) {
      expect(r.Properties).toMatchObject({
        DestinationCidrBlock: '192.168.0.0/16',
        TransitGatewayId: 'tgw-0123456789abcdef0',
      });
      expect(asArray(r.DependsOn)).toContain(attachmentId);
    }
  });
  it('authenticates with the kubeconfig secret and reads nothing else of the cluster', () => {
    expect(resourcesOfType(selfManaged(), 'AWS::EKS::AccessEntry')).toEqual([]);
    expect(functionEnv(selfManaged())).toMatchObject({
      [ENV.kubeAuth]: 'kubeconfig',
      [ENV.kubeconfigSecretId]: ARN.kubeconfig,
    });
    const read = identityStatements(selfManaged()).find(({ statement: st }) => st.Sid === 'ReadKubeconfig')!.statement;
    expect(read.Resource).toBe(ARN.kubeconfig);
    const decrypt = identityStatements(selfManaged()).find(
      ({ statement: st }) => st.Sid === 'DecryptKubeconfig',
    )!.statement;
    expect(decrypt.Condition.StringEquals['kms:EncryptionContext:SecretARN']).toBe(ARN.kubeconfig);
  });
  it('uses the existing organization trail (no trail created)', () => {
    expect(resourcesOfType(selfManaged(), 'AWS::CloudTrail::Trail')).toEqual([]);
  });
  it('lets the exporter in through IAM Roles Anywhere, for the trust anchor and certificate CN only', () => {
    const [, role] = onlyResource(selfManaged(), 'AWS::IAM::Role', 'RecoveryExporterRole');
    const trust = role.Properties.AssumeRolePolicyDocument.Statement;
    expect(trust.flatMap((st: any) => asArray(st.Action)).sort()).toEqual([
      'sts:AssumeRole',
      'sts:SetSourceIdentity',
      'sts:TagSession',
    ]);
    for (const st of trust) {
      expect(st.Principal.Service).toBe('rolesanywhere.amazonaws.com');
      expect(st.Condition.ArnEquals['aws:SourceArn']).toBe(ARN.trustAnchor);
      expect(st.Condition.StringEquals['aws:PrincipalTag/x509Subject/CN']).toBe('contrast-exporter');
    }
    const [, profile] = onlyResource(selfManaged(), 'AWS::RolesAnywhere::Profile');
    expect(profile.Properties.RoleArns).toEqual([roleArn(selfManaged(), 'RecoveryExporterRole')]);
  });
  it('with a collateral mirror lets the function put bundle versions (and generate their data keys via Secrets Manager)', () => {
    const writers = statement(bundleKeyPolicy(selfManaged()), 'SecretsManagerWriteBundles');
    expect(asArray(writers.Principal.AWS)).toContainEqual(roleArn(selfManaged(), 'RecoveryFunctionRole'));
    expect(statement(bundleKeyPolicy(eks()), 'SecretsManagerWriteBundles').Principal.AWS).not.toContainEqual(
      roleArn(eks(), 'RecoveryFunctionRole'),
    );
  });
});

describe.each(topologies)('cdk-nag AwsSolutions: %s', (_name, propsOf) => {
  it('has zero unacknowledged findings', () => {
    expect(nagFindings(synthOnce(propsOf).app)).toEqual([]);
  });
  it('states a reason for every acknowledgement', () => {
    const acks: Array<[string, string]> = [];
    for (const c of synthOnce(propsOf).app.node.findAll()) {
      for (const m of c.node.metadata)
        if (m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
          acks.push(...Object.entries(m.data as Record<string, string>));
    }
    expect(acks.length).toBeGreaterThan(0);
    for (const [id, reason] of acks) expect(reason.length, id).toBeGreaterThan(40);
  });
});
