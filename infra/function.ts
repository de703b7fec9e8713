/**
 * The recovery function itself: code, log group, queues for lost triggers and failed
 * invocations, reserved concurrency, and the two permissions that have no resource scope
 * (Lambda's VPC attachment, X-Ray) in a policy of their own, so the cdk-nag IAM5
 * acknowledgement covers exactly those statements and nothing added later.
 */
import type { CfnResource } from 'aws-cdk-lib';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FUNCTION_TIMEOUT_SECONDS } from '../lambda/shared/budgets.ts';
import { functionCode, HANDLER } from './function-code.ts';

/** Lambda's timeout: probe + decrypt + Recover + GetManifests take seconds; restarts with retries take the rest. */
export const FUNCTION_TIMEOUT = Duration.seconds(FUNCTION_TIMEOUT_SECONDS);

export interface RecoveryFunctionProps {
  readonly role: iam.Role;
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly securityGroup: ec2.ISecurityGroup;
  readonly environment: Record<string, string>;
  readonly reservedConcurrency: number;
  readonly logKey: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  readonly entry?: string;
}

export class RecoveryFunction extends Construct {
  readonly function: lambda.Function;
  readonly logGroup: logs.LogGroup;
  /** EventBridge targets' dead-letter queue (a trigger lost after retries). */
  readonly triggerDeadLetterQueue: sqs.Queue;
  /** The function's asynchronous on-failure destination. */
  readonly failureQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: RecoveryFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
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
        reason:
          'This queue is itself a dead-letter queue (EventBridge target DLQ / Lambda on-failure destination); its depth is alarmed.',
      });
    }

    props.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'WriteOwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );
    const unscoped = new iam.Policy(this, 'UnscopedServiceActions', {
      roles: [props.role],
      statements: [
        // Lambda's VPC attachment; EC2 does not support resource-level permissions for these.
        new iam.PolicyStatement({
          sid: 'VpcNetworkInterfaces',
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DescribeSubnets',
            'ec2:DeleteNetworkInterface',
            'ec2:AssignPrivateIpAddresses',
            'ec2:UnassignPrivateIpAddresses',
          ],
          resources: ['*'],
        }),
        new iam.PolicyStatement({
          sid: 'XRayTraces',
          actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
          resources: ['*'],
        }),
      ],
    });
    Validations.of(unscoped).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        "Exactly two statements: the ENI actions of Lambda's VPC attachment and X-Ray PutTraceSegments/PutTelemetryRecords; neither service supports resource-level permissions for them.",
    });

    this.function = new lambda.Function(this, 'Function', {
      code: functionCode(props.entry),
      handler: HANDLER,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      // 1024 MB: CPU scales with memory; RSA-4096 OAEP, two aTLS handshakes with SNP/TDX chain
      // verification and grpc-js take well under a second at 1 GB. Memory use stays below 200 MB.
      memorySize: 1024,
      timeout: FUNCTION_TIMEOUT,
      role: props.role,
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      securityGroups: [props.securityGroup],
      allowPublicSubnet: false,
      logGroup: this.logGroup,
      retryAttempts: 2,
      maxEventAge: Duration.hours(1),
      onFailure: new destinations.SqsDestination(this.failureQueue),
      // Bounds what a flood of triggers can run at once, and keeps capacity for recoveries.
      reservedConcurrentExecutions: props.reservedConcurrency,
      environment: props.environment,
    });
    const cfn = this.function.node.defaultChild as lambda.CfnFunction;
    // Traced without CDK's automatic X-Ray grant (it would add "*" to the role's main policy).
    cfn.tracingConfig = { mode: 'Active' };
    // The role's policies must exist before Lambda validates the VPC permissions.
    (cfn as CfnResource).node.addDependency(props.role, unscoped);
    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Pinned to nodejs22.x (LTS), the line closest to the Node 20 the test suite and CLI run on; moving to nodejs24.x is a deliberate upgrade once CI runs Node 24.',
    });
  }
}
