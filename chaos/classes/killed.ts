/**
 * A process killed at each step of a reconcile: the handler runs in a child process
 * (chaos/child-invoke.ts) that is SIGKILLed at one step, like a Lambda container killed by a
 * timeout or out of memory. Lambda then retries the invocation with the same request id.
 *
 * Each case asserts: the retry's outcome within the budget and its audit record; no second
 * Recover (one in total, and the Coordinator recovered in the end); no secret in the killed
 * process's output or the retry's. Where the killed attempt had decrypted the owner key or
 * sent Recover, also: an audit record for the interrupted attempt (a killed process cannot
 * write its own; the next invocation writes it from the intent recorded under the lease, marked
 * as the interrupted attempt's), and where it had sent Recover, the crash-loop guard counts it.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  CHAOS_BUDGETS,
  CHAOS_REMAINING_MS,
  checkAudit,
  checkInTime,
  checkNoSecret,
  chaosHandler,
  quickKubernetes,
  invoke,
  lambdaContext,
  makeWorld,
  outcomeOf,
  outputsOf,
  runCase,
  summarize,
  triggers,
  type ClassResult,
  type Env,
} from '../harness.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHILD = join(ROOT, 'chaos', 'child-invoke.ts');

/** Where the process dies; `recover:received` is when the Coordinator has the Recover request. */
const KILL_POINTS = [
  'load-bundle:start',
  'probe:start',
  'decrypt:start',
  'decrypt:done',
  'recover:received',
  'recover:done',
  'confirm:done',
  'restarts:start',
] as const;
type KillPoint = (typeof KILL_POINTS)[number];

/** The owner key was decrypted (a CloudTrail Decrypt exists) when the process died here. */
const DECRYPTED: KillPoint[] = ['decrypt:done', 'recover:received', 'recover:done', 'confirm:done', 'restarts:start'];
/** Recover had left when the process died here. */
const RECOVER_SENT: KillPoint[] = ['recover:received', 'recover:done', 'confirm:done', 'restarts:start'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function killedProcessClass(env: Env): Promise<ClassResult> {
  const results = [];
  for (const point of KILL_POINTS) {
    results.push(
      await runCase(`killed at ${point}, then retried`, async (c) => {
        const world = await makeWorld(env, { configEnv: { KUBE_AUTH: 'none' } });
        try {
          if (point === 'recover:received') world.emu.recoverDelayMs = 1_000;
          const requestId = `killed-${point.replace(':', '-')}`;
          const event = triggers.restart(world.deployment);
          const spec = {
            config: world.config,
            budgets: CHAOS_BUDGETS,
            requestId,
            event,
            remainingMs: CHAOS_REMAINING_MS,
            ...(point === 'recover:received' ? {} : { pauseAt: point }),
          };
          const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
            cwd: ROOT,
            env: { ...process.env, CHAOS_CHILD: JSON.stringify(spec) },
            stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
          });
          let childOutput = '';
          child.stdout!.on('data', (d: Buffer) => (childOutput += d.toString()));
          child.stderr!.on('data', (d: Buffer) => (childOutput += d.toString()));
          const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_code, signal) => r(signal)));
          const steps: string[] = [];
          let finished = false;
          createInterface({ input: child.stdio[3] as Readable }).on('line', (line) => {
            const msg = JSON.parse(line) as { step?: string; done?: boolean };
            if (msg.done) finished = true;
            if (msg.step) steps.push(msg.step);
            if (msg.step === point) child.kill('SIGKILL');
          });
          if (point === 'recover:received') {
            const t0 = Date.now();
            while (world.emu.recoverRequests === 0 && !finished && Date.now() - t0 < 30_000) await sleep(2);
            child.kill('SIGKILL');
          }
          const signal = await Promise.race([exited, sleep(60_000).then(() => 'timeout' as const)]);
          if (signal === 'timeout') child.kill('SIGKILL');
          if (
            !c.that(
              signal === 'SIGKILL' && !finished,
              `the child was not killed at ${point} (signal ${signal}, steps ${steps.join(' → ')})`,
            )
          )
            return;
          // The Coordinator finishes what it received, as a real one does, before Lambda retries.
          if (RECOVER_SENT.includes(point)) while (world.emu.recoverCalls.length === 0) await sleep(20);

          const retry = await invoke(
            chaosHandler(world, { kubernetes: quickKubernetes }),
            event,
            lambdaContext(requestId),
          );
          checkInTime(c, retry);
          checkAudit(c, retry, world.deployment);
          c.that(
            ['recovered', 'already-healthy', 'restarts-finished'].includes(outcomeOf(retry) ?? ''),
            `retry outcome ${outcomeOf(retry)}: ${retry.error?.message ?? ''}`,
          );
          c.that(
            world.emu.recoverRequests === 1,
            `${world.emu.recoverRequests} Recover requests in total (one restart)`,
          );
          c.that(world.emu.state === 'healthy', `the Coordinator ends ${world.emu.state}`);
          checkNoSecret(c, world, [childOutput, ...outputsOf(retry, env.proxy)]);
          if (DECRYPTED.includes(point)) {
            const interrupted = retry.records.filter(
              (r) => r.message === 'audit' && /interrupt/i.test(JSON.stringify(r.audit)),
            );
            c.that(
              interrupted.length > 0,
              'no audit record for the interrupted attempt (its KMS Decrypt is in CloudTrail without one)',
            );
          }
          if (RECOVER_SENT.includes(point)) {
            const snap = await world.lock.snapshot(world.deployment);
            c.that(
              snap.recentAttempts.length >= 1,
              'the crash-loop guard did not count the Recover of the killed attempt',
            );
          }
        } finally {
          await world.stop();
          env.proxy.clear();
        }
      }),
    );
  }
  return summarize('killed-process', results);
}
