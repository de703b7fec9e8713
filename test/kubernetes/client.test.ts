import { readFileSync } from 'node:fs';
import path from 'node:path';
import { build, type Metafile } from 'esbuild';
import { afterEach, describe, expect, it } from 'vitest';
import { InputError } from '../../lambda/shared/errors.ts';
import { createKubernetesSide } from '../../lambda/kubernetes/index.ts';
import { buildKubeConfig } from '../../lambda/kubernetes/kubeconfig.ts';
import { coordinatorTemplate, kubeconfigFor, startKubeApi, type KubeApi } from '../../testing/kube-api/index.ts';

/** Never called: these settings are refused before a token is signed. */
const noCredentials = () => Promise.reject(new Error('not reached'));

describe('client configuration', () => {
  let api: KubeApi | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  it('uses a kubeconfig document with a CA and a bearer token over TLS; plain HTTP only for the CLI, with insecure-skip-tls-verify', async () => {
    api = await startKubeApi({ tokens: ['tok'] });
    api.store.addPod('contrast', 'coordinator-0', { template: coordinatorTemplate(), ready: true });
    const side = await createKubernetesSide({
      auth: { kind: 'kubeconfig', kubeconfig: kubeconfigFor(api.url, 'tok', api.caData) },
      coordinatorNamespace: 'contrast',
      namespaces: { kind: 'all' },
    });
    try {
      expect((await side.peers.readyPeers('d')).readyPeers).toEqual(['coordinator-0']);
    } finally {
      side.close();
    }
    await api.close();
    api = await startKubeApi({ tokens: ['tok'], plainHttp: true });
    // The function's policy (the default) refuses it: no setting skips verification there.
    await expect(
      createKubernetesSide({
        auth: { kind: 'kubeconfig', kubeconfig: kubeconfigFor(api.url, 'tok', '') },
        coordinatorNamespace: 'contrast',
        namespaces: { kind: 'all' },
      }),
    ).rejects.toThrow(/insecure-skip-tls-verify: it would skip verifying/);
    const plain = await createKubernetesSide({
      auth: { kind: 'kubeconfig', kubeconfig: kubeconfigFor(api.url, 'tok', ''), policy: 'kubectl' },
      coordinatorNamespace: 'contrast',
      namespaces: { kind: 'all' },
    });
    try {
      expect((await plain.peers.readyPeers('d')).coordinatorPods).toEqual([]);
    } finally {
      plain.close();
    }
  });

  it('a malformed kubeconfig or EKS setting is config-invalid (not bundle-invalid: re-enrolling would not help)', async () => {
    const bad = [
      createKubernetesSide({
        auth: { kind: 'kubeconfig', kubeconfig: 'clusters: [' },
        coordinatorNamespace: 'c',
        namespaces: { kind: 'all' },
      }),
      createKubernetesSide({
        auth: { kind: 'kubeconfig', kubeconfig: kubeconfigFor('https://127.0.0.1:1', 't', 'Y2E='), context: 'nope' },
        coordinatorNamespace: 'c',
        namespaces: { kind: 'all' },
      }),
      createKubernetesSide({
        auth: {
          kind: 'eks',
          clusterName: 'c',
          endpoint: 'eks.example',
          caData: '',
          region: 'eu-central-1',
          credentials: noCredentials,
        },
        coordinatorNamespace: 'c',
        namespaces: { kind: 'all' },
      }),
      createKubernetesSide({
        auth: {
          kind: 'eks',
          clusterName: 'c',
          endpoint: 'https://eks.example',
          caData: 'bm90IGEgY2VydA==',
          region: 'eu-central-1',
          credentials: noCredentials,
        },
        coordinatorNamespace: 'c',
        namespaces: { kind: 'all' },
      }),
    ];
    const errors = await Promise.all(bad.map((p) => p.catch((e: unknown) => e)));
    for (const err of errors) {
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).outcome).toBe('config-invalid');
    }
    expect((errors[1] as Error).message).toMatch(/no context "nope" \(it has: stand-in\)/);
    expect((errors[2] as Error).message).toMatch(/is not an https:\/\/ URL/);
    expect((errors[3] as Error).message).toMatch(/not a base64 PEM certificate/);
  });

  it('loads @kubernetes/client-node only for kubeconfig access: EKS mode never imports it', async () => {
    const root = path.resolve(import.meta.dirname, '../..');
    const out = await build({
      entryPoints: [path.join(root, 'lambda/kubernetes/index.ts')],
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      packages: 'external',
      outdir: path.join(root, 'dist-test-kube'),
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const outputs = out.metafile.outputs;
    // Everything the entry loads by static imports, chunk by chunk.
    const entry = Object.keys(outputs).find((o) => outputs[o]!.entryPoint?.endsWith('lambda/kubernetes/index.ts'))!;
    const statics = new Set<string>();
    const walk = (o: string): void => {
      if (statics.has(o)) return;
      statics.add(o);
      for (const i of outputs[o]!.imports) if (i.kind === 'import-statement' && !i.external) walk(i.path);
    };
    walk(entry);
    const staticExternals = [...statics].flatMap((o) =>
      outputs[o]!.imports.filter(
        (i: Metafile['outputs'][string]['imports'][number]) => i.external && i.kind === 'import-statement',
      ).map((i) => i.path),
    );
    expect(staticExternals).not.toContain('@kubernetes/client-node');
    expect(staticExternals).not.toContain('@aws-sdk/client-sts');
    const staticInputs = [...statics].flatMap((o) => Object.keys(outputs[o]!.inputs));
    expect(staticInputs.some((i) => i.endsWith('lambda/kubernetes/eks.ts'))).toBe(true);
    expect(staticInputs.some((i) => i.endsWith('lambda/kubernetes/kubeconfig.ts'))).toBe(false);
    // It is there, behind the dynamic import of kubeconfig.ts.
    const all = Object.values(outputs).flatMap((o) => o.imports.map((i) => i.path));
    expect(all).toContain('@kubernetes/client-node');
  });

  it('merges several kubeconfig files as kubectl does: the first to name something wins', async () => {
    const a = kubeconfigFor('https://a.example', 'ta', '', 'shared');
    const b =
      kubeconfigFor('https://b.example', 'tb', '', 'shared').replace(
        'current-context: shared',
        'current-context: other',
      ) +
      ['contexts:', '- name: other', '  context:', '    cluster: shared', '    user: autorecover', '']
        .join('\n')
        .replace(/^contexts:\n/, '');
    const kc = await buildKubeConfig({ kind: 'kubeconfig', kubeconfig: [{ text: a }, { text: b }], policy: 'kubectl' });
    expect(kc.getCurrentContext()).toBe('shared');
    expect(kc.getCurrentCluster()!.server).toBe('https://a.example');
  });

  it('keeps types.ts type-only, so reconcile never loads @kubernetes/client-node', () => {
    const src = readFileSync(new URL('../../lambda/kubernetes/types.ts', import.meta.url), 'utf8');
    expect(src).not.toMatch(/^import (?!type )/m);
    expect(src).not.toMatch(/^export (const|function|class|enum) /m);
  });
});
