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
 * addCryptsetupConfig): it never terminates, and the pod's `Initialized` condition turns True
 * once the probe passed, i.e. after the certificate was written. That transition is the
 * moment for such pods.
 */
import { INITIALIZER_NAME } from './contrast.ts';
import type { Pod } from './objects.ts';

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
  | { kind: 'done'; at: Date; via: 'finishedAt' | 'Initialized' }
  /** Still in Init: it fetches its certificate from the current Coordinator when it can. */
  | { kind: 'in-init'; detail: string }
  /** No contrast-initializer (e.g. `skip-initializer`): the pod holds no mesh certificate. */
  | { kind: 'none' };

function time(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const t = new Date(value);
  return Number.isNaN(t.getTime()) ? undefined : t;
}

export function initializerState(pod: Pod): InitializerState {
  const spec = pod.spec?.initContainers?.find((c) => c.name === INITIALIZER_NAME);
  if (!spec) return { kind: 'none' };
  const status = pod.status?.initContainerStatuses?.find((s) => s.name === INITIALIZER_NAME);
  if (!status?.state) return { kind: 'in-init', detail: 'not started yet' };
  if (spec.restartPolicy === 'Always') {
    const initialized = pod.status?.conditions?.find((c) => c.type === 'Initialized');
    const at = initialized?.status === 'True' ? time(initialized.lastTransitionTime) : undefined;
    if (!status.started || !at) return { kind: 'in-init', detail: 'initializer sidecar not started yet' };
    return { kind: 'done', at, via: 'Initialized' };
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

/** Stale: the initializer finished more than the margin before the key was created. */
export function holdsLostCertificate(
  state: InitializerState,
  keyCreatedAt: Date,
  marginMs: number = CLOCK_SKEW_MARGIN_MS,
): boolean {
  return state.kind === 'done' && state.at.getTime() < keyCreatedAt.getTime() - marginMs;
}
