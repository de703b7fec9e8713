/**
 * The scheduled audit (off by default, like the decrypt drill): the reconciliation of
 * `contrast-autorecover audit` (lambda/audit/) run by a function of its own, with a bundle of
 * its own, every `intervalMinutes` over the last two intervals ending 30 minutes before now
 * (windows overlap the previous run's). A use nothing accounts for raises an alarm and puts a
 * result event `Owner Key Use Unaccounted` carrying the CloudTrail event ID; a source it could
 * not read raises another alarm.
 *
 * Its role holds exactly what the run needs (docs/security.md): FilterLogEvents on the
 * recovery function's log group, cloudtrail:LookupEvents (no resource-level permissions exist
 * for it), PutEvents on the stack's bus, writes to its own log group (metrics go as EMF lines
 * there). It reads event history only, not the trail's S3 files, so it has no bucket or
 * trail-key grant; it decrypts nothing and reads no secret.
 */
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { AUDIT_ENV, ENV, METRIC, METRICS_NAMESPACE, SERVICE_NAME } from '../lambda/shared/contract.ts';
import { auditFunctionCode, HANDLER } from './function-code.ts';

export interface AuditScheduleProps {
  /** Minutes between runs (each reads the last two intervals). */
  readonly intervalMinutes: number;
  /** The recovery function's log group: its audit records. */
  readonly recordsLogGroup: logs.ILogGroup;
  readonly functionRoleArn: string;
  readonly recoveryKeyArn: string;
  readonly bundleKeyArn: string;
  readonly breakGlassRoleArn?: string;
  readonly deployments: { name: string; secretArn: string }[];
  readonly eventBus: events.IEventBus;
  readonly resultSource: string;
  readonly topic: sns.ITopic;
  readonly logKey: kms.IKey;
  readonly logRetention: logs.RetentionDays;
}

export class AuditSchedule extends Construct {
  readonly function: lambda.Function;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: AuditScheduleProps) {
    super(scope, id);
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'contrast-autorecover scheduled audit: reads audit records and CloudTrail event history',
    });
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'WriteOwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadAuditRecords',
        actions: ['logs:FilterLogEvents'],
        resources: [props.recordsLogGroup.logGroupArn],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'PutResultEvents',
        actions: ['events:PutEvents'],
        resources: [props.eventBus.eventBusArn],
      }),
    );
    const lookup = new iam.Policy(this, 'LookupEvents', {
      roles: [role],
      statements: [
        // CloudTrail's LookupEvents has no resource-level permissions (Service Authorization Reference).
        new iam.PolicyStatement({ sid: 'LookupEvents', actions: ['cloudtrail:LookupEvents'], resources: ['*'] }),
      ],
    });
    Validations.of(lookup).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'One action, cloudtrail:LookupEvents, which supports no resource-level permissions.',
    });

    this.function = new lambda.Function(this, 'Function', {
      code: auditFunctionCode(),
      handler: HANDLER,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 512,
      // Four sources of at most 3 minutes each (lambda/audit/handler.ts).
      timeout: Duration.minutes(14),
      role,
      logGroup,
      retryAttempts: 0,
      // One run at a time: LookupEvents allows two requests a second per account and Region.
      reservedConcurrentExecutions: 1,
      environment: {
        [AUDIT_ENV.targets]: Stack.of(this).toJsonString({
          functionRoleArn: props.functionRoleArn,
          recoveryKeyArn: props.recoveryKeyArn,
          bundleKeyArn: props.bundleKeyArn,
          ...(props.breakGlassRoleArn ? { breakGlassRoleArn: props.breakGlassRoleArn } : {}),
          deployments: props.deployments,
        }),
        [AUDIT_ENV.logGroup]: props.recordsLogGroup.logGroupName,
        [AUDIT_ENV.intervalMinutes]: String(props.intervalMinutes),
        [ENV.eventBus]: props.eventBus.eventBusName,
        [ENV.resultEventSource]: props.resultSource,
      },
    });
    (this.function.node.defaultChild as lambda.CfnFunction).node.addDependency(role, lookup);
    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'Pinned to nodejs22.x like the recovery function (infra/function.ts).',
    });

    new events.Rule(this, 'Schedule', {
      description: 'contrast-autorecover scheduled audit: every use of the owner keys accounted for',
      schedule: events.Schedule.rate(Duration.minutes(props.intervalMinutes)),
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 0 })],
    });

    const action = new actions.SnsAction(props.topic);
    const metric = (name: string) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: name,
        dimensionsMap: { service: SERVICE_NAME },
        statistic: 'Sum',
        period: Duration.minutes(props.intervalMinutes),
      });
    const alarm = (alarmId: string, m: cloudwatch.IMetric, description: string) => {
      const a = new cloudwatch.Alarm(this, alarmId, {
        metric: m,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      a.addAlarmAction(action);
      this.alarms.push(a);
    };
    alarm(
      'UnaccountedUse',
      metric(METRIC.auditUnaccounted),
      'The scheduled audit found a use of the owner key or a bundle that nothing accounts for: see the result event "Owner Key Use Unaccounted" (its CloudTrail event ID) or run contrast-autorecover audit',
    );
    alarm(
      'SourceUnreadable',
      metric(METRIC.auditSourceUnreadable),
      'The scheduled audit could not read its audit records or CloudTrail event history: nothing is accounted for in that window',
    );
    alarm(
      'Errors',
      this.function.metricErrors({ period: Duration.minutes(props.intervalMinutes), statistic: 'Sum' }),
      'The scheduled audit function failed: nothing is accounted for in that window',
    );
  }
}
