/**
 * Trigger schemas: every event the function accepts is validated here and turned into one
 * `Trigger`. Anything else is `event-invalid` (no retry). Shapes follow the AWS documented
 * samples: EventBridge envelope (Powertools parser's EventBridgeSchema), CloudWatch
 * "Alarm State Change" (via EventBridge, and the payload of a Lambda alarm action),
 * "Scheduled Event", and the direct invocation of `recover --via-function`.
 */
import * as z from '../shared/zod.ts';
import { SCHEDULE_WAVE_SIZE } from '../shared/budgets.ts';
import { EVENTS, TRIGGER_DETAIL, type TriggerDetailType } from '../shared/contract.ts';
import { InputError } from '../shared/errors.ts';
import { findDeployment, type HandlerConfig } from './config.ts';

// pause/resume: the operator's switch (pause-switch.ts), set through the function so it is audited.
const DIRECT_ACTIONS = ['recover', 'status', 'dry-run', 'pause', 'resume'] as const;
export type DirectAction = (typeof DIRECT_ACTIONS)[number];

/** Longest `event-invalid` message: it goes into logs, the result event and the audit record. */
export const MAX_INVALID_MESSAGE = 1000;

/** The request is malformed or names something not configured. Never retried. */
export class EventInvalidError extends InputError {
  constructor(message: string) {
    super(capText(message, MAX_INVALID_MESSAGE), 'event-invalid');
  }
}

// ---- Hostile input: nothing from an event is walked without a bound or echoed uncapped ----

/** Deeper than any trigger AWS or the exporter sends (an alarm event nests about 7 levels). */
export const MAX_EVENT_DEPTH = 32;
/** Objects, arrays and values in one event; an alarm event has about a hundred. */
const MAX_EVENT_NODES = 10_000;
/** Characters of all strings and keys in one event: EventBridge events are at most 256 KB. */
const MAX_EVENT_CHARS = 256 * 1024;
/** Longest echo of one value from the event in a message. */
const MAX_ECHO = 64;

function capText(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/** A value from the event, as a message may quote it: strings capped, anything else by type. */
function echo(value: unknown): string {
  if (typeof value === 'string')
    return value.length <= MAX_ECHO
      ? JSON.stringify(value)
      : `${JSON.stringify(value.slice(0, MAX_ECHO))}… (${value.length} characters)`;
  if (value === null || typeof value !== 'object') return String(value).slice(0, MAX_ECHO);
  return Array.isArray(value) ? `an array` : 'an object';
}

/**
 * Refuses an event that is deeper, larger or longer than any trigger, before anything walks
 * it. Iterative (explicit stack), so even a pathological event cannot exhaust the call stack.
 */
function checkEventShape(event: unknown): void {
  const stack: [unknown, number][] = [[event, 1]];
  let nodes = 0;
  let chars = 0;
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (++nodes > MAX_EVENT_NODES)
      throw new EventInvalidError(`the event has more than ${MAX_EVENT_NODES} values; no trigger is that large`);
    if (typeof value === 'string') chars += value.length;
    if (chars > MAX_EVENT_CHARS)
      throw new EventInvalidError(`the event holds more than ${MAX_EVENT_CHARS} characters; no trigger is that large`);
    if (value === null || typeof value !== 'object') continue;
    if (depth >= MAX_EVENT_DEPTH)
      throw new EventInvalidError(`the event nests deeper than ${MAX_EVENT_DEPTH} levels; no trigger does`);
    if (Array.isArray(value)) {
      for (const v of value) stack.push([v, depth + 1]);
    } else {
      for (const [k, v] of Object.entries(value)) {
        chars += k.length;
        stack.push([v, depth + 1]);
      }
    }
  }
}

/**
 * Event times accepted as they are: EventBridge retries delivery for at most 24 hours
 * (Amazon EventBridge API Reference, RetryPolicy: MaximumEventAgeInSeconds is at most 86,400),
 * and a sender's clock may run a little
 * ahead. A time outside this window is replaced by the time of receipt, and the trigger says
 * so: it would otherwise date a restart to 1970 for the StaleMinutes metric.
 */
export const EVENT_TIME_WINDOW = { pastMs: 24 * 3_600_000, futureMs: 5 * 60_000 } as const;

function clampTime(time: string, now: number): { time: string; receivedTime?: string } {
  const t = Date.parse(time);
  if (Number.isFinite(t) && t >= now - EVENT_TIME_WINDOW.pastMs && t <= now + EVENT_TIME_WINDOW.futureMs)
    return { time };
  return { time: new Date(now).toISOString(), receivedTime: capText(time, MAX_ECHO) };
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
  /** The event's own time, when it was outside EVENT_TIME_WINDOW and `time` is the time of receipt. */
  receivedTime?: string;
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
      /** The backstop's wave this tick covers (its deployments only); absent: every deployment. */
      wave?: { wave: number; waves: number };
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
const EventBridgeSchema = z.object({
  version: z.string(),
  // Bounded here (not in Powertools): the id becomes the correlation id of every log line.
  id: z.string().check(z.minLength(1), z.maxLength(128)),
  source: z.string(),
  account: z.string(),
  time: z.iso.datetime(),
  region: z.string(),
  resources: z.array(z.string().check(z.maxLength(2048))).check(z.maxLength(64)),
  'detail-type': z.string(),
  detail: z.unknown(),
  'replay-name': z.optional(z.string()),
});

const k8sName = z.string().check(z.minLength(1), z.maxLength(253));

/**
 * detail of the exporter's events, field names as the exporter sends them (TRIGGER_DETAIL).
 * `force` is refused: Force comes only from a direct invocation.
 */
const CoordinatorEventDetailSchema = z
  .looseObject({
    [TRIGGER_DETAIL.deployment]: z.string().check(z.minLength(1)),
    [TRIGGER_DETAIL.pod]: z.optional(k8sName),
    [TRIGGER_DETAIL.podUid]: z.optional(z.string().check(z.minLength(1), z.maxLength(64))),
    [TRIGGER_DETAIL.cluster]: z.optional(z.string().check(z.minLength(1), z.maxLength(256))),
  })
  .check(
    z.superRefine((d, ctx) => {
      if ('force' in d)
        ctx.addIssue({
          code: 'custom',
          path: ['force'],
          message: 'force is accepted only from a direct invocation, never from an event',
        });
    }),
  );

const CoordinatorEventSchema = z.extend(EventBridgeSchema, {
  'detail-type': z.enum(EVENTS.triggerDetailTypes),
  detail: CoordinatorEventDetailSchema,
});

const AlarmStateSchema = z.looseObject({
  value: z.string(),
  reason: z.optional(z.string()),
  timestamp: z.optional(z.string()),
});

// CloudWatch alarm names are at most 255 characters (PutMetricAlarm, AlarmName).
const AlarmDetailSchema = z.looseObject({
  alarmName: z.string().check(z.minLength(1), z.maxLength(255)),
  state: AlarmStateSchema,
  previousState: z.optional(AlarmStateSchema),
});

/** CloudWatch alarm state change delivered by EventBridge (source aws.cloudwatch). */
const AlarmStateChangeSchema = z.extend(EventBridgeSchema, {
  source: z.literal('aws.cloudwatch'),
  'detail-type': z.literal(EVENTS.alarmDetailType),
  detail: AlarmDetailSchema,
});

/** CloudWatch alarm invoking the function directly as its alarm action (no EventBridge envelope). */
const AlarmActionSchema = z.looseObject({
  source: z.literal('aws.cloudwatch'),
  alarmArn: z.string().check(z.minLength(1)),
  accountId: z.optional(z.string()),
  time: z.string(),
  region: z.optional(z.string()),
  alarmData: AlarmDetailSchema,
});

/** EventBridge scheduled rule (aws.events) or EventBridge Scheduler (aws.scheduler). */
const ScheduledEventSchema = z.extend(EventBridgeSchema, {
  source: z.enum(['aws.events', 'aws.scheduler']),
  'detail-type': z.literal(EVENTS.scheduleDetailType),
});

/**
 * A backstop wave (infra/triggers.ts): the schedule rule's target puts the deployments of one
 * wave into the scheduled event's detail, so each invocation reconciles exactly those.
 */
const WaveDetailSchema = z.strictObject({
  wave: z.int().check(z.gte(0)),
  waves: z.int().check(z.gte(1)),
  deployments: z.array(z.string().check(z.minLength(1))).check(z.minLength(1), z.maxLength(SCHEDULE_WAVE_SIZE)),
});

const DirectInvocationSchema = z
  .strictObject({
    action: z.enum(DIRECT_ACTIONS),
    deployment: z.string().check(z.minLength(1)),
    force: z._default(z.boolean(), false),
    reason: z.string().check(z.trim(), z.minLength(1, 'say why (it goes into the audit record)'), z.maxLength(1000)),
  })
  .check(
    z.superRefine((d, ctx) => {
      if (d.force && d.action !== 'recover')
        ctx.addIssue({ code: 'custom', path: ['force'], message: 'force applies only to action "recover"' });
    }),
  );

/** The parts of the Lambda context the trigger needs (a subset of aws-lambda's Context). */
export interface InvocationContext {
  awsRequestId: string;
  identity?: { cognitoIdentityId?: string } | undefined;
  clientContext?: { custom?: unknown } | undefined;
}

/** zod's issues, each path segment and message capped (an unknown key is echoed by name). */
function issues(error: z.core.$ZodError): string {
  return error.issues
    .slice(0, 8)
    .map(
      (i) =>
        `${i.path.length ? `${i.path.map((p) => capText(String(p), MAX_ECHO)).join('.')}: ` : ''}${capText(i.message, 2 * MAX_ECHO)}`,
    )
    .join('; ');
}

function describe(event: unknown): string {
  if (event === null || typeof event !== 'object') return `a ${event === null ? 'null' : typeof event}`;
  const e = event as Record<string, unknown>;
  if (typeof e.source === 'string' || typeof e['detail-type'] === 'string') {
    return `an event with source ${echo(e.source)} and detail-type ${echo(e['detail-type'])}`;
  }
  return `an object with keys ${
    Object.keys(e)
      .slice(0, 8)
      .map((k) => capText(k, MAX_ECHO))
      .join(', ') || '(none)'
  }`;
}

function requireDeployment(config: HandlerConfig, name: string, where: string): string {
  if (!findDeployment(config, name)) {
    throw new EventInvalidError(
      `${where} names deployment ${echo(name)}, which is not configured (configured: ${config.deployments.map((d) => d.name).join(', ')}); add it to the stack's deployments or fix the sender`,
    );
  }
  return name;
}

function deploymentForAlarm(config: HandlerConfig, alarmName: string): string {
  const d = config.deployments.find((x) => x.alarmNames.includes(alarmName));
  if (!d)
    throw new EventInvalidError(
      `alarm ${echo(alarmName)} is not mapped to a deployment; add it to the deployment's alarmArns in the stack`,
    );
  return d.name;
}

function requireAlarmState(detail: z.output<typeof AlarmDetailSchema>): void {
  if (detail.state.value !== 'ALARM') {
    throw new EventInvalidError(
      `alarm ${echo(detail.alarmName)} changed to ${echo(detail.state.value)}; only a change into ALARM triggers a reconcile (filter the rule on state.value = ALARM)`,
    );
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

/**
 * Validates any incoming event; throws EventInvalidError with what was wrong and what is
 * accepted. `now` (epoch ms) dates direct invocations and bounds event times.
 */
export function parseTrigger(
  event: unknown,
  config: HandlerConfig,
  ctx: InvocationContext,
  now: number = Date.now(),
): Trigger {
  const trigger = parseShape(event, config, ctx, now);
  const t = clampTime(trigger.time, now);
  trigger.time = t.time;
  if (t.receivedTime !== undefined) trigger.receivedTime = t.receivedTime;
  return trigger;
}

function parseShape(event: unknown, config: HandlerConfig, ctx: InvocationContext, now: number): Trigger {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) {
    throw new EventInvalidError(`expected an EventBridge event or a direct invocation object, got ${describe(event)}`);
  }
  checkEventShape(event);
  const e = event as Record<string, unknown>;

  if (typeof e.action === 'string' || ('deployment' in e && !('detail-type' in e))) {
    const r = DirectInvocationSchema.safeParse(event);
    if (!r.success)
      throw new EventInvalidError(
        `direct invocation: ${issues(r.error)}; expected {action: "recover"|"status"|"dry-run"|"pause"|"resume", deployment, force?, reason}`,
      );
    return {
      kind: 'direct',
      id: ctx.awsRequestId,
      time: new Date(now).toISOString(),
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
      deployment: requireDeployment(
        config,
        d[TRIGGER_DETAIL.deployment],
        `${r.data['detail-type']} event ${r.data.id}`,
      ),
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
    const detail = r.data.detail;
    if (typeof detail === 'object' && detail !== null && 'wave' in detail) {
      const w = WaveDetailSchema.safeParse(detail);
      if (!w.success) throw new EventInvalidError(`scheduled event: wave: ${issues(w.error)}`);
      trigger.deployments = w.data.deployments.map((n) => requireDeployment(config, n, `wave ${w.data.wave}`));
      trigger.wave = { wave: w.data.wave, waves: w.data.waves };
    }
    const rule = r.data.resources[0];
    if (rule) trigger.rule = rule;
    // The scheduled event names its rule by ARN (…:rule/NAME, or …:rule/BUS/NAME on a custom bus).
    if (config.decryptDrill && config.decryptDrillRule && rule?.endsWith(`/${config.decryptDrillRule}`))
      trigger.drill = true;
    return trigger;
  }
  throw new EventInvalidError(
    `unsupported trigger: ${describe(event)}; accepted: source ${config.eventSource} (${EVENTS.triggerDetailTypes.join(', ')}), CloudWatch Alarm State Change, Scheduled Event, or a direct invocation {action, deployment, reason}`,
  );
}
