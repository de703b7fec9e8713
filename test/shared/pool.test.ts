/**
 * The one bounded-concurrency pool: p-map, as the handler (deployments,
 * DEPLOYMENT_CONCURRENCY at a time) and the restarter (workloads, RESTART_CONCURRENCY at a
 * time) call it. What both rely on: results in the items' order whatever order they finish
 * in, never more than `concurrency` in flight, items started in order with their index, and a
 * failure that rejects the whole map with the mapper's own error and starts nothing after it.
 * Every step is driven by hand (no timers), so a busy machine cannot change the result.
 */
import pMap from 'p-map';
import { describe, expect, it } from 'vitest';

/** A task the test finishes when it chooses. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every pending promise callback run (setImmediate comes after the microtask queue). */
const settle = () => new Promise<void>((r) => setImmediate(r));

/** A mapper whose calls the test can watch and finish one by one. */
function controlled(n: number) {
  const tasks = Array.from({ length: n }, () => deferred<string>());
  const started: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const mapper = async (item: number, index: number): Promise<string> => {
    expect(index).toBe(item);
    started.push(item);
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    try {
      return await tasks[item]!.promise;
    } finally {
      inFlight--;
    }
  };
  return { tasks, started, mapper, stats: () => ({ inFlight, maxInFlight }) };
}

const items = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('the pool (p-map)', () => {
  it('returns the results in the items order, whatever order they finish in', async () => {
    const c = controlled(6);
    const all = pMap(items(6), c.mapper, { concurrency: 6 });
    await settle();
    for (const i of [5, 2, 4, 0, 3, 1]) {
      c.tasks[i]!.resolve(`r${i}`);
      await settle();
    }
    await expect(all).resolves.toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5']);
  });

  it('keeps at most `concurrency` in flight, starts the items in order, and starts the next as soon as a slot is free', async () => {
    const c = controlled(7);
    const all = pMap(items(7), c.mapper, { concurrency: 3 });
    await settle();
    expect(c.started).toEqual([0, 1, 2]);
    c.tasks[1]!.resolve('r1');
    await settle();
    expect(c.started).toEqual([0, 1, 2, 3]);
    expect(c.stats().inFlight).toBe(3);
    c.tasks[0]!.resolve('r0');
    c.tasks[3]!.resolve('r3');
    await settle();
    expect(c.started).toEqual([0, 1, 2, 3, 4, 5]);
    for (const i of [2, 4, 5, 6]) {
      c.tasks[i]!.resolve(`r${i}`);
      await settle();
    }
    await expect(all).resolves.toEqual(items(7).map((i) => `r${i}`));
    expect(c.stats().maxInFlight).toBe(3);
    expect(c.started).toEqual(items(7));
  });

  it('rejects with the failing call’s own error and starts no item after it', async () => {
    const c = controlled(6);
    const all = pMap(items(6), c.mapper, { concurrency: 2 });
    const outcome = all.then(
      () => undefined,
      (err: unknown) => err,
    );
    await settle();
    expect(c.started).toEqual([0, 1]);
    const failure = new Error('item 0 failed');
    c.tasks[0]!.reject(failure);
    await settle();
    expect(await outcome).toBe(failure);
    // The call already in flight finishes on its own; nothing new starts.
    c.tasks[1]!.resolve('r1');
    await settle();
    expect(c.started).toEqual([0, 1]);
  });

  it('an empty list resolves to an empty list without a call', async () => {
    const c = controlled(0);
    await expect(pMap([], c.mapper, { concurrency: 3 })).resolves.toEqual([]);
    expect(c.started).toEqual([]);
  });
});
