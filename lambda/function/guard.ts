/**
 * One reconcile behind the function's guards: the operator's pause switch, the crash-loop
 * guard (at most MAX_RECOVERIES_PER_HOUR Recover attempts per deployment), interrupted
 * attempts, and the history the guard and the StaleMinutes metric need. Runs under the
 * deployment's lease (deployment-run.ts); everything it remembers lives in the deployment's
 * one record (lease.ts), which reconcile also writes through (the Recover intent, the mesh CA
 * key, the restarts).
 */
import { decryptOwnerKey } from '../keys/envelope.ts';
import type { ReconcileDeps } from '../reconcile/reconcile.ts';
import type { ReconcileOptions, ReconcileResult, RecoveryRecord, RecoveryRecordStore } from '../reconcile/types.ts';
import { errorMessage, RecoveryError } from '../shared/errors.ts';
import { targetOf, type DeploymentConfig } from './config.ts';
import type { Trigger } from './events.ts';
import { guardTripped, type GuardSnapshot } from './lease.ts';
import { emptyResult, logInterruptedAttempt, recoverOutcomeUnknown, userRecoveryDone, type ReportContext } from './report.ts';
import type { Runtime } from './runtime.ts';

export async function guardedReconcile(rt: Runtime, d: DeploymentConfig, trigger: Trigger, options: ReconcileOptions, ctx: ReportContext): Promise<ReconcileResult> {
  // The bundle is read while the guard snapshot is: every reconcile that is not paused needs
  // both, and a paused one only costs an unused GetSecretValue (ciphertext, no Decrypt).
  const prefetched = rt.bundles.load(d.secretId);
  prefetched.catch(() => {}); // a failure surfaces through loadBundle below
  // Status holds no lease: it reads the record (to date the mesh CA key) and writes nothing;
  // without the lock table it still answers, dating the key by its certificate.
  const snap = options.statusOnly
    ? await rt.lock.snapshot(d.name).catch((): GuardSnapshot => ({ pause: { paused: false }, record: { attempts: [] }, version: 0, recentAttempts: [] }))
    : await rt.lock.snapshot(d.name);
  if (!options.statusOnly && snap.pause.paused) {
    const key = snap.pause.scope === 'all' ? 'pause#*' : `pause#${d.name}`;
    ctx.guard = { kind: 'pause-switch', detail: `${key}${snap.pause.reason ? `: ${snap.pause.reason}` : ''}` };
    return emptyResult(
      d.name,
      'paused',
      `recovery of ${d.name} is paused by the operator switch ${key}${snap.pause.reason ? ` (${snap.pause.reason})` : ''}; delete that item from ${rt.config.lockTableName} to resume (docs/operate.md)`,
      options,
    );
  }
  const records = options.statusOnly ? readOnlyRecords(snap.record) : rt.lock.recordStore(d.name, snap, signedBy(ctx, trigger));
  if (!options.statusOnly) await auditUnreportedAttempts(rt, d, records, ctx);

  // The crash-loop guard stops only the user recovery itself (just before the KMS Decrypt),
  // so a healthy deployment's reconciles and pending restarts still run while it holds.
  const automatic = trigger.kind !== 'direct';
  const tripped = !options.statusOnly && !options.dryRun && guardTripped(snap, rt.config.maxRecoveriesPerHour);
  if (tripped && !automatic) ctx.guardBypassed = true;
  let guardStopped = false;
  const deps: ReconcileDeps = {
    loadBundle: async (secretId) => {
      const bundle = await (secretId === d.secretId ? prefetched : rt.bundles.load(secretId));
      ctx.kmsKeyId = bundle.document.ownerKey.kmsKeyId;
      return bundle;
    },
    authorizeRecovery: () => {
      if (!tripped || !automatic) return;
      guardStopped = true;
      throw new RecoveryError(
        'paused',
        `crash-loop guard: ${snap.recentAttempts.length} Recover attempts for ${d.name} in the last hour (limit ${rt.config.maxRecoveriesPerHour}, MAX_RECOVERIES_PER_HOUR); the Coordinator is stale again — find out why it keeps restarting, then recover by direct invocation or wait for the hour to pass`,
      );
    },
    decryptOwnerKey: (bundle, context) => decryptOwnerKey(rt.clients.kms, bundle.document.ownerKey, context),
    verifierFactory: rt.verifierFactory(d),
    records,
    now: rt.now,
    ...rt.reconcileDeps,
  };
  const kube = rt.kubernetes(d);
  if (kube) deps.kubernetes = kube;

  // The exporter names the restarted pod: it is never its own peer (peers.ts).
  const runOptions = trigger.kind === 'event' && trigger.pod ? { ...options, recoveringPod: trigger.pod } : options;
  const result = await rt.reconcile(targetOf(d), deps, runOptions);
  const attemptId = result.recoverAttemptId;
  if (attemptId) ctx.markReported = () => records.update((r) => ({ ...r, attempts: r.attempts.map((a) => (a.id === attemptId ? { ...a, reported: true } : a)) })).then(() => {});
  if (guardStopped) {
    // The guard refused before anything was recorded or decrypted.
    ctx.guard = { kind: 'crash-loop-guard', detail: `${snap.recentAttempts.length} Recover attempts in the last hour, limit ${rt.config.maxRecoveriesPerHour}` };
  }
  if (!options.statusOnly) {
    try {
      await recordHistory(rt, result, records, trigger, ctx);
    } catch (err) {
      rt.telemetry.logger.error('could not record since when the Coordinator is stale (StaleMinutes)', { error: errorMessage(err) });
    }
  }
  return result;
}

/** Every attempt this invocation writes carries its request id and trigger (for the audit). */
function signedBy(ctx: ReportContext, trigger: Trigger): (r: RecoveryRecord) => RecoveryRecord {
  return (r) => ({
    ...r,
    attempts: r.attempts.map((a) => (a.requestId ? a : { ...a, requestId: ctx.requestId, trigger: { kind: trigger.kind, id: trigger.id } })),
  });
}

function readOnlyRecords(record: RecoveryRecord): RecoveryRecordStore {
  return {
    read: () => Promise.resolve(structuredClone(record)),
    update: () => Promise.reject(new Error('status writes nothing')),
  };
}

/**
 * An attempt without its audit record when we hold the lease belongs to an invocation that
 * died before writing it (killed, timed out, out of memory): after its intent (before the KMS
 * Decrypt), after Recover, or during the confirmation or restarts. It cannot write its own
 * record, so we write it, marked as the interrupted attempt's; one still `pending` becomes
 * `interrupted` (the crash-loop guard keeps counting it).
 */
async function auditUnreportedAttempts(rt: Runtime, d: DeploymentConfig, records: RecoveryRecordStore, ctx: ReportContext): Promise<void> {
  const unreported = (await records.read()).attempts.filter((a) => !a.reported);
  if (unreported.length === 0) return;
  const ids = new Set(unreported.map((a) => a.id));
  try {
    await records.update((r) => ({
      ...r,
      attempts: r.attempts.map((a) => (ids.has(a.id) ? { ...a, reported: true, ...(a.status === 'pending' ? { status: 'interrupted' as const } : {}) } : a)),
    }));
  } catch (err) {
    // Not marked: the next holder finds it again and audits it then.
    rt.telemetry.logger.error('could not mark an interrupted Recover attempt', { deployment: d.name, error: errorMessage(err) });
    return;
  }
  for (const attempt of unreported) logInterruptedAttempt(rt, d.name, attempt, ctx);
}

/** Stale bookkeeping for StaleMinutes (the crash-loop guard's attempts are written by reconcile). */
async function recordHistory(rt: Runtime, result: ReconcileResult, records: RecoveryRecordStore, trigger: Trigger, ctx: ReportContext): Promise<void> {
  const t = rt.now();
  const { staleSince } = await records.read();
  const triggerTime = trigger.kind === 'event' || trigger.kind === 'alarm' ? Date.parse(trigger.time) : NaN;
  const since = staleSince ?? (Number.isFinite(triggerTime) && triggerTime < t ? triggerTime : t);
  if (recoverOutcomeUnknown(result)) {
    rt.telemetry.logger.warn('Recover was sent but its answer was lost; the crash-loop guard counts the attempt', { deployment: result.deployment });
  }
  if (userRecoveryDone(result)) {
    ctx.staleMinutes = (t - since) / 60_000;
    if (staleSince !== undefined) await records.update(({ staleSince: _, ...r }) => r);
    return;
  }
  if (result.coordinatorState === 'stale') {
    ctx.staleMinutes = (t - since) / 60_000;
    if (staleSince === undefined) await records.update((r) => ({ ...r, staleSince: since }));
  } else if (result.coordinatorState === 'healthy' && staleSince !== undefined) {
    ctx.staleMinutes = (t - staleSince) / 60_000;
    await records.update(({ staleSince: _, ...r }) => r);
  }
}
