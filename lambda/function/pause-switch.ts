/**
 * The operator's pause switch, set through the function itself: `contrast-autorecover pause`
 * and `resume` invoke it directly, so every change leaves CloudTrail's Lambda `Invoke` data
 * event (who) and an audit record here (what, why) — raw DynamoDB writes leave neither unless
 * DynamoDB data events are logged. The item is the one the guard reads (`pause#<deployment>`,
 * lease.ts `snapshot`: `paused`, `reason`); this adds who set it, since when and in which
 * request, which `status` reports.
 *
 * Also what `status` tells an operator besides the Coordinator's state: the pause switches
 * and when the bundle's cached attestation collateral expires (doctor warns ahead of it).
 */
import { DeleteItemCommand, GetItemCommand, PutItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { cacheExpiry } from '../attestation/collateral/bundle-cache.ts';
import {
  type OperatorState,
  type PauseInfo,
  type PauseSwitchAction,
  type PauseSwitchResult,
} from '../shared/operator-answers.ts';
import { LOCK_TABLE, OPERATIONS } from '../shared/contract.ts';
import { errorMessage } from '../shared/errors.ts';
import { AUDIT_SCHEMA } from './report.ts';
import type { Trigger } from './events.ts';
import type { Runtime } from './runtime.ts';

const s = (v: string): AttributeValue => ({ S: v });
const pk = (deployment: string) => `${LOCK_TABLE.pausePrefix}${deployment}`;

function pauseOf(item: Record<string, AttributeValue> | undefined, scope: PauseInfo['scope']): PauseInfo | undefined {
  if (item?.paused?.BOOL !== true) return undefined;
  const p: PauseInfo = { scope };
  if (item.by?.S) p.by = item.by.S;
  if (item.since?.S) p.since = item.since.S;
  if (item.reason?.S) p.reason = item.reason.S;
  if (item.requestId?.S) p.requestId = item.requestId.S;
  return p;
}

async function readSwitch(rt: Runtime, key: string): Promise<Record<string, AttributeValue> | undefined> {
  const out = await rt.clients.dynamodb.send(
    new GetItemCommand({ TableName: rt.config.lockTableName, Key: { pk: s(key) }, ConsistentRead: true }),
  );
  return out.Item;
}

/** The switches that hold this deployment (its own, then the global one). */
export async function pauseState(rt: Runtime, deployment: string): Promise<PauseInfo[]> {
  const [own, all] = await Promise.all([readSwitch(rt, pk(deployment)), readSwitch(rt, pk('*'))]);
  return [pauseOf(own, 'deployment'), pauseOf(all, 'all')].filter((p): p is PauseInfo => p !== undefined);
}

/** Pause switches and collateral expiry of one deployment; a part that cannot be read is left out (logged). */
export async function operatorState(rt: Runtime, deployment: string, secretId: string): Promise<OperatorState> {
  const state: OperatorState = { deployment, paused: [] };
  try {
    state.paused = await pauseState(rt, deployment);
  } catch (err) {
    rt.telemetry.logger.warn('status: could not read the pause switches', { deployment, error: errorMessage(err) });
  }
  try {
    const cache = (await rt.bundles.load(secretId)).document.collateral;
    if (!cache || Object.keys(cache).length === 0) state.collateral = { none: true };
    else {
      const { earliest, unreadable } = cacheExpiry(cache);
      state.collateral = {
        ...(earliest?.expiry.expiresAt
          ? {
              expiresAt: earliest.expiry.expiresAt.toISOString(),
              limitedBy: earliest.expiry.limitedBy,
              file: earliest.file,
            }
          : {}),
        ...(unreadable.length ? { unreadable } : {}),
      };
    }
  } catch (err) {
    rt.telemetry.logger.warn("status: could not read the bundle's collateral cache", {
      deployment,
      error: errorMessage(err),
    });
  }
  return state;
}

/**
 * Sets or clears `pause#<deployment>` for a direct `pause`/`resume` invocation and writes its
 * audit record. Only the deployment's own switch: the global `pause#*` stays an administrator's
 * DynamoDB item (status shows it).
 */
export async function switchPause(
  rt: Runtime,
  trigger: Extract<Trigger, { kind: 'direct' }>,
  requestId: string,
): Promise<PauseSwitchResult> {
  const action = trigger.action as PauseSwitchAction;
  const key = pk(trigger.deployment);
  const by = trigger.caller.declaredCaller ?? `request ${requestId} (caller undeclared; see CloudTrail's Invoke event)`;
  let before: PauseInfo | undefined;
  let after: PauseInfo | undefined;
  if (action === 'pause') {
    after = { scope: 'deployment', by, since: new Date(rt.now()).toISOString(), reason: trigger.reason, requestId };
    const out = await rt.clients.dynamodb.send(
      new PutItemCommand({
        TableName: rt.config.lockTableName,
        Item: {
          pk: s(key),
          paused: { BOOL: true },
          reason: s(trigger.reason),
          by: s(by),
          since: s(after.since!),
          requestId: s(requestId),
        },
        ReturnValues: 'ALL_OLD',
      }),
    );
    before = pauseOf(out.Attributes, 'deployment');
  } else {
    const out = await rt.clients.dynamodb.send(
      new DeleteItemCommand({ TableName: rt.config.lockTableName, Key: { pk: s(key) }, ReturnValues: 'ALL_OLD' }),
    );
    before = pauseOf(out.Attributes, 'deployment');
  }
  const result: PauseSwitchResult = {
    action,
    deployment: trigger.deployment,
    ...(before ? { before } : {}),
    ...(after ? { after } : {}),
  };
  rt.telemetry.logger.info(OPERATIONS.logMessages.audit, {
    audit: {
      schema: AUDIT_SCHEMA,
      requestId,
      correlationId: trigger.id,
      deployment: trigger.deployment,
      action,
      trigger: { kind: trigger.kind, id: trigger.id, time: trigger.time, action, reason: trigger.reason },
      caller: { ...trigger.caller },
      pauseSwitch: { key, before: before ?? null, after: after ?? null },
    },
  });
  return result;
}
