/**
 * Clocks that disagree (issue 21, item 6): the Coordinator's clock behind ours, within the
 * skew bound (MAX_CLOCK_SKEW_MS, lambda/kubernetes/stale.ts), and Recover's answer lost. The
 * retry must still take the new key for its own Recover's (dated by the intent's record) and
 * restart the workloads, never report them as someone else's rotation.
 */
import type { KubernetesSide, RestartRequest } from '../../lambda/kubernetes/types.ts';
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
} from '../harness.ts';

export async function clockSkewClass(env: Env): Promise<ClassResult> {
  const results = [];
  for (const behindMs of [5_000, 45_000]) {
    results.push(
      await runCase(
        `the Coordinator's clock ${behindMs / 1000} s behind and Recover's answer lost: the retry restarts the workloads`,
        async (c) => {
          const world = await makeWorld(env, { emulator: { clock: () => Date.now() - behindMs } });
          try {
            const requests: RestartRequest[] = [];
            const kubernetes = async (): Promise<KubernetesSide> => ({
              peers: { readyPeers: async () => ({ readyPeers: [], coordinatorPods: ['coordinator-0'] }) },
              restarts: {
                restartStale: async (req) => {
                  requests.push(req);
                  const restarted = req.mode === 'restart';
                  const web = {
                    kind: 'Deployment' as const,
                    namespace: 'app',
                    name: 'web',
                    status: restarted ? ('restarted' as const) : ('stale' as const),
                    method: 'rollout-restart' as const,
                  };
                  return {
                    meshCaSpkiSha256: req.meshCa.spkiSha256,
                    results: [web],
                    complete: restarted,
                    staleWorkloads: restarted ? 0 : 1,
                  };
                },
              },
            });
            const handler = chaosHandler(world, { kubernetes });
            world.emu.misbehave = 'lost-recover-reply';
            const a = await invoke(handler, triggers.restart(world.deployment), lambdaContext('lost-reply'));
            c.that(outcomeOf(a) === 'unreachable', `first outcome ${outcomeOf(a)}`);
            world.emu.misbehave = 'none';
            const retry = await invoke(handler, triggers.restart(world.deployment), lambdaContext('lost-reply'));
            c.that(
              outcomeOf(retry) === 'restarts-finished',
              `retry outcome ${outcomeOf(retry)} (${JSON.stringify(retry.audits.map((x) => x.message))})`,
            );
            c.that(
              requests.length > 0 && requests.every((r) => r.mode === 'restart'),
              `restart modes ${JSON.stringify(requests.map((r) => r.mode))} (want restart: the key is ours)`,
            );
            for (const inv of [a, retry]) {
              checkInTime(c, inv);
              checkAudit(c, inv, world.deployment);
              checkNoSecret(c, world, outputsOf(inv, env.proxy));
            }
            c.that(world.emu.recoverRequests === 1, `${world.emu.recoverRequests} Recover requests`);
          } finally {
            await world.stop();
            env.proxy.clear();
          }
        },
      ),
    );
  }
  return summarize('clock-skew', results);
}
