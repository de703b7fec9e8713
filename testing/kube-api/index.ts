/** Kubernetes API stand-in for tests and benchmarks (see server.ts). */
import type { PodTemplate } from './store.ts';

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

/** The Coordinator's pod template: a Contrast pod that must never be restarted. */
export function coordinatorTemplate(): PodTemplate {
  const t = contrastTemplate('coordinator', { initializer: false });
  t.metadata = {
    labels: { 'app.kubernetes.io/name': 'coordinator' },
    annotations: { 'contrast.edgeless.systems/pod-role': 'coordinator' },
  };
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
