/**
 * restart-1000: 1,000 stale Contrast Deployments restarted against the Kubernetes API
 * stand-in with 5 ms of latency per request, at the default concurrency.
 * Floor: the very requests that run sent (taken from the stand-in's log: lists, pages,
 * patches, same bodies and headers), replayed by a bare node:https loop with a keep-alive
 * agent at the same concurrency, against an identically populated stand-in, in the same run.
 * Target: value / floor ≤ 1.2.
 */
import https from 'node:https';
import { createKubernetesSide, RESTART_CONCURRENCY } from '../lambda/kubernetes/index.ts';
import {
  contrastTemplate,
  KubeStore,
  kubeconfigFor,
  manifestRbac,
  startKubeApi,
  type KubeApi,
  type LoggedRequest,
} from '../testing/kube-api/index.ts';
import { median, type Benchmark, type Figure } from './harness.ts';

const WORKLOADS = 1000;
const LATENCY_MS = 5;
const RUNS = 5;
const NS = 'bench';
const TOKEN = 'bench-token';

function populate(api: KubeApi): void {
  const store = new KubeStore();
  const old = new Date(Date.now() - 3_600_000);
  for (let i = 0; i < WORKLOADS; i++) {
    store.addDeployment(NS, `app-${String(i).padStart(4, '0')}`, {
      template: contrastTemplate(`app-${i}`),
      startedAt: old,
    });
  }
  api.store.close();
  api.store = store;
}

interface Replay {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

function toReplay(log: LoggedRequest[]): Replay[] {
  return log.map((r) => ({
    method: r.method,
    path: r.url,
    body: r.body,
    headers: {
      accept: 'application/json',
      authorization: `Bearer ${TOKEN}`,
      ...(r.contentType ? { 'content-type': r.contentType, 'content-length': String(Buffer.byteLength(r.body)) } : {}),
    },
  }));
}

/** The bare loop: `concurrency` workers sending the requests in order, reading each body. */
async function bareLoop(api: KubeApi, requests: Replay[], concurrency: number): Promise<void> {
  const url = new URL(api.url);
  const agent = new https.Agent({ keepAlive: true, maxSockets: concurrency, ca: Buffer.from(api.caData, 'base64') });
  let next = 0;
  const send = (r: Replay): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = https.request(
        { hostname: url.hostname, port: url.port, method: r.method, path: r.path, headers: r.headers, agent },
        (res) => {
          res.on('data', () => {});
          res.on('end', () =>
            res.statusCode === 200 ? resolve() : reject(new Error(`floor: ${r.method} ${r.path} → ${res.statusCode}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(r.body || undefined);
    });
  const worker = async (): Promise<void> => {
    while (next < requests.length) await send(requests[next++]!);
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    agent.destroy();
  }
}

async function restart1000(): Promise<Figure[]> {
  const api = await startKubeApi({ tokens: [TOKEN], latencyMs: LATENCY_MS, rbac: manifestRbac([NS]) });
  try {
    const concurrency = RESTART_CONCURRENCY;
    const values: number[] = [];
    const floors: number[] = [];
    let requestCount = 0;
    for (let run = 0; run < RUNS + 1; run++) {
      populate(api);
      api.resetStats();
      const side = await createKubernetesSide({
        auth: { kind: 'kubeconfig', kubeconfig: kubeconfigFor(api.url, TOKEN, api.caData) },
        coordinatorNamespace: NS,
        namespaces: { kind: 'list', names: [NS] },
      });
      let t0 = performance.now();
      const summary = await side.restarts.restartStale({
        deployment: 'bench',
        meshCa: { spkiSha256: '00', createdAt: new Date(Date.now() - 60_000) },
        mode: 'restart',
      });
      const value = performance.now() - t0;
      side.close();
      const restarted = summary.results.filter((r) => r.status === 'restarted').length;
      if (restarted !== WORKLOADS) throw new Error(`restart-1000: ${restarted} of ${WORKLOADS} restarted`);
      const replay = toReplay(api.log);
      requestCount = replay.length;

      populate(api);
      t0 = performance.now();
      await bareLoop(api, replay, concurrency);
      const floor = performance.now() - t0;
      if (run > 0) {
        values.push(value);
        floors.push(floor);
      }
    }
    return [
      {
        name: 'restart-1000',
        value: median(values),
        floor: median(floors),
        unit: 'ms',
        note: `${WORKLOADS} Deployments, ${LATENCY_MS} ms latency, concurrency ${concurrency}, ${requestCount} requests; floor = same requests by a bare keep-alive https loop; target ratio ≤ 1.2`,
      },
    ];
  } finally {
    await api.close();
  }
}

export const benchmarks: Benchmark[] = [{ group: 'restart', run: restart1000 }];
