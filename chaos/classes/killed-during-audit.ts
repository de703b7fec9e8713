/**
 * A kill during an interrupted-attempt audit (issue 21 items 1 and 9). The first invocation
 * dies after its KMS Decrypt (its attempt stays `pending`, unaudited); the next holder writes
 * the interrupted attempt's audit record and is killed before its mark reaches the lock table
 * (the proxy holds that PutItem — the only write that sets `interrupted` — until the kill).
 *
 * Asserts: the killed holder's output already holds the audit record (audit first, mark
 * second: no Decrypt without one); the retry audits the attempt again under the same
 * attemptId, marks it, and recovers with one Recover in total; a later run writes no further
 * record for it; no secret in any output.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  auditsOf,
  CHAOS_BUDGETS,
  CHAOS_REMAINING_MS,
  checkAudit,
  checkInTime,
  checkNoSecret,
  chaosHandler,
  quickKubernetes,
  invoke,
  jsonLines,
  lambdaContext,
  makeWorld,
  outcomeOf,
  outputsOf,
  runCase,
  summarize,
  triggers,
  type AwsProxy,
  type ClassResult,
  type Env,
  type World,
} from '../harness.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHILD = join(ROOT, 'chaos', 'child-invoke.ts');
const MARK = { op: 'DynamoDB_20120810.PutItem', match: '"interrupted"' } as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One invocation in a child process, SIGKILLed when `killWhen` says so (checked on each step
 * it reports and every 20 ms). Returns its output and whether the kill landed before it ended.
 */
async function killedChild(
  world: World,
  spec: { requestId: string; event: unknown; pauseAt?: string },
  killWhen: (steps: string[]) => boolean,
): Promise<{ output: string; killed: boolean; steps: string[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    cwd: ROOT,
    env: {
      ...process.env,
      CHAOS_CHILD: JSON.stringify({
        config: world.config,
        budgets: CHAOS_BUDGETS,
        remainingMs: CHAOS_REMAINING_MS,
        ...spec,
      }),
    },
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const steps: string[] = [];
  let finished = false;
  const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_c, signal) => r(signal)));
  createInterface({ input: child.stdio[3] as Readable }).on('line', (line) => {
    const msg = JSON.parse(line) as { step?: string; done?: boolean };
    if (msg.done) finished = true;
    if (msg.step) steps.push(msg.step);
  });
  let exitedYet = false;
  void exited.then(() => (exitedYet = true));
  const t0 = Date.now();
  while (!exitedYet && !finished && Date.now() - t0 < 60_000) {
    if (killWhen(steps)) {
      child.kill('SIGKILL');
      break;
    }
    await sleep(20);
  }
  if (!exitedYet && !finished) child.kill('SIGKILL');
  const signal = await exited;
  return { output, killed: signal === 'SIGKILL' && !finished, steps };
}

const markArrived = (proxy: AwsProxy) => proxy.bodies.some((b) => b.op === MARK.op && b.request.includes(MARK.match));

export async function killedDuringAuditClass(env: Env): Promise<ClassResult> {
  const result = await runCase(
    'killed between the interrupted attempt’s audit record and its mark, then retried',
    async (c) => {
      const world = await makeWorld(env, { configEnv: { KUBE_AUTH: 'none' } });
      try {
        const requestId = 'killed-during-audit';
        const event = triggers.restart(world.deployment);
        // 1. Dies right after its Decrypt: an attempt `pending`, with no audit record of its own.
        const first = await killedChild(world, { requestId, event, pauseAt: 'decrypt:done' }, (s) =>
          s.includes('decrypt:done'),
        );
        if (!c.that(first.killed, `the first invocation was not killed after its Decrypt (${first.steps.join(' → ')})`))
          return;
        const pending = (await world.lock.snapshot(world.deployment)).record.attempts;
        if (!c.that(pending.length === 1 && !pending[0]!.reported, 'no unaudited attempt left by the first kill'))
          return;
        const attemptId = pending[0]!.id;

        // 2. The next holder audits it; its mark is held at the proxy and the process killed there.
        env.proxy.faults.push({ ...MARK, kind: 'hang' });
        const second = await killedChild(world, { requestId, event }, () => markArrived(env.proxy));
        env.proxy.faults.length = 0;
        if (!c.that(second.killed && markArrived(env.proxy), 'the second invocation was not killed at its mark'))
          return;
        const auditsFor = (text: string) =>
          auditsOf(jsonLines(text)).filter(
            (a) => a.interrupted === true && (a.recover as { attemptId?: string } | undefined)?.attemptId === attemptId,
          );
        c.that(
          auditsFor(second.output).length === 1,
          `the killed holder wrote ${auditsFor(second.output).length} audit records for the interrupted attempt before its mark (expected 1: audit first, mark second)`,
        );
        const unmarked = (await world.lock.snapshot(world.deployment)).record.attempts.find((a) => a.id === attemptId);
        c.that(unmarked?.reported !== true, 'the attempt was marked audited although the mark never landed');

        // 3. Lambda's retry: audits it again (same attemptId), marks it, recovers once.
        const retry = await invoke(
          chaosHandler(world, { kubernetes: quickKubernetes }),
          event,
          lambdaContext(requestId),
        );
        checkInTime(c, retry);
        checkAudit(c, retry, world.deployment);
        c.that(outcomeOf(retry) === 'recovered', `retry outcome ${outcomeOf(retry)}: ${retry.error?.message ?? ''}`);
        c.that(
          auditsFor(retry.output).length === 1,
          `the retry wrote ${auditsFor(retry.output).length} audit records for the unmarked attempt (expected 1)`,
        );
        const after = (await world.lock.snapshot(world.deployment)).record.attempts.find((a) => a.id === attemptId);
        c.that(
          after?.reported === true && after.status === 'interrupted',
          `the attempt is not in the record as audited and interrupted: ${JSON.stringify(after)}`,
        );
        c.that(world.emu.recoverRequests === 1, `${world.emu.recoverRequests} Recover requests in total`);
        c.that(world.emu.state === 'healthy', `the Coordinator ends ${world.emu.state}`);

        // 4. Marked now: a later run writes no further record for it.
        const later = await invoke(chaosHandler(world, { kubernetes: quickKubernetes }), triggers.schedule());
        c.that(auditsFor(later.output).length === 0, 'a run after the mark audited the interrupted attempt once more');
        checkNoSecret(c, world, [first.output, second.output, ...outputsOf(retry, env.proxy), later.output]);
      } finally {
        env.proxy.clear();
        await world.stop();
      }
    },
    120_000,
  );
  return summarize('killed-during-audit', [result]);
}
