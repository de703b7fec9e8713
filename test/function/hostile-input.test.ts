/**
 * Hostile input through the whole handler: it ends with `event-invalid`, a result event and an
 * audit record — never a crash — and nothing it echoes floods logs or events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_INVALID_MESSAGE } from '../../lambda/function/events.ts';
import { motoAvailable, SKIP_REASON } from '../support/aws.ts';
import { auditRecords, captureOutput, emfRecords, setupFixture, type Fixture } from './handler-fixture.ts';
import { lambdaContext, restartEvent } from './samples.ts';

let fx: Fixture;
beforeAll(async () => {
  if (motoAvailable) fx = await setupFixture();
});
afterAll(async () => {
  await fx?.stop();
});

describe.skipIf(!motoAvailable)(`hostile input through the handler ${motoAvailable ? '' : SKIP_REASON}`, () => {
  it('a 10 KB invocation nested 5,000 deep is event-invalid with a result event and an audit record', async () => {
    // As Lambda's runtime hands it over: parsed from the request body.
    // The unsupported-trigger message once quoted `source` with JSON.stringify: RangeError.
    const body = `{"deployment":"${fx.deployment}","detail-type":"x","source":${'['.repeat(5000)}"x"${']'.repeat(5000)}}`;
    expect(body.length).toBeGreaterThan(10_000);
    const event: unknown = JSON.parse(body);
    const out = captureOutput();
    let res;
    try {
      res = await fx.handler(event, lambdaContext());
    } finally {
      out.restore();
    }
    expect(res).toMatchObject({ outcome: 'event-invalid', trigger: 'invalid' });
    expect(res.results[0]!.message).toMatch(/nests deeper than/);
    expect(auditRecords(out.json())).toEqual([
      expect.objectContaining({ outcome: 'event-invalid', action: 'invalid' }),
    ]);
    expect(fx.events.at(-1)).toMatchObject({ DetailType: 'Coordinator Recovery Failed' });
  });

  it('a megabyte-sized event-invalid input is echoed capped into logs and the result event', async () => {
    const huge = 'B'.repeat(1_000_000);
    const out = captureOutput();
    try {
      await fx.handler({ action: 'recover', deployment: huge, reason: 'r' }, lambdaContext());
    } finally {
      out.restore();
    }
    const [audit] = auditRecords(out.json());
    expect((audit!.message as string).length).toBeLessThanOrEqual(MAX_INVALID_MESSAGE + 40);
    const longest = Math.max(
      ...out.lines
        .join('')
        .split('\n')
        .map((l) => l.length),
    );
    expect(longest).toBeLessThan(8_000);
    expect(fx.events.at(-1)!.Detail!.length).toBeLessThan(8_000);
  });

  it('an event dated 1970 recovers, but StaleMinutes counts from its receipt and the audit record keeps the sent time', async () => {
    fx.emu.restart();
    const out = captureOutput();
    let res;
    try {
      res = await fx.handler(restartEvent(fx.deployment, { time: '1970-01-01T00:00:00Z' }), lambdaContext());
    } finally {
      out.restore();
    }
    expect(res.outcome).toMatch(/recovered|already-healthy/);
    const records = out.json();
    expect(
      records.find(
        (r) => r.message === 'the event time is outside the accepted window; the time of receipt is used instead',
      ),
    ).toMatchObject({ receivedTime: '1970-01-01T00:00:00Z' });
    const [audit] = auditRecords(records);
    expect(audit!.trigger).toMatchObject({ receivedTime: '1970-01-01T00:00:00Z' });
    const stale = emfRecords(records)
      .map((m) => (m as Record<string, unknown>).StaleMinutes)
      .filter((v) => v !== undefined);
    // Once 29 million minutes (since 1970) and an alarm.
    for (const v of stale) expect(v as number).toBeLessThan(5);
  });
});
