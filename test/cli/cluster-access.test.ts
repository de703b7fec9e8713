/** The CLI finds the cluster where kubectl does, and reads only what a kubeconfig can be. */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveKubeAccess } from '../../cli/kubernetes.ts';
import { UsageError } from '../../cli/usage.ts';
import { kubeconfigFor } from '../../testing/kube-api/index.ts';

const noAws = {} as SecretsManagerClient;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'car-kubeaccess-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, server: string, context: string, namespace?: string): Promise<string> {
  let text = kubeconfigFor(server, 'tok', '', context);
  if (namespace) text = text.replace(`    user: autorecover\n`, `    user: autorecover\n    namespace: ${namespace}\n`);
  const p = join(dir, name);
  await writeFile(p, text);
  return p;
}

const serverOf = (a: Awaited<ReturnType<typeof resolveKubeAccess>>) => {
  if (a.kind !== 'settings' || a.settings.auth.kind !== 'kubeconfig')
    throw new Error(`no kubeconfig settings: ${a.kind}`);
  return a.settings;
};

describe('CLI cluster access', () => {
  it('--kubeconfig, else KUBECONFIG (merged, first wins), else ~/.kube/config; the context namespace is the Coordinator namespace', async () => {
    const a = await file('a.yaml', 'https://a.example', 'a', 'contrast-a');
    const b = await file('b.yaml', 'https://b.example', 'b');
    const home = join(dir, 'home');
    await mkdir(join(home, '.kube'), { recursive: true });
    await writeFile(join(home, '.kube', 'config'), kubeconfigFor('https://home.example', 'tok', '', 'home'));

    const explicit = await resolveKubeAccess({ kubeconfig: b }, noAws, { KUBECONFIG: a, HOME: home });
    expect(explicit).toMatchObject({ source: `--kubeconfig ${b}` });
    expect(serverOf(explicit).coordinatorNamespace).toBe('default');

    const listed = await resolveKubeAccess({}, noAws, { KUBECONFIG: `${a}:${b}`, HOME: home });
    const settings = serverOf(listed);
    expect(settings.coordinatorNamespace).toBe('contrast-a');
    expect(settings.namespaces).toEqual({ kind: 'list', names: ['contrast-a'] });
    expect((settings.auth as { kubeconfig: { path: string }[] }).kubeconfig.map((d) => d.path)).toEqual([a, b]);
    // Another context of the merged files, chosen by name.
    expect(
      serverOf(await resolveKubeAccess({ kubeContext: 'b' }, noAws, { KUBECONFIG: `${a}:${b}`, HOME: home }))
        .coordinatorNamespace,
    ).toBe('default');

    expect(await resolveKubeAccess({ allNamespaces: true }, noAws, { HOME: home })).toMatchObject({
      source: join(home, '.kube', 'config'),
      settings: { namespaces: { kind: 'all' } },
    });
    // --namespace-selector: the namespaces of a deployment's namespaceLabelSelector; one way to name them.
    const selector = 'contrast.edgeless.systems/restart=enabled';
    expect(await resolveKubeAccess({ namespaceSelector: selector }, noAws, { HOME: home })).toMatchObject({
      settings: { namespaces: { kind: 'selector', labelSelector: selector } },
    });
    await expect(
      resolveKubeAccess({ namespaceSelector: selector, namespace: ['a'] }, noAws, { HOME: home }),
    ).rejects.toThrow(UsageError);
    await expect(
      resolveKubeAccess({ namespaceSelector: selector, allNamespaces: true }, noAws, { HOME: home }),
    ).rejects.toThrow(/excludes --namespace and --all-namespaces/);
    await expect(resolveKubeAccess({ namespaceSelector: ' ' }, noAws, { HOME: home })).rejects.toThrow(
      /needs a namespace label selector/,
    );
    expect(await resolveKubeAccess({}, noAws, { HOME: join(dir, 'nobody') })).toEqual({ kind: 'none' });
    expect(await resolveKubeAccess({ kubernetes: false, kubeconfig: a }, noAws, {})).toEqual({ kind: 'disabled' });
  });

  it('refuses a FIFO, a device behind a symlink, a directory and an oversized file, without hanging', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const zero = join(dir, 'zero');
    await symlink('/dev/zero', zero);
    const big = join(dir, 'big.yaml');
    await writeFile(big, Buffer.alloc(1024 * 1024 + 1, 0x20));
    for (const [p, why] of [
      [fifo, /is not a regular file/],
      [zero, /is not a regular file/],
      [dir, /is not a regular file/],
      [big, /more than 1048576/],
      [join(dir, 'missing'), /does not exist/],
    ] as const) {
      const err = await resolveKubeAccess({ kubeconfig: p }, noAws, {}).catch((e: unknown) => e);
      expect(err, p).toMatchObject({ outcome: 'config-invalid', message: expect.stringMatching(why) });
    }
  });
});
