/**
 * One reconcile behind the function's guards: the operator's pause switch, the crash-loop
 * guard (at most MAX_RECOVERIES_PER_HOUR Recover attempts per deployment), interrupted
 * attempts, and the history the guard and the StaleMinutes metric need. Runs under the
 * deployment's lease (deployment-run.ts); everything it remembers lives in the deployment's
 * one record (lease.ts), which reconcile also writes through (the Recover intent, the mesh CA
 * key, the restarts). What the report needs besides the result, it returns (RunFacts).
 */
import type { RecoveryBundle } from '../keys/bundle.ts';
import type { ProgressEvent, ReconcileTime } from '../reconcile/reconcile.ts';
import type { ReconcileOptions, ReconcileResult, RecoveryRecord, RecoveryRecordStore } from '../reconcile/types.ts';
import { PEER_RECOVERY_INTERVAL_MS, PEERS_STUCK_AFTER_MS } from '../kubernetes/contrast.ts';
import { errorMessage } from '../shared/errors.ts';
import { targetOf, type DeploymentConfig } from './config.ts';
import type { Trigger } from './events.ts';
import { guardTripped, type GuardSnapshot } from './lease.ts';
import { reconcilePorts } from './ports.ts';
import {
  emptyResult,
  logInterruptedAttempt,
  recoverOutcomeUnknown,
  userRecoveryDone,
  type PeerWatch,
  type ReportContext,
  type RunFacts,
  type RunReport,
} from './report.ts';
import type { Runtime } from './runtime.ts';

/** What the deployment run gives one guarded reconcile. */
export interface GuardedRun {
  /** The deployment's bundle, read while the guard reads its snapshot: every reconcile that is not paused needs both. */
  bundle: Promise<RecoveryBundle>;
  time: ReconcileTime;
  /** The run's step tracker (deadline.ts). */
  progress: (event: ProgressEvent) => void;
}

export async function guardedReconcile(
  rt: Runtime,
  d: DeploymentConfig,
  trigger: Trigger,
  options: ReconcileOptions,
  ctx: ReportContext,
  run: GuardedRun,
): Promise<RunReport> {
  // The bundle is read beside the snapshot (run.bundle): a paused reconcile only costs an
  // unused bundle load (in a warm container a DescribeSecret, keys/warm-bundles.ts).
  const { bundle } = run;
  // Status holds no lease: it reads the record (to date the mesh CA key) and writes nothing;
  // without the lock table it still answers, dating the key by its certificate.
  const snap = options.statusOnly
    ? await rt.lock.snapshot(d.name).catch((): GuardSnapshot => ({
        pause: { paused: false },
        record: { attempts: [] },
        version: 0,
        recentAttempts: [],
      }))
    : await rt.lock.snapshot(d.name);
  if (!options.statusOnly && snap.pause.paused) {
    const key = snap.pause.scope === 'all' ? 'pause#*' : `pause#${d.name}`;
    const result = emptyResult(
      d.name,
      'paused',
      `recovery of ${d.name} is paused by the operator switch ${key}${snap.pause.reason ? ` (${snap.pause.reason})` : ''}; delete that item from ${rt.config.lockTableName} to resume (docs/operate.md)`,
      options,
    );
    return {
      result,
      facts: { guard: { kind: 'pause-switch', detail: `${key}${snap.pause.reason ? `: ${snap.pause.reason}` : ''}` } },
    };
  }
  const records = options.statusOnly
    ? readOnlyRecords(snap.record)
    : rt.lock.recordStore(d.name, snap, signedBy(ctx, trigger));
  if (!options.statusOnly) await auditUnreportedAttempts(rt, d, records, ctx);

  // The crash-loop guard stops only the user recovery itself (just before the KMS Decrypt),
  // so a healthy deployment's reconciles and pending restarts still run while it holds.
  const automatic = trigger.kind !== 'direct';
  const tripped = !options.statusOnly && !options.dryRun && guardTripped(snap, rt.config.maxRecoveriesPerHour);
  const refusal =
    tripped && automatic
      ? `crash-loop guard: ${snap.recentAttempts.length} Recover attempts for ${d.name} in the last hour (limit ${rt.config.maxRecoveriesPerHour}, MAX_RECOVERIES_PER_HOUR); the Coordinator is stale again — find out why it keeps restarting, then recover by direct invocation or wait for the hour to pass`
      : undefined;

  // The exporter names the restarted pod: it is never its own peer (peers.ts).
  const runOptions: ReconcileOptions = {
    ...options,
    ...(trigger.kind === 'event' && trigger.pod ? { recoveringPod: trigger.pod } : {}),
    ...(refusal ? { recoveryRefused: refusal } : {}),
  };
  const result = await rt.reconcile(
    targetOf(d),
    reconcilePorts(rt.ports, d, { bundle, records, progress: run.progress }),
    run.time,
    runOptions,
  );
  const attemptId = result.recoverAttemptId;
  // Reconcile's step 1 read the bundle (whether it then parsed or not): the audit names its KMS key.
  const kmsKeyId = result.steps.some((s) => s.step === 'load-bundle') ? await kmsKeyIdOf(bundle) : undefined;
  const facts: RunFacts = {
    ...(tripped && !automatic ? { guardBypassed: true } : {}),
    // The guard refused before anything was recorded or decrypted.
    ...(refusal && result.outcome === 'paused'
      ? {
          guard: {
            kind: 'crash-loop-guard' as const,
            detail: `${snap.recentAttempts.length} Recover attempts in the last hour, limit ${rt.config.maxRecoveriesPerHour}`,
          },
        }
      : {}),
    ...(kmsKeyId !== undefined ? { kmsKeyId } : {}),
    ...(attemptId
      ? {
          markReported: () =>
            records
              .update((r) => ({
                ...r,
                attempts: r.attempts.map((a) => (a.id === attemptId ? { ...a, reported: true } : a)),
              }))
              .then(() => {}),
        }
      : {}),
  };
  if (options.statusOnly) return { result, facts };
  const history = await recordHistory(rt, result, records, trigger);
  return {
    result: history.result,
    facts: {
      ...facts,
      ...(history.staleMinutes !== undefined ? { staleMinutes: history.staleMinutes } : {}),
      ...(history.peers ? { peers: history.peers } : {}),
    },
  };
}

/** The KMS key id of a bundle read, or undefined when the read failed. */
export function kmsKeyIdOf(bundle: Promise<RecoveryBundle>): Promise<string | undefined> {
  return bundle.then(
    (b) => b.document.ownerKey.kmsKeyId,
    () => undefined,
  );
}

/** Every attempt this invocation writes carries its request id and trigger (for the audit). */
function signedBy(ctx: ReportContext, trigger: Trigger): (r: RecoveryRecord) => RecoveryRecord {
  return (r) => ({
    ...r,
    attempts: r.attempts.map((a) =>
      a.requestId ? a : { ...a, requestId: ctx.requestId, trigger: { kind: trigger.kind, id: trigger.id } },
    ),
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
 * record, so we write it, marked as the interrupted attempt's, and only then mark it audited;
 * one still `pending` becomes `interrupted` (the crash-loop guard keeps counting it).
 */
async function auditUnreportedAttempts(
  rt: Runtime,
  d: DeploymentConfig,
  records: RecoveryRecordStore,
  ctx: ReportContext,
): Promise<void> {
  const unreported = (await records.read()).attempts.filter((a) => !a.reported);
  if (unreported.length === 0) return;
  // Audit first, mark second (as for our own attempt, report.ts): killed in between, the
  // attempt stays unmarked and the next holder writes its record again — at least once, never
  // lost. A duplicate names the same attemptId, so readers can tell.
  for (const attempt of unreported) logInterruptedAttempt(rt, d.name, attempt, ctx);
  const ids = new Set(unreported.map((a) => a.id));
  try {
    await records.update((r) => ({
      ...r,
      attempts: r.attempts.map((a) =>
        ids.has(a.id)
          ? { ...a, reported: true, ...(a.status === 'pending' ? { status: 'interrupted' as const } : {}) }
          : a,
      ),
    }));
  } catch (err) {
    // Not marked: the next holder finds it again and audits it again.
    rt.telemetry.logger.error(
      'could not mark an interrupted Recover attempt as audited; the next reconcile audits it again',
      { deployment: d.name, error: errorMessage(err) },
    );
  }
}

/**
 * Stale bookkeeping for StaleMinutes (the crash-loop guard's attempts are written by reconcile):
 * returns the minutes the Coordinator has been stale, for the metric, and the result judged by
 * how long Ready peers have been left to recover it (peerWatch). A failed write is logged and
 * the figures still returned; a failed read gives none.
 */
async function recordHistory(
  rt: Runtime,
  result: ReconcileResult,
  records: RecoveryRecordStore,
  trigger: Trigger,
): Promise<{ result: ReconcileResult; staleMinutes?: number; peers?: PeerWatch }> {
  const t = rt.now();
  let staleSince: number | undefined;
  let peersSince: number | undefined;
  try {
    ({ staleSince, peersSince } = await records.read());
  } catch (err) {
    logHistoryError(rt, err);
    return { result };
  }
  const triggerTime = trigger.kind === 'event' || trigger.kind === 'alarm' ? Date.parse(trigger.time) : NaN;
  const since = staleSince ?? (Number.isFinite(triggerTime) && triggerTime < t ? triggerTime : t);
  if (recoverOutcomeUnknown(result)) {
    rt.telemetry.logger.warn('Recover was sent but its answer was lost; the crash-loop guard counts the attempt', {
      deployment: result.deployment,
    });
  }
  let staleMinutes: number | undefined;
  let change: ((r: RecoveryRecord) => RecoveryRecord) | undefined;
  if (userRecoveryDone(result)) {
    staleMinutes = (t - since) / 60_000;
    if (staleSince !== undefined) change = ({ staleSince: _, ...r }) => r;
  } else if (result.coordinatorState === 'stale') {
    staleMinutes = (t - since) / 60_000;
    if (staleSince === undefined) change = (r) => ({ ...r, staleSince: since });
  } else if (result.coordinatorState === 'healthy' && staleSince !== undefined) {
    staleMinutes = (t - staleSince) / 60_000;
    change = ({ staleSince: _, ...r }) => r;
  }
  const peers = peerWatch(result, peersSince, t);
  if (peers.since !== peersSince) {
    const since = peers.since;
    const before = change;
    change = (r) => {
      const { peersSince: _, ...rest } = before ? before(r) : r;
      return since === undefined ? rest : { ...rest, peersSince: since };
    };
  }
  try {
    if (change) await records.update(change);
  } catch (err) {
    logHistoryError(rt, err);
  }
  return {
    result: peers.result,
    ...(staleMinutes !== undefined ? { staleMinutes } : {}),
    ...(peers.watch ? { peers: peers.watch } : {}),
  };
}

/**
 * A stale Coordinator with Ready peers is left to them (`peers-available`) for as long as
 * Contrast's peer recovery can take (PEERS_STUCK_AFTER_MS, lambda/kubernetes/contrast.ts).
 * Still stale past that with peers counted, they are stuck or not Coordinators at all (a pod
 * forged with the label, annotation and Ready condition): the run ends `peers-stuck`, which has
 * its own alarm, instead of an OK outcome forever. `since` is what the record keeps: set at the
 * first such run, cleared once a run sees the Coordinator healthy or stale without a Ready
 * peer; kept when a run could not tell (no probe or peer answer, a forced run).
 */
function peerWatch(
  result: ReconcileResult,
  peersSince: number | undefined,
  t: number,
): { since: number | undefined; result: ReconcileResult; watch?: PeerWatch } {
  if (result.outcome === 'peers-available') {
    const since = peersSince ?? t;
    const ready = result.readyPeers ?? [];
    const watch = { ready, since: new Date(since).toISOString(), minutes: Math.round((t - since) / 6_000) / 10 };
    if (t - since < PEERS_STUCK_AFTER_MS) return { since, result, watch };
    return {
      since,
      watch,
      result: {
        ...result,
        outcome: 'peers-stuck',
        message: `Ready peer Coordinator(s) ${ready.length ? ready.join(', ') : "(those the Coordinator's refusal of Recover names)"} have been counted since ${watch.since} (${watch.minutes} min) while this Coordinator stayed stale; Contrast's peer recovery tries every ${PEER_RECOVERY_INTERVAL_MS / 1000} s, so they are stuck or not Coordinators at all (a forged pod) — check who created those pods and their Coordinator logs, delete a pod that is not a genuine Coordinator; only when no peer holds the state, recover by direct invocation with force`,
      },
    };
  }
  const peersChecked = result.steps.some((s) => s.step === 'peers' && s.detail !== 'failed');
  const settled =
    result.coordinatorState === 'healthy' ||
    result.coordinatorState === 'no-manifest' ||
    (result.coordinatorState === 'stale' && peersChecked);
  return { since: settled ? undefined : peersSince, result };
}

function logHistoryError(rt: Runtime, err: unknown): void {
  rt.telemetry.logger.error('could not record since when the Coordinator is stale (StaleMinutes)', {
    error: errorMessage(err),
  });
}
