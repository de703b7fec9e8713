/** Shared setup: the stand-in over a real socket plus the Kubernetes side built from settings. */
import { createKubernetesSide, type KubernetesSettings, type KubernetesSide } from '../../lambda/kubernetes/index.ts';
import type { RestartMode, RestartRequest } from '../../lambda/kubernetes/types.ts';
import { kubeconfigFor, startKubeApi, type KubeApi, type KubeApiOptions } from '../../testing/kube-api/index.ts';

export const TOKEN = 'stand-in-token-not-secret';
export const HOUR = 3_600_000;
/** The mesh CA key was created a minute ago; pods initialized an hour ago are stale. */
export const keyCreatedAt = (): Date => new Date(Date.now() - 60_000);
export const OLD = (): Date => new Date(Date.now() - HOUR);

export interface Env {
  api: KubeApi;
  side: Required<KubernetesSide>;
}

export async function setup(apiOptions: KubeApiOptions, settings: Partial<KubernetesSettings> = {}): Promise<Env> {
  const api = await startKubeApi({ tokens: [TOKEN], ...apiOptions });
  const side = await createKubernetesSide({
    auth: { kind: 'kubeconfig', kubeconfig: kubeconfigFor(api.url, TOKEN, api.caData) },
    coordinatorNamespace: 'contrast',
    namespaces: { kind: 'list', names: ['contrast'] },
    ...settings,
  });
  return { api, side };
}

export async function teardown(env: Env | undefined): Promise<void> {
  if (!env) return;
  env.side.close();
  await env.api.close();
}

export function request(mode: RestartMode = 'restart', createdAt = keyCreatedAt()): RestartRequest {
  return {
    deployment: 'demo',
    meshCa: { spkiSha256: 'ab'.repeat(32), createdAt },
    mode,
    reportReason: 'a rotation this service did not cause',
  };
}

export function writes(api: KubeApi) {
  return api.log.filter((r) => r.method === 'PATCH' || r.method === 'DELETE');
}
