/**
 * A hostile kubeconfig in the function's secret (KUBE_AUTH=kubeconfig): an exec plugin or auth
 * provider that would run inside the function with its AWS credentials, a FIFO or /dev/zero
 * named as a certificate, key or token file, a plain-http server. Each is `config-invalid` by
 * name before anything runs, opens or connects: no marker file, no request to the API
 * stand-in, no Decrypt, no Recover. The handler runs in a child process (chaos/child-invoke.ts)
 * so that a blocked event loop — what a FIFO read did — is killed and reported, not a hung suite.
 * Every case: an outcome in time, an audit record, no Recover, no secret in any output.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { stringify } from 'yaml';
import { startKubeApi, type KubeApi } from '../../testing/kube-api/index.ts';
import {
  auditsOf,
  CHAOS_BUDGETS,
  CHAOS_REMAINING_MS,
  checkNoSecret,
  jsonLines,
  makeWorld,
  REGION,
  runCase,
  summarize,
  triggers,
  type Checks,
  type ClassResult,
  type Env,
} from '../harness.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHILD = join(ROOT, 'chaos', 'child-invoke.ts');
/** The invocation (the bundle, the probe and the refusal) from its start in the child; a few seconds. */
const BOUND_MS = 15_000;
/** A child not done by then is blocked (or its start took that long): killed, and the case fails. */
const KILL_MS = 90_000;

interface Child {
  outcome?: string;
  output: string;
  ms: number;
  killed: boolean;
}

function runChild(spec: Record<string, unknown>): Promise<Child> {
  return new Promise((resolve) => {
    let t0 = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
      cwd: ROOT,
      env: { ...process.env, CHAOS_CHILD: JSON.stringify(spec) },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    let output = '';
    let outcome: string | undefined;
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    createInterface({ input: child.stdio[3] as Readable }).on('line', (line) => {
      const msg = JSON.parse(line) as { started?: boolean; done?: boolean; outcome?: string };
      if (msg.started) t0 = Date.now();
      if (msg.done) outcome = msg.outcome;
    });
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, KILL_MS);
    child.on('close', () => {
      clearTimeout(timer);
      resolve({ outcome, output, ms: Date.now() - t0, killed });
    });
  });
}

type Fields = { cluster?: Record<string, unknown>; user?: Record<string, unknown> };

export async function hostileKubeconfigClass(env: Env): Promise<ClassResult> {
  const dir = await mkdtemp(join(tmpdir(), 'chaos-kubeconfig-'));
  const fifo = join(dir, 'pipe');
  execFileSync('mkfifo', [fifo]);
  const api: KubeApi = await startKubeApi({});
  const secrets = new SecretsManagerClient({
    region: REGION,
    endpoint: env.moto,
    credentials: { accessKeyId: 'chaos', secretAccessKey: 'chaos' },
  });
  const marker = (name: string) => join(dir, `${name}-ran`);
  // Run, it would leave a marker and hand the function's own AWS secret key to the API server as its token.
  const credential = `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"'"$AWS_SECRET_ACCESS_KEY"'"}}`;
  const script = (name: string) => `touch '${marker(name)}'; printf '%s' '${credential}'`;
  const ca = { 'certificate-authority-data': api.caData };

  const cases: [string, Fields, RegExp][] = [
    [
      "an exec plugin that would send the function's AWS credentials",
      {
        cluster: ca,
        user: {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1',
            command: '/bin/sh',
            args: ['-c', script('exec')],
            interactiveMode: 'Never',
          },
        },
      },
      /sets exec: the function runs no credential plugin/,
    ],
    [
      'a gcp auth provider whose cmd-path would run a command',
      {
        cluster: ca,
        user: {
          'auth-provider': { name: 'gcp', config: { 'cmd-path': '/bin/sh', 'cmd-args': `-c "${script('gcp')}"` } },
        },
      },
      /sets auth-provider: the function runs no auth provider/,
    ],
    [
      'certificate-authority is a FIFO',
      { cluster: { 'certificate-authority': fifo }, user: { token: 't' } },
      /sets certificate-authority: the function reads no file .* certificate-authority-data/,
    ],
    [
      'certificate-authority is /dev/zero',
      { cluster: { 'certificate-authority': '/dev/zero' }, user: { token: 't' } },
      /sets certificate-authority: the function reads no file/,
    ],
    [
      'client-key is a FIFO',
      { cluster: ca, user: { 'client-certificate-data': 'eA==', 'client-key': fifo } },
      /sets client-key: .* client-key-data/,
    ],
    ['tokenFile is a FIFO', { cluster: ca, user: { tokenFile: fifo } }, /sets tokenFile: .* embed the token as token/],
    [
      "client-node's token-file (read while loading) is /dev/zero",
      { cluster: ca, user: { 'token-file': '/dev/zero' } },
      /sets token-file: .* embed the token as token/,
    ],
    [
      'a plain-http server with insecure-skip-tls-verify (the token in the clear)',
      {
        cluster: { server: api.url.replace('https:', 'http:'), 'insecure-skip-tls-verify': true },
        user: { token: 't' },
      },
      /sets insecure-skip-tls-verify/,
    ],
  ];

  const results = [];
  try {
    for (const [name, fields, message] of cases) {
      env.proxy.clear();
      api.resetStats();
      results.push(
        await runCase(name, async (c: Checks) => {
          const secretId = `kubeconfig-${randomUUID().slice(0, 8)}`;
          const text = stringify({
            apiVersion: 'v1',
            kind: 'Config',
            'current-context': 'c',
            clusters: [{ name: 'c', cluster: { server: api.url, ...fields.cluster } }],
            users: [{ name: 'u', user: fields.user }],
            contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
          });
          await secrets.send(new CreateSecretCommand({ Name: secretId, SecretString: text }));
          const world = await makeWorld(env, {
            configEnv: { KUBE_AUTH: 'kubeconfig', KUBECONFIG_SECRET_ID: secretId },
          });
          try {
            const requestId = `kubeconfig-${randomUUID().slice(0, 8)}`;
            const run = await runChild({
              config: world.config,
              budgets: CHAOS_BUDGETS,
              requestId,
              event: triggers.restart(world.deployment),
              remainingMs: CHAOS_REMAINING_MS,
              kubernetes: 'configured',
            });
            c.that(
              !run.killed && run.ms < BOUND_MS,
              `no outcome within ${BOUND_MS} ms (${run.ms} ms${run.killed ? ', killed: blocked' : ''})`,
            );
            c.that(run.outcome === 'config-invalid', `outcome ${run.outcome}, expected config-invalid`);
            const audit = auditsOf(jsonLines(run.output)).find(
              (a) => a.requestId === requestId && a.deployment === world.deployment,
            );
            c.that(
              audit?.outcome === 'config-invalid',
              `audit record ${audit ? `outcome ${String(audit.outcome)}` : 'missing'}`,
            );
            c.that(message.test(run.output), `the refusal does not name the field: ${run.output.slice(0, 400)}`);
            c.that(
              api.log.length === 0,
              `the API server received ${api.log.length} request(s) (${api.log.map((r) => r.status).join(', ')})`,
            );
            c.that(
              !existsSync(marker('exec')) && !existsSync(marker('gcp')),
              'a credential plugin ran inside the function',
            );
            c.that(
              !env.proxy.ops().includes('TrentService.Decrypt') && world.emu.recoverRequests === 0,
              'decrypted or recovered without a usable cluster',
            );
            checkNoSecret(c, world, [run.output]);
          } finally {
            await world.stop();
          }
        }),
      );
    }
  } finally {
    env.proxy.clear();
    await api.close();
    await rm(dir, { recursive: true, force: true });
  }
  return summarize('hostile-kubeconfig', results);
}
