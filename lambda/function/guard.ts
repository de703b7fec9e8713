/**
 * One reconcile behind the function's guards: the operator's pause switch, the crash-loop
 * guard (at most MAX_RECOVERIES_PER_HOUR user recoveries per deployment), and the history the
 * guard and the StaleMinutes metric need. Runs under the deployment's lease (deployment-run.ts).
 */
import { decryptOwnerKey } from '../keys/envelope.ts';
import type { RestartRecordStore } from '../kubernetes/types.ts';
import type { ReconcileDeps } from '../reconcile/reconcile.ts';
import type { ReconcileOptions, ReconcileResult } from '../reconcile/types.ts';
import { errorMessage, RecoveryError } from '../shared/errors.ts';
import { targetOf, type DeploymentConfig } from './config.ts';
import type { Trigger } from './events.ts';
import { guardTripped, type GuardSnapshot, type LockTable } from './lease.ts';
import { emptyResult, recoverOutcomeUnknown, userRecoveryDone, type ReportContext } from './report.ts';
import type { Runtime } from './runtime.ts';

export async function guardedReconcile(rt: Runtime, d: DeploymentConfig, trigger: Trigger, options: ReconcileOptions, ctx: ReportContext): Promise<ReconcileResult> {
  // The bundle is read while the guard snapshot is: every reconcile that is not paused needs
  // both, and a paused one only costs an unused GetSecretValue (ciphertext, no Decrypt).
  const prefetched = rt.bundles.load(d.secretId);
  prefetched.catch(() => {}); // a failure surfaces through loadBundle below
  const snap = options.statusOnly ? undefined : await rt.lock.snapshot(d.name);
  if (snap?.pause.paused) {
    const key = snap.pause.scope === 'all' ? 'pause#*' : `pause#${d.name}`;
    ctx.guard = { kind: 'pause-switch', detail: `${key}${snap.pause.reason ? `: ${snap.pause.reason}` : ''}` };
    return emptyResult(
      d.name,
      'paused',
      `recovery of ${d.name} is paused by the operator switch ${key}${snap.pause.reason ? ` (${snap.pause.reason})` : ''}; delete that item from ${rt.config.lockTableName} to resume (docs/operate.md)`,
      options,
    );
  }
  // The crash-loop guard stops only the user recovery itself (just before the KMS Decrypt),
  // so a healthy deployment's reconciles and pending restarts still run while it holds.
  const automatic = trigger.kind !== 'direct';
  const tripped = snap !== undefined && !options.dryRun && guardTripped(snap, rt.config.maxRecoveriesPerHour);
  if (tripped && !automatic) ctx.guardBypassed = true;
  let guardStopped = false;
  const deps: ReconcileDeps = {
    loadBundle: async (secretId) => {
      const bundle = await (secretId === d.secretId ? prefetched : rt.bundles.load(secretId));
      ctx.kmsKeyId = bundle.document.ownerKey.kmsKeyId;
      return bundle;
    },
    decryptOwnerKey: async (bundle, context) => {
      if (tripped && automatic) {
        guardStopped = true;
        throw new RecoveryError(
          'paused',
          `crash-loop guard: ${snap!.recentRecoveries.length} user recoveries of ${d.name} in the last hour (limit ${rt.config.maxRecoveriesPerHour}, MAX_RECOVERIES_PER_HOUR); the Coordinator is stale again — find out why it keeps restarting, then recover by direct invocation or wait for the hour to pass`,
        );
      }
      return decryptOwnerKey(rt.clients.kms, bundle.document.ownerKey, context);
    },
    verifierFactory: rt.verifierFactory(d),
    // Under the lease, the snapshot's restart record is current (only the holder writes it).
    restartRecords: snap ? snapshotRestartRecords(rt.lock, d.name, snap) : rt.lock,
    ...rt.reconcileDeps,
  };
  const kube = rt.kubernetes(d);
  if (kube) deps.kubernetes = kube;

  let result = await rt.reconcile(targetOf(d), deps, options);
  if (guardStopped) {
    // reconcile counts the Decrypt it asked for; the guard refused it before KMS was called.
    result = { ...result, kmsDecrypts: 0 };
    delete result.kmsEncryptionContext;
    ctx.guard = { kind: 'crash-loop-guard', detail: `${snap!.recentRecoveries.length} recoveries in the last hour, limit ${rt.config.maxRecoveriesPerHour}` };
  }
  if (snap) {
    try {
      await recordHistory(rt, result, snap, trigger, ctx);
    } catch (err) {
      rt.telemetry.logger.error('could not record recovery history; the crash-loop guard may undercount', { error: errorMessage(err) });
    }
  }
  return result;
}

/** Stale bookkeeping for StaleMinutes; the crash-loop guard's history. */
async function recordHistory(rt: Runtime, result: ReconcileResult, snap: GuardSnapshot, trigger: Trigger, ctx: ReportContext): Promise<void> {
  const t = rt.now();
  const triggerTime = trigger.kind === 'event' || trigger.kind === 'alarm' ? Date.parse(trigger.time) : NaN;
  const since = snap.staleSince ?? (Number.isFinite(triggerTime) && triggerTime < t ? triggerTime : t);
  if (userRecoveryDone(result)) {
    ctx.staleMinutes = (t - since) / 60_000;
    await rt.lock.recordRecovery(result.deployment, t);
    return;
  }
  if (recoverOutcomeUnknown(result)) {
    rt.telemetry.logger.warn('Recover was sent but its answer was lost; counted as a recovery by the crash-loop guard', { deployment: result.deployment });
    await rt.lock.recordRecovery(result.deployment, t, true);
  }
  if (result.coordinatorState === 'stale') {
    ctx.staleMinutes = (t - since) / 60_000;
    await rt.lock.markStale(result.deployment, since);
  } else if (result.coordinatorState === 'healthy' && snap.staleSince !== undefined) {
    ctx.staleMinutes = (t - snap.staleSince) / 60_000;
    await rt.lock.clearStale(result.deployment);
  }
}

/** The restart record as read by the snapshot, kept current by our own writes. */
function snapshotRestartRecords(lock: LockTable, deployment: string, snap: GuardSnapshot): RestartRecordStore {
  let completeFor = snap.restartsCompleteFor;
  return {
    isComplete: async (name, fingerprint) => (name === deployment ? completeFor === fingerprint : lock.isComplete(name, fingerprint)),
    markComplete: async (name, fingerprint) => {
      await lock.markComplete(name, fingerprint);
      if (name === deployment) completeFor = fingerprint;
    },
  };
}
