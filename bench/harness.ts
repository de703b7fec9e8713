/**
 * Benchmark harness: each bench module exports `benchmarks: Benchmark[]`. A figure may carry
 * a floor measured in the same run (the same work done directly, without the project's
 * code); the harness adds ratio = value / floor. Benchmarks print figures; they never
 * pass or fail.
 */
import { readdirSync, readFileSync } from 'node:fs';

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

/**
 * CPU time (user + system, ms) a process has used so far, from /proc (Linux); undefined
 * elsewhere. Clock ticks are 100 per second on Linux (USER_HZ; `getconf CLK_TCK`).
 */
export function processCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) end with ')'; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return undefined;
  }
}

/** The pid of the moto server listening on `endpoint`'s port, found by its command line (Linux). */
export function motoPid(endpoint: string): number | undefined {
  const port = new URL(endpoint).port;
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmd.includes('moto.server') && cmd[cmd.indexOf('-p') + 1] === port) return Number(entry);
    }
  } catch {
    /* not Linux */
  }
  return undefined;
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
