/**
 * `doctor` and `rehearse` end within their own deadline (issue 21 item 7) against a
 * Kubernetes API server that accepts and never answers, one that trickles a byte every 2 s
 * (a per-request silence timeout never fires), and a kubeconfig whose certificate-authority
 * is a FIFO or /dev/zero. The tests assert that the run ended and named the silent part;
 * without the deadline they hang until the test's own (generous) timeout fails them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DoctorOptions } from '../../cli/doctor/command.ts';
import { runDoctor } from '../../cli/doctor/run.ts';
import type { RehearseOptions } from '../../cli/rehearse/command.ts';
import { rehearseCommand } from '../../cli/rehearse/run.ts';
import { DEFAULTS, OPERATIONS } from '../../lambda/shared/contract.ts';
import { kubeconfigFor } from '../../testing/kube-api/index.ts';
import { motoAvailable, motoEndpoint, SKIP_REASON } from '../support/aws.ts';
import { runCli } from '../support/cli.ts';
import { NAMESPACE, startStack, type Stack } from './stack.ts';

/** A TCP server on 127.0.0.1 that accepts and then never answers, or trickles a TLS record header and a byte every 2 s. */
async function hangingServer(
  mode: 'silent' | 'trickle',
): Promise<{ url: string; connections: () => number; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    if (mode === 'trickle') {
      // A handshake record of 16 KiB, one byte at a time: always more to come.
      socket.write(Buffer.from([0x16, 0x03, 0x03, 0x40, 0x00]));
      const t = setInterval(() => socket.write(Buffer.from([0x00])), 2_000);
      timers.add(t);
      socket.on('close', () => clearInterval(t));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `https://127.0.0.1:${port}`,
    connections: () => accepted,
    async stop() {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

let stack: Stack;
let dir: string;

beforeAll(async () => {
  if (!motoAvailable) return;
  stack = await startStack({ state: 'healthy' });
  dir = await mkdtemp(join(tmpdir(), 'operator-deadline-'));
}, 60_000);
afterAll(async () => {
  await stack?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function doctorOptions(kubeconfig: string, extra: Partial<DoctorOptions> = {}): DoctorOptions {
  return {
    deployment: stack.deployment,
    function: stack.functionName,
    kubeconfig,
    kubeGroup: DEFAULTS.kubernetesGroup,
    exporterNamespace: OPERATIONS.exporterNamespace,
    timeout: 8,
    ...extra,
  };
}

async function kubeconfigAt(name: string, server: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, kubeconfigFor(server, 'operator-token', stack.kube.caData));
  return file;
}

describe.skipIf(!motoAvailable)(`doctor and rehearse deadlines ${motoAvailable ? '' : SKIP_REASON}`, () => {
  for (const mode of ['silent', 'trickle'] as const) {
    it(`doctor: a ${mode} Kubernetes API fails rbac and exporter as "did not answer", naming it; the run ends with the other checks`, async () => {
      const api = await hangingServer(mode);
      try {
        const report = await runDoctor(doctorOptions(await kubeconfigAt(`doctor-${mode}`, api.url)), {
          aws: stack.aws,
          auditWaitMs: 1_000,
        });
        expect(api.connections()).toBeGreaterThan(0);
        for (const id of ['rbac', 'exporter']) {
          const c = report.checks.find((x) => x.id === id);
          expect(c, id).toMatchObject({
            status: 'fail',
            details: [
              expect.stringMatching(
                new RegExp(
                  `^did not answer: the Kubernetes API of context stand-in \\(https://127\\.0\\.0\\.1:\\d+\\) .*within the 8 s deadline`,
                ),
              ),
            ],
          });
          expect(c!.fix).toMatch(/--timeout/);
        }
        expect(report.ok).toBe(false);
        // The other checks still report (function configuration is read before the cluster).
        expect(report.checks.map((c) => c.id)).toEqual(
          expect.arrayContaining(['function', 'coordinator', 'bundle', 'key-policy', 'trail']),
        );
      } finally {
        await api.stop();
      }
    }, 120_000);

    it(`rehearse: --timeout bounds the run against a ${mode} Kubernetes API, deletes nothing and names what did not answer`, async () => {
      const api = await hangingServer(mode);
      let text = '';
      try {
        const o: RehearseOptions = {
          deployment: stack.deployment,
          function: stack.functionName,
          kubeconfig: await kubeconfigAt(`rehearse-${mode}`, api.url),
          timeout: 8,
          trailTimeout: 5,
          json: true,
          yes: true,
        };
        const code = await rehearseCommand(o, {
          aws: stack.aws,
          write: (t) => (text += t),
          pollMs: 50,
          clockSkewMs: 0,
        });
        expect(code).toBe(3);
        expect(text).toMatch(
          new RegExp(
            `did not answer: the Kubernetes API of context stand-in \\(https://127\\.0\\.0\\.1:\\d+\\) \\(list the Coordinator pods in namespace ${NAMESPACE}\\)`,
          ),
        );
        expect(stack.kube.log.filter((r) => r.method === 'DELETE')).toEqual([]);
      } finally {
        await api.stop();
      }
    }, 120_000);
  }

  it('the installed doctor command ends and exits 3 against a silent API server (no request left holding the process)', async () => {
    const api = await hangingServer('silent');
    try {
      const env = {
        AWS_REGION: 'eu-central-1',
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        AWS_ENDPOINT_URL: motoEndpoint,
        AWS_ENDPOINT_URL_LAMBDA: stack.lambda.endpoint,
        AWS_ENDPOINT_URL_EKS: stack.eks.endpoint,
        KUBECONFIG: await kubeconfigAt('cli-silent', api.url),
      };
      const run = await runCli(
        ['doctor', '--deployment', stack.deployment, '--function', stack.functionName, '--timeout', '8'],
        env,
        110_000,
      );
      expect(run.stdout).toMatch(/RBAC .*did not answer: the Kubernetes API/);
      expect(run.code).toBe(3);
    } finally {
      await api.stop();
    }
  }, 120_000);

  it('doctor: a certificate-authority that is a FIFO or /dev/zero is refused at once as no cluster access', async () => {
    const fifo = join(dir, 'ca.fifo');
    execFileSync('mkfifo', [fifo]);
    for (const ca of [fifo, '/dev/zero']) {
      const file = join(dir, `ca-${ca === fifo ? 'fifo' : 'zero'}`);
      await writeFile(
        file,
        kubeconfigFor(stack.kube.url, 'operator-token', '').replace(
          '    insecure-skip-tls-verify: true',
          `    certificate-authority: ${ca}`,
        ),
      );
      const report = await runDoctor(doctorOptions(file, { timeout: 60 }), { aws: stack.aws, auditWaitMs: 1_000 });
      const rbac = report.checks.find((x) => x.id === 'rbac')!;
      expect(rbac.status).toBe('fail');
      expect(rbac.details[0]).toMatch(/^no cluster access: .*not a regular file/);
      expect(rbac.details[0]).not.toMatch(/did not answer/);
    }
  }, 120_000);

  it('rehearse: a certificate-authority that is a FIFO or /dev/zero ends the run at once, naming the file, deleting nothing', async () => {
    const fifo = join(dir, 'ca-rehearse.fifo');
    execFileSync('mkfifo', [fifo]);
    for (const ca of [fifo, '/dev/zero']) {
      const file = join(dir, `rehearse-ca-${ca === fifo ? 'fifo' : 'zero'}`);
      await writeFile(
        file,
        kubeconfigFor(stack.kube.url, 'operator-token', '').replace(
          '    insecure-skip-tls-verify: true',
          `    certificate-authority: ${ca}`,
        ),
      );
      let text = '';
      const t0 = Date.now();
      const code = await rehearseCommand(
        {
          deployment: stack.deployment,
          function: stack.functionName,
          kubeconfig: file,
          timeout: 60,
          trailTimeout: 5,
          json: true,
          yes: true,
        },
        { aws: stack.aws, write: (t) => (text += t), pollMs: 50, clockSkewMs: 0 },
      );
      expect(code).toBe(3);
      expect(text).toMatch(/not a regular file/);
      expect(Date.now() - t0).toBeLessThan(60_000); // within its own deadline, not held by the file
      expect(stack.kube.log.filter((r) => r.method === 'DELETE')).toEqual([]);
    }
  }, 120_000);
});
