import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { guardTripped, HOUR_MS, LockTable } from '../../lambda/function/lease.ts';
import { motoAvailable, SKIP_REASON } from '../support/aws.ts';
import { createLockTable } from './lock-table.ts';

describe.skipIf(!motoAvailable)(`lock table on DynamoDB (moto) ${motoAvailable ? '' : SKIP_REASON}`, () => {
  it('gives a burst of 50 concurrent acquirers exactly one lease', async () => {
    const { client, tableName } = await createLockTable();
    const table = new LockTable({ client, tableName });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => table.acquire('prod', `req-${i}`, 120)));
    const winners = results.filter((r) => r.acquired);
    expect(winners).toHaveLength(1);
    const winner = winners[0]!;
    if (!winner.acquired) throw new Error('unreachable');
    for (const r of results.filter((x) => !x.acquired)) {
      expect(r).toEqual({ acquired: false, holder: { owner: winner.lease.owner, expiresAt: winner.lease.expiresAt } });
    }
    // Other deployments are independent.
    expect((await table.acquire('staging', 'req-x', 120)).acquired).toBe(true);
  });

  it('is a lease, not a cached result: released, it is acquired again', async () => {
    const { client, tableName } = await createLockTable();
    const table = new LockTable({ client, tableName });
    const a = await table.acquire('prod', 'a', 120);
    if (!a.acquired) throw new Error('expected the lease');
    expect(await table.release(a.lease)).toBe(true);
    const b = await table.acquire('prod', 'b', 120);
    expect(b.acquired).toBe(true);
  });

  it('takes over a lease left by a dead invocation only after it expired', async () => {
    const { client, tableName } = await createLockTable();
    let now = Date.parse('2025-01-01T00:00:00Z');
    const table = new LockTable({ client, tableName, now: () => now });
    const dead = await table.acquire('prod', 'dead', 960);
    expect(dead.acquired).toBe(true);
    now += 900_000;
    expect((await table.acquire('prod', 'early', 960)).acquired).toBe(false);
    now += 61_000;
    const taken = await table.acquire('prod', 'late', 960);
    expect(taken.acquired).toBe(true);
    // The dead owner's late release must not delete the new holder's lease.
    if (!dead.acquired) throw new Error('unreachable');
    expect(await table.release(dead.lease)).toBe(false);
    const item = await client.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: 'lock#prod' } } }));
    expect(item.Item?.owner?.S).toBe('late');
    expect(Number(item.Item?.expiresAt?.N)).toBe(Math.floor(now / 1000) + 960);
  });

  it('reads the pause switches (deployment and global)', async () => {
    const { client, tableName } = await createLockTable();
    const table = new LockTable({ client, tableName });
    expect((await table.snapshot('prod')).pause).toEqual({ paused: false });
    // The exact item the operator writes with `aws dynamodb put-item` (docs/operate.md).
    await client.send(new PutItemCommand({ TableName: tableName, Item: { pk: { S: 'pause#prod' }, paused: { BOOL: true }, reason: { S: 'maintenance' } } }));
    expect((await table.snapshot('prod')).pause).toEqual({ paused: true, scope: 'deployment', reason: 'maintenance' });
    expect((await table.snapshot('staging')).pause).toEqual({ paused: false });
    await table.setPaused('*', true);
    expect((await table.snapshot('staging')).pause).toEqual({ paused: true, scope: 'all' });
    await table.setPaused('*', false);
    await table.setPaused('prod', false);
    expect((await table.snapshot('prod')).pause.paused).toBe(false);
  });

  it('counts user recoveries of the last hour for the crash-loop guard', async () => {
    const { client, tableName } = await createLockTable();
    let now = Date.parse('2025-01-01T00:00:00Z');
    const table = new LockTable({ client, tableName, now: () => now });
    await table.recordRecovery('prod');
    now += 10 * 60_000;
    await table.recordRecovery('prod');
    let snap = await table.snapshot('prod');
    expect(snap.recentRecoveries).toHaveLength(2);
    expect(guardTripped(snap, 2)).toBe(true);
    expect(guardTripped(snap, 3)).toBe(false);
    now += HOUR_MS - 5 * 60_000; // the first one is now older than an hour
    snap = await table.snapshot('prod');
    expect(snap.recentRecoveries).toHaveLength(1);
    expect(guardTripped(snap, 2)).toBe(false);
    const item = await client.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: 'recoveries#prod' } } }));
    expect(Number(item.Item?.expiresAt?.N)).toBe(Math.floor((Date.parse('2025-01-01T00:10:00Z') + HOUR_MS) / 1000));
  });

  it('tracks since when a deployment is stale', async () => {
    const { client, tableName } = await createLockTable();
    const table = new LockTable({ client, tableName });
    await table.markStale('prod', 1000);
    await table.markStale('prod', 5000);
    expect((await table.snapshot('prod')).staleSince).toBe(1000);
    await table.clearStale('prod');
    await table.clearStale('prod');
    expect((await table.snapshot('prod')).staleSince).toBeUndefined();
    await table.markStale('prod', 7000);
    await table.recordRecovery('prod');
    expect((await table.snapshot('prod')).staleSince).toBeUndefined();
  });

  it('records restarts complete per mesh CA (RestartRecordStore)', async () => {
    const { client, tableName } = await createLockTable();
    const table = new LockTable({ client, tableName });
    expect(await table.isComplete('prod', 'aa')).toBe(false);
    await table.markComplete('prod', 'aa');
    expect(await table.isComplete('prod', 'aa')).toBe(true);
    expect(await table.isComplete('prod', 'bb')).toBe(false);
    expect(await table.isComplete('staging', 'aa')).toBe(false);
    await table.markComplete('prod', 'bb');
    expect(await table.isComplete('prod', 'aa')).toBe(false);
    // The guard snapshot carries the record, so a healthy reconcile needs no extra read.
    expect((await table.snapshot('prod')).restartsCompleteFor).toBe('bb');
    expect((await table.snapshot('staging')).restartsCompleteFor).toBeUndefined();
  });
});
