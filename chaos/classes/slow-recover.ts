/**
 * A slow Recover against the shortest allowed lease: LEASE_SECONDS is the minimum the budgets
 * allow, the Coordinator takes as long to answer Recover as its budget allows (or longer), and
 * triggers keep coming — during the Recover, right after it, after the lease. No restart is
 * answered with a second Recover, no Recover is sent that could outlive its sender's lease, and
 * a lease shorter than the minimum is refused.
 */
import type { HandlerOverrides } from '../../lambda/function/handler.ts';
import type { KubernetesSide } from '../../lambda/kubernetes/types.ts';
import { budgetsWith, minLeaseSeconds, recoverMs, stepBudgetsOf } from '../../lambda/shared/budgets.ts';
import {
  checkAudit,
  checkInTime,
  checkNoSecret,
  chaosHandler,
  invoke,
  lambdaContext,
  makeWorld,
  outcomeOf,
  outputsOf,
  runCase,
  summarize,
  triggers,
  type Checks,
  type ClassResult,
  type Env,
  type Invocation,
  type World,
} from '../harness.ts';

/** One attempt per AWS call keeps the minimum lease short enough for a quick class. */
const BUDGETS = budgetsWith({
  aws: { connectionTimeoutMs: 200, requestTimeoutMs: 400, maxAttempts: 1 },
  coordinator: { handshakeTimeoutMs: 500, rpcTimeoutMs: 1_500 },
  kubernetes: { requestTimeoutMs: 400, attempts: 2 },
  reportReserveMs: 1_000,
  resultEventMs: 400,
  leaseMarginMs: 500,
});
const STEPS = stepBudgetsOf(BUDGETS);
const LEASE_SECONDS = minLeaseSeconds(STEPS, BUDGETS.leaseMarginMs);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(10);
  }
}

function handlerFor(world: World, overrides: HandlerOverrides = {}) {
  return chaosHandler(world, {
    config: { ...world.config, leaseSeconds: LEASE_SECONDS },
    budgets: BUDGETS,
    ...overrides,
  });
}

function checkEach(c: Checks, env: Env, world: World, invs: Invocation[]): void {
  for (const inv of invs) {
    checkInTime(c, inv);
    checkAudit(c, inv, world.deployment);
    checkNoSecret(c, world, outputsOf(inv, env.proxy));
  }
}

/** When a lease taken at t0 is over for every reader: whole seconds, `expiresAt < now` (lease.ts). */
function leaseOver(t0: number): number {
  return (Math.floor(t0 / 1000) + LEASE_SECONDS + 2) * 1000;
}

/** Each Recover arrived with at least Recover's budget left on its sender's lease. */
function recordRecoverArrivals(world: World): number[] {
  const arrivals: number[] = [];
  let seen = 0;
  const timer = setInterval(() => {
    while (seen < world.emu.recoverRequests) {
      arrivals.push(Date.now());
      seen++;
    }
  }, 5);
  timer.unref();
  return arrivals;
}

export async function slowRecoverClass(env: Env): Promise<ClassResult> {
  const results = [];
  const fresh = async (body: (world: World) => Promise<void>) => {
    const world = await makeWorld(env);
    try {
      await body(world);
    } finally {
      await world.stop();
      env.proxy.clear();
    }
  };

  results.push(
    await runCase(
      `a storm of 10 triggers during a Recover as slow as its budget (lease ${LEASE_SECONDS} s): one Recover`,
      (c) =>
        fresh(async (world) => {
          world.emu.recoverDelayMs = Math.round(0.9 * BUDGETS.coordinator.rpcTimeoutMs);
          const handler = handlerFor(world);
          const first = invoke(handler, triggers.restart(world.deployment));
          await until(() => world.emu.recoverRequests === 1);
          const storm = await Promise.all(
            Array.from({ length: 10 }, () => invoke(handler, triggers.restart(world.deployment))),
          );
          const a = await first;
          c.that(outcomeOf(a) === 'recovered', `first outcome ${outcomeOf(a)}`);
          c.that(
            storm.every((s) => ['in-progress', 'already-healthy'].includes(outcomeOf(s) ?? '')),
            `storm outcomes ${storm.map(outcomeOf).join(', ')}`,
          );
          checkEach(c, env, world, [a, ...storm]);
          c.that(world.emu.recoverRequests === 1, `${world.emu.recoverRequests} Recover requests for one restart`);
        }),
    ),
  );

  results.push(
    await runCase(
      'a Recover slower than its budget: the lease is kept, triggers during it and after it send no second Recover',
      (c) =>
        fresh(async (world) => {
          world.emu.recoverDelayMs = 2 * BUDGETS.coordinator.rpcTimeoutMs;
          const handler = handlerFor(world);
          const t0 = Date.now();
          const a = await invoke(handler, triggers.restart(world.deployment));
          c.that(outcomeOf(a) === 'unreachable', `first outcome ${outcomeOf(a)}`);
          // The Coordinator is still carrying it out: a trigger now must wait.
          const during = await invoke(handler, triggers.restart(world.deployment));
          c.that(outcomeOf(during) === 'in-progress', `outcome during the Recover ${outcomeOf(during)}`);
          await sleep(Math.max(0, leaseOver(t0) - Date.now()));
          const after = await invoke(handler, triggers.restart(world.deployment));
          c.that(outcomeOf(after) === 'already-healthy', `outcome after the lease ${outcomeOf(after)}`);
          checkEach(c, env, world, [a, during, after]);
          c.that(world.emu.recoverRequests === 1, `${world.emu.recoverRequests} Recover requests for one restart`);
          const snap = await world.lock.snapshot(world.deployment);
          c.that(snap.recentAttempts.length === 1, `the crash-loop guard counted ${snap.recentAttempts.length}`);
        }),
    ),
  );

  results.push(
    await runCase(
      'a follow-up late in the lease stops before a Recover that could outlive it; the next trigger after the lease recovers',
      (c) =>
        fresh(async (world) => {
          world.emu.recoverDelayMs = Math.round(0.9 * BUDGETS.coordinator.rpcTimeoutMs);
          const arrivals = recordRecoverArrivals(world);
          // Workload restarts that take most of the lease (they are bounded per request, not in total).
          const kubernetes = async (): Promise<KubernetesSide> => ({
            peers: { readyPeers: async () => ({ readyPeers: [], coordinatorPods: ['coordinator-0'] }) },
            restarts: {
              restartStale: async (req) => {
                await sleep(LEASE_SECONDS * 1000 * 0.5);
                return { meshCaSpkiSha256: req.meshCa.spkiSha256, results: [], complete: true, staleWorkloads: 0 };
              },
            },
          });
          let restarted = false;
          let b: Promise<Invocation> | undefined;
          const handler = handlerFor(world, {
            kubernetes,
            ports: {
              // The Coordinator restarts again right after the first recovery, and its event arrives.
              progress: (e) => {
                if (e.step === 'confirm' && e.status === 'done' && !restarted) {
                  restarted = true;
                  world.emu.restart();
                  b = invoke(handler, triggers.restart(world.deployment));
                }
              },
            },
          });
          const t0 = Date.now();
          const a = await invoke(handler, triggers.restart(world.deployment));
          const leaseEnd = t0 + LEASE_SECONDS * 1000;
          if (!b)
            throw new Error(
              `the first reconcile never confirmed a recovery: ${outcomeOf(a)} ${JSON.stringify(a.audits.map((x) => x.message))}`,
            );
          const bDone = await b;
          c.that(outcomeOf(bDone) === 'in-progress', `second trigger ${outcomeOf(bDone)}`);
          const followUp = a.audits[1];
          c.that(
            a.audits.length === 2,
            `${a.audits.length} audit records for the first invocation (reconcile + follow-up)`,
          );
          c.that(
            /step (decrypt|peers|probe|load-bundle) not started/.test(String(followUp?.message)),
            `follow-up did not stop before its lease ended: ${String(followUp?.message)}`,
          );
          await sleep(Math.max(0, leaseOver(t0) - Date.now()));
          const cInv = await invoke(handler, triggers.restart(world.deployment));
          c.that(outcomeOf(cInv) === 'recovered', `trigger after the lease ${outcomeOf(cInv)}`);
          checkEach(c, env, world, [a, bDone, cInv]);
          c.that(world.emu.recoverRequests === 2, `${world.emu.recoverRequests} Recover requests for two restarts`);
          // The first invocation's Recovers all came with Recover's budget left on its lease.
          const late = arrivals.filter((t) => t < leaseEnd && t + recoverMs(STEPS) > leaseEnd - BUDGETS.leaseMarginMs);
          c.that(late.length === 0, `${late.length} Recover(s) sent that could outlive the lease`);
        }),
    ),
  );

  results.push(
    await runCase('a lease shorter than the minimum is refused before anything happens', (c) =>
      fresh(async (world) => {
        const inv = await invoke(
          chaosHandler(world, { config: { ...world.config, leaseSeconds: LEASE_SECONDS - 1 }, budgets: BUDGETS }),
          triggers.restart(world.deployment),
          lambdaContext(),
        );
        c.that(
          inv.error?.name === 'ConfigError' && /LEASE_SECONDS/.test(inv.error.message),
          `expected a ConfigError naming LEASE_SECONDS, got ${inv.error?.name ?? outcomeOf(inv)}`,
        );
        checkInTime(c, inv);
        c.that(world.emu.recoverRequests === 0 && world.emu.connections.length === 0, 'the Coordinator was contacted');
        checkNoSecret(c, world, outputsOf(inv, env.proxy));
      }),
    ),
  );
  return summarize('slow-recover', results);
}
