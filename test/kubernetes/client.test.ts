import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { InputError } from '../../lambda/shared/errors.ts';
import { createKubernetesSide } from '../../lambda/kubernetes/index.ts';
import { coordinatorTemplate, kubeconfigFor, startKubeApi, type KubeApi } from '../../testing/kube-api/index.ts';

describe('client configuration', () => {
  let api: KubeApi | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  it('uses a kubeconfig document with a CA and a bearer token over TLS, and plain HTTP only with insecure-skip-tls-verify', async () => {
    api = await startKubeApi({ tokens: ['tok'] });
    api.store.addPod('contrast', 'coordinator-0', { template: coordinatorTemplate(), ready: true });
    const side = await createKubernetesSide({ auth: { kind: 'kubeconfig', kubeconfig: kubeconfigFor(api.url, 'tok', api.caData) }, coordinatorNamespace: 'contrast', namespaces: { kind: 'all' } });
    try {
      expect((await side.peers.readyPeers('d')).readyPeers).toEqual(['coordinator-0']);
    } finally {
      side.close();
    }
    await api.close();
    api = await startKubeApi({ tokens: ['tok'], plainHttp: true });
    const plain = await createKubernetesSide({ auth: { kind: 'kubeconfig', kubeconfig: kubeconfigFor(api.url, 'tok', '') }, coordinatorNamespace: 'contrast', namespaces: { kind: 'all' } });
    try {
      expect((await plain.peers.readyPeers('d')).coordinatorPods).toEqual([]);
    } finally {
      plain.close();
    }
  });

  it('rejects a malformed kubeconfig and an EKS endpoint that is not a URL with InputError', async () => {
    await expect(createKubernetesSide({ auth: { kind: 'kubeconfig', kubeconfig: 'clusters: [' }, coordinatorNamespace: 'c', namespaces: { kind: 'all' } })).rejects.toBeInstanceOf(InputError);
    await expect(
      createKubernetesSide({ auth: { kind: 'eks', clusterName: 'c', endpoint: 'eks.example', caData: '', region: 'eu-central-1', tokenProvider: () => Promise.resolve('t') }, coordinatorNamespace: 'c', namespaces: { kind: 'all' } }),
    ).rejects.toThrow(/is not a URL/);
  });

  it('keeps types.ts type-only, so reconcile never loads @kubernetes/client-node', () => {
    const src = readFileSync(new URL('../../lambda/kubernetes/types.ts', import.meta.url), 'utf8');
    expect(src).not.toMatch(/^import (?!type )/m);
    expect(src).not.toMatch(/^export (const|function|class|enum) /m);
  });
});
