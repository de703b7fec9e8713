/**
 * One handler invocation in a process of its own, for the killed-process chaos class: it
 * reports each reconcile step on fd 3 and, at the step the parent names, stops and waits to
 * be killed (SIGKILL), like a Lambda container that dies there. Not part of the function.
 */
import { writeSync } from 'node:fs';
import { createInsecureTestingVerifier } from '../testing/attestation/insecure-verifier.ts';
import type { HandlerConfig } from '../lambda/function/config.ts';
import { createHandler } from '../lambda/function/handler.ts';
import type { Budgets } from '../lambda/shared/budgets.ts';

interface ChildSpec {
  config: HandlerConfig;
  budgets: Budgets;
  requestId: string;
  event: unknown;
  /** `<step>:<start|done>`: stop there and wait for the kill. */
  pauseAt?: string;
  remainingMs: number;
  /** `configured`: the Kubernetes side the configuration names (KUBE_AUTH), not the slow stand-in below. */
  kubernetes?: 'configured';
}

const spec = JSON.parse(process.env.CHAOS_CHILD ?? '{}') as ChildSpec;
const report = (line: Record<string, unknown>) => writeSync(3, `${JSON.stringify(line)}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const handler = createHandler({
  config: spec.config,
  budgets: spec.budgets,
  verifierFactory: () => createInsecureTestingVerifier(),
  // Workload restarts that take a while, so a kill can land in the middle of them.
  kubernetes:
    spec.kubernetes === 'configured'
      ? undefined
      : async () => ({
          peers: { readyPeers: async () => ({ readyPeers: [], coordinatorPods: ['coordinator-0'] }) },
          restarts: {
            restartStale: async (req) => {
              await sleep(10_000);
              return { meshCaSpkiSha256: req.meshCa.spkiSha256, results: [], complete: true, staleWorkloads: 0 };
            },
          },
        }),
  ports: {
    progress: (e) => {
      const at = `${e.step}:${e.status}`;
      report({ step: at });
      // Blocks the whole process: nothing after this point runs before the kill arrives.
      if (at === spec.pauseAt) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30_000);
    },
  },
});

const end = Date.now() + spec.remainingMs;
// The invocation starts now (the process start, tsx's transpiling included, is not its time).
report({ started: true });
try {
  const response = await handler(spec.event, {
    awsRequestId: spec.requestId,
    getRemainingTimeInMillis: () => end - Date.now(),
  });
  report({ done: true, outcome: response.results[0]?.outcome ?? response.outcome });
} catch (err) {
  report({ done: true, error: (err as Error).name, outcome: (err as { outcome?: string }).outcome });
}
