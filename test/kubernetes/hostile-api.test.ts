/**
 * A hostile or broken API server (testing/kube-api hostile modes) against the real transport:
 * every answer is bounded in bytes and time, every list in items, pages and restarts; past a
 * bound the caller gets a KubeLimitError (or a timeout) wrapped as `unreachable`, never a crash.
 * A 410 Gone on a continue token restarts the list; a PATCH is judged by its status code.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { KubeApiError, KubeLimitError } from '../../lambda/kubernetes/errors.ts';
import { KUBERNETES_LIMITS } from '../../lambda/shared/budgets.ts';
import { RecoveryError } from '../../lambda/shared/errors.ts';
import { contrastTemplate, coordinatorTemplate } from '../../testing/kube-api/index.ts';
import { OLD, request, setup, teardown, writes, type Env } from './helpers.ts';

const NS = 'contrast';
const MiB = 1024 * 1024;

/** The error a promise rejects with, and the limit or reason underneath it. */
async function failure(p: Promise<unknown>): Promise<{ err: RecoveryError; cause: KubeApiError }> {
  const err = await p.then(
    () => {
      throw new Error('resolved');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RecoveryError);
  const cause = (err as Error).cause ?? err;
  expect(cause).toBeInstanceOf(KubeApiError);
  return { err: err as RecoveryError, cause: cause as KubeApiError };
}

describe('a hostile Kubernetes API', () => {
  let env: Env | undefined;
  afterEach(async () => {
    await teardown(env);
    env = undefined;
  });

  it('a 600 MB list ends at responseBytes: unreachable, the rest of it never read', async () => {
    env = await setup({});
    env.api.hostile.push({ kind: 'huge-list', resource: 'pods', bytes: 600 * MiB });
    const { err, cause } = await failure(env.side.peers.readyPeers('demo'));
    expect(err.outcome).toBe('unreachable');
    expect(cause).toBeInstanceOf(KubeLimitError);
    expect((cause as KubeLimitError).limit).toBe('response-bytes');
    expect(err.message).toMatch(/the answer is larger than 33554432 bytes/);
    // The client stopped reading: the server got rid of little more than the bound (socket buffers).
    expect(env.api.hostileBytesSent).toBeLessThan(KUBERNETES_LIMITS.responseBytes + 64 * MiB);
  });

  it('continue tokens without end stop at listItems (full pages) or listPages (empty pages)', async () => {
    env = await setup({});
    env.api.hostile.push({ kind: 'endless-continue', resource: 'pods', itemsPerPage: KUBERNETES_LIMITS.pageSize });
    const full = await failure(env.side.peers.readyPeers('demo'));
    expect((full.cause as KubeLimitError).limit).toBe('list-items');
    expect(full.err.message).toMatch(/more than 20000 items .* narrow the deployment's namespaces/);
    expect(env.api.log.length).toBe(KUBERNETES_LIMITS.listItems / KUBERNETES_LIMITS.pageSize + 1);

    env.api.resetStats();
    env.api.hostile[0] = { kind: 'endless-continue', resource: 'pods', itemsPerPage: 0 };
    const empty = await failure(env.side.peers.readyPeers('demo'));
    expect((empty.cause as KubeLimitError).limit).toBe('list-pages');
    expect(env.api.log.length).toBe(KUBERNETES_LIMITS.listPages);
  });

  it('an answer trickled a byte at a time ends at the request deadline, not only after silence', async () => {
    env = await setup({}, { budget: { requestTimeoutMs: 300, attempts: 2 } });
    env.api.store.addPod(NS, 'coordinator-0', { template: coordinatorTemplate(), ready: true });
    // Each byte comes sooner than the silence timeout, the whole answer far later than the deadline.
    env.api.hostile.push({ kind: 'trickle', resource: 'pods', intervalMs: 50 });
    const { err, cause } = await failure(env.side.peers.readyPeers('demo'));
    expect(err.outcome).toBe('unreachable');
    expect(cause.reason).toBe('Timeout');
    expect(cause.apiMessage).toBe('no complete answer within 300 ms');
  });

  it('a 410 Gone on a continue token restarts the list from the beginning, a bounded number of times', async () => {
    env = await setup({});
    const s = env.api.store;
    for (let i = 0; i < 250; i++) s.addPod(NS, `coordinator-${i}`, { template: coordinatorTemplate(), ready: true });
    env.api.hostile.push({ kind: 'expire-continue', resource: 'pods', times: 1 });
    const peers = await env.side.peers.readyPeers('demo');
    // Every pod once: the pages before the 410 were dropped, the list read again from its start.
    expect(peers.coordinatorPods.length).toBe(250);
    expect(new Set(peers.coordinatorPods).size).toBe(250);
    expect(env.api.log.map((r) => [r.status, r.query.has('continue')])).toEqual([
      [200, false],
      [410, true],
      [200, false],
      [200, true],
      [200, true],
    ]);

    env.api.resetStats();
    env.api.hostile[0] = { kind: 'expire-continue', resource: 'pods', times: 100 };
    const { cause } = await failure(env.side.peers.readyPeers('demo'));
    expect((cause as KubeLimitError).limit).toBe('list-restarts');
    expect(env.api.log.filter((r) => r.status === 410).length).toBe(KUBERNETES_LIMITS.listRestarts + 1);
  });

  it('a PATCH answered 200 with a body that is not JSON counts as applied', async () => {
    env = await setup({});
    env.api.store.addDeployment(NS, 'web', { template: contrastTemplate('web'), replicas: 2, startedAt: OLD() });
    env.api.hostile.push({ kind: 'non-json-patch', method: 'PATCH' });
    const summary = await env.side.restarts.restartStale(request());
    expect(summary.results.map((r) => [r.name, r.status])).toEqual([['web', 'restarted']]);
    expect(summary.complete).toBe(true);
    expect(writes(env.api).map((w) => w.status)).toEqual([200]);
  });

  it('a huge list in the restart step is unreachable for the step (reconcile makes it restart-partial after a Recover)', async () => {
    env = await setup({});
    env.api.hostile.push({ kind: 'huge-list', resource: 'deployments', bytes: 100 * MiB });
    const { err, cause } = await failure(env.side.restarts.restartStale(request()));
    expect(err.outcome).toBe('unreachable');
    expect(err.message).toMatch(/cannot list deployments in namespace contrast: 200 LimitExceeded/);
    expect((cause as KubeLimitError).limit).toBe('response-bytes');
    expect(writes(env.api)).toEqual([]);
  });
});
