/**
 * A scheduled invocation over many deployments: DEPLOYMENT_CONCURRENCY of them at a time, each
 * under its own lease, every one reported — also when every reconcile hangs — before the
 * function's limit, with each deployment's log lines keyed by its own name.
 */
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type HandlerConfig } from '../../lambda/function/config.ts';
import { runDeadlines } from '../../lambda/function/deadline.ts';
import { createHandler } from '../../lambda/function/handler.ts';
import type { reconcile } from '../../lambda/reconcile/reconcile.ts';
import { budgetsWith, DEPLOYMENT_CONCURRENCY } from '../../lambda/shared/budgets.ts';
import { awsClientConfig, motoAvailable, SKIP_REASON, uniqueName } from '../support/aws.ts';
import { auditRecords, captureOutput, recordingTrace } from './handler-fixture.ts';
import { createLockTable } from './lock-table.ts';
import { scheduledEvent } from './samples.ts';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { healthyResult } from '../support/results.ts';

describe('runDeadlines with concurrency', () => {
  it('every deployment, started when a lane frees, still has its report reserve, and all report by the end', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 400 }),
        fc.integer({ min: 1, max: 32 }),
        fc.integer({ min: 1, max: 5_000 }),
        fc.nat(100_000),
        (n, lanes, reserve, slack) => {
          // An invocation long enough for its deployments: the first wave has its reserve too.
          const end = reserve * (Math.floor((n - 1) / lanes) + 1) + slack;
          const plans = Array.from({ length: n }, (_, i) => runDeadlines(end, i, n, reserve, lanes));
          // Worst case: each deployment runs until its reportBy; the next one takes the first lane that frees.
          const free = Array.from({ length: Math.min(lanes, n) }, () => 0);
          for (const [i, p] of plans.entries()) {
            const lane = free.indexOf(Math.min(...free));
            const start = free[lane]!;
            expect(p.reportBy - start, `deployment ${i}`).toBeGreaterThanOrEqual(reserve);
            expect(p.reportBy).toBeLessThanOrEqual(end);
            expect(p.steps).toBe(p.reportBy - reserve);
            free[lane] = Math.max(start, p.reportBy);
          }
        },
      ),
    );
  });

  it('with one lane it is the sequential plan: each later deployment keeps its own reserve', () => {
    expect(runDeadlines(10_000, 0, 3, 1_000)).toEqual(runDeadlines(10_000, 0, 3, 1_000, 1));
    expect(runDeadlines(10_000, 0, 3, 1_000, 1).reportBy).toBe(8_000);
    // Three lanes: the first three deployments are the last wave, nothing to keep back for.
    expect(runDeadlines(10_000, 0, 3, 1_000, 3).reportBy).toBe(10_000);
  });
});

describe.skipIf(!motoAvailable)(`a scheduled run over many deployments ${motoAvailable ? '' : SKIP_REASON}`, () => {
  const N = 2 * DEPLOYMENT_CONCURRENCY + 3;
  let base: {
    config: HandlerConfig;
    clients: { dynamodb: DynamoDBClient; events: EventBridgeClient; kms: KMSClient; secrets: SecretsManagerClient };
  };
  let out: ReturnType<typeof captureOutput> | undefined;
  beforeAll(async () => {
    const cfg = awsClientConfig();
    const { client: dynamodb, tableName } = await createLockTable();
    const events = new EventBridgeClient(cfg);
    const busName = uniqueName('bus');
    await events.send(new CreateEventBusCommand({ Name: busName }));
    const prefix = uniqueName('many');
    const deployments = Array.from({ length: N }, (_, i) => ({
      name: `${prefix}-${i}`,
      secretId: `contrast/${prefix}-${i}`,
      coordinator: `127.0.0.1:${1000 + i}`,
    }));
    const config = loadConfig({
      CONTRAST_DEPLOYMENTS: JSON.stringify(deployments),
      LOCK_TABLE_NAME: tableName,
      EVENT_BUS_NAME: busName,
      KUBE_AUTH: 'none',
    });
    base = { config, clients: { dynamodb, events, kms: new KMSClient(cfg), secrets: new SecretsManagerClient(cfg) } };
  });
  afterEach(() => {
    out?.restore();
    out = undefined;
  });

  const healthy = (deployment: string) => healthyResult(deployment, 'the Coordinator is healthy');

  it(`runs at most ${DEPLOYMENT_CONCURRENCY} at a time, the first ones first, and reports every one under its own name, in configuration order`, async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const started: string[] = [];
    let full!: () => void;
    const firstWave = new Promise<void>((r) => (full = r));
    const fake: typeof reconcile = async (target) => {
      started.push(target.name);
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      if (inFlight === DEPLOYMENT_CONCURRENCY) full();
      // The first wave waits until all its lanes are in (or 3 s): then the limit is what bounds it.
      await Promise.race([firstWave, new Promise((r) => setTimeout(r, 3_000))]);
      await new Promise((r) => setTimeout(r, 10));
      inFlight--;
      return healthy(target.name);
    };
    const handler = createHandler({ ...base, reconcile: fake, telemetry: { trace: recordingTrace() } });
    out = captureOutput();
    const res = await handler(scheduledEvent(), {
      awsRequestId: 'sweep-test',
      getRemainingTimeInMillis: () => 300_000,
    });
    out.restore();
    const names = base.config.deployments.map((d) => d.name);
    expect(maxInFlight).toBe(DEPLOYMENT_CONCURRENCY);
    // The first wave is the first deployments of the configuration; every one ran once.
    expect(new Set(started.slice(0, DEPLOYMENT_CONCURRENCY))).toEqual(new Set(names.slice(0, DEPLOYMENT_CONCURRENCY)));
    expect([...started].sort()).toEqual([...names].sort());
    expect(res.results.map((r) => [r.deployment, r.outcome])).toEqual(names.map((n) => [n, 'already-healthy']));
    const records = out.json();
    expect(
      auditRecords(records)
        .map((a) => a.deployment)
        .sort(),
    ).toEqual([...names].sort());
    // Each deployment's log lines carry its own name, though they ran side by side.
    const auditLines = records.filter((r) => r.message === 'audit');
    expect(auditLines).toHaveLength(N);
    for (const line of auditLines) expect(line.deployment).toBe((line.audit as { deployment: string }).deployment);
  });

  it("with every reconcile hanging, each deployment is cut off in its wave and reported before the function's limit", async () => {
    const signals: AbortSignal[] = [];
    const hang: typeof reconcile = (_target, _ports, time) => {
      if (time.signal) signals.push(time.signal);
      return new Promise<never>(() => {});
    };
    // Generous for the lock table on a busy machine (its lease and snapshot must end before
    // each wave's cutoff; moto under load took over a second): the reserve per wave leaves
    // each wave seconds for them. What is checked is the order of cut-offs and reports, not speed.
    const budgets = budgetsWith({
      aws: { connectionTimeoutMs: 2_000, requestTimeoutMs: 4_000, maxAttempts: 1 },
      resultEventMs: 2_000,
      reportReserveMs: 5_000,
    });
    const handler = createHandler({ ...base, budgets, reconcile: hang, telemetry: { trace: recordingTrace() } });
    const remaining = 26_000;
    const t0 = Date.now();
    out = captureOutput();
    const res = await handler(scheduledEvent(), {
      awsRequestId: 'sweep-hang',
      getRemainingTimeInMillis: () => remaining - (Date.now() - t0),
    }).catch((e: unknown) => e);
    out.restore();
    expect(Date.now() - t0).toBeLessThan(remaining);
    // Transient outcomes fail the invocation (so the schedule's retry comes), after reporting each.
    expect(res).toBeInstanceOf(Error);
    const audits = auditRecords(out.json());
    expect(audits.map((a) => a.deployment).sort()).toEqual(base.config.deployments.map((d) => d.name).sort());
    for (const a of audits)
      expect(a).toMatchObject({ outcome: 'unreachable', message: expect.stringMatching(/time ran out/) });
    // Cut off means cancelled: every run's signal was aborted at its cutoff (issue 21 item 4).
    expect(signals).toHaveLength(N);
    expect(signals.every((sig) => sig.aborted)).toBe(true);
  }, 60_000);
});
