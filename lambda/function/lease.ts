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
 * - `record#<deployment>`: the deployment's one record (RecoveryRecord, docs/operate.md):
 *   `attempts` — every Recover, written before the request leaves (the crash-loop guard
 *   counts them; one left `pending` is an interrupted attempt); `meshCa` — the current mesh
 *   CA key by SPKI SHA-256 with its creation time, cause and restart state; `staleSince`
 *   (StaleMinutes); `peersSince` (stale with Ready peers, for `peers-stuck`). Written only by the lease holder, each write conditional on `version`,
 *   so a holder that lost its lease can neither send Recover nor overwrite the record.
 */
import {
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type {
  MeshCaGeneration,
  RecoverAttempt,
  RecoverAttemptStatus,
  RecoveryRecord,
  RecoveryRecordStore,
} from '../reconcile/types.ts';
import { LOCK_TABLE } from '../shared/contract.ts';

export const HOUR_MS = 3_600_000;

const keys = {
  lock: (deployment: string) => `lock#${deployment}`,
  pause: (deployment: string) => `${LOCK_TABLE.pausePrefix}${deployment}`,
  pauseAll: `${LOCK_TABLE.pausePrefix}*`,
  record: (deployment: string) => `record#${deployment}`,
} as const;

/** Attempts the crash-loop guard counts: the seed may have reached the Coordinator. */
const COUNTED_ATTEMPTS: readonly RecoverAttemptStatus[] = ['pending', 'accepted', 'unknown', 'interrupted'];

/** Settled attempts are kept this long (the guard's window); the newest ATTEMPTS_KEPT at most. */
const ATTEMPTS_KEPT = 50;

export interface Lease {
  deployment: string;
  owner: string;
  expiresAt: number;
}

export type AcquireResult =
  { acquired: true; lease: Lease } | { acquired: false; holder?: { owner: string; expiresAt: number } };

export interface PauseState {
  paused: boolean;
  /** Which switch is on: the deployment's or the global `pause#*`. */
  scope?: 'deployment' | 'all';
  reason?: string;
}

/** What one reconcile needs to know before it starts, read in one round trip. */
export interface GuardSnapshot {
  pause: PauseState;
  /** The deployment's record as read (strongly consistent) and its version (0: no item yet). */
  record: RecoveryRecord;
  version: number;
  /** Attempts of the last hour the crash-loop guard counts, oldest first. */
  recentAttempts: RecoverAttempt[];
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

export class LockTable {
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
      if (
        err instanceof ConditionalCheckFailedException ||
        (err as { name?: string }).name === 'ConditionalCheckFailedException'
      ) {
        const item = (err as ConditionalCheckFailedException).Item;
        const holderOwner = item?.owner?.S;
        const holderExpires = item?.expiresAt?.N;
        return holderOwner && holderExpires
          ? { acquired: false, holder: { owner: holderOwner, expiresAt: Number(holderExpires) } }
          : { acquired: false };
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
      this.#client.send(
        new DeleteItemCommand({
          TableName: this.#table,
          Key: { pk: s(keys.lock(lease.deployment)) },
          ConditionExpression: dropFollowUp ? '#o = :owner' : '#o = :owner AND attribute_not_exists(followUp)',
          ExpressionAttributeNames: { '#o': 'owner' },
          ExpressionAttributeValues: { ':owner': s(lease.owner) },
        }),
      ),
    );
  }

  /** Asks the current holder to reconcile once more. False when no live lease exists. */
  async requestFollowUp(deployment: string): Promise<boolean> {
    return this.#conditional(() =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#table,
          Key: { pk: s(keys.lock(deployment)) },
          UpdateExpression: 'SET followUp = :t',
          ConditionExpression: 'attribute_exists(pk) AND expiresAt >= :now',
          ExpressionAttributeValues: { ':t': { BOOL: true }, ':now': n(epochSeconds(this.#now())) },
        }),
      ),
    );
  }

  /** Clears a pending follow-up of our lease; true when there was one (the lease stays ours). */
  async takeFollowUp(lease: Lease): Promise<boolean> {
    return this.#conditional(() =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#table,
          Key: { pk: s(keys.lock(lease.deployment)) },
          UpdateExpression: 'REMOVE followUp',
          ConditionExpression: '#o = :owner AND attribute_exists(followUp)',
          ExpressionAttributeNames: { '#o': 'owner' },
          ExpressionAttributeValues: { ':owner': s(lease.owner) },
        }),
      ),
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

  /** Pause switches and the deployment's record, strongly consistent, one call. */
  async snapshot(deployment: string): Promise<GuardSnapshot> {
    const wanted = [keys.pause(deployment), keys.pauseAll, keys.record(deployment)];
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
    const item = items.get(keys.record(deployment));
    const record = item ? recordFrom(item) : { attempts: [] };
    return {
      pause,
      record,
      version: Number(item?.version?.N ?? 0),
      recentAttempts: recentAttempts(record, this.#now()),
    };
  }

  /**
   * Writes the record if it is still at `version` (0: absent); returns the new version.
   * Settled attempts older than the guard's window are dropped on the way.
   */
  async putRecord(deployment: string, record: RecoveryRecord, version: number): Promise<number> {
    const cutoff = this.#now() - HOUR_MS;
    // Kept past the window: attempts still pending or without their audit record (the next holder writes it).
    const attempts = record.attempts
      .filter((a) => a.status === 'pending' || !a.reported || a.at > cutoff)
      .slice(-ATTEMPTS_KEPT);
    const next = version + 1;
    await this.#client.send(
      new PutItemCommand({
        TableName: this.#table,
        Item: { pk: s(keys.record(deployment)), version: n(next), ...recordItem({ ...record, attempts }) },
        ConditionExpression: version === 0 ? 'attribute_not_exists(pk)' : 'version = :v',
        ...(version === 0 ? {} : { ExpressionAttributeValues: { ':v': n(version) } }),
      }),
    );
    return next;
  }

  /**
   * The record as reconcile and the guard use it: kept in memory from `snap`, every change
   * written conditionally. A change that loses the condition (another writer: the lease was
   * lost, or an operator edited the item) throws, and the in-memory copy stays as it was.
   */
  recordStore(
    deployment: string,
    snap: Pick<GuardSnapshot, 'record' | 'version'>,
    decorate: (r: RecoveryRecord) => RecoveryRecord = (r) => r,
  ): RecoveryRecordStore {
    let record = structuredClone(snap.record);
    let version = snap.version;
    return {
      read: () => Promise.resolve(structuredClone(record)),
      update: async (change) => {
        const next = decorate(change(structuredClone(record)));
        try {
          version = await this.putRecord(deployment, next, version);
        } catch (err) {
          if ((err as { name?: string }).name === 'ConditionalCheckFailedException') {
            throw new Error(
              `the record of ${deployment} changed under this reconcile (lease lost or item edited); nothing was written`,
              { cause: err },
            );
          }
          throw err;
        }
        record = next;
        return structuredClone(record);
      },
    };
  }

  /** Operator pause switch, for tests and tooling; operators use `aws dynamodb put-item` (docs/operate.md). */
  async setPaused(scope: string, paused: boolean, reason?: string): Promise<void> {
    const pk = scope === '*' ? keys.pauseAll : keys.pause(scope);
    const item: Record<string, AttributeValue> = { pk: s(pk), paused: { BOOL: paused } };
    if (reason) item.reason = s(reason);
    await this.#client.send(new PutItemCommand({ TableName: this.#table, Item: item }));
  }
}

/** The attempts of the last hour the crash-loop guard counts, oldest first. */
function recentAttempts(record: RecoveryRecord, now: number): RecoverAttempt[] {
  return record.attempts
    .filter((a) => COUNTED_ATTEMPTS.includes(a.status) && a.at > now - HOUR_MS)
    .sort((a, b) => a.at - b.at);
}

/** The crash-loop guard: Recover attempts allowed per deployment in the current hour. */
export function guardTripped(snapshot: Pick<GuardSnapshot, 'recentAttempts'>, maxPerHour: number): boolean {
  return snapshot.recentAttempts.length >= maxPerHour;
}

// ---- the record in DynamoDB attributes (readable with `aws dynamodb get-item`) -------------

function recordItem(r: RecoveryRecord): Record<string, AttributeValue> {
  return marshall(r, { removeUndefinedValues: true });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringMap = (v: unknown): v is Record<string, string> =>
  isObject(v) && Object.values(v).every((x) => typeof x === 'string');
const STATUSES: readonly RecoverAttemptStatus[] = [
  'pending',
  'accepted',
  'refused',
  'unknown',
  'not-sent',
  'interrupted',
];

/** The record as written by recordItem; an attempt or key generation an operator mangled is dropped, not guessed. */
function recordFrom(item: Record<string, AttributeValue>): RecoveryRecord {
  const raw = unmarshall(item);
  const attempts = (Array.isArray(raw.attempts) ? raw.attempts : []).filter(
    (a): a is RecoverAttempt =>
      isObject(a) &&
      typeof a.id === 'string' &&
      typeof a.at === 'number' &&
      STATUSES.includes(a.status as RecoverAttemptStatus) &&
      typeof a.force === 'boolean',
  );
  for (const a of attempts)
    if (a.kmsEncryptionContext !== undefined && !isStringMap(a.kmsEncryptionContext)) delete a.kmsEncryptionContext;
  const record: RecoveryRecord = { attempts };
  const g = raw.meshCa;
  if (
    isObject(g) &&
    typeof g.spkiSha256 === 'string' &&
    typeof g.createdAt === 'number' &&
    (g.cause === 'recover' || g.cause === 'observed')
  ) {
    record.meshCa = g as unknown as MeshCaGeneration;
  }
  if (typeof raw.staleSince === 'number') record.staleSince = raw.staleSince;
  if (typeof raw.peersSince === 'number') record.peersSince = raw.peersSince;
  return record;
}
