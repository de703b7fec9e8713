/**
 * `doctor` and `rehearse` against what hangs (issue 21 items 7 and 9): a Kubernetes API server
 * that accepts and never answers, one that trickles a byte every 2 s, and a kubeconfig whose
 * `certificate-authority` is a FIFO or /dev/zero. Each case is a test of
 * test/cli/operator-deadline.test.ts, which runs the commands against the operations stack
 * (moto, the Lambda and EKS stand-ins, the Coordinator emulator) and asserts that the run ended
 * within its own deadline with a report naming what did not answer, deleting nothing. That
 * stack is built for vitest (its moto comes from vitest's global setup), so the class runs the
 * file in vitest and counts its results: a test that did not run is a case that did not hold.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarize, type CaseResult, type ClassResult, type Env } from '../harness.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FILE = 'test/cli/operator-deadline.test.ts';

interface VitestJson {
  testResults?: {
    assertionResults?: {
      fullName?: string;
      title: string;
      status: string;
      failureMessages?: string[];
      duration?: number;
    }[];
    message?: string;
  }[];
}

export async function operatorHangsClass(_env: Env): Promise<ClassResult> {
  const out = join(tmpdir(), `chaos-operator-hangs-${randomUUID()}.json`);
  // The tests build their own AWS side: none of the chaos runner's endpoints leak into them.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
  const run = await new Promise<{ error: Error | null; output: string }>((resolve) =>
    execFile(
      process.execPath,
      [join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', FILE, '--reporter=json', `--outputFile=${out}`],
      { cwd: ROOT, env, timeout: 600_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ error, output: `${stdout}${stderr}` }),
    ),
  );
  let report: VitestJson;
  try {
    report = JSON.parse(await readFile(out, 'utf8')) as VitestJson;
  } catch {
    const tail = run.output.split('\n').slice(-20).join('\n');
    return summarize('operator-hangs', [
      { name: `(running ${FILE})`, problems: [`no results: ${run.error?.message ?? 'no report'}\n${tail}`], ms: 0 },
    ]);
  } finally {
    await rm(out, { force: true });
  }
  const results: CaseResult[] = (report.testResults ?? []).flatMap((file) =>
    (file.assertionResults ?? []).map((t) => ({
      name: t.title,
      problems:
        t.status === 'passed'
          ? []
          : t.status === 'failed'
            ? (t.failureMessages ?? ['failed']).map((m) => m.split('\n')[0]!)
            : [`did not run (${t.status}): is moto installed?`],
      ms: t.duration ?? 0,
    })),
  );
  if (results.length === 0) results.push({ name: `(running ${FILE})`, problems: ['the file reported no test'], ms: 0 });
  return summarize('operator-hangs', results);
}
