import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../lambda/function/config.ts';
import { parseHostPort } from '../../lambda/shared/names.ts';
import {
  EVENT_TIME_WINDOW,
  EventInvalidError,
  MAX_EVENT_DEPTH,
  MAX_INVALID_MESSAGE,
  parseTrigger,
} from '../../lambda/function/events.ts';
import { MIN_LEASE_SECONDS } from '../../lambda/shared/budgets.ts';
import { alarmAction, alarmStateChange, directInvoke, lambdaContext, restartEvent, scheduledEvent } from './samples.ts';

const deployments = [
  {
    name: 'prod',
    secretId: 'contrast/prod',
    coordinator: 'coordinator.prod.internal:1313',
    alarmNames: ['prod-coordinator-restarted'],
  },
  { name: 'staging', secretId: 'contrast/staging', coordinator: '[fd00::1]:1313', namespaces: ['app'] },
];
const env = {
  CONTRAST_DEPLOYMENTS: JSON.stringify(deployments),
  LOCK_TABLE_NAME: 'locks',
  EVENT_BUS_NAME: 'bus',
  KUBE_AUTH: 'none',
};

function configError(e: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(e);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig(env);
    expect(c.eventSource).toBe('contrast.coordinator');
    expect(c.resultEventSource).toBe('contrast.autorecover');
    expect(c.maxRecoveriesPerHour).toBe(2);
    expect(c.leaseSeconds).toBeUndefined();
    expect(c.allowPodDeletion).toBe(false);
    expect(c.decryptDrill).toBe(false);
    expect(c.deployments[0]).toMatchObject({
      coordinator: { host: 'coordinator.prod.internal', port: 1313 },
      coordinatorNamespace: 'default',
      namespaces: ['default'],
    });
    expect(c.deployments[1]!.coordinator).toEqual({ host: 'fd00::1', port: 1313 });
  });

  it('names the bad variable', () => {
    expect(configError({ ...env, MAX_RECOVERIES_PER_HOUR: '0' }).variable).toBe('MAX_RECOVERIES_PER_HOUR');
    expect(configError({ ...env, LEASE_SECONDS: 'ten' }).variable).toBe('LEASE_SECONDS');
    expect(configError({ ...env, ALLOW_POD_DELETION: 'yes' }).message).toMatch(/ALLOW_POD_DELETION.*"true" or "false"/);
    expect(configError({ ...env, LOCK_TABLE_NAME: undefined }).variable).toBe('LOCK_TABLE_NAME');
    expect(configError({ ...env, KUBE_AUTH: undefined }).variable).toBe('KUBE_AUTH');
    expect(configError({ ...env, KUBE_AUTH: 'eks' }).variable).toBe('EKS_CLUSTER_NAME');
    expect(
      configError({ ...env, KUBE_AUTH: 'eks', EKS_CLUSTER_NAME: 'c', EKS_ENDPOINT: 'http://x', EKS_CA_DATA: 'AAAA' })
        .variable,
    ).toBe('EKS_ENDPOINT');
    expect(configError({ ...env, KUBE_AUTH: 'kubeconfig' }).variable).toBe('KUBECONFIG_SECRET_ID');
    expect(configError({ ...env, RESULT_EVENT_SOURCE: 'contrast.coordinator' }).variable).toBe('RESULT_EVENT_SOURCE');
    expect(configError({ ...env, COLLATERAL_MIRROR_URL: 'not a url' }).variable).toBe('COLLATERAL_MIRROR_URL');
  });

  it('refuses a lease shorter than one recovery may take (two recoveries could overlap)', () => {
    const short = configError({ ...env, LEASE_SECONDS: '1' });
    expect(short.variable).toBe('LEASE_SECONDS');
    expect(short.message).toMatch(new RegExp(`at least ${MIN_LEASE_SECONDS} seconds`));
    expect(configError({ ...env, LEASE_SECONDS: String(MIN_LEASE_SECONDS - 1) }).variable).toBe('LEASE_SECONDS');
    expect(loadConfig({ ...env, LEASE_SECONDS: String(MIN_LEASE_SECONDS) }).leaseSeconds).toBe(MIN_LEASE_SECONDS);
  });

  it('points into CONTRAST_DEPLOYMENTS', () => {
    expect(configError({ ...env, CONTRAST_DEPLOYMENTS: '[' }).message).toMatch(/CONTRAST_DEPLOYMENTS: not valid JSON/);
    expect(configError({ ...env, CONTRAST_DEPLOYMENTS: '[]' }).message).toMatch(/at least one deployment/);
    const bad = [{ name: 'a', secretId: 's', coordinator: 'no-port' }];
    expect(configError({ ...env, CONTRAST_DEPLOYMENTS: JSON.stringify(bad) }).message).toMatch(
      /\[0\]\.coordinator: expected "host:port"/,
    );
    const dup = [deployments[0], { ...deployments[0] }];
    expect(configError({ ...env, CONTRAST_DEPLOYMENTS: JSON.stringify(dup) }).message).toMatch(
      /duplicate deployment name prod/,
    );
    const alarm = [deployments[0], { ...deployments[1], alarmNames: ['prod-coordinator-restarted'] }];
    expect(configError({ ...env, CONTRAST_DEPLOYMENTS: JSON.stringify(alarm) }).message).toMatch(
      /already mapped to deployment prod/,
    );
    const star = [{ name: '*', secretId: 's', coordinator: 'h:1' }];
    expect(configError({ ...env, CONTRAST_DEPLOYMENTS: JSON.stringify(star) }).message).toMatch(/\[0\]\.name/);
  });

  it('has no setting that reaches a non-production verifier or adds a root', () => {
    const extra = [{ ...deployments[0], verifier: 'testing' }];
    expect(configError({ ...env, CONTRAST_DEPLOYMENTS: JSON.stringify(extra) }).message).toMatch(/verifier/);
    const roots = [{ ...deployments[0], roots: ['abc'] }];
    expect(configError({ ...env, CONTRAST_DEPLOYMENTS: JSON.stringify(roots) }).message).toMatch(/roots/);
  });

  it('parses host:port strictly', () => {
    expect(parseHostPort('a.b:1')).toEqual({ host: 'a.b', port: 1 });
    expect(parseHostPort('a.b:0')).toBeUndefined();
    expect(parseHostPort('a.b:70000')).toBeUndefined();
    expect(parseHostPort('a.b')).toBeUndefined();
    expect(parseHostPort('::1:1313')).toBeUndefined();
  });
});

describe('triggers', () => {
  const config = loadConfig(env);
  const ctx = lambdaContext('req-1');

  it('accepts the exporter event and uses the event id as correlation id', () => {
    const ev = restartEvent('prod');
    const t = parseTrigger(ev, config, ctx);
    expect(t).toMatchObject({
      kind: 'event',
      id: ev.id,
      deployment: 'prod',
      detailType: 'Coordinator Restarted',
      pod: 'coordinator-0',
      cluster: 'prod-eks',
    });
    expect(
      parseTrigger(restartEvent('prod', { 'detail-type': 'Coordinator Recovery Requested' }), config, ctx),
    ).toMatchObject({ detailType: 'Coordinator Recovery Requested' });
  });

  it('refuses force in an event, unknown deployments and unknown detail-types', () => {
    expect(() => parseTrigger(restartEvent('prod', {}, { force: true }), config, ctx)).toThrow(
      /force is accepted only from a direct invocation/,
    );
    expect(() => parseTrigger(restartEvent('nope'), config, ctx)).toThrow(/not configured/);
    expect(() => parseTrigger(restartEvent('prod', { 'detail-type': 'Coordinator Exploded' }), config, ctx)).toThrow(
      EventInvalidError,
    );
    expect(() => parseTrigger(restartEvent('prod', { time: 'yesterday' }), config, ctx)).toThrow(/time/);
  });

  it('maps an alarm in ALARM (EventBridge and alarm action) to its deployment', () => {
    expect(parseTrigger(alarmStateChange('prod-coordinator-restarted'), config, ctx)).toMatchObject({
      kind: 'alarm',
      deployment: 'prod',
      id: 'c4c1c1c9-6542-e61b-6ef0-8c4d36933a92',
    });
    expect(parseTrigger(alarmAction('prod-coordinator-restarted'), config, ctx)).toMatchObject({
      kind: 'alarm',
      deployment: 'prod',
      id: 'req-1',
      caller: { kind: 'cloudwatch-alarm-action' },
    });
    expect(() => parseTrigger(alarmStateChange('prod-coordinator-restarted', 'OK'), config, ctx)).toThrow(
      /only a change into ALARM/,
    );
    expect(() => parseTrigger(alarmStateChange('other-alarm'), config, ctx)).toThrow(/not mapped to a deployment/);
  });

  it('reconciles every deployment on a scheduled event', () => {
    const t = parseTrigger(scheduledEvent(), config, ctx);
    expect(t).toMatchObject({
      kind: 'schedule',
      deployments: ['prod', 'staging'],
      rule: expect.stringContaining('rule/'),
    });
  });

  it('validates direct invocations; identity from the context, never the payload', () => {
    const t = parseTrigger(directInvoke('prod', 'recover', { force: true }), config, {
      ...ctx,
      clientContext: { custom: { caller: 'arn:aws:iam::1:user/alice' } },
    });
    expect(t).toMatchObject({
      kind: 'direct',
      action: 'recover',
      force: true,
      id: 'req-1',
      caller: { kind: 'direct-invoke', requestId: 'req-1', declaredCaller: 'arn:aws:iam::1:user/alice' },
    });
    expect(() => parseTrigger(directInvoke('prod', 'status', { force: true }), config, ctx)).toThrow(
      /force applies only to action "recover"/,
    );
    expect(() => parseTrigger(directInvoke('prod', 'recover', { caller: 'alice' }), config, ctx)).toThrow(
      EventInvalidError,
    );
    expect(() => parseTrigger(directInvoke('prod', 'recover', { reason: ' ' }), config, ctx)).toThrow(/reason/);
    expect(() => parseTrigger(directInvoke('prod', 'reboot'), config, ctx)).toThrow(/action/);
    expect(() => parseTrigger(directInvoke('prod', 'recover', { force: 'yes' }), config, ctx)).toThrow(/force/);
  });

  it('rejects anything else as event-invalid', () => {
    for (const bad of [
      null,
      42,
      'recover',
      [],
      {},
      { source: 'aws.s3', 'detail-type': 'Object Created' },
      { Records: [] },
    ]) {
      let err: unknown;
      try {
        parseTrigger(bad, config, ctx);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(EventInvalidError);
      expect((err as EventInvalidError).outcome).toBe('event-invalid');
    }
  });
});

/** Nested `depth` levels deep: {a:{a:…}} or [[…]]. */
function nested(depth: number, array = false): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = array ? [v] : { a: v };
  return v;
}

function invalid(event: unknown): EventInvalidError {
  try {
    parseTrigger(event, loadConfig(env), lambdaContext('req-1'));
  } catch (err) {
    expect(err).toBeInstanceOf(EventInvalidError);
    return err as EventInvalidError;
  }
  throw new Error('expected event-invalid');
}

describe('hostile triggers', () => {
  it('refuses an event nested 5,000 deep as event-invalid, wherever the nesting is', () => {
    // ~10 KB direct invocations nested 5,000 deep once threw RangeError out of the parser.
    for (const event of [
      { source: nested(5000), 'detail-type': 'x' },
      { action: 'recover', deployment: 'prod', reason: 'r', extra: nested(5000, true) },
      { ...restartEvent('prod'), detail: { deployment: 'prod', deep: nested(5000) } },
      nested(5000),
    ]) {
      expect(invalid(event).message).toMatch(new RegExp(`nests deeper than ${MAX_EVENT_DEPTH} levels`));
    }
    // Real triggers nest far less: an alarm event passes.
    expect(
      parseTrigger(alarmStateChange('prod-coordinator-restarted'), loadConfig(env), lambdaContext()),
    ).toMatchObject({ kind: 'alarm' });
  });

  it('refuses events with too many values or characters', () => {
    expect(
      invalid({ action: 'recover', deployment: 'prod', reason: 'r', many: Array.from({ length: 20_000 }, () => 0) })
        .message,
    ).toMatch(/more than 10000 values/);
    expect(invalid({ action: 'recover', deployment: 'prod', reason: 'x'.repeat(300_000) }).message).toMatch(
      /more than 262144 characters/,
    );
  });

  it('caps every echoed value: a megabyte of input never reaches a message', () => {
    const mb = 'A'.repeat(200_000);
    for (const event of [
      directInvoke(mb),
      restartEvent(mb),
      { source: mb, 'detail-type': mb },
      { [mb]: 1 },
      { action: 'recover', deployment: 'prod', reason: 'r', [mb]: 1 },
      alarmStateChange(mb.slice(0, 255)),
      alarmAction('prod-coordinator-restarted') && {
        ...alarmAction('x'),
        alarmData: { ...alarmAction('x').alarmData, state: { value: mb } },
      },
    ]) {
      const err = invalid(event);
      expect(err.message.length).toBeLessThanOrEqual(MAX_INVALID_MESSAGE + 40);
      expect(err.message).not.toContain('A'.repeat(129));
    }
    expect(invalid(restartEvent('prod', { id: mb })).message).toMatch(/id: Too big/);
  });

  it('replaces an event time outside the window by the time of receipt, and says so', () => {
    const config = loadConfig(env);
    const now = Date.parse('2026-01-01T12:00:00Z');
    const at = (time: string) => parseTrigger(restartEvent('prod', { time }), config, lambdaContext(), now);
    // 1970 once drove StaleMinutes to 30 million (and its alarm).
    expect(at('1970-01-01T00:00:00Z')).toMatchObject({
      time: '2026-01-01T12:00:00.000Z',
      receivedTime: '1970-01-01T00:00:00Z',
    });
    expect(at('2026-01-01T13:00:00Z')).toMatchObject({
      time: '2026-01-01T12:00:00.000Z',
      receivedTime: '2026-01-01T13:00:00Z',
    });
    // Within the window (EventBridge retries for up to a day) the event's own time stands.
    const inWindow = new Date(now - EVENT_TIME_WINDOW.pastMs + 60_000).toISOString();
    expect(at(inWindow)).toEqual(expect.objectContaining({ time: inWindow }));
    expect(at(inWindow).receivedTime).toBeUndefined();
    const action = parseTrigger(
      { ...alarmAction('prod-coordinator-restarted'), time: 'not a time' },
      config,
      lambdaContext(),
      now,
    );
    expect(action).toMatchObject({ time: '2026-01-01T12:00:00.000Z', receivedTime: 'not a time' });
  });
});
