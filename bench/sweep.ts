/**
 * `sweep-100`, `sweep-300`, `sweep-1000`: one scheduled invocation of a warm function over N
 * healthy deployments of one stack, as the backstop sees them — DEPLOYMENT_CONCURRENCY at a
 * time, each under its own lease (lambda/function/handler.ts) — against moto and N Coordinator
 * emulators in a process of their own (fleet.ts). Every deployment's restarts are recorded
 * complete by a first pass, so no pass has Kubernetes work. Logs and metrics are silenced.
 *
 * The figures are the function process's CPU time per pass (process.cpuUsage, per deployment)
 * and its peak RSS during the pass (sampled every few ms, beside the process's RSS before the
 * pass); the wall time, and the CPU the emulators and moto spent (/proc), are for information
 * only: on 2 shared cores they bound the wall time, on AWS they run elsewhere. Targets: CPU per
 * deployment flat or falling as N grows (`ratio` is against sweep-100's, same run), peak RSS
 * within the construct's configured memory (infra/function.ts, 1,024 MB). The function's
 * process here is the bench's own (it also holds the SDK clients' setup and tsx), so its RSS
 * is an upper bound for the function's.
 *
 * The configuration goes through the function's own parser: sweepConfig() calls loadConfig
 * (lambda/function/config.ts) with the environment the construct sets — the one place to change
 * when deployments come from a store.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { createInsecureTestingVerifier } from '../testing/attestation/insecure-verifier.ts';
import { loadConfig, type HandlerConfig } from '../lambda/function/config.ts';
import { createHandler, type HandlerResponse } from '../lambda/function/handler.ts';
import type { KubernetesSide } from '../lambda/kubernetes/types.ts';
import { DEPLOYMENT_CONCURRENCY, FUNCTION_TIMEOUT_SECONDS } from '../lambda/shared/budgets.ts';
import { MOTO_INSTALL_HINT } from '../testing/moto-server.ts';
import { makeWorkspace } from '../testing/workspace.ts';
import { startFleet } from './fleet.ts';
import { median, motoPid, processCpuMs, type Benchmark, type Figure } from './harness.ts';
import { scheduledEvent, startStack, type Stack } from './stack.ts';

const SIZES = [100, 300, 1000] as const;
const RUNS = 3;
/** The construct's memorySize (infra/function.ts). */
const CONFIGURED_MEMORY_MB = 1024;

/** The handler's configuration for these deployments, through the function's own parser (loadConfig). */
export function sweepConfig(stack: Stack, deployments: Record<string, unknown>[]): HandlerConfig {
  return loadConfig(stack.env(deployments, { KUBE_AUTH: 'kubeconfig', KUBECONFIG_SECRET_ID: 'kubeconfig/sweep' }));
}

/** Resident set size sampled every `everyMs` until stop(); returns the highest seen (bytes). */
function rssSampler(everyMs = 2): { stop(): number } {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage.rss());
    },
  };
}

async function pool<T>(items: T[], concurrency: number, fn: (t: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

async function sweeps(): Promise<Figure[]> {
  const stack = await startStack();
  if (!stack)
    return [
      { name: 'sweep', value: Number.NaN, unit: 'ms', note: `skipped: moto not installed; ${MOTO_INSTALL_HINT}` },
    ];
  const max = Math.max(...SIZES);
  const ws = await makeWorkspace();
  const fleet = await startFleet(max, ws);
  try {
    const names = Array.from({ length: max }, (_, i) => `sweep-${String(i).padStart(4, '0')}`);
    const deployments: Record<string, unknown>[] = new Array(max);
    await pool(names, 8, async (name, i) => {
      deployments[i] = { name, secretId: await stack.enroll(name, ws), coordinator: fleet.addresses[i] };
    });

    // The first pass over each deployment records its mesh CA key's restarts complete; afterwards Kubernetes is never asked.
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
    const context = (id: string) => {
      const started = Date.now();
      return {
        awsRequestId: id,
        getRemainingTimeInMillis: () => FUNCTION_TIMEOUT_SECONDS * 1000 - (Date.now() - started),
      };
    };
    const pids = { emulators: fleet.pid, moto: motoPid(stack.moto.endpoint) };
    const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
    let runId = 0;

    const figures: Figure[] = [];
    let perDeployment100: number | undefined;
    for (const n of SIZES) {
      const handler = createHandler({ ...common, config: sweepConfig(stack, deployments.slice(0, n)) });
      const sweep = async () => {
        const r: HandlerResponse = await handler(scheduledEvent(), context(`sweep-${runId++}`));
        const bad = r.results.filter((x) => x.outcome !== 'already-healthy');
        if (r.results.length !== n || bad.length)
          throw new Error(
            `sweep-${n}: ${r.results.length} results, not healthy: ${bad
              .slice(0, 5)
              .map((x) => `${x.deployment} ${x.outcome} ${x.message}`)
              .join('; ')}`,
          );
      };
      priming = true;
      await sweep();
      priming = false;
      const passes: {
        ms: number;
        cpu: number;
        rss: number;
        rssBefore: number;
        emulatorsCpu: number;
        motoCpu: number;
      }[] = [];
      for (let i = 0; i < RUNS; i++) {
        const rssBefore = process.memoryUsage.rss();
        const others0 = [processCpuMs(pids.emulators), processCpuMs(pids.moto)];
        const sampler = rssSampler();
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await sweep();
        const ms = performance.now() - t0;
        const cpu = cpuMs(process.cpuUsage(c0));
        const rss = sampler.stop();
        const others = [processCpuMs(pids.emulators), processCpuMs(pids.moto)].map((v, k) =>
          v !== undefined && others0[k] !== undefined ? v - others0[k]! : Number.NaN,
        );
        passes.push({ ms, cpu, rss, rssBefore, emulatorsCpu: others[0]!, motoCpu: others[1]! });
      }
      const med = (k: keyof (typeof passes)[number]) => median(passes.map((p) => p[k]));
      const mb = (bytes: number) => bytes / 1024 / 1024;
      const perDeployment = med('cpu') / n;
      perDeployment100 ??= perDeployment;
      figures.push({
        name: `sweep-${n}`,
        value: perDeployment,
        unit: 'ms CPU per deployment',
        ...(n !== SIZES[0] ? { floor: perDeployment100 } : {}),
        breakdown: {
          functionCpu: med('cpu'),
          peakRssMb: mb(Math.max(...passes.map((p) => p.rss))),
          rssBeforeMb: mb(med('rssBefore')),
          wallMs: med('ms'),
          emulatorsCpu: med('emulatorsCpu'),
          motoCpu: med('motoCpu'),
        },
        note: `one scheduled invocation over ${n} healthy deployments, ${DEPLOYMENT_CONCURRENCY} at a time; value: the function process's CPU per deployment${n !== SIZES[0] ? ` (floor: sweep-${SIZES[0]}'s, same run; target ratio ≤ 1, flat or falling)` : ''}; peak RSS target ≤ ${CONFIGURED_MEMORY_MB} MB; wall time for information (function timeout ${FUNCTION_TIMEOUT_SECONDS} s)`,
      });
    }
    return figures;
  } finally {
    await fleet.stop();
    await stack.stop();
  }
}

export const benchmarks: Benchmark[] = [{ group: 'sweep', run: sweeps }];
