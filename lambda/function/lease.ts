/**
 * Coordination state in the lock table (partition key `pk`, TTL attribute `expiresAt`):
 *
 * - `lock#<deployment>`: lease lock. One reconcile at a time per deployment; a lease left by
 *   a dead invocation is taken over once `expiresAt` passed (at once by a retry of the same
 *   request). Not a cached result: the next genuine restart, an hour later, acquires a fresh
 *   lease and reconciles again. A trigger that finds the lease held sets `followUp`; the
 *   holder then reconciles once more before it lets go, so no trigger is lost to a reconcile
 *   that had already looked at the Coordinator.
 * - `pause#<deployment>`, `pause#*`: operator pause switch (`paused` = true).
 * - `recoveries#<deployment>`: epoch-ms timestamps of user recoveries (crash-loop guard),
 *   and `staleSince` (for the StaleMinutes metric).
 * - `restarts#<deployment>`: the mesh CA fingerprint whose workload restarts are complete.
 */
import {
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import type { RestartRecordStore } from '../kubernetes/types.ts';
import { LOCK_TABLE } from '../shared/contract.ts';

export const HOUR_MS = 3_600_000;

export const keys = {
  lock: (deployment: string) => `lock#${deployment}`,
  pause: (deployment: string) => `${LOCK_TABLE.pausePrefix}${deployment}`,
  pauseAll: `${LOCK_TABLE.pausePrefix}*`,
  recoveries: (deployment: string) => `recoveries#${deployment}`,
  restarts: (deployment: string) => `restarts#${deployment}`,
} as const;

export interface Lease {
  deployment: string;
  owner: string;
  expiresAt: number;
}

export type AcquireResult = { acquired: true; lease: Lease } | { acquired: false; holder?: { owner: string; expiresAt: number } };

export interface PauseState {
  paused: boolean;
  /** Which switch is on: the deployment's or the global `pause#*`. */
  scope?: 'deployment' | 'all';
  reason?: string;
}

/** What one reconcile needs to know before it starts, read in one round trip. */
export interface GuardSnapshot {
  pause: PauseState;
  /** User recoveries in the last hour (epoch ms, oldest first). */
  recentRecoveries: number[];
  /** Since when (epoch ms) reconciles have found the Coordinator stale, if they have. */
  staleSince?: number;
  /**
   * Mesh CA fingerprint whose workload restarts are recorded complete. Read with the rest so
   * a healthy reconcile needs no extra round trip; it stays valid while the lease is held,
   * because only the lease holder writes it.
   */
  restartsCompleteFor?: string;
}

export interface LockTableOptions {
  client: DynamoDBClient;
  tableName: string;
  /** Injectable clock (epoch ms) for tests. */
  now?: () => number;
}

const s = (v: string): AttributeValue => ({ S: v });
const n = (v: number): AttributeValue => ({ N: String(Math.floor(v)) });
const epochSeconds = (ms: number) => Math.floor(ms / 1000);

export class LockTable implements RestartRecordStore {
  readonly #client: DynamoDBClient;
  readonly #table: string;
  readonly #now: () => number;

  constructor(options: LockTableOptions) {
    this.#client = options.client;
    this.#table = options.tableName;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Conditional put: succeeds when no lease exists or the existing one expired. The lease
   * outlives the function timeout a little, so a live holder never loses it, and a crashed
   * holder's lease is taken over by the first reconcile after it expires.
   */
  async acquire(deployment: string, owner: string, leaseSeconds: number): Promise<AcquireResult> {
    const now = epochSeconds(this.#now());
    const expiresAt = now + Math.max(1, Math.ceil(leaseSeconds));
    try {
      await this.#client.send(
        new PutItemCommand({
          TableName: this.#table,
          Item: { pk: s(keys.lock(deployment)), owner: s(owner), expiresAt: n(expiresAt), acquiredAt: n(now) },
          // Same owner: Lambda retries an async invocation with the same request id, so a
          // lease of that id belongs to an attempt that died.
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now OR #o = :owner',
          ExpressionAttributeNames: { '#o': 'owner' },
          ExpressionAttributeValues: { ':now': n(now), ':owner': s(owner) },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { acquired: true, lease: { deployment, owner, expiresAt } };
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException || (err as { name?: string }).name === 'ConditionalCheckFailedException') {
        const item = (err as ConditionalCheckFailedException).Item;
        const holderOwner = item?.owner?.S;
        const holderExpires = item?.expiresAt?.N;
        return holderOwner && holderExpires ? { acquired: false, holder: { owner: holderOwner, expiresAt: Number(holderExpires) } } : { acquired: false };
      }
      throw err;
    }
  }

  /**
   * Deletes the lease only if it is still ours (a taken-over lease belongs to someone else)
   * and no follow-up was requested meanwhile — unless `dropFollowUp`. False means: not
   * released; `takeFollowUp` tells whether a follow-up is why.
   */
  async release(lease: Lease, dropFollowUp = false): Promise<boolean> {
    return this.#conditional(() =>
      this.#client.send(new DeleteItemCommand({
        TableName: this.#table,
        Key: { pk: s(keys.lock(lease.deployment)) },
        ConditionExpression: dropFollowUp ? '#o = :owner' : '#o = :owner AND attribute_not_exists(followUp)',
        ExpressionAttributeNames: { '#o': 'owner' },
        ExpressionAttributeValues: { ':owner': s(lease.owner) },
      })),
    );
  }

  /** Asks the current holder to reconcile once more. False when no live lease exists. */
  async requestFollowUp(deployment: string): Promise<boolean> {
    return this.#conditional(() =>
      this.#client.send(new UpdateItemCommand({
        TableName: this.#table,
        Key: { pk: s(keys.lock(deployment)) },
        UpdateExpression: 'SET followUp = :t',
        ConditionExpression: 'attribute_exists(pk) AND expiresAt >= :now',
        ExpressionAttributeValues: { ':t': { BOOL: true }, ':now': n(epochSeconds(this.#now())) },
      })),
    );
  }

  /** Clears a pending follow-up of our lease; true when there was one (the lease stays ours). */
  async takeFollowUp(lease: Lease): Promise<boolean> {
    return this.#conditional(() =>
      this.#client.send(new UpdateItemCommand({
        TableName: this.#table,
        Key: { pk: s(keys.lock(lease.deployment)) },
        UpdateExpression: 'REMOVE followUp',
        ConditionExpression: '#o = :owner AND attribute_exists(followUp)',
        ExpressionAttributeNames: { '#o': 'owner' },
        ExpressionAttributeValues: { ':owner': s(lease.owner) },
      })),
    );
  }

  /** Runs a conditional write; false when its condition did not hold. */
  async #conditional(write: () => Promise<unknown>): Promise<boolean> {
    try {
      await write();
      return true;
    } catch (err) {
      if ((err as { name?: string }).name === 'ConditionalCheckFailedException') return false;
      throw err;
    }
  }


  /** Pause switches, recovery history and restart record of one deployment, strongly consistent, one call. */
  async snapshot(deployment: string): Promise<GuardSnapshot> {
    const wanted = [keys.pause(deployment), keys.pauseAll, keys.recoveries(deployment), keys.restarts(deployment)];
    const out = await this.#client.send(
      new BatchGetItemCommand({
        RequestItems: { [this.#table]: { Keys: wanted.map((pk) => ({ pk: s(pk) })), ConsistentRead: true } },
      }),
    );
    if (out.UnprocessedKeys && Object.keys(out.UnprocessedKeys).length > 0) {
      // Never guess "not paused" from a partial read.
      throw new Error(`lock table ${this.#table}: BatchGetItem left keys unprocessed (throttled); retry`);
    }
    const items = new Map((out.Responses?.[this.#table] ?? []).map((i) => [i.pk?.S ?? '', i]));
    const pauseOf = (pk: string, scope: PauseState['scope']): PauseState | undefined => {
      const item = items.get(pk);
      if (item?.paused?.BOOL !== true) return undefined;
      const p: PauseState = { paused: true, scope };
      if (item.reason?.S) p.reason = item.reason.S;
      return p;
    };
    const pause = pauseOf(keys.pause(deployment), 'deployment') ?? pauseOf(keys.pauseAll, 'all') ?? { paused: false };
    const rec = items.get(keys.recoveries(deployment));
    const cutoff = this.#now() - HOUR_MS;
    const recentRecoveries = (rec?.times?.L ?? [])
      .map((v) => Number(v.N))
      .filter((t) => Number.isFinite(t) && t > cutoff)
      .sort((a, b) => a - b);
    const snap: GuardSnapshot = { pause, recentRecoveries };
    if (rec?.staleSince?.N) snap.staleSince = Number(rec.staleSince.N);
    const restarts = items.get(keys.restarts(deployment))?.meshCaFingerprint?.S;
    if (restarts) snap.restartsCompleteFor = restarts;
    return snap;
  }

  /**
   * Appends a user recovery; the item expires an hour after the last one. `staleSince` is
   * cleared unless the recovery's outcome is unknown (`stillStale`: Recover sent, no answer).
   */
  async recordRecovery(deployment: string, at: number = this.#now(), stillStale = false): Promise<void> {
    await this.#client.send(
      new UpdateItemCommand({
        TableName: this.#table,
        Key: { pk: s(keys.recoveries(deployment)) },
        UpdateExpression: stillStale
          ? 'SET times = list_append(if_not_exists(times, :empty), :t), expiresAt = :exp'
          : 'SET times = list_append(if_not_exists(times, :empty), :t), expiresAt = :exp REMOVE staleSince',
        ExpressionAttributeValues: { ':empty': { L: [] }, ':t': { L: [n(at)] }, ':exp': n(epochSeconds(at + HOUR_MS)) },
      }),
    );
  }

  /** Remembers the first time a reconcile found the Coordinator stale (kept for a day). */
  async markStale(deployment: string, since: number): Promise<void> {
    await this.#client.send(
      new UpdateItemCommand({
        TableName: this.#table,
        Key: { pk: s(keys.recoveries(deployment)) },
        UpdateExpression: 'SET staleSince = if_not_exists(staleSince, :since), expiresAt = :exp',
        ExpressionAttributeValues: { ':since': n(since), ':exp': n(epochSeconds(this.#now() + 24 * HOUR_MS)) },
      }),
    );
  }

  /** The Coordinator is healthy again without our Recover (peer, human): forget `staleSince`. */
  async clearStale(deployment: string): Promise<void> {
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#table,
          Key: { pk: s(keys.recoveries(deployment)) },
          UpdateExpression: 'REMOVE staleSince',
          ConditionExpression: 'attribute_exists(staleSince)',
        }),
      );
    } catch (err) {
      if ((err as { name?: string }).name !== 'ConditionalCheckFailedException') throw err;
    }
  }

  // RestartRecordStore (Kubernetes issue): restarts complete for mesh CA <fingerprint>.

  async isComplete(deployment: string, meshCaFingerprint: string): Promise<boolean> {
    const out = await this.#client.send(
      new GetItemCommand({ TableName: this.#table, Key: { pk: s(keys.restarts(deployment)) }, ConsistentRead: true }),
    );
    return out.Item?.meshCaFingerprint?.S === meshCaFingerprint;
  }

  async markComplete(deployment: string, meshCaFingerprint: string): Promise<void> {
    await this.#client.send(
      new PutItemCommand({
        TableName: this.#table,
        Item: { pk: s(keys.restarts(deployment)), meshCaFingerprint: s(meshCaFingerprint), completedAt: n(epochSeconds(this.#now())) },
      }),
    );
  }

  /** Operator pause switch, for tests and tooling; operators use `aws dynamodb put-item` (docs/operate.md). */
  async setPaused(scope: string, paused: boolean, reason?: string): Promise<void> {
    const pk = scope === '*' ? keys.pauseAll : keys.pause(scope);
    const item: Record<string, AttributeValue> = { pk: s(pk), paused: { BOOL: paused } };
    if (reason) item.reason = s(reason);
    await this.#client.send(new PutItemCommand({ TableName: this.#table, Item: item }));
  }
}

/** The crash-loop guard: automatic user recoveries allowed in the current hour. */
export function guardTripped(snapshot: GuardSnapshot, maxPerHour: number): boolean {
  return snapshot.recentRecoveries.length >= maxPerHour;
}
