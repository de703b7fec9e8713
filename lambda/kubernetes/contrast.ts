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
