/**
 * Special files for the CLI, run as an operator runs it (the built binary, a child process):
 * a FIFO, a link to /dev/zero, a directory or a huge file where a file is expected is refused
 * at once with a message that names the file and what it is. The CLI writes no audit record
 * (its calls are audited under the operator's own identity); each case asserts the outcome (the
 * exit code and message) within the budget and no secret in any output.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeWorkspace, writeWorkspace, type Workspace } from '../../testing/workspace.ts';
import { findLeaks, pemNeedles, secretNeedles } from '../../test/support/secrets.ts';
import { runCase, summarize, type ClassResult, type Env } from '../harness.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** A refusal must come at once; a blocked read would never end. */
const BUDGET_MS = 5_000;

interface Run {
  code: number | null;
  output: string;
  ms: number;
  killed: boolean;
}

function runCli(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'contrast-autorecover.js'), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, BUDGET_MS + 5_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, ms: Date.now() - t0, killed });
    });
  });
}

export async function cliSpecialFilesClass(env: Env): Promise<ClassResult> {
  const dir = await mkdtemp(join(tmpdir(), 'chaos-cli-'));
  const ws: Workspace = await makeWorkspace({ modulusLength: 2048 });
  const needles = { seed: secretNeedles(ws.seed), 'owner key (PEM)': pemNeedles(ws.ownerKeyPem.toString('utf8')) };
  const awsEnv = {
    AWS_ENDPOINT_URL: env.moto,
    AWS_REGION: 'eu-central-1',
    AWS_ACCESS_KEY_ID: 'chaos',
    AWS_SECRET_ACCESS_KEY: 'chaos',
  };
  const fifo = (p: string) => execFileSync('mkfifo', [p]);

  /** A workspace with one file replaced by something else. */
  const workspaceWith = async (name: string, file: string, make: (p: string) => Promise<unknown> | unknown) => {
    const d = join(dir, name);
    await writeWorkspace(ws, d);
    await rm(join(d, file));
    await make(join(d, file));
    return d;
  };
  const enroll = (d: string, extra: string[] = []) => [
    'enroll',
    '--workspace',
    d,
    '--deployment',
    'prod',
    '--kms-key-id',
    'alias/x',
    '--secret-id',
    'contrast/prod',
    ...extra,
  ];

  const cases: [string, () => Promise<string[]>, number, RegExp][] = [
    [
      'enroll: the owner key is a FIFO',
      async () => enroll(await workspaceWith('fifo-key', 'seedshare-owner.pem', fifo)),
      16,
      /seedshare-owner\.pem: .* is a FIFO \(named pipe\), not a regular file/,
    ],
    [
      'enroll: the manifest links to /dev/zero',
      async () => enroll(await workspaceWith('zero-manifest', 'manifest.json', (p) => symlink('/dev/zero', p))),
      16,
      /manifest\.json: .* is a character device, not a regular file/,
    ],
    [
      'enroll: the seed shares are a directory',
      async () => enroll(await workspaceWith('dir-shares', 'seed-shares.json', (p) => mkdir(p))),
      16,
      /seed-shares\.json: .* is a directory/,
    ],
    [
      'enroll: the owner key is a 1 GiB sparse file',
      async () =>
        enroll(
          await workspaceWith(
            'huge-key',
            'seedshare-owner.pem',
            async (p) => (await writeFile(p, ''), truncate(p, 1024 ** 3)),
          ),
        ),
      16,
      /seedshare-owner\.pem: .* is 1024 MiB, more than the 64 KiB/,
    ],
    [
      'enroll: the collateral directory holds only a FIFO and a /dev/zero link',
      async () => {
        const c = join(dir, 'collateral');
        await mkdir(c);
        fifo(join(c, 'vcek.der'));
        await symlink('/dev/zero', join(c, 'crl.der'));
        return enroll(await workspaceWith('good', 'manifest.json', (p) => writeFile(p, ws.manifest)), [
          '--collateral',
          c,
        ]);
      },
      16,
      /--collateral .* is empty/,
    ],
    [
      'attestation verify: the report is a FIFO',
      async () => (fifo(join(dir, 'report.bin')), ['attestation', 'verify', '--snp-report', join(dir, 'report.bin')]),
      2,
      /--snp-report: .* is a FIFO/,
    ],
    [
      'attestation verify: the report links to /dev/zero',
      async () => (
        await symlink('/dev/zero', join(dir, 'zero.bin')),
        ['attestation', 'verify', '--snp-report', join(dir, 'zero.bin')]
      ),
      2,
      /--snp-report: .* is a character device/,
    ],
    [
      'attestation verify: the manifest is a FIFO',
      async () => (
        fifo(join(dir, 'manifest.fifo')),
        ['attestation', 'verify', '--tdx-quote', join(dir, 'quote.dat'), '--manifest', join(dir, 'manifest.fifo')]
      ),
      2,
      /--manifest: .* is a FIFO/,
    ],
  ];

  const results = [];
  try {
    for (const [name, args, code, message] of cases) {
      results.push(
        await runCase(name, async (c) => {
          const r = await runCli(await args(), awsEnv);
          c.that(
            !r.killed && r.ms < BUDGET_MS,
            `no outcome within ${BUDGET_MS} ms (${r.ms} ms${r.killed ? ', killed' : ''})`,
          );
          c.that(r.code === code, `exit code ${r.code}, expected ${code}: ${r.output.slice(0, 300)}`);
          c.that(message.test(r.output), `message does not say what is wrong: ${r.output.slice(0, 300)}`);
          const leaks = findLeaks(r.output, needles);
          c.that(leaks.length === 0, `secret in output: ${leaks.join(', ')}`);
        }),
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return summarize('cli-special-files', results);
}
