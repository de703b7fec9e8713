/**
 * Issue 22 on the synthesized template: auditors can read the trail's log files (and nothing
 * else under the operations key), an EKS cluster reached from the function's own VPC admits
 * that VPC, every side-door notification retries into a dead-letter queue, and the outputs the
 * CLI renders manifests and the SCP from are there.
 */
import { App, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { ContrastRecovery } from '../../infra/contrast-recovery.ts';
import type { ContrastRecoveryProps } from '../../infra/props.ts';
import {
  ACCOUNT,
  eksHybridHub,
  keyPolicy,
  logicalIdOf,
  nagFindings,
  REGION,
  resourcesOfType,
  statement,
  synthOnce,
  type Synthesized,
} from './synth.ts';

const AUDITOR = `arn:aws:iam::${ACCOUNT}:role/auditor`;

/** (a) EKS Hybrid Nodes with the function in its own VPC, the cluster security group named, an auditor. */
const eksOwnVpc = (stack: Stack): ContrastRecoveryProps => {
  const base = eksHybridHub(stack);
  return {
    ...base,
    cluster: {
      ...(base.cluster as Extract<ContrastRecoveryProps['cluster'], { kind: 'eks-hybrid-nodes' }>),
      controlPlaneCidr: '10.20.0.0/16',
    },
    network: {
      kind: 'own-vpc',
      cidr: '10.80.0.0/20',
      availabilityZones: [`${REGION}a`, `${REGION}b`],
      transitGateway: { id: 'tgw-0123456789abcdef0', routes: ['10.20.0.0/16'] },
    },
    auditors: [new iam.ArnPrincipal(AUDITOR)],
  };
};
const s = () => synthOnce(eksOwnVpc);
const hub = () => synthOnce(eksHybridHub);
const outputs = (x: Synthesized) =>
  Object.fromEntries(
    Object.entries(x.json.Outputs ?? {}).map(([k, v]) => [
      k.replace(/^Recovery/, '').replace(/[0-9A-F]{8}$/, ''),
      v.Value,
    ]),
  );

describe("auditors read the trail's log files", () => {
  it("may Decrypt under the operations key only with CloudTrail's encryption context of this account's trails", () => {
    const st = statement(keyPolicy(s(), 'RecoveryOps'), 'AuditorsDecryptTrailLogFiles');
    expect(st.Principal).toEqual({ AWS: AUDITOR });
    expect(st.Action).toBe('kms:Decrypt');
    expect(st.Condition).toEqual({
      StringLike: {
        'kms:EncryptionContext:aws:cloudtrail:arn': {
          'Fn::Join': [
            '',
            ['arn:', { Ref: 'AWS::Partition' }, ':cloudtrail:*:', { Ref: 'AWS::AccountId' }, ':trail/*'],
          ],
        },
      },
    });
  });
  it('may read the trail bucket (the bucket policy names them), and the output names the bucket', () => {
    const [, policy] = resourcesOfType(s(), 'AWS::S3::BucketPolicy').find(([id]) =>
      id.startsWith('RecoveryAuditBucket'),
    )!;
    const reads = policy.Properties.PolicyDocument.Statement.filter((st: any) =>
      JSON.stringify(st.Principal ?? '').includes(AUDITOR),
    );
    expect(reads.flatMap((st: any) => [st.Action].flat())).toEqual(
      expect.arrayContaining(['s3:GetObject*', 's3:List*']),
    );
    expect(outputs(s()).TrailBucketName).toEqual({ Ref: logicalIdOf(s(), 'AWS::S3::Bucket', 'RecoveryAuditBucket') });
  });
  it('without auditors no human principal may Decrypt under the operations key', () => {
    expect(keyPolicy(hub(), 'RecoveryOps').some((st: any) => st.Sid === 'AuditorsDecryptTrailLogFiles')).toBe(false);
  });
  it('is refused with an existing trail, whose key and bucket this stack does not own', () => {
    const stack = new Stack(new App(), 'S', { env: { account: ACCOUNT, region: REGION } });
    expect(
      () =>
        new ContrastRecovery(stack, 'R', {
          ...eksHybridHub(stack),
          auditTrail: { existingTrailArn: `arn:aws:cloudtrail:us-east-1:${ACCOUNT}:trail/org` },
          auditors: [new iam.ArnPrincipal(AUDITOR)],
        }),
    ).toThrow(/auditors read the trail this stack creates/);
  });
});

describe("own VPC with EKS: the cluster security group admits the function's VPC", () => {
  it("adds 443 from the own VPC's CIDR to the named cluster security group", () => {
    const rules = resourcesOfType(s(), 'AWS::EC2::SecurityGroupIngress').filter(
      ([, r]) => r.Properties.GroupId === 'sg-0cluster',
    );
    expect(rules).toHaveLength(1);
    expect(rules[0]![1].Properties).toMatchObject({
      IpProtocol: 'tcp',
      FromPort: 443,
      ToPort: 443,
      CidrIp: { 'Fn::GetAtt': [logicalIdOf(s(), 'AWS::EC2::VPC', 'RecoveryVpc'), 'CidrBlock'] },
    });
  });
  it('without the group names no rule, and prints the command to run as an output', () => {
    const without = (stack: Stack): ContrastRecoveryProps => {
      const p = eksOwnVpc(stack);
      const { clusterSecurityGroupId: _, ...cluster } = p.cluster as Extract<
        ContrastRecoveryProps['cluster'],
        { kind: 'eks-hybrid-nodes' }
      >;
      return { ...p, cluster };
    };
    const x = synthOnce(without);
    expect(
      resourcesOfType(x, 'AWS::EC2::SecurityGroupIngress').filter(([, r]) => r.Properties.GroupId === 'sg-0cluster'),
    ).toEqual([]);
    expect(JSON.stringify(outputs(x).ClusterSecurityGroupIngressCommand)).toContain(
      'aws ec2 authorize-security-group-ingress --group-id <cluster security group> --protocol tcp --port 443 --cidr ',
    );
  });
  it("in the hub VPC the rule names the function's security group instead (no CIDR)", () => {
    const rules = resourcesOfType(hub(), 'AWS::EC2::SecurityGroupIngress').filter(
      ([, r]) => r.Properties.GroupId === 'sg-0cluster',
    );
    expect(
      rules.map(([, r]) => [r.Properties.FromPort, r.Properties.CidrIp, Boolean(r.Properties.SourceSecurityGroupId)]),
    ).toEqual([[443, undefined, true]]);
  });
  it('has zero unacknowledged cdk-nag findings', () => {
    expect(nagFindings(s().app)).toEqual([]);
  });
});

describe('side-door notifications retry into a dead-letter queue', () => {
  it('every rule targeting the alarm topic has a retry policy and a DLQ, whose depth alarms', () => {
    const topic = logicalIdOf(hub(), 'AWS::SNS::Topic', 'RecoveryAlarmTopic');
    const dlq = logicalIdOf(hub(), 'AWS::SQS::Queue', 'RecoverySideDoorAlarmsNotificationDeadLetterQueue');
    const targets = resourcesOfType(hub(), 'AWS::Events::Rule')
      .flatMap(([, r]) => (r.Properties.Targets ?? []) as any[])
      .filter((t) => JSON.stringify(t.Arn).includes(topic));
    expect(targets.length).toBeGreaterThanOrEqual(7);
    for (const t of targets) {
      expect(t.DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } });
      expect(t.RetryPolicy).toEqual({ MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 7200 });
    }
    const alarms = resourcesOfType(hub(), 'AWS::CloudWatch::Alarm').filter(([, a]) =>
      JSON.stringify(a.Properties.Dimensions ?? []).includes(dlq),
    );
    expect(alarms).toHaveLength(1);
  });
});

describe('outputs the CLI renders from', () => {
  it('names the function, the deployments with their namespaces, the cluster and pod deletion', () => {
    const o = outputs(hub());
    expect(o.FunctionArn).toEqual({
      'Fn::GetAtt': [logicalIdOf(hub(), 'AWS::Lambda::Function', 'RecoveryHandler'), 'Arn'],
    });
    expect(JSON.parse(o.Deployments)).toEqual([{ name: 'prod', coordinatorNamespace: 'contrast-prod' }]);
    expect([o.ClusterKind, o.ClusterName, o.AllowPodDeletion]).toEqual(['eks-hybrid-nodes', 'prod', 'false']);
  });
});
