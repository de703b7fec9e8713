/**
 * `npm run journey`: docs/deploy.md, walked for each cluster shape (EKS Hybrid Nodes; a
 * self-managed cluster over VPN), in one shell session each, with the values an operator has
 * (test/fixtures/journey/<shape>.json), against what runs here (journey/world.ts). Exits 1
 * when any step of either shape failed; prints what ran for real, what ran as a local
 * equivalent, and each step's time.
 *
 *   npm run journey [-- --shape eks|vpn] [--doc FILE] [--json]
 *
 * The operator's checkout is a copy of this one (tracked and untracked, not ignored, files:
 * what a clone has), so `npm ci` and `cdk synth` in the document run for real there.
 * Each shape gets a moto server of its own (testing/moto-server.ts); the shapes run side by
 * side (--sequential: one after the other). --checkout DIR walks in DIR instead of a fresh copy.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildAll } from '../scripts/build.mjs';
import { findMotoPython, MOTO_INSTALL_HINT, startMoto, type MotoServer } from '../testing/moto-server.ts';
import type { Values } from './context.ts';
import { SHAPES, type Shape } from './document.ts';
import { EQUIVALENTS } from './equivalents.ts';
import { REPO_ROOT, runJourney, type JourneyReport } from './journey.ts';

export async function valuesFor(shape: Shape): Promise<Values> {
  return JSON.parse(await readFile(join(REPO_ROOT, 'test', 'fixtures', 'journey', `${shape}.json`), 'utf8')) as Values;
}

/** A clone's files of this checkout, in a fresh directory (no node_modules, dist or cdk.out). */
export async function operatorCheckout(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'journey-checkout-'));
  const r = spawnSync(
    'bash',
    ['-c', `git ls-files -z -co --exclude-standard | tar --null -T - -cf - | tar -xf - -C '${dir}'`],
    { cwd: REPO_ROOT, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`copying the checkout failed: ${r.stderr}`);
  return dir;
}

/** dist/ older than any source of the CLI, the function or the construct (or missing): build it as `npm run build` does. */
async function needsBuild(): Promise<boolean> {
  const built = await stat(join(REPO_ROOT, 'dist', 'cli', 'main.js')).catch(() => undefined);
  if (!built) return true;
  for (const dir of ['cli', 'lambda', 'infra', 'scripts']) {
    for (const f of await readdir(join(REPO_ROOT, dir), { recursive: true })) {
      if ((await stat(join(REPO_ROOT, dir, f))).mtimeMs > built.mtimeMs) return true;
    }
  }
  return false;
}

async function main(): Promise<number> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const { values: args } = parseArgs({
    options: {
      shape: { type: 'string' },
      doc: { type: 'string' },
      json: { type: 'boolean' },
      keep: { type: 'boolean' },
      checkout: { type: 'string' },
      sequential: { type: 'boolean' },
    },
  });
  const shapes: Shape[] = args.shape ? [args.shape as Shape] : [...SHAPES];
  for (const s of shapes) if (!SHAPES.includes(s)) throw new Error(`--shape ${s}: use eks or vpn`);
  const markdown = await readFile(args.doc ?? join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');
  const say = (l: string) => process.stderr.write(`${l}\n`);
  const t0 = performance.now();
  if (await needsBuild()) await buildAll({ quiet: true });
  const python = findMotoPython();
  if (!python) throw new Error(`the journey needs the moto server; ${MOTO_INSTALL_HINT}`);
  // One moto per shape: both deploy the same stack and deployment names, as two operators would in two accounts.
  const one = async (shape: Shape): Promise<JourneyReport> => {
    const moto: MotoServer = await startMoto(python);
    const workdir = args.checkout ?? (await operatorCheckout());
    say(
      `=== journey: ${shape === 'eks' ? 'EKS Hybrid Nodes' : 'self-managed cluster over VPN'} (${shape}), in ${workdir}`,
    );
    try {
      return await runJourney({
        markdown,
        shape,
        values: await valuesFor(shape),
        motoEndpoint: moto.endpoint,
        workdir,
        log: say,
      });
    } finally {
      await moto.stop();
      if (!args.keep && !args.checkout) await rm(workdir, { recursive: true, force: true });
    }
  };
  const reports: JourneyReport[] = [];
  if (args.sequential || args.checkout) for (const shape of shapes) reports.push(await one(shape));
  else reports.push(...(await Promise.all(shapes.map(one))));
  const ms = Math.round(performance.now() - t0);
  if (args.json) process.stdout.write(`${JSON.stringify({ ok: reports.every((r) => r.ok), ms, reports }, null, 2)}\n`);
  else {
    say('\n=== journey summary');
    for (const r of reports) {
      say(
        `${r.ok ? '✔' : '✘'} ${r.shape}: ${r.steps.filter((s) => s.ok).length}/${r.steps.length} steps in ${(r.ms / 1000).toFixed(1)} s${r.documentProblems.length ? `; ${r.documentProblems.length} unmarked or mis-marked blocks` : ''}`,
      );
      for (const s of r.steps)
        say(
          `  ${s.ok ? '✔' : '✘'} line ${String(s.line).padStart(3)} ${s.how.padEnd(40)} ${(s.ms / 1000).toFixed(1).padStart(5)} s  ${s.command.slice(0, 70)}`,
        );
    }
    const used = new Set(
      reports.flatMap((r) => r.steps.filter((s) => s.how !== 'run').map((s) => s.how.replace('local-equivalent ', ''))),
    );
    if (used.size > 0) {
      say('local equivalents (what nothing here can run):');
      for (const name of used) say(`  ${name}: ${EQUIVALENTS[name]?.standsFor ?? '?'}`);
    }
    say(`journey ${reports.every((r) => r.ok) ? 'passed' : 'FAILED'} in ${(ms / 1000).toFixed(1)} s`);
  }
  return reports.every((r) => r.ok) ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`journey: ${(err as Error).stack ?? String(err)}`);
      process.exit(1);
    },
  );
}
