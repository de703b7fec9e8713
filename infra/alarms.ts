/**
 * CloudWatch alarms of the recovery service, all notifying one encrypted SNS topic.
 *
 * Metrics come from the function through Powertools EMF; names, namespace and dimensions from
 * lambda/shared/contract.ts.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRIC } from '../lambda/shared/contract.ts';
import { recoveryMetric } from './dashboard.ts';

export interface RecoveryAlarmsProps {
  readonly topic: sns.ITopic;
  readonly fn: lambda.IFunction;
  readonly deploymentNames: string[];
  /** Queues whose depth > 0 means a trigger or an invocation was lost. */
  readonly deadLetterQueues: Record<string, sqs.IQueue>;
  /** Alarm when a deployment has been stale for longer than this. */
  readonly staleAlarmMinutes: number;
  /** Also alarm on failed decrypt drills. */
  readonly decryptDrill: boolean;
}

export class RecoveryAlarms extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: RecoveryAlarmsProps) {
    super(scope, id);
    const action = new actions.SnsAction(props.topic);
    const add = (
      alarmId: string,
      metric: cloudwatch.IMetric,
      threshold: number,
      description: string,
      op = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    ) => {
      const alarm = new cloudwatch.Alarm(this, alarmId, {
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: op,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      alarm.addAlarmAction(action);
      this.alarms.push(alarm);
      return alarm;
    };

    add(
      'FunctionErrors',
      props.fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      1,
      'The recovery function failed (threw). Transient outcomes are retried; check its logs and the on-failure queue.',
    );

    for (const [name, queue] of Object.entries(props.deadLetterQueues)) {
      add(
        `${name}Depth`,
        queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
        1,
        `Messages in ${name}: a trigger or invocation of the recovery function was dropped after retries. Inspect and replay.`,
      );
    }

    const metric = (deployment: string, metricName: string, statistic: string) =>
      recoveryMetric(deployment, metricName, statistic);

    for (const [i, d] of props.deploymentNames.entries()) {
      const p = `Deployment${i}`;
      add(`${p}Failures`, metric(d, METRIC.failures, 'Sum'), 1, `${d}: a reconcile failed.`);
      add(
        `${p}AttestationFailed`,
        metric(d, METRIC.outcome('attestation-failed'), 'Sum'),
        1,
        `${d}: the Coordinator's attestation did not verify; the seed was NOT sent. Investigate before forcing anything.`,
      );
      add(
        `${p}Paused`,
        metric(d, METRIC.outcome('paused'), 'Sum'),
        1,
        `${d}: recovery is paused (operator switch or crash-loop guard). Clear the pause item in the lock table when safe.`,
      );
      add(
        `${p}PeersStuck`,
        metric(d, METRIC.outcome('peers-stuck'), 'Sum'),
        1,
        `${d}: Ready peer Coordinators were counted for minutes while the Coordinator stayed stale: stuck, or forged pods. Check the pods named in the result event before recovering by hand.`,
      );
      add(
        `${p}Drift`,
        metric(d, METRIC.drift, 'Maximum'),
        1,
        `${d}: the Coordinator's manifest differs from the enrolled bundle; re-enroll after contrast set.`,
      );
      add(
        `${p}Stale`,
        metric(d, METRIC.staleMinutes, 'Maximum'),
        props.staleAlarmMinutes,
        `${d}: the Coordinator has been in recovery mode for more than ${props.staleAlarmMinutes} minutes.`,
        cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      );
      add(
        `${p}StaleWorkloads`,
        metric(d, METRIC.staleWorkloads, 'Maximum'),
        0,
        `${d}: workloads hold certificates of a lost mesh CA (a rotation this service did not cause, or restarts that could not finish); they cannot talk to the rest of the mesh until restarted — see the result event.`,
        cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      );
      add(
        `${p}TwoMeshCaKeys`,
        metric(d, METRIC.meshCaKeysSeen, 'Maximum'),
        2,
        `${d}: Coordinator replicas serve two mesh CA keys at once (a forced Recover beside Ready peers?); no workload is restarted until one key remains — restart the replicas on the key you drop, then their workloads.`,
      );
      if (props.decryptDrill) {
        add(`${p}DecryptDrill`, metric(d, METRIC.drillFailed, 'Sum'), 1, `${d}: the scheduled decrypt drill failed.`);
      }
    }
  }
}
