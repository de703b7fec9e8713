/**
 * `sweep-100`: one scheduled invocation of a warm function over 100 healthy deployments of
 * one stack — DEPLOYMENT_CONCURRENCY at a time, each under its own lease (lambda/function/
 * handler.ts) — against the floor: the same 100 no-ops as 100 sequential scheduled
 * invocations of a warm function configured for one deployment each. Both against moto and
 * 100 Coordinator emulators in a process of their own (fleet.ts); every deployment's
 * restarts are recorded complete, so neither side has Kubernetes work. Logs and metrics are
 * silenced on both sides (the bench prints JSON lines). Target ≤ 0.25 × floor, and far
 * inside the function's timeout (FUNCTION_TIMEOUT_SECONDS).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { createInsecureTestingVerifier } from '../testing/attestation/insecure-verifier.ts';
import { loadConfig } from '../lambda/function/config.ts';
import { createHandler, type HandlerResponse } from '../lambda/function/handler.ts';
import type { KubernetesSide } from '../lambda/kubernetes/types.ts';
import { DEPLOYMENT_CONCURRENCY, FUNCTION_TIMEOUT_SECONDS } from '../lambda/shared/budgets.ts';
import { MOTO_INSTALL_HINT } from '../testing/moto-server.ts';
import { makeWorkspace } from '../testing/workspace.ts';
import { startFleet } from './fleet.ts';
import { median, motoPid, processCpuMs, type Benchmark, type Figure } from './harness.ts';
import { scheduledEvent, startStack } from './stack.ts';

const DEPLOYMENTS = 100;
const RUNS = 3;

async function sweep100(): Promise<Figure[]> {
  const stack = await startStack();
  if (!stack)
    return [
      { name: 'sweep-100', value: Number.NaN, unit: 'ms', note: `skipped: moto not installed; ${MOTO_INSTALL_HINT}` },
    ];
  const ws = await makeWorkspace();
  const fleet = await startFleet(DEPLOYMENTS, ws);
  try {
    const names = Array.from({ length: DEPLOYMENTS }, (_, i) => `sweep-${String(i).padStart(3, '0')}`);
    const deployments: Record<string, unknown>[] = [];
    for (const [i, name] of names.entries())
      deployments.push({ name, secretId: await stack.enroll(name, ws), coordinator: fleet.addresses[i] });
    const config = loadConfig(
      stack.env(deployments, { KUBE_AUTH: 'kubeconfig', KUBECONFIG_SECRET_ID: 'kubeconfig/sweep' }),
    );

    // The first pass records each mesh CA key's restarts complete; afterwards Kubernetes is never asked.
    let priming = true;
    const kubernetes = async (): Promise<KubernetesSide> => {
      if (!priming) throw new Error('sweep: a healthy deployment asked for Kubernetes');
      return {
        peers: { readyPeers: async () => ({ readyPeers: [], coordinatorPods: [] }) },
        restarts: {
          restartStale: async (r) => ({
            meshCaSpkiSha256: r.meshCa.spkiSha256,
            results: [],
            complete: true,
            staleWorkloads: 0,
          }),
        },
      };
    };
    const common = {
      clients: stack.clients,
      verifierFactory: () => createInsecureTestingVerifier(),
      kubernetes,
      telemetry: { logger: new Logger({ logLevel: 'SILENT' }), metrics: { publish() {} } },
    };
    const sweepHandler = createHandler({ ...common, config });
    const single = config.deployments.map((d) => createHandler({ ...common, config: { ...config, deployments: [d] } }));
    const context = (id: string) => {
      const started = Date.now();
      return {
        awsRequestId: id,
        getRemainingTimeInMillis: () => FUNCTION_TIMEOUT_SECONDS * 1000 - (Date.now() - started),
      };
    };
    const check = (r: HandlerResponse, n: number) => {
      const bad = r.results.filter((x) => x.outcome !== 'already-healthy');
      if (r.results.length !== n || bad.length)
        throw new Error(
          `sweep: ${r.results.length} results, not healthy: ${bad.map((x) => `${x.deployment} ${x.outcome} ${x.message}`).join('; ')}`,
        );
    };
    let runId = 0;
    const sweep = async () => check(await sweepHandler(scheduledEvent(), context(`sweep-${runId++}`)), DEPLOYMENTS);
    const sequential = async () => {
      for (const h of single) check(await h(scheduledEvent(), context(`single-${runId++}`)), 1);
    };

    await sweep();
    priming = false;
    await sequential();
    // CPU time per pass of the function's process, the emulators' and moto's: on 2 cores, what bounds the sweep.
    const pids = { emulators: fleet.pid, moto: motoPid(stack.moto.endpoint) };
    const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
    const timed = async (pass: () => Promise<void>) => {
      const c0 = process.cpuUsage();
      const others0 = [processCpuMs(pids.emulators), processCpuMs(pids.moto)];
      const t0 = performance.now();
      await pass();
      const ms = performance.now() - t0;
      const others = [processCpuMs(pids.emulators), processCpuMs(pids.moto)].map((v, i) =>
        v !== undefined && others0[i] !== undefined ? v - others0[i]! : Number.NaN,
      );
      return { ms, cpu: cpuMs(process.cpuUsage(c0)), emulatorsCpu: others[0]!, motoCpu: others[1]! };
    };
    const a: Awaited<ReturnType<typeof timed>>[] = [];
    const b: Awaited<ReturnType<typeof timed>>[] = [];
    for (let i = 0; i < RUNS; i++) {
      a.push(await timed(sweep));
      b.push(await timed(sequential));
    }
    const med = (xs: typeof a, k: keyof (typeof a)[number]) => median(xs.map((x) => x[k]));
    return [
      {
        name: 'sweep-100',
        value: med(a, 'ms'),
        unit: 'ms',
        floor: med(b, 'ms'),
        breakdown: {
          functionCpu: med(a, 'cpu'),
          emulatorsCpu: med(a, 'emulatorsCpu'),
          motoCpu: med(a, 'motoCpu'),
          floorFunctionCpu: med(b, 'cpu'),
          floorEmulatorsCpu: med(b, 'emulatorsCpu'),
          floorMotoCpu: med(b, 'motoCpu'),
        },
        note: `one scheduled invocation over ${DEPLOYMENTS} healthy deployments, ${DEPLOYMENT_CONCURRENCY} at a time; floor: ${DEPLOYMENTS} sequential single-deployment no-ops; function timeout ${FUNCTION_TIMEOUT_SECONDS} s; target ≤ 0.25 × floor`,
      },
    ];
  } finally {
    await fleet.stop();
    await stack.stop();
  }
}

export const benchmarks: Benchmark[] = [{ group: 'sweep', run: sweep100 }];
