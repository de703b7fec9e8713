/**
 * `npm run bench [-- --json] [groups...]` — prints figures; never passes or fails.
 * Groups: cold-start, reconcile, restart-to-recovered, sweep, snp-verify, tdx-verify, restart.
 * With --json: one JSON object per line, {"name","value","unit"} plus "floor" and "ratio"
 * (value / floor) where a floor was measured in the same run, and "breakdown" (ms per part)
 * where the parts matter. The sweep's figures are CPU per deployment, their floor sweep-100's.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Benchmark, Figure } from './harness.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const here = dirname(fileURLToPath(import.meta.url));
const MODULES = ['cold-start', 'reconcile', 'recovery', 'sweep', 'attestation', 'restart'];

const args = process.argv.slice(2);
const json = args.includes('--json');
const groups = args.filter((a) => !a.startsWith('--'));

function emit(f: Figure): void {
  const ratio = f.floor !== undefined && f.floor > 0 ? f.value / f.floor : undefined;
  if (json) {
    const line: Record<string, unknown> = { name: f.name, value: round(f.value), unit: f.unit };
    if (f.floor !== undefined) line.floor = round(f.floor);
    if (ratio !== undefined) line.ratio = round(ratio);
    if (f.breakdown) line.breakdown = Object.fromEntries(Object.entries(f.breakdown).map(([k, v]) => [k, round(v)]));
    process.stdout.write(`${JSON.stringify(line)}\n`);
  } else {
    const floor = f.floor !== undefined ? `  floor ${round(f.floor)} ${f.unit}  ratio ${round(ratio!)}` : '';
    process.stdout.write(
      `${f.name.padEnd(34)} ${String(round(f.value)).padStart(10)} ${f.unit}${floor}${f.note ? `  (${f.note})` : ''}\n`,
    );
    if (f.breakdown)
      process.stdout.write(
        `${''.padEnd(34)} ${Object.entries(f.breakdown)
          .map(([k, v]) => `${k} ${Math.round(v)}`)
          .join(', ')}\n`,
      );
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

for (const mod of MODULES) {
  const file = join(here, `${mod}.ts`);
  if (!existsSync(file)) continue;
  const { benchmarks } = (await import(file)) as { benchmarks: Benchmark[] };
  for (const b of benchmarks) {
    if (groups.length && !groups.includes(b.group)) continue;
    try {
      for (const f of await b.run()) emit(f);
    } catch (err) {
      process.stderr.write(`bench ${b.group} failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  }
}
