/**
 * The stages of a rehearsal and when each happened, from what the cluster and the
 * function's records show. Pure: fed with pod lists and function records, it says which
 * stages are new, whether the rehearsal is complete, and whether it failed for good.
 *
 *   pod deleted → pod replaced → event seen (the trigger's event time on the bus)
 *   → function invoked (the `trigger accepted` record) → Recover confirmed (the end of the
 *   confirm step of the reconcile that recovered) → restarts done (the end of its restarts
 *   step, or of a later reconcile that finished them)
 */
import { OUTCOMES, isRetryable, type Outcome } from '../../lambda/shared/outcomes.ts';
import type { PodSummary } from '../operations/kube.ts';
import { stepEnd, type AuditRecord, type FunctionRecord } from '../operations/records.ts';

export const STAGES = [
  'pod-deleted',
  'pod-replaced',
  'event-seen',
  'function-invoked',
  'recover-confirmed',
  'restarts-done',
] as const;
export type StageName = (typeof STAGES)[number];

export const STAGE_LABELS: Record<StageName, string> = {
  'pod-deleted': 'Coordinator pod deleted',
  'pod-replaced': 'new Coordinator pod',
  'event-seen': 'event seen',
  'function-invoked': 'function invoked',
  'recover-confirmed': 'Recover confirmed',
  'restarts-done': 'restarts done',
};

export interface Stage {
  name: StageName;
  /** Epoch ms. */
  at: number;
  detail: string;
}

/** Event times have one-second precision: an event this much before the deletion still counts. */
const EVENT_PRECISION_MS = 1_000;

/**
 * Records this much older than the deletion still count: this machine's clock against
 * AWS's. Rehearsals of one deployment are minutes apart.
 */
export const DEFAULT_CLOCK_SKEW_MS = 1_000;

export class RehearsalTracker {
  readonly stages = new Map<StageName, Stage>();
  /** A permanent failure outcome of the function: the rehearsal cannot complete. */
  failure: { outcome: Outcome; message: string } | undefined;
  /** Things worth saying that are not stages (retried failures, other triggers). */
  readonly notes: string[] = [];
  /** The reconcile that recovered: its KMS request ids link it to CloudTrail. */
  recovery: AuditRecord | undefined;
  private newPodUid: string | undefined;

  constructor(
    readonly deployment: string,
    readonly startedAt: number,
    private readonly oldPods: Set<string>,
    private readonly clockSkewMs = DEFAULT_CLOCK_SKEW_MS,
  ) {}

  private add(name: StageName, at: number, detail: string): Stage[] {
    if (this.stages.has(name)) return [];
    const s = { name, at, detail };
    this.stages.set(name, s);
    return [s];
  }

  deleted(at: number, pods: string[]): Stage[] {
    return this.add('pod-deleted', at, pods.join(', '));
  }

  pods(list: PodSummary[], now: number): Stage[] {
    const fresh = list.find((p) => !this.oldPods.has(p.uid) && !p.deleting);
    if (!fresh) return [];
    this.newPodUid = fresh.uid;
    // creationTimestamp has one-second precision: never before the deletion.
    return this.add(
      'pod-replaced',
      Math.max(fresh.created?.getTime() ?? now, this.startedAt),
      `${fresh.name} (uid ${fresh.uid})`,
    );
  }

  record(r: FunctionRecord): Stage[] {
    if (r.at < this.startedAt - this.clockSkewMs) return [];
    return r.type === 'trigger' ? this.trigger(r) : this.audit(r);
  }

  private trigger(r: Extract<FunctionRecord, { type: 'trigger' }>): Stage[] {
    if (r.trigger.kind !== 'event' || !r.deployments.includes(this.deployment)) return [];
    const sent = r.trigger.time ? Date.parse(r.trigger.time) : r.at;
    if (sent < this.startedAt - EVENT_PRECISION_MS - this.clockSkewMs) return [];
    return [
      ...this.add('event-seen', Math.max(sent, this.startedAt), `event ${r.trigger.id} on the bus`),
      ...this.add('function-invoked', r.at, `request ${r.requestId ?? '?'} accepted the event`),
    ];
  }

  private audit(r: AuditRecord): Stage[] {
    if (r.deployment !== this.deployment) return [];
    const by = r.trigger ? `${r.trigger.kind} trigger ${r.trigger.id}` : `request ${r.requestId}`;
    const out: Stage[] = [];
    if (r.outcome === 'recovered' && !this.recovery) {
      this.recovery = r;
      const pod = r.trigger?.podUid ?? r.trigger?.podUID;
      const podNote =
        pod && this.newPodUid
          ? pod === this.newPodUid
            ? ", the new pod's event"
            : `, event of pod ${pod}, not the new pod ${this.newPodUid}`
          : '';
      const via =
        r.trigger?.kind === 'event'
          ? ''
          : ` — not by the event: the ${r.trigger?.kind ?? 'unknown'} trigger recovered it`;
      out.push(
        ...this.add(
          'recover-confirmed',
          stepEnd(r, 'confirm') ?? r.at,
          `by ${by}${podNote}${r.meshCaFingerprint ? `, new mesh CA ${r.meshCaFingerprint.slice(0, 16)}…` : ''}${via}`,
        ),
      );
    }
    if (this.recovery && r.restartsComplete === true) {
      const counts = Object.entries(r.restartCounts ?? {})
        .map(([k, v]) => `${v} ${k}`)
        .join(', ');
      out.push(
        ...this.add('restarts-done', stepEnd(r, 'restarts') ?? r.at, `${counts || 'nothing to restart'} (${by})`),
      );
    }
    if (!OUTCOMES[r.outcome].ok) {
      if (isRetryable(r.outcome) || r.outcome === 'recovery-needed')
        this.notes.push(`${by}: ${r.outcome} — ${r.message} (retried)`);
      else this.failure ??= { outcome: r.outcome, message: `${by}: ${r.message}` };
    } else if (r.outcome === 'peers-available') {
      this.failure ??= { outcome: r.outcome, message: `${by}: ${r.message}` };
    }
    return out;
  }

  /** Recovered and restarted (the event stages may still be missing). */
  get recovered(): boolean {
    return this.stages.has('recover-confirmed') && this.stages.has('restarts-done');
  }

  get complete(): boolean {
    return STAGES.every((s) => this.stages.has(s));
  }

  missing(): StageName[] {
    return STAGES.filter((s) => !this.stages.has(s));
  }
}
