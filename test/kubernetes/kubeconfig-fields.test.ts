/**
 * What a kubeconfig may ask for (lambda/kubernetes/kubeconfig-fields.ts). The function takes its
 * kubeconfig from a secret and honours only embedded credentials over verified TLS: an exec
 * plugin is never run, a file is never opened, and the API server never hears from it. The CLI
 * reads kubeconfigs as kubectl does, but opens a referenced file only when it is a bounded
 * regular file, and runs the operator's exec plugins.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { lazySide, resolveKubeAccess } from '../../cli/kubernetes.ts';
import { loadConfig } from '../../lambda/function/config.ts';
import { lazyKubernetes } from '../../lambda/function/kubernetes-access.ts';
import type { AwsClients } from '../../lambda/function/runtime.ts';
import { InputError } from '../../lambda/shared/errors.ts';
import { coordinatorTemplate, startKubeApi, type KubeApi } from '../../testing/kube-api/index.ts';

const noAws = {} as SecretsManagerClient;
let dir: string;
let api: KubeApi;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'car-kubeconfig-'));
  api = await startKubeApi({ tokens: ['secret-token', 'file-token', 'exec-token'] });
  api.store.addPod('contrast', 'coordinator-0', { template: coordinatorTemplate(), ready: true });
});
afterAll(async () => {
  await api.close();
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => api.resetStats());

/** A kubeconfig whose one cluster and user carry the given fields. */
function kubeconfig(
  cluster: Record<string, unknown>,
  user: Record<string, unknown>,
  top: Record<string, unknown> = {},
): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'c',
    clusters: [{ name: 'c', cluster: { server: api.url, ...cluster } }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'c', context: { cluster: 'c', user: 'u', namespace: 'contrast' } }],
    ...top,
  });
}

/** The function's Kubernetes side, its kubeconfig read from a (stand-in) secret as in production. */
async function functionSide(text: string) {
  const secrets = {
    send: (_: GetSecretValueCommand) => Promise.resolve({ SecretString: text }),
  } as unknown as SecretsManagerClient;
  const config = loadConfig({
    CONTRAST_DEPLOYMENTS: JSON.stringify([
      { name: 'prod', secretId: 's', coordinator: 'c.example:1313', coordinatorNamespace: 'contrast' },
    ]),
    LOCK_TABLE_NAME: 'locks',
    EVENT_BUS_NAME: 'bus',
    KUBE_AUTH: 'kubeconfig',
    KUBECONFIG_SECRET_ID: 'kubeconfig-prod',
  });
  return lazyKubernetes(config, { secrets } as AwsClients)(config.deployments[0]!)!();
}

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('accepted');
    },
    (err: unknown) => {
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).outcome).toBe('config-invalid');
      return (err as Error).message;
    },
  );

/** An exec plugin that leaves a marker file and hands out a token the stand-in accepts. */
function execPlugin(marker: string) {
  const credential = JSON.stringify({
    apiVersion: 'client.authentication.k8s.io/v1',
    kind: 'ExecCredential',
    status: { token: 'exec-token' },
  });
  return {
    apiVersion: 'client.authentication.k8s.io/v1',
    command: '/bin/sh',
    args: ['-c', `touch '${marker}'; printf '%s' '${credential}'`],
    interactiveMode: 'Never',
  };
}

describe("the function's kubeconfig: embedded credentials only", () => {
  it('works with an embedded CA and token', async () => {
    const side = await functionSide(
      kubeconfig({ 'certificate-authority-data': api.caData }, { token: 'secret-token' }),
    );
    try {
      expect((await side.peers.readyPeers('prod')).readyPeers).toEqual(['coordinator-0']);
    } finally {
      side.close?.();
    }
  });

  it('never runs an exec plugin, and the API server never hears from it', async () => {
    const marker = join(dir, 'exec-ran');
    const message = await refusal(
      functionSide(kubeconfig({ 'certificate-authority-data': api.caData }, { exec: execPlugin(marker) })),
    );
    expect(message).toMatch(
      /users\[0\] \("u"\) sets exec: the function runs no credential plugin .* embed a token, or client-certificate-data and client-key-data/,
    );
    expect(existsSync(marker)).toBe(false);
    expect(api.log).toEqual([]);
  });

  it('refuses a FIFO or /dev/zero named as certificate-authority at once, without opening it', async () => {
    const fifo = join(dir, 'ca.fifo');
    execFileSync('mkfifo', [fifo]);
    for (const ca of [fifo, '/dev/zero']) {
      const message = await refusal(
        functionSide(kubeconfig({ 'certificate-authority': ca }, { token: 'secret-token' })),
      );
      expect(message).toMatch(
        /clusters\[0\] \("c"\) sets certificate-authority: the function reads no file a kubeconfig names — embed the CA as certificate-authority-data/,
      );
    }
    expect(api.log).toEqual([]);
  });

  it.each([
    [
      'auth-provider',
      {},
      { 'auth-provider': { name: 'oidc', config: { 'id-token': 'x' } } },
      /sets auth-provider: the function runs no auth provider/,
    ],
    [
      'client-certificate',
      {},
      { 'client-certificate': '/etc/cert.pem', 'client-key-data': 'eA==' },
      /sets client-certificate: .* embed the certificate as client-certificate-data/,
    ],
    [
      'client-key',
      {},
      { 'client-certificate-data': 'eA==', 'client-key': '/etc/key.pem' },
      /sets client-key: .* embed the key as client-key-data/,
    ],
    ['tokenFile', {}, { tokenFile: '/var/run/token' }, /sets tokenFile: .* embed the token as token/],
    ["client-node's token-file", {}, { 'token-file': '/dev/zero' }, /sets token-file: .* embed the token as token/],
    [
      'basic authentication',
      {},
      { username: 'admin', password: 'pw' },
      /sets username: basic authentication is not supported/,
    ],
    ['impersonation', {}, { token: 'secret-token', as: 'admin' }, /sets as: the function does not impersonate/],
    [
      'insecure-skip-tls-verify',
      { 'insecure-skip-tls-verify': true },
      { token: 'secret-token' },
      /sets insecure-skip-tls-verify: it would skip verifying the API server's certificate/,
    ],
    [
      'an http:// server',
      { 'certificate-authority-data': 'eA==', server: 'http://10.0.0.1:6443' },
      { token: 'secret-token' },
      /sets server "http:\/\/10\.0\.0\.1:6443": .* give its https:\/\/ URL/,
    ],
    [
      'proxy-url',
      { 'certificate-authority-data': 'eA==', 'proxy-url': 'http://proxy:3128' },
      { token: 'secret-token' },
      /sets proxy-url: .* never through a proxy/,
    ],
    [
      'an unknown field',
      { 'certificate-authority-data': 'eA==' },
      { token: 'secret-token', 'client-secret': 'x' },
      /sets client-secret: not a field the function uses — remove it/,
    ],
  ])('refuses %s by name, saying what to do', async (_name, cluster, user, expected) => {
    expect(
      await refusal(functionSide(kubeconfig({ 'certificate-authority-data': api.caData, ...cluster }, user))),
    ).toMatch(expected);
    expect(api.log).toEqual([]);
  });

  it('checks every entry, not only the current context: an unused exec user is refused too', async () => {
    const marker = join(dir, 'exec-unused');
    const text = kubeconfig({ 'certificate-authority-data': api.caData }, { token: 'secret-token' }).replace(
      'users:\n',
      `users:\n  - name: admin\n    user:\n      exec:\n        command: /bin/sh\n        args: ["-c", "touch '${marker}'"]\n`,
    );
    expect(await refusal(functionSide(text))).toMatch(/users\[0\] \("admin"\) sets exec/);
    expect(existsSync(marker)).toBe(false);
  });
});

describe("the CLI's kubeconfig: as kubectl reads it, files only when bounded regular files", () => {
  const cliSide = async (text: string, name: string) => {
    const path = join(dir, name);
    await writeFile(path, text);
    const access = await resolveKubeAccess({ kubeconfig: path }, noAws, {});
    if (access.kind !== 'settings') throw new Error(access.kind);
    return lazySide(access.settings);
  };

  it('reads a relative certificate-authority and tokenFile next to the kubeconfig, as kubectl does', async () => {
    await writeFile(join(dir, 'ca.pem'), Buffer.from(api.caData, 'base64'));
    await writeFile(join(dir, 'token'), 'file-token\n');
    const side = await cliSide(
      kubeconfig({ 'certificate-authority': 'ca.pem' }, { tokenFile: 'token' }),
      'relative.yaml',
    );
    try {
      expect((await (await side.get()).peers.readyPeers('prod')).readyPeers).toEqual(['coordinator-0']);
      expect(api.log.length).toBeGreaterThan(0);
    } finally {
      side.close();
    }
  });

  it('refuses a FIFO or /dev/zero named as certificate-authority, client-key or tokenFile at once, naming it', async () => {
    const fifo = join(dir, 'cli.fifo');
    execFileSync('mkfifo', [fifo]);
    await symlink('/dev/zero', join(dir, 'zero-link'));
    const cases: [Record<string, unknown>, Record<string, unknown>, RegExp][] = [
      [
        { 'certificate-authority': fifo },
        { token: 'file-token' },
        /cluster "c" certificate-authority: .*cli\.fifo is a FIFO \(named pipe\), not a regular file/,
      ],
      [
        { 'certificate-authority': 'zero-link' },
        { token: 'file-token' },
        /cluster "c" certificate-authority: .*zero-link is a character device, not a regular file/,
      ],
      [
        { 'certificate-authority-data': api.caData },
        { 'client-certificate-data': 'eA==', 'client-key': '/dev/zero' },
        /user "u" client-key: \/dev\/zero is a character device/,
      ],
      [{ 'certificate-authority-data': api.caData }, { tokenFile: fifo }, /user "u" tokenFile: .*cli\.fifo is a FIFO/],
    ];
    for (const [i, [cluster, user, expected]] of cases.entries()) {
      const path = join(dir, `special-${i}.yaml`);
      await writeFile(path, kubeconfig(cluster, user));
      expect(await refusal(resolveKubeAccess({ kubeconfig: path }, noAws, {}))).toMatch(expected);
    }
    expect(api.log).toEqual([]);
  });

  it("leaves other entries' files unopened", async () => {
    const fifo = join(dir, 'unused.fifo');
    execFileSync('mkfifo', [fifo]);
    const text = kubeconfig({ 'certificate-authority-data': api.caData }, { token: 'file-token' }).replace(
      'clusters:\n',
      `clusters:\n  - name: other\n    cluster:\n      server: https://other.example\n      certificate-authority: ${fifo}\n`,
    );
    const side = await cliSide(text, 'unused.yaml');
    try {
      expect((await (await side.get()).peers.readyPeers('prod')).readyPeers).toEqual(['coordinator-0']);
    } finally {
      side.close();
    }
  });

  it("runs the operator's exec plugin (the CLI's choice, as with kubectl)", async () => {
    const marker = join(dir, 'cli-exec-ran');
    const side = await cliSide(
      kubeconfig({ 'certificate-authority-data': api.caData }, { exec: execPlugin(marker) }),
      'exec.yaml',
    );
    try {
      expect((await (await side.get()).peers.readyPeers('prod')).readyPeers).toEqual(['coordinator-0']);
      expect(existsSync(marker)).toBe(true);
    } finally {
      side.close();
    }
  });
});

describe('a kubeconfig that does not parse', () => {
  it('names the parser error and its position, never the line that holds the token', async () => {
    const { parseKubeconfig } = await import('../../lambda/kubernetes/kubeconfig-fields.ts');
    const token = 'sekret-token-0123456789abcdef';
    const text = `users:\n- name: u\n  user:\n    token: [${token}\n`;
    let message = '';
    try {
      parseKubeconfig(text, 'the kubeconfig document');
    } catch (err) {
      message = (err as Error).message;
      expect((err as Error).cause).toBeUndefined();
    }
    expect(message).toMatch(/kubeconfig document cannot be parsed \(\w+ at line \d+, column \d+\)/);
    expect(message).not.toContain(token);
  });
});
