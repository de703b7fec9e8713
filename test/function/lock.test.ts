import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { guardTripped, HOUR_MS, LockTable } from '../../lambda/function/lease.ts';
import type { RecoverAttempt } from '../../lambda/reconcile/types.ts';
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
    await client.send(
      new PutItemCommand({
        TableName: tableName,
        Item: { pk: { S: 'pause#prod' }, paused: { BOOL: true }, reason: { S: 'maintenance' } },
      }),
    );
    expect((await table.snapshot('prod')).pause).toEqual({ paused: true, scope: 'deployment', reason: 'maintenance' });
    expect((await table.snapshot('staging')).pause).toEqual({ paused: false });
    await table.setPaused('*', true);
    expect((await table.snapshot('staging')).pause).toEqual({ paused: true, scope: 'all' });
    await table.setPaused('*', false);
    await table.setPaused('prod', false);
    expect((await table.snapshot('prod')).pause.paused).toBe(false);
  });

  const attempt = (id: string, at: number, status: RecoverAttempt['status'] = 'pending'): RecoverAttempt => ({
    id,
    at,
    status,
    force: false,
  });

  it('keeps one record per deployment: the crash-loop guard counts Recover attempts of the last hour from their intent on', async () => {
    const { client, tableName } = await createLockTable();
    let now = Date.parse('2025-01-01T00:00:00Z');
    const table = new LockTable({ client, tableName, now: () => now });
    const store = table.recordStore('prod', await table.snapshot('prod'));
    // The intent alone counts: written before Recover leaves, so a kill afterwards is counted.
    await store.update((r) => ({ ...r, attempts: [...r.attempts, attempt('a', now)] }));
    expect((await table.snapshot('prod')).recentAttempts.map((a) => a.id)).toEqual(['a']);
    now += 10 * 60_000;
    await store.update((r) => ({
      ...r,
      attempts: [...r.attempts.map((a) => ({ ...a, status: 'accepted' as const })), attempt('b', now)],
    }));
    let snap = await table.snapshot('prod');
    expect(snap.recentAttempts.map((a) => [a.id, a.status])).toEqual([
      ['a', 'accepted'],
      ['b', 'pending'],
    ]);
    expect(guardTripped(snap, 2)).toBe(true);
    expect(guardTripped(snap, 3)).toBe(false);
    // A refused or never-sent Recover is no recovery: not counted.
    await store.update((r) => ({
      ...r,
      attempts: [...r.attempts, attempt('c', now, 'refused'), attempt('d', now, 'not-sent')],
    }));
    expect((await table.snapshot('prod')).recentAttempts).toHaveLength(2);
    now += HOUR_MS - 5 * 60_000; // 'a' is now older than an hour
    snap = await table.snapshot('prod');
    expect(snap.recentAttempts.map((a) => a.id)).toEqual(['b']);
    expect(guardTripped(snap, 2)).toBe(false);
    expect((await table.snapshot('staging')).recentAttempts).toEqual([]);
    // The item has no TTL: the mesh CA record in it must outlive the guard's hour.
    const item = await client.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: 'record#prod' } } }));
    expect(item.Item?.expiresAt).toBeUndefined();
    expect(item.Item?.attempts?.L?.[0]?.M).toMatchObject({ id: { S: 'a' }, status: { S: 'accepted' } });
  });

  it('writes only on top of what it read: a holder that lost its lease can neither record an intent nor overwrite the record', async () => {
    const { client, tableName } = await createLockTable();
    const table = new LockTable({ client, tableName });
    const snap = await table.snapshot('prod');
    const mine = table.recordStore('prod', snap);
    const theirs = table.recordStore('prod', snap);
    await theirs.update((r) => ({ ...r, attempts: [attempt('theirs', Date.now())] }));
    await expect(mine.update((r) => ({ ...r, attempts: [attempt('mine', Date.now())] }))).rejects.toThrow(
      /changed under this reconcile/,
    );
    expect((await table.snapshot('prod')).record.attempts.map((a) => a.id)).toEqual(['theirs']);
    // Its own writes chain: each update builds on the last.
    await theirs.update((r) => ({ ...r, staleSince: 1000 }));
    await theirs.update((r) => ({
      ...r,
      meshCa: {
        spkiSha256: 'aa',
        createdAt: 5,
        cause: 'recover',
        attemptId: 'theirs',
        certificateNotBefore: 1,
        firstSeenAt: 6,
        restartsCompleteAt: 7,
      },
    }));
    expect((await table.snapshot('prod')).record).toEqual({
      attempts: [expect.objectContaining({ id: 'theirs', status: 'pending' })],
      staleSince: 1000,
      meshCa: {
        spkiSha256: 'aa',
        createdAt: 5,
        cause: 'recover',
        attemptId: 'theirs',
        certificateNotBefore: 1,
        firstSeenAt: 6,
        restartsCompleteAt: 7,
      },
    });
  });

  it('drops audited attempts older than the hour, keeps pending or unaudited ones however old', async () => {
    const { client, tableName } = await createLockTable();
    const now = Date.parse('2025-01-01T12:00:00Z');
    const table = new LockTable({ client, tableName, now: () => now });
    const store = table.recordStore('prod', await table.snapshot('prod'));
    const audited = (a: RecoverAttempt): RecoverAttempt => ({ ...a, reported: true });
    await store.update((r) => ({
      ...r,
      attempts: [
        audited(attempt('old', now - 2 * HOUR_MS, 'accepted')),
        attempt('lost', now - 2 * HOUR_MS, 'pending'),
        attempt('unaudited', now - 2 * HOUR_MS, 'accepted'),
        audited(attempt('new', now, 'accepted')),
      ],
    }));
    const kept = (await table.snapshot('prod')).record.attempts;
    expect(kept.map((a) => a.id)).toEqual(['lost', 'unaudited', 'new']);
    expect(kept.map((a) => a.reported === true)).toEqual([false, false, true]);
  });
});
