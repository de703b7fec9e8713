/**
 * What invokes the function: the exporter's event (the fast path), alarms going into ALARM,
 * the backstop schedule (bounds detection: a container restarting inside its pod raises no
 * event the exporter forwards), and, when enabled, the daily decrypt drill on its own rule.
 * Every target retries and ends in the dead-letter queue.
 */
import { Duration, Names } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEFAULTS, EVENTS, TRIGGER_DETAIL } from '../lambda/shared/contract.ts';

/** Name of the drill rule, fixed before the function exists (its environment names it). */
export function drillRuleName(scope: Construct): string {
  return `${Names.uniqueResourceName(scope, { maxLength: 50, separator: '-' })}-drill`;
}

export interface TriggersProps {
  readonly fn: lambda.IFunction;
  readonly eventBus: events.IEventBus;
  readonly eventSource: string;
  readonly deploymentNames: string[];
  readonly alarmArns: string[];
  readonly scheduleMinutes: number;
  /** Set when the decrypt drill is enabled. */
  readonly drillRuleName?: string;
  readonly deadLetterQueue: sqs.IQueue;
}

export class Triggers extends Construct {
  readonly eventRule: events.Rule;
  readonly scheduleRule: events.Rule;
  readonly alarmRule?: events.Rule;
  readonly drillRule?: events.Rule;

  constructor(scope: Construct, id: string, props: TriggersProps) {
    super(scope, id);
    const target = () =>
      new targets.LambdaFunction(props.fn, {
        deadLetterQueue: props.deadLetterQueue,
        retryAttempts: 8,
        maxEventAge: Duration.hours(2),
      });
    // Exact values: EventBridge patterns match whole strings, so nothing else slips in.
    this.eventRule = new events.Rule(this, 'CoordinatorEventRule', {
      description: 'A Coordinator restarted (exporter) or a recovery was requested',
      eventBus: props.eventBus,
      eventPattern: {
        source: [props.eventSource],
        detailType: [...EVENTS.triggerDetailTypes],
        detail: { [TRIGGER_DETAIL.deployment]: props.deploymentNames },
      },
      targets: [target()],
    });
    if (props.alarmArns.length > 0) {
      // Alarm state changes are delivered to the default bus only.
      this.alarmRule = new events.Rule(this, 'AlarmRule', {
        description: 'A configured CloudWatch alarm went into ALARM',
        eventPattern: {
          source: ['aws.cloudwatch'],
          detailType: [EVENTS.alarmDetailType],
          resources: props.alarmArns,
          detail: { state: { value: ['ALARM'] } },
        },
        targets: [target()],
      });
    }
    this.scheduleRule = new events.Rule(this, 'ScheduleRule', {
      description: `Backstop: reconcile every deployment every ${props.scheduleMinutes} minute(s); a healthy no-op decrypts no owner key`,
      schedule: events.Schedule.rate(Duration.minutes(props.scheduleMinutes)),
      targets: [target()],
    });
    if (props.drillRuleName) {
      this.drillRule = new events.Rule(this, 'DecryptDrillRule', {
        ruleName: props.drillRuleName,
        description: 'Decrypt drill: one owner-key Decrypt per deployment, at most daily, recorded as a drill',
        schedule: events.Schedule.rate(Duration.hours(DEFAULTS.drillIntervalHours)),
        targets: [target()],
      });
    }
  }
}
