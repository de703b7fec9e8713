/**
 * How Contrast marks things in a cluster, as its own code does (edgelesssys/contrast):
 * - workloads: `contrast generate` injects into pod specs whose runtimeClassName starts with
 *   `contrast-cc` (internal/kuberesource/mutators.go, AddInitializer), and adds the init
 *   container `contrast-initializer` as the first one (internal/kuberesource/parts.go,
 *   Initializer);
 * - Coordinators: label `app.kubernetes.io/name=coordinator` plus the annotation
 *   `contrast.edgeless.systems/pod-role=coordinator` (internal/kuberesource/parts.go;
 *   coordinator/internal/peerdiscovery/peerdiscovery.go selects peers by both). Contrast's own
 *   peer discovery uses these fixed names, so they are constants here, never settings.
 */

export const RUNTIME_CLASS_PREFIX = 'contrast-cc';
export const INITIALIZER_NAME = 'contrast-initializer';
export const POD_ROLE_ANNOTATION = 'contrast.edgeless.systems/pod-role';
export const COORDINATOR_ROLE = 'coordinator';
export const COORDINATOR_LABEL_KEY = 'app.kubernetes.io/name';
export const COORDINATOR_LABEL_VALUE = 'coordinator';
/** The label selector of Coordinator pods, as upstream's peer discovery lists them. */
export const COORDINATOR_LABEL = `${COORDINATOR_LABEL_KEY}=${COORDINATOR_LABEL_VALUE}`;

/**
 * The Coordinator's readiness probe since Contrast PR #1467 (merged 2025-05-20): an HTTP GET of
 * this path on port 9102, answered 200 only while the Coordinator holds a manifest that is not
 * stale (internal/kuberesource/parts.go, Coordinator; coordinator/internal/probes/probes.go,
 * ReadinessHandler). Before it the probe was a TCP check on 1313, which a Coordinator in
 * recovery mode passes: there Ready does not mean "holds state" (peers.ts).
 */
export const COORDINATOR_READINESS_PATH = '/probe/readiness';

/**
 * Contrast's peer recovery: a Coordinator in recovery mode tries its Ready peers every 15 s
 * (coordinator/internal/peerrecovery/recovery.go, peerRecoveryInterval), and once more in its
 * startup probe. A Ready peer that has not brought the Coordinator back after eight of these
 * rounds is stuck or not a Coordinator at all (a forged pod): the `peers-stuck` outcome.
 * Eight rounds (2 min) is far past one round's aTLS dial and attestation, and at least two
 * backstop ticks (1 min) apart, so a single reconcile never raises it.
 */
export const PEER_RECOVERY_INTERVAL_MS = 15_000;
export const PEERS_STUCK_AFTER_MS = 8 * PEER_RECOVERY_INTERVAL_MS;
