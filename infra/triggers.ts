/**
 * What invokes the function: the exporter's event (the fast path), alarms going into ALARM,
 * the backstop schedule (bounds detection: a container restarting inside its pod raises no
 * event the exporter forwards), and, when enabled, the daily decrypt drill on its own rule.
 * Every target retries and ends in the dead-letter queue.
 *
 * The backstop fans out on EventBridge itself: the deployments are cut into waves of
 * SCHEDULE_WAVE_SIZE (lambda/shared/budgets.ts says why that size), and every tick invokes the
 * function once per wave, each target's input the scheduled event with the wave's deployments
 * in its detail (lambda/function/events.ts). A rule takes at most five targets (EventBridge
 * quotas, "Targets per rule"), so every five waves share one rule.
 */
import { Duration, Names } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { SCHEDULE_WAVE_SIZE } from '../lambda/shared/budgets.ts';
import { DEFAULTS, EVENTS, TRIGGER_DETAIL } from '../lambda/shared/contract.ts';

/** EventBridge: at most five targets per rule. */
const TARGETS_PER_RULE = 5;

/** The deployments in waves of SCHEDULE_WAVE_SIZE, in configuration order. */
export function scheduleWaves(deploymentNames: readonly string[]): string[][] {
  const waves: string[][] = [];
  for (let i = 0; i < deploymentNames.length; i += SCHEDULE_WAVE_SIZE)
    waves.push(deploymentNames.slice(i, i + SCHEDULE_WAVE_SIZE));
  return waves;
}

/** The scheduled event as EventBridge delivers it, its detail naming one wave's deployments. */
function waveInput(wave: number, waves: number, deployments: string[]): events.RuleTargetInput {
  return events.RuleTargetInput.fromObject({
    version: events.EventField.fromPath('$.version'),
    id: events.EventField.eventId,
    'detail-type': events.EventField.detailType,
    source: events.EventField.source,
    account: events.EventField.account,
    time: events.EventField.time,
    region: events.EventField.region,
    resources: events.EventField.fromPath('$.resources'),
    detail: { wave, waves, deployments },
  });
}

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
  /** The backstop's rules: one per five waves. */
  readonly scheduleRules: events.Rule[] = [];
  readonly alarmRule?: events.Rule;
  readonly drillRule?: events.Rule;

  constructor(scope: Construct, id: string, props: TriggersProps) {
    super(scope, id);
    const target = (event?: events.RuleTargetInput) =>
      new targets.LambdaFunction(props.fn, {
        deadLetterQueue: props.deadLetterQueue,
        retryAttempts: 8,
        maxEventAge: Duration.hours(2),
        ...(event ? { event } : {}),
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
    const waves = scheduleWaves(props.deploymentNames);
    for (let first = 0; first < waves.length; first += TARGETS_PER_RULE) {
      const last = Math.min(first + TARGETS_PER_RULE, waves.length) - 1;
      // The first rule keeps the id it had before waves, so an existing stack keeps its rule.
      const id = first === 0 ? 'ScheduleRule' : `ScheduleRuleWaves${first}`;
      this.scheduleRules.push(
        new events.Rule(this, id, {
          description: `Backstop: reconcile every deployment every ${props.scheduleMinutes} minute(s), waves ${first}-${last} of ${waves.length}; a healthy no-op decrypts no owner key`,
          schedule: events.Schedule.rate(Duration.minutes(props.scheduleMinutes)),
          targets: waves.slice(first, last + 1).map((w, j) => target(waveInput(first + j, waves.length, w))),
        }),
      );
    }
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
