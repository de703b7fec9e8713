/**
 * One CloudWatch dashboard per stack: outcomes over time, reconcile duration, Coordinators in
 * recovery mode and workloads left on a lost mesh CA, the function's health, and every alarm.
 * Metric names and dimensions come from lambda/shared/contract.ts, the function's own source.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { DEPLOYMENT_DIMENSION, METRIC, METRICS_NAMESPACE, SERVICE_NAME } from '../lambda/shared/contract.ts';
import { OUTCOME_NAMES } from '../lambda/shared/outcomes.ts';

export interface RecoveryDashboardProps {
  readonly fn: lambda.IFunction;
  readonly deploymentNames: string[];
  readonly alarms: cloudwatch.IAlarm[];
}

/** A metric the function emits for one deployment (names and dimensions from lambda/shared/contract.ts). */
export function recoveryMetric(
  deployment: string,
  metricName: string,
  statistic: string,
  options: { label?: string } = {},
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: SERVICE_NAME, [DEPLOYMENT_DIMENSION]: deployment },
    period: Duration.minutes(5),
    statistic,
    // A label would turn an alarm's metric into a metric-math query: dashboards only.
    ...(options.label ? { label: options.label } : {}),
  });
}

export class RecoveryDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: RecoveryDashboardProps) {
    super(scope, id);
    const labelled = (d: string, metricName: string, statistic: string) =>
      recoveryMetric(d, metricName, statistic, { label: `${d} ${metricName}` });
    const per = (metricName: string, statistic: string) =>
      props.deploymentNames.map((d) => labelled(d, metricName, statistic));
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.days(7) });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Outcomes over time',
        left: props.deploymentNames.flatMap((d) => OUTCOME_NAMES.map((o) => labelled(d, METRIC.outcome(o), 'Sum'))),
        stacked: true,
        width: 24,
      }),
      new cloudwatch.GraphWidget({
        title: 'Reconcile duration (ms, p50 / p99)',
        left: per(METRIC.reconcileDuration, 'p50'),
        right: per(METRIC.reconcileDuration, 'p99'),
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Stale: Coordinator minutes in recovery mode, workloads on a lost mesh CA',
        left: per(METRIC.staleMinutes, 'Maximum'),
        right: per(METRIC.staleWorkloads, 'Maximum'),
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Function',
        left: [
          props.fn.metricInvocations({ statistic: 'Sum' }),
          props.fn.metricErrors({ statistic: 'Sum' }),
          props.fn.metricThrottles({ statistic: 'Sum' }),
        ],
        right: [props.fn.metricDuration({ statistic: 'p99' })],
        width: 12,
      }),
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: props.alarms, width: 12, height: 8 }),
    );
  }
}
