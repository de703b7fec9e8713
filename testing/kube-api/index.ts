/** Kubernetes API stand-in for tests and benchmarks (see server.ts). */
import type { JsonObject, PodTemplate } from './store.ts';

export {
  startKubeApi,
  parseSelector,
  type KubeApi,
  type KubeApiOptions,
  type Fault,
  type Hostile,
  type LoggedRequest,
} from './server.ts';
export { KubeStore, rfc3339, type KubeObject, type PodTemplate, type WorkloadOptions } from './store.ts';
export { RbacAuthorizer, type Grant, type PolicyRule } from './rbac.ts';
export { SubjectAccessReviews, SAR_PATH, type SubjectAccessReviewSpec } from './sar.ts';

/** A Contrast pod template: runtime class `contrast-cc-…` and/or the initializer init container. */
export function contrastTemplate(
  app: string,
  o: { runtimeClass?: boolean; initializer?: boolean; annotations?: Record<string, string> } = {},
): PodTemplate {
  const runtimeClass = o.runtimeClass ?? true;
  const initializer = o.initializer ?? true;
  return {
    metadata: {
      labels: { app },
      annotations: { 'io.katacontainers.config.agent.policy': 'cG9saWN5', ...o.annotations },
    },
    spec: {
      ...(runtimeClass ? { runtimeClassName: 'contrast-cc-aks-clh-snp-1234abcd' } : {}),
      ...(initializer
        ? {
            initContainers: [
              {
                name: 'contrast-initializer',
                image: 'ghcr.io/edgelesssys/contrast/initializer:latest',
                env: [{ name: 'COORDINATOR_HOST', value: 'coordinator' }],
              },
            ],
          }
        : {}),
      containers: [{ name: app, image: `example/${app}:1` }],
    },
  };
}

/** A pod template that is not a Contrast workload. */
export function plainTemplate(app: string): PodTemplate {
  return { metadata: { labels: { app } }, spec: { containers: [{ name: app, image: `example/${app}:1` }] } };
}

/**
 * The Coordinator's pod template: a Contrast pod that must never be restarted. Its readiness
 * probe is that of its release (edgelesssys/contrast internal/kuberesource/parts.go):
 * - `state` (PR #1467, merged 2025-05-20, on): HTTP GET `/probe/readiness` on 9102, Ready only
 *   while the Coordinator holds a manifest that is not stale;
 * - `tcp` (before): a TCP check on 1313, so a Coordinator in recovery mode is Ready too.
 * Tests set each pod's Ready condition as the kubelet would under that probe.
 */
export function coordinatorTemplate(o: { readiness?: 'state' | 'tcp' } = {}): PodTemplate {
  const t = contrastTemplate('coordinator', { initializer: false });
  t.metadata = {
    labels: { 'app.kubernetes.io/name': 'coordinator' },
    annotations: { 'contrast.edgeless.systems/pod-role': 'coordinator' },
  };
  const readinessProbe: JsonObject =
    o.readiness === 'tcp'
      ? { initialDelaySeconds: 1, periodSeconds: 5, tcpSocket: { port: 1313 } }
      : { periodSeconds: 5, httpGet: { path: '/probe/readiness', port: 9102 } };
  t.spec.containers = [
    {
      name: 'coordinator',
      image: 'ghcr.io/edgelesssys/contrast/coordinator:latest',
      ports: [
        { name: 'userapi', containerPort: 1313 },
        { name: 'meshapi', containerPort: 7777 },
      ],
      readinessProbe,
    },
  ];
  return t;
}

export { servingCert, type ServingCert } from './tls.ts';
export { manifestRbac, loadManifest, RBAC_FILE, POD_DELETION_RBAC_FILE, RBAC_GROUP } from './manifests.ts';

/** A kubeconfig document with a bearer token for the stand-in. */
export function kubeconfigFor(server: string, token: string, caData: string, context = 'stand-in'): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    `current-context: ${context}`,
    'clusters:',
    `- name: ${context}`,
    '  cluster:',
    `    server: ${server}`,
    ...(caData ? [`    certificate-authority-data: ${caData}`] : ['    insecure-skip-tls-verify: true']),
    'users:',
    '- name: autorecover',
    '  user:',
    `    token: ${token}`,
    'contexts:',
    `- name: ${context}`,
    '  context:',
    `    cluster: ${context}`,
    '    user: autorecover',
    '',
  ].join('\n');
}
