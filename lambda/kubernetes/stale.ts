/**
 * Which pods hold a certificate of a lost mesh CA (docs/operate.md, "Which workloads are
 * restarted"). A pod's mesh certificate comes from its `contrast-initializer`, which asks the
 * Coordinator once — retrying every 5 s while the Coordinator is stale or has no manifest —
 * and then exits; it never fetches again (edgelesssys/contrast initializer/main.go). So the
 * moment the initializer finished is when the pod got its certificate, and a pod is stale
 * when that moment lies before its Coordinator's current mesh CA key was created.
 *
 * With a secure persistent volume the initializer is a native sidecar instead
 * (restartPolicy Always, startup probe `test -f /done`; internal/kuberesource/mutators.go,
 * addCryptsetupConfig): it fetches the certificate, sets up the volume, writes /done and keeps
 * running. Kubernetes starts the next init container only once a sidecar reports started, i.e.
 * its startup probe passed (kubernetes.io "Sidecar Containers"; KEP-753): so the next init
 * container's `startedAt` is an upper bound of the certificate's moment — late by the volume
 * setup plus at most one probe period. Without a later init container, the pod's
 * `Initialized` condition turns True at that same moment. A sidecar that restarts later runs
 * the initializer again, but the pod keeps its date: the next init container's start and
 * `Initialized` do not move when a sidecar restarts (the kubelet keeps a pod initialized once
 * a regular container started, pkg/kubelet/status/generate.go), and the app containers may
 * still use the first certificate — so the pod is judged by its first one, the safe side.
 */
import { INITIALIZER_NAME } from './contrast.ts';
import type { ContainerStatus, Pod } from './objects.ts';

/**
 * Clock-skew margin (ms). The initializer's finish time comes from the node's clock at
 * Kubernetes' one-second precision; the key's creation from this service's clock (or the
 * Coordinator's, for rotations we did not cause). A pod counts as stale only when it finished
 * more than this margin before the key existed: pods that waited in Init finish seconds
 * after the key and must never look older than it, while no initializer can finish in the
 * window before the key at all — the Coordinator was stale then and issues no certificates
 * (for a `contrast set`, see the docs: the margin is where the rule can err).
 */
export const CLOCK_SKEW_MARGIN_MS = 2_000;

/**
 * The clock skew between machines this service tolerates where a judgement would otherwise
 * depend on one clock agreeing with another (docs/operate.md, "Clocks"): the Coordinator's
 * certificate times against this service's records (crash adoption, mesh-ca.ts), and a
 * workload's `restartedAt` annotation against now (restart.ts). One minute: the skew Kubernetes
 * itself accepts between its components — the API server validates service-account tokens
 * with go-jose's default leeway of one minute (kubernetes pkg/serviceaccount/claims.go,
 * jwt.DefaultLeeway) — and far above what NTP keeps synchronised hosts within (milliseconds;
 * ntpd steps the clock past 128 ms and gives up past 1000 s). Beyond it a clock is broken, and
 * the rules below take the safe side: a key is dated by our own record, an annotation from the
 * future is no restart in progress.
 */
export const MAX_CLOCK_SKEW_MS = 60_000;

export type InitializerState =
  /** The initializer got its certificate (at the latest) at `at`. */
  | { kind: 'done'; at: Date; via: 'finishedAt' | 'next-init-started' | 'Initialized' }
  /** Still in Init: it fetches its certificate from the current Coordinator when it can. */
  | { kind: 'in-init'; detail: string }
  /** No contrast-initializer (e.g. `skip-initializer`): the pod holds no mesh certificate. */
  | { kind: 'none' };

function time(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const t = new Date(value);
  return Number.isNaN(t.getTime()) ? undefined : t;
}

/** The earliest start a container status shows (its current run, or the one before it). */
function firstStart(status: ContainerStatus | undefined): Date | undefined {
  const starts = [status?.state, status?.lastState]
    .map((s) => time(s?.running?.startedAt ?? s?.terminated?.startedAt))
    .filter((t): t is Date => t !== undefined);
  return starts.length ? new Date(Math.min(...starts.map((t) => t.getTime()))) : undefined;
}

export function initializerState(pod: Pod): InitializerState {
  const inits = pod.spec?.initContainers ?? [];
  const index = inits.findIndex((c) => c.name === INITIALIZER_NAME);
  if (index < 0) return { kind: 'none' };
  const statuses = pod.status?.initContainerStatuses ?? [];
  const status = statuses.find((s) => s.name === INITIALIZER_NAME);
  if (!status?.state) return { kind: 'in-init', detail: 'not started yet' };
  if (inits[index]!.restartPolicy === 'Always') {
    // Sidecar: the next init container starts only after the initializer reported started.
    const next = inits[index + 1];
    const nextStarted = next ? firstStart(statuses.find((s) => s.name === next.name)) : undefined;
    if (nextStarted) return { kind: 'done', at: nextStarted, via: 'next-init-started' };
    const initialized = pod.status?.conditions?.find((c) => c.type === 'Initialized');
    const at = initialized?.status === 'True' ? time(initialized.lastTransitionTime) : undefined;
    if (at) return { kind: 'done', at, via: 'Initialized' };
    return { kind: 'in-init', detail: 'initializer sidecar not started yet' };
  }
  const t = status.state.terminated;
  const finished = t && t.exitCode === 0 ? time(t.finishedAt) : undefined;
  if (finished) return { kind: 'done', at: finished, via: 'finishedAt' };
  if (status.state.running) return { kind: 'in-init', detail: 'initializer running (waiting for the Coordinator)' };
  return {
    kind: 'in-init',
    detail: `initializer ${status.state.waiting?.reason ?? (t ? `exited ${t.exitCode}` : 'waiting')}`,
  };
}

/** What the stale rule measures a pod against. */
export interface StaleBounds {
  /** When the current mesh CA key was created (this service's clock, or the Coordinator's). */
  keyCreatedAt: Date;
  /**
   * Where the key's creation is only bounded (reconcile/mesh-ca.ts), the upper bound;
   * `keyCreatedAt` is then the lower. Pods between the two are `unknown-age`, never stale.
   */
  keyCreatedBy?: Date;
  /** Defaults to CLOCK_SKEW_MARGIN_MS. */
  marginMs?: number;
  /**
   * The earliest running Coordinator container's `startedAt`, only for a key a Recover made
   * after that container started (restart.ts decides): see coordinatorStartBound.
   */
  coordinatorStartedAt?: Date;
}

/**
 * Why a pod holds a lost mesh CA's certificate, or undefined when it does not:
 * - `key`: its initializer finished more than the margin before the key was created;
 * - `coordinator-start`: it finished before the earliest running Coordinator container started
 *   (whole seconds: the same second counts). Both times come from the cluster's clocks, so this
 *   bound needs no margin and is immune to skew between AWS and the cluster. It holds only for
 *   a key a Recover made after that container started: every Coordinator that served before
 *   then had lost its key by the Recover (a Recover is refused while a peer holds the key —
 *   coordinator/internal/peerdiscovery), and no running one was there to issue the old key's
 *   certificates since, so a certificate from before then can only be of a lost key.
 */
export function staleBy(state: InitializerState, bounds: StaleBounds): 'key' | 'coordinator-start' | undefined {
  if (state.kind !== 'done') return undefined;
  const at = state.at.getTime();
  if (at < bounds.keyCreatedAt.getTime() - (bounds.marginMs ?? CLOCK_SKEW_MARGIN_MS)) return 'key';
  const start = bounds.coordinatorStartedAt?.getTime();
  if (start !== undefined && Math.floor(at / 1000) <= Math.floor(start / 1000)) return 'coordinator-start';
  return undefined;
}

/** Stale: the initializer finished more than the margin before the key was created. */
export function holdsLostCertificate(
  state: InitializerState,
  keyCreatedAt: Date,
  marginMs: number = CLOCK_SKEW_MARGIN_MS,
): boolean {
  return staleBy(state, { keyCreatedAt, marginMs }) !== undefined;
}

/**
 * The Coordinator-start bound (staleBy, `coordinator-start`): the earliest `startedAt` of the
 * running Coordinator containers, when the key was made after it. `keyMadeAfter` is a moment
 * before which the key did not exist, on the cluster's clock (restart request); the margin
 * absorbs the difference between the Coordinator's own clock and its kubelet's. Undefined when
 * the bound does not apply: no running Coordinator, or one started after the key may have
 * existed — it may have been handed the key by a peer, so certificates from before its start
 * may be of the current key.
 */
export function coordinatorStartBound(
  coordinatorPods: Pod[],
  keyMadeAfter: Date,
  marginMs: number = CLOCK_SKEW_MARGIN_MS,
): Date | undefined {
  const starts = coordinatorPods
    .filter((p) => !p.metadata.deletionTimestamp)
    .flatMap((p) => p.status?.containerStatuses ?? [])
    .map((c) => time(c.state?.running?.startedAt))
    .filter((t): t is Date => t !== undefined);
  if (starts.length === 0) return undefined;
  const earliest = Math.min(...starts.map((t) => t.getTime()));
  return earliest <= keyMadeAfter.getTime() - marginMs ? new Date(earliest) : undefined;
}
