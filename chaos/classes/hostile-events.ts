/**
 * Deep and oversized events: whatever a sender (or anyone allowed to invoke the function)
 * hands over ends as `event-invalid` — or, for a time outside the window, a clamped and
 * labelled time — with an audit record, in time, with nothing echoed uncapped.
 */
import { MAX_INVALID_MESSAGE } from '../../lambda/function/events.ts';
import {
  checkAll,
  checkInTime,
  checkNoSecret,
  chaosHandler,
  invoke,
  makeWorld,
  outcomeOf,
  outputsOf,
  runCase,
  summarize,
  triggers,
  type Checks,
  type ClassResult,
  type Env,
  type Invocation,
  type World,
} from '../harness.ts';

/** Parsed as Lambda's runtime parses a request body: deep nesting needs no deep recursion here. */
const deep = (depth: number, leaf = '"x"') => JSON.parse(`${'['.repeat(depth)}${leaf}${']'.repeat(depth)}`) as unknown;
const MB = 'C'.repeat(1024 * 1024);

/** No line of output longer than this: a megabyte of input must not reach a log or an event. */
const MAX_LINE = 16 * 1024;

export async function hostileEventsClass(env: Env): Promise<ClassResult> {
  const world = await makeWorld(env);
  const handler = chaosHandler(world);
  const d = world.deployment;
  const invalid: [string, () => unknown][] = [
    ['direct invocation with a 5,000-deep source', () => ({ deployment: d, 'detail-type': 'x', source: deep(5000) })],
    [
      'direct invocation with a 5,000-deep extra field',
      () => ({ action: 'recover', deployment: d, reason: 'r', extra: deep(5000) }),
    ],
    [
      'restart event with a 5,000-deep detail',
      () => ({ ...triggers.restart(d), detail: { deployment: d, x: deep(5000) } }),
    ],
    ['a bare array nested 100,000 deep', () => deep(100_000)],
    [
      '20,000 keys',
      () => ({
        action: 'recover',
        deployment: d,
        reason: 'r',
        ...Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i])),
      }),
    ],
    ['a megabyte reason', () => ({ action: 'recover', deployment: d, reason: MB })],
    ['a megabyte deployment name', () => triggers.direct(MB)],
    ['a megabyte source and detail-type', () => ({ source: MB, 'detail-type': MB })],
    ['a megabyte key', () => ({ action: 'recover', deployment: d, reason: 'r', [MB]: 1 })],
    ['a megabyte event id', () => triggers.restart(d, { id: MB })],
    [
      'a megabyte alarm state',
      () => ({
        source: 'aws.cloudwatch',
        alarmArn: 'arn',
        time: new Date().toISOString(),
        alarmData: { alarmName: `${d}-alarm`, state: { value: MB } },
      }),
    ],
    [
      'prototype keys',
      () =>
        JSON.parse(
          `{"action":"recover","deployment":"${d}","reason":"r","__proto__":{"force":true},"constructor":{"prototype":{"force":true}}}`,
        ) as unknown,
    ],
  ];
  const results = [];
  try {
    for (const [name, make] of invalid) {
      results.push(
        await runCase(name, async (c) => {
          const inv = await invoke(handler, make());
          c.that(inv.response?.outcome === 'event-invalid', `outcome ${inv.response?.outcome ?? inv.error?.message}`);
          // Named for the deployment when the event names a configured one, else "unknown".
          const audit = inv.audits[0];
          c.that(
            inv.audits.length === 1 && audit?.outcome === 'event-invalid',
            `audit records: ${JSON.stringify(inv.audits.map((a) => a.outcome))}`,
          );
          const message = String(audit?.message ?? inv.response?.results[0]?.message ?? '');
          c.that(message.length <= MAX_INVALID_MESSAGE + 40, `message of ${message.length} characters`);
          checkCommon(c, env, world, inv);
        }),
      );
    }
    // A time outside the window is not refused (the restart is real) but clamped, and said so.
    for (const [name, time] of [
      ['an event dated 1970', '1970-01-01T00:00:00Z'],
      ['an event dated next year', new Date(Date.now() + 365 * 24 * 3_600_000).toISOString()],
    ] as const) {
      results.push(
        await runCase(`${name}: reconciled with the time of receipt, labelled`, async (c) => {
          world.emu.restart();
          const inv = await invoke(handler, triggers.restart(d, { time }));
          c.that(['recovered', 'already-healthy'].includes(outcomeOf(inv) ?? ''), `outcome ${outcomeOf(inv)}`);
          const audit = checkAll(c, env, world, inv);
          c.that(
            (audit?.trigger as { receivedTime?: string })?.receivedTime === time,
            `audit trigger ${JSON.stringify(audit?.trigger)}`,
          );
          const stale = inv.records.map((r) => r.StaleMinutes).filter((v): v is number => typeof v === 'number');
          c.that(
            stale.every((v) => v < 5),
            `StaleMinutes ${stale.join(', ')}`,
          );
          world.emu.recoverCalls.length = 0;
          world.emu.recoverRequests = 0;
        }),
      );
    }
  } finally {
    await world.stop();
  }
  return summarize('hostile-events', results);
}

function checkCommon(c: Checks, env: Env, world: World, inv: Invocation): void {
  checkInTime(c, inv);
  c.that(world.emu.recoverRequests === 0, 'a Recover for an invalid event');
  checkNoSecret(c, world, outputsOf(inv, env.proxy));
  const longest = Math.max(0, ...inv.output.split('\n').map((l) => l.length));
  c.that(longest <= MAX_LINE, `an output line of ${longest} characters`);
  const events = env.proxy.bodies.filter((b) => b.op === 'AWSEvents.PutEvents');
  c.that(
    events.every((e) => e.request.length <= MAX_LINE),
    'a result event carries the oversized input',
  );
  env.proxy.clear();
}
