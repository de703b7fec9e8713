/**
 * Benchmark harness: each bench module exports `benchmarks: Benchmark[]`. A figure may carry
 * a floor measured in the same run (the same work done directly, without the project's
 * code); the harness adds ratio = value / floor. Benchmarks print figures; they never
 * pass or fail.
 */

export interface Figure {
  name: string;
  value: number;
  unit: string;
  floor?: number;
  /** Parts of the value (ms), for figures whose parts matter (printed in the JSON line). */
  breakdown?: Record<string, number>;
  /** Free-text note printed for humans (e.g. the target). */
  note?: string;
}

export interface Benchmark {
  /** Group name, selectable with `npm run bench -- <group>`. */
  group: string;
  run(): Promise<Figure[]>;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Runs fn `warmup` times unmeasured, then `runs` times; returns the median in ms. */
export async function timeMedian(fn: () => Promise<unknown>, runs: number, warmup = 2): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

/**
 * Measures a and b interleaved (a, b, a, b, ...) so drift on a shared 2-core machine hits
 * both alike; returns both medians in ms.
 */
export async function timeInterleaved(
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
  runs: number,
  warmup = 2,
): Promise<[number, number]> {
  for (let i = 0; i < warmup; i++) {
    await a();
    await b();
  }
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < runs; i++) {
    let t0 = performance.now();
    await a();
    ta.push(performance.now() - t0);
    t0 = performance.now();
    await b();
    tb.push(performance.now() - t0);
  }
  return [median(ta), median(tb)];
}
