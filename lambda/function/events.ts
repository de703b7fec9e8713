/**
 * Trigger schemas: every event the function accepts is validated here and turned into one
 * `Trigger`. Anything else is `event-invalid` (no retry). Shapes follow the AWS documented
 * samples: EventBridge envelope (Powertools parser's EventBridgeSchema), CloudWatch
 * "Alarm State Change" (via EventBridge, and the payload of a Lambda alarm action),
 * "Scheduled Event", and the direct invocation of `recover --via-function`.
 */
import * as z from 'zod';
import { EVENTS, TRIGGER_DETAIL, type TriggerDetailType } from '../shared/contract.ts';
import { InputError } from '../shared/errors.ts';
import { findDeployment, type HandlerConfig } from './config.ts';

export const DIRECT_ACTIONS = ['recover', 'status', 'dry-run'] as const;
export type DirectAction = (typeof DIRECT_ACTIONS)[number];

/** The request is malformed or names something not configured. Never retried. */
export class EventInvalidError extends InputError {
  constructor(message: string) {
    super(message, 'event-invalid');
  }
}

/** Who asked, from the invocation context (never from the payload). */
export interface Caller {
  kind: 'eventbridge' | 'cloudwatch-alarm-action' | 'direct-invoke';
  /** Lambda request id: CloudTrail's Invoke data event (when enabled) names the principal. */
  requestId: string;
  /** Cognito identity, when the invoker used one (the only identity Lambda passes in the context). */
  cognitoIdentityId?: string;
  /** ClientContext.custom.caller, self-declared by the client (e.g. the CLI); not authenticated. */
  declaredCaller?: string;
}

interface TriggerBase {
  /** Correlation id: the EventBridge event id, or the Lambda request id for direct calls. */
  id: string;
  /** When the trigger happened (ISO 8601). */
  time: string;
  caller: Caller;
}

export type Trigger =
  | (TriggerBase & {
      kind: 'event';
      detailType: TriggerDetailType;
      deployment: string;
      pod?: string;
      podUid?: string;
      cluster?: string;
    })
  | (TriggerBase & { kind: 'alarm'; alarmName: string; deployment: string })
  | (TriggerBase & {
      kind: 'schedule';
      rule?: string;
      deployments: string[];
      /** A tick of the decrypt drill's own rule (DECRYPT_DRILL_RULE): the only ticks that drill. */
      drill: boolean;
    })
  | (TriggerBase & { kind: 'direct'; action: DirectAction; deployment: string; force: boolean; reason: string });

/** The deployments a trigger reconciles, in order. */
export function deploymentsOf(t: Trigger): string[] {
  return t.kind === 'schedule' ? t.deployments : [t.deployment];
}

/**
 * The EventBridge envelope, field for field as Powertools parser's `EventBridgeSchema` (and
 * the AWS event structure reference). Declared here rather than imported: the parser's
 * schemas import zod as `{ z }`, which makes esbuild bundle all of zod, locales included
 * (~360 KB more to compile at every cold start).
 */
export const EventBridgeSchema = z.object({
  version: z.string(),
  id: z.string(),
  source: z.string(),
  account: z.string(),
  time: z.iso.datetime(),
  region: z.string(),
  resources: z.array(z.string()),
  'detail-type': z.string(),
  detail: z.unknown(),
  'replay-name': z.string().optional(),
});

const k8sName = z.string().min(1).max(253);

/**
 * detail of the exporter's events, field names as the exporter sends them (TRIGGER_DETAIL).
 * `force` is refused: Force comes only from a direct invocation.
 */
export const CoordinatorEventDetailSchema = z
  .object({
    [TRIGGER_DETAIL.deployment]: z.string().min(1),
    [TRIGGER_DETAIL.pod]: k8sName.optional(),
    [TRIGGER_DETAIL.podUid]: z.string().min(1).max(64).optional(),
    [TRIGGER_DETAIL.cluster]: z.string().min(1).max(256).optional(),
  })
  .loose()
  .superRefine((d, ctx) => {
    if ('force' in d) ctx.addIssue({ code: 'custom', path: ['force'], message: 'force is accepted only from a direct invocation, never from an event' });
  });

export const CoordinatorEventSchema = EventBridgeSchema.extend({
  'detail-type': z.enum(EVENTS.triggerDetailTypes),
  detail: CoordinatorEventDetailSchema,
});

const AlarmStateSchema = z.object({ value: z.string(), reason: z.string().optional(), timestamp: z.string().optional() }).loose();

export const AlarmDetailSchema = z
  .object({ alarmName: z.string().min(1), state: AlarmStateSchema, previousState: AlarmStateSchema.optional() })
  .loose();

/** CloudWatch alarm state change delivered by EventBridge (source aws.cloudwatch). */
export const AlarmStateChangeSchema = EventBridgeSchema.extend({
  source: z.literal('aws.cloudwatch'),
  'detail-type': z.literal(EVENTS.alarmDetailType),
  detail: AlarmDetailSchema,
});

/** CloudWatch alarm invoking the function directly as its alarm action (no EventBridge envelope). */
export const AlarmActionSchema = z
  .object({
    source: z.literal('aws.cloudwatch'),
    alarmArn: z.string().min(1),
    accountId: z.string().optional(),
    time: z.string(),
    region: z.string().optional(),
    alarmData: AlarmDetailSchema,
  })
  .loose();

/** EventBridge scheduled rule (aws.events) or EventBridge Scheduler (aws.scheduler). */
export const ScheduledEventSchema = EventBridgeSchema.extend({
  source: z.enum(['aws.events', 'aws.scheduler']),
  'detail-type': z.literal(EVENTS.scheduleDetailType),
});

export const DirectInvocationSchema = z
  .object({
    action: z.enum(DIRECT_ACTIONS),
    deployment: z.string().min(1),
    force: z.boolean().default(false),
    reason: z.string().trim().min(1, 'say why (it goes into the audit record)').max(1000),
  })
  .strict()
  .superRefine((d, ctx) => {
    if (d.force && d.action !== 'recover') ctx.addIssue({ code: 'custom', path: ['force'], message: 'force applies only to action "recover"' });
  });

/** The parts of the Lambda context the trigger needs (a subset of aws-lambda's Context). */
export interface InvocationContext {
  awsRequestId: string;
  identity?: { cognitoIdentityId?: string } | undefined;
  clientContext?: { custom?: unknown } | undefined;
}

function issues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ');
}

function describe(event: unknown): string {
  if (event === null || typeof event !== 'object') return `a ${event === null ? 'null' : typeof event}`;
  const e = event as Record<string, unknown>;
  if (typeof e.source === 'string' || typeof e['detail-type'] === 'string') {
    return `an event with source ${JSON.stringify(e.source)} and detail-type ${JSON.stringify(e['detail-type'])}`;
  }
  return `an object with keys ${Object.keys(e).slice(0, 8).join(', ') || '(none)'}`;
}

function requireDeployment(config: HandlerConfig, name: string, where: string): string {
  if (!findDeployment(config, name)) {
    throw new EventInvalidError(
      `${where} names deployment ${JSON.stringify(name)}, which is not configured (configured: ${config.deployments.map((d) => d.name).join(', ')}); add it to CONTRAST_DEPLOYMENTS or fix the sender`,
    );
  }
  return name;
}

function deploymentForAlarm(config: HandlerConfig, alarmName: string): string {
  const d = config.deployments.find((x) => x.alarmNames.includes(alarmName));
  if (!d) throw new EventInvalidError(`alarm ${JSON.stringify(alarmName)} is not mapped to a deployment; add it to alarmNames in CONTRAST_DEPLOYMENTS`);
  return d.name;
}

function requireAlarmState(detail: z.output<typeof AlarmDetailSchema>): void {
  if (detail.state.value !== 'ALARM') {
    throw new EventInvalidError(`alarm ${detail.alarmName} changed to ${detail.state.value}; only a change into ALARM triggers a reconcile (filter the rule on state.value = ALARM)`);
  }
}

function callerOf(kind: Caller['kind'], ctx: InvocationContext): Caller {
  const caller: Caller = { kind, requestId: ctx.awsRequestId };
  if (ctx.identity?.cognitoIdentityId) caller.cognitoIdentityId = ctx.identity.cognitoIdentityId;
  const custom = ctx.clientContext?.custom;
  if (custom && typeof custom === 'object' && typeof (custom as Record<string, unknown>).caller === 'string') {
    caller.declaredCaller = String((custom as Record<string, unknown>).caller).slice(0, 256);
  }
  return caller;
}

/** Validates any incoming event; throws EventInvalidError with what was wrong and what is accepted. */
export function parseTrigger(event: unknown, config: HandlerConfig, ctx: InvocationContext): Trigger {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) {
    throw new EventInvalidError(`expected an EventBridge event or a direct invocation object, got ${describe(event)}`);
  }
  const e = event as Record<string, unknown>;

  if (typeof e.action === 'string' || ('deployment' in e && !('detail-type' in e))) {
    const r = DirectInvocationSchema.safeParse(event);
    if (!r.success) throw new EventInvalidError(`direct invocation: ${issues(r.error)}; expected {action: "recover"|"status"|"dry-run", deployment, force?, reason}`);
    return {
      kind: 'direct',
      id: ctx.awsRequestId,
      time: new Date().toISOString(),
      caller: callerOf('direct-invoke', ctx),
      action: r.data.action,
      deployment: requireDeployment(config, r.data.deployment, 'direct invocation'),
      force: r.data.force,
      reason: r.data.reason,
    };
  }

  if ('alarmData' in e) {
    const r = AlarmActionSchema.safeParse(event);
    if (!r.success) throw new EventInvalidError(`CloudWatch alarm action: ${issues(r.error)}`);
    requireAlarmState(r.data.alarmData);
    return {
      kind: 'alarm',
      id: ctx.awsRequestId,
      time: r.data.time,
      caller: callerOf('cloudwatch-alarm-action', ctx),
      alarmName: r.data.alarmData.alarmName,
      deployment: deploymentForAlarm(config, r.data.alarmData.alarmName),
    };
  }

  const detailType = e['detail-type'];
  if (e.source === config.eventSource) {
    const r = CoordinatorEventSchema.safeParse(event);
    if (!r.success) throw new EventInvalidError(`${String(detailType)} event: ${issues(r.error)}`);
    const d = r.data.detail;
    const trigger: Trigger = {
      kind: 'event',
      id: r.data.id,
      time: r.data.time,
      caller: callerOf('eventbridge', ctx),
      detailType: r.data['detail-type'],
      deployment: requireDeployment(config, d[TRIGGER_DETAIL.deployment], `${r.data['detail-type']} event ${r.data.id}`),
    };
    const pod = d[TRIGGER_DETAIL.pod];
    const podUid = d[TRIGGER_DETAIL.podUid];
    const cluster = d[TRIGGER_DETAIL.cluster];
    if (pod) trigger.pod = pod;
    if (podUid) trigger.podUid = podUid;
    if (cluster) trigger.cluster = cluster;
    return trigger;
  }
  if (detailType === EVENTS.alarmDetailType) {
    const r = AlarmStateChangeSchema.safeParse(event);
    if (!r.success) throw new EventInvalidError(`alarm state change event: ${issues(r.error)}`);
    requireAlarmState(r.data.detail);
    return {
      kind: 'alarm',
      id: r.data.id,
      time: r.data.time,
      caller: callerOf('eventbridge', ctx),
      alarmName: r.data.detail.alarmName,
      deployment: deploymentForAlarm(config, r.data.detail.alarmName),
    };
  }
  if (detailType === EVENTS.scheduleDetailType) {
    const r = ScheduledEventSchema.safeParse(event);
    if (!r.success) throw new EventInvalidError(`scheduled event: ${issues(r.error)}`);
    const trigger: Trigger = {
      kind: 'schedule',
      id: r.data.id,
      time: r.data.time,
      caller: callerOf('eventbridge', ctx),
      deployments: config.deployments.map((d) => d.name),
      drill: false,
    };
    const rule = r.data.resources[0];
    if (rule) trigger.rule = rule;
    // The scheduled event names its rule by ARN (…:rule/NAME, or …:rule/BUS/NAME on a custom bus).
    if (config.decryptDrill && config.decryptDrillRule && rule?.endsWith(`/${config.decryptDrillRule}`)) trigger.drill = true;
    return trigger;
  }
  throw new EventInvalidError(
    `unsupported trigger: ${describe(event)}; accepted: source ${config.eventSource} (${EVENTS.triggerDetailTypes.join(', ')}), CloudWatch Alarm State Change, Scheduled Event, or a direct invocation {action, deployment, reason}`,
  );
}
