/**
 * The function's trace: Powertools' Tracer only where tracing is on (loaded then, not at
 * import), every client it was given instrumented once it is there, and spans of deployments
 * that run side by side each in its own subsegment of the invocation's segment.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { createTrace, tracingEnabled } from '../../lambda/function/observability.ts';
import { powertoolsTrace } from '../../lambda/function/tracing.ts';

const LAMBDA = { AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('tracingEnabled (Powertools Tracer.setTracingEnabled)', () => {
  it.each([
    [{}, false],
    [LAMBDA, true],
    [{ ...LAMBDA, POWERTOOLS_TRACE_ENABLED: 'false' }, false],
    [{ ...LAMBDA, POWERTOOLS_TRACE_ENABLED: 'FALSE' }, false],
    [{ ...LAMBDA, POWERTOOLS_TRACE_ENABLED: 'true' }, true],
    [{ ...LAMBDA, AWS_SAM_LOCAL: 'true' }, false],
    [{ AWS_EXECUTION_ENV: 'AWS_Lambda_amplify-mock' }, false],
  ] as const)('%o → %s', (env, expected) => {
    expect(tracingEnabled(env)).toBe(expected);
  });
});

describe('createTrace', () => {
  const saved = process.env.AWS_EXECUTION_ENV;
  afterEach(() => {
    if (saved === undefined) delete process.env.AWS_EXECUTION_ENV;
    else process.env.AWS_EXECUTION_ENV = saved;
  });

  it('without tracing, nothing is loaded and nothing is instrumented', async () => {
    const trace = createTrace({});
    expect(trace.ready).toBeUndefined();
    const client = new DynamoDBClient({ region: 'eu-central-1' });
    expect(
      trace
        .captureClient(client)
        .middlewareStack.identify()
        .some((m) => m.includes('XRaySDKInstrumentation')),
    ).toBe(false);
    await expect(trace.span('x', async () => 42)).resolves.toBe(42);
  });

  it('with tracing, a client handed over before the tracer arrives is instrumented when it does', async () => {
    process.env.AWS_EXECUTION_ENV = LAMBDA.AWS_EXECUTION_ENV; // Powertools reads it when the Tracer is built
    const trace = createTrace(LAMBDA);
    const client = trace.captureClient(new DynamoDBClient({ region: 'eu-central-1' }));
    await trace.ready;
    expect(client.middlewareStack.identify().some((m) => m.includes('XRaySDKInstrumentation'))).toBe(true);
  });

  it('spans that run side by side are siblings under the invocation segment, each holding its own children; a failure is marked by its class only', async () => {
    process.env.AWS_EXECUTION_ENV = LAMBDA.AWS_EXECUTION_ENV;
    const { Tracer } = await import('@aws-lambda-powertools/tracer');
    const { default: xray } = await import('aws-xray-sdk-core');
    const tracer = new Tracer({ serviceName: 'test', captureHTTPsRequests: false });
    const trace = powertoolsTrace(tracer);
    const root = new xray.Segment('invocation');
    await tracer.provider.getNamespace().runPromise(async () => {
      tracer.setSegment(root);
      await Promise.all(
        ['a', 'b', 'c'].map((name, i) =>
          trace.span(name, async () => {
            await sleep(5 * (3 - i));
            await trace.span(`${name}-step`, () => sleep(5));
          }),
        ),
      );
      await trace.span('broken', () => Promise.reject(new TypeError('the seed is 0xdeadbeef'))).catch(() => undefined);
    });
    const subs = root.subsegments ?? [];
    expect(subs.map((s) => s.name)).toEqual(['a', 'b', 'c', 'broken']);
    for (const s of subs.slice(0, 3)) expect((s.subsegments ?? []).map((x) => x.name)).toEqual([`${s.name}-step`]);
    // What X-Ray would receive for it (Subsegment's documented JSON).
    const broken = JSON.parse(JSON.stringify(subs[3])) as { annotations?: Record<string, string>; fault?: boolean };
    expect(broken.annotations).toEqual({ error: 'TypeError' });
    expect(broken.fault).toBe(true);
    expect(JSON.stringify(broken)).not.toContain('deadbeef');
  });
});
