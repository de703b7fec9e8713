/**
 * A Coordinator whose attestation passes and which then misbehaves (issue 21, item 5): it
 * carries out Recover and answers UNIMPLEMENTED (serving both package names), an answer over
 * grpc-js's 4 MiB limit, or bytes that are no RecoverResponse; or it serves a MeshCA that is
 * not a certificate. Recover is sent once per attempt, the attempt is counted by the
 * crash-loop guard as one that may have succeeded (never `refused`), the retry finds the
 * Coordinator recovered, and an unreadable MeshCA is `confirm-mismatch`.
 */
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
  type ClassResult,
  type Env,
  type World,
} from '../harness.ts';

export async function coordinatorAfterAttestationClass(env: Env): Promise<ClassResult> {
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

  for (const misbehave of ['recover-then-unimplemented', 'recover-then-oversize', 'recover-then-garbage'] as const) {
    results.push(
      await runCase(
        `Recover carried out, then ${misbehave.slice('recover-then-'.length)}: one Recover, counted, resolved by the retry`,
        (c) =>
          fresh(async (world) => {
            world.emu.misbehave = misbehave;
            const handler = chaosHandler(world);
            const a = await invoke(handler, triggers.restart(world.deployment), lambdaContext('odd-answer'));
            c.that(outcomeOf(a) === 'unreachable', `first outcome ${outcomeOf(a)}`);
            const snap = await world.lock.snapshot(world.deployment);
            c.that(
              snap.recentAttempts.length === 1 && snap.recentAttempts[0]!.status === 'unknown',
              `attempts ${JSON.stringify(snap.recentAttempts.map((x) => x.status))} (want one 'unknown', counted)`,
            );
            world.emu.misbehave = 'none';
            // Lambda's retry: the same request id takes the lease over.
            const retry = await invoke(handler, triggers.restart(world.deployment), lambdaContext('odd-answer'));
            c.that(
              ['already-healthy', 'restarts-finished'].includes(outcomeOf(retry) ?? ''),
              `retry outcome ${outcomeOf(retry)}`,
            );
            for (const inv of [a, retry]) {
              checkInTime(c, inv);
              checkAudit(c, inv, world.deployment);
              checkNoSecret(c, world, outputsOf(inv, env.proxy));
            }
            c.that(world.emu.recoverRequests === 1, `${world.emu.recoverRequests} Recover requests for one restart`);
          }),
      ),
    );
  }

  results.push(
    await runCase('a MeshCA that is not a certificate after Recover: confirm-mismatch, not recovered', (c) =>
      fresh(async (world) => {
        world.emu.misbehave = 'invalid-mesh-ca';
        const inv = await invoke(chaosHandler(world), triggers.restart(world.deployment));
        c.that(outcomeOf(inv) === 'confirm-mismatch', `outcome ${outcomeOf(inv)}`);
        checkInTime(c, inv);
        checkAudit(c, inv, world.deployment);
        checkNoSecret(c, world, outputsOf(inv, env.proxy));
        c.that(world.emu.recoverRequests === 1, `${world.emu.recoverRequests} Recover requests`);
      }),
    ),
  );
  return summarize('coordinator-after-attestation', results);
}
