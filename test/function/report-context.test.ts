/**
 * Results flow forward: the report context is fixed when the deployment run builds it, and the
 * guard returns what the audit record needs (RunFacts) instead of writing it into a shared
 * context for report.ts to read later. The guard runs here against a context that refuses and
 * names every write, through each path that used to write one (pause switch, crash-loop guard,
 * its bypass, a recovery with its stale time, KMS key and audit mark).
 */
import { describe, expect, it } from 'vitest';
import type { DeploymentConfig } from '../../lambda/function/config.ts';
import type { Trigger } from '../../lambda/function/events.ts';
import { guardedReconcile } from '../../lambda/function/guard.ts';
import type { GuardSnapshot } from '../../lambda/function/lease.ts';
import { reportContext, type ReportContext } from '../../lambda/function/report.ts';
import type { Runtime } from '../../lambda/function/runtime.ts';
import type { RecoveryBundle } from '../../lambda/keys/bundle.ts';
import type {
  ReconcileOptions,
  ReconcileResult,
  RecoverAttempt,
  RecoveryRecord,
} from '../../lambda/reconcile/types.ts';
import { stepBudgetsOf } from '../../lambda/shared/budgets.ts';
import { EVENTS } from '../../lambda/shared/contract.ts';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const KMS_KEY = 'arn:aws:kms:eu-central-1:111122223333:key/test';
const deployment = {
  name: 'prod',
  secretId: 'contrast-autorecover/prod',
  coordinator: { host: '127.0.0.1', port: 1313 },
} as DeploymentConfig;
const caller = { kind: 'eventbridge' as const, requestId: 'req-1' };
const restart: Trigger = {
  kind: 'event',
  id: 'evt-1',
  time: new Date(NOW - 6 * 60_000).toISOString(),
  caller,
  detailType: EVENTS.triggerDetailTypes[0],
  deployment: 'prod',
};
const operator: Trigger = {
  kind: 'direct',
  id: 'req-1',
  time: new Date(NOW).toISOString(),
  caller: { ...caller, kind: 'direct-invoke' },
  action: 'recover',
  deployment: 'prod',
  force: false,
  reason: 'test',
};
const bundle = { document: { ownerKey: { kmsKeyId: KMS_KEY } } } as unknown as RecoveryBundle;

/** A report context that refuses every write and records which field a step tried to write. */
function guardedContext(trigger: Trigger): { ctx: ReportContext; writes: string[] } {
  const writes: string[] = [];
  const refuse = (key: string | symbol): never => {
    writes.push(String(key));
    throw new Error(`a step wrote ReportContext.${String(key)}: return it instead`);
  };
  const ctx = new Proxy(reportContext({ requestId: 'req-1', trigger, action: 'reconcile', reportBy: NOW + 60_000 }), {
    set: (_t, key) => refuse(key),
    defineProperty: (_t, key) => refuse(key),
    deleteProperty: (_t, key) => refuse(key),
  });
  return { ctx, writes };
}

function result(outcome: ReconcileResult['outcome'], extra: Partial<ReconcileResult> = {}): ReconcileResult {
  return {
    deployment: 'prod',
    outcome,
    message: outcome,
    coordinatorState: 'stale',
    kmsDecrypts: 0,
    recoverSent: false,
    force: false,
    dryRun: false,
    steps: [{ step: 'load-bundle', ms: 1 }],
    durationMs: 1,
    ...extra,
  };
}

type FakeReconcile = (
  options: ReconcileOptions,
  records: { update(change: (r: RecoveryRecord) => RecoveryRecord): Promise<RecoveryRecord> },
) => Promise<ReconcileResult>;

/** The guard's runtime: a lock table in memory, the given reconcile in place of the real one. */
function runtime(snap: GuardSnapshot, fake: FakeReconcile) {
  let record = structuredClone(snap.record);
  const seen: ReconcileOptions[] = [];
  const rt = {
    config: { lockTableName: 'locks', maxRecoveriesPerHour: 2 },
    now: () => NOW,
    telemetry: { logger: { error: () => {}, warn: () => {}, info: () => {} } },
    lock: {
      snapshot: async () => snap,
      recordStore: (_d: string, _s: GuardSnapshot, decorate: (r: RecoveryRecord) => RecoveryRecord) => ({
        read: async () => structuredClone(record),
        update: async (change: (r: RecoveryRecord) => RecoveryRecord) => (record = decorate(change(record))),
      }),
    },
    ports: {
      bundles: { load: async () => bundle },
      ownerKeys: {},
      verifierFactory: () => () => ({}),
      kubernetes: () => undefined,
      now: () => NOW,
      seams: {},
    },
    reconcile: async (
      _target: unknown,
      ports: { records: Parameters<FakeReconcile>[1] },
      _time: unknown,
      options: ReconcileOptions,
    ) => {
      seen.push(options);
      return fake(options, ports.records);
    },
  } as unknown as Runtime;
  return { rt, seen, record: () => record };
}

const snapshot = (extra: Partial<GuardSnapshot> = {}): GuardSnapshot => ({
  pause: { paused: false },
  record: { attempts: [] },
  version: 1,
  recentAttempts: [],
  ...extra,
});
const run = { bundle: Promise.resolve(bundle), time: { budgets: stepBudgetsOf() }, progress: () => {} };
const attempt = (id: string): RecoverAttempt => ({
  id,
  at: NOW - 10 * 60_000,
  status: 'accepted',
  force: false,
  reported: true,
});

describe('the report context', () => {
  it('is frozen when built: a write throws, and the type forbids it', () => {
    const ctx = reportContext({ requestId: 'req-1', trigger: restart, action: 'reconcile' });
    expect(Object.isFrozen(ctx)).toBe(true);
    expect(() => {
      // @ts-expect-error the fields are readonly
      ctx.requestId = 'other';
    }).toThrow(TypeError);
    expect(() => Object.assign(ctx, { guard: { kind: 'pause-switch', detail: 'x' } })).toThrow(TypeError);
  });
});

describe('the guard returns what the report needs and writes no shared state', () => {
  it('the pause switch: returned as the guard fact, reconcile not run', async () => {
    const { ctx, writes } = guardedContext(restart);
    const { rt, seen } = runtime(
      snapshot({ pause: { paused: true, scope: 'deployment', reason: 'maintenance' } }),
      () => Promise.reject(new Error('must not run')),
    );
    const { result: r, facts } = await guardedReconcile(rt, deployment, restart, {}, ctx, run);
    expect(writes).toEqual([]);
    expect(r.outcome).toBe('paused');
    expect(facts).toEqual({ guard: { kind: 'pause-switch', detail: 'pause#prod: maintenance' } });
    expect(seen).toEqual([]);
  });

  it('the crash-loop guard: its refusal goes into reconcile as a value and comes back as the guard fact', async () => {
    const { ctx, writes } = guardedContext(restart);
    const { rt, seen } = runtime(snapshot({ recentAttempts: [attempt('a'), attempt('b')] }), async (options) =>
      options.recoveryRefused ? result('paused', { message: options.recoveryRefused }) : result('recovered'),
    );
    const { result: r, facts } = await guardedReconcile(rt, deployment, restart, {}, ctx, run);
    expect(writes).toEqual([]);
    expect(seen[0]!.recoveryRefused).toMatch(
      /^crash-loop guard: 2 Recover attempts for prod in the last hour \(limit 2, MAX_RECOVERIES_PER_HOUR\)/,
    );
    expect(r.outcome).toBe('paused');
    expect(facts.guard).toEqual({ kind: 'crash-loop-guard', detail: '2 Recover attempts in the last hour, limit 2' });
    expect(facts.guardBypassed).toBeUndefined();
  });

  it('a direct invocation passes the tripped guard: no refusal, the bypass returned', async () => {
    const { ctx, writes } = guardedContext(operator);
    const { rt, seen } = runtime(snapshot({ recentAttempts: [attempt('a'), attempt('b')] }), async () =>
      result('already-healthy', { coordinatorState: 'healthy' }),
    );
    const { facts } = await guardedReconcile(rt, deployment, operator, {}, ctx, run);
    expect(writes).toEqual([]);
    expect(seen[0]!.recoveryRefused).toBeUndefined();
    expect(facts.guardBypassed).toBe(true);
    expect(facts.guard).toBeUndefined();
  });

  it('a recovery: its stale time, KMS key and audit mark are returned; the mark writes the record only when called', async () => {
    const { ctx, writes } = guardedContext(restart);
    const { rt, record } = runtime(snapshot(), async (_options, records) => {
      await records.update((r) => ({
        ...r,
        attempts: [...r.attempts, { id: 'ours', at: NOW, status: 'accepted', force: false }],
      }));
      return result('recovered', {
        recoverSent: true,
        recoverAttemptId: 'ours',
        steps: [
          { step: 'load-bundle', ms: 1 },
          { step: 'recover', ms: 1 },
        ],
      });
    });
    const { result: r, facts } = await guardedReconcile(rt, deployment, restart, {}, ctx, run);
    expect(writes).toEqual([]);
    expect(r.outcome).toBe('recovered');
    expect(facts.kmsKeyId).toBe(KMS_KEY);
    // Stale since the restart event's time, six minutes before the recovery.
    expect(facts.staleMinutes).toBeCloseTo(6, 5);
    expect(record().attempts[0]).toMatchObject({ id: 'ours', requestId: 'req-1' });
    expect(record().attempts[0]!.reported).toBeUndefined();
    await facts.markReported!();
    expect(record().attempts[0]!.reported).toBe(true);
  });
});
