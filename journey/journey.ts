/**
 * One journey: the command blocks of a deploy document for one cluster shape, in document
 * order, in one bash session, against the world (world.ts). A `run` block runs as written and
 * then its effect checks (effects.ts); a `local-equivalent` block runs its equivalent
 * (equivalents.ts). The first failure ends the journey: an operator would stop there too.
 * Before anything runs, every command block must carry a marker the harness understands.
 */
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { snapshot, type StepContext, type Values } from './context.ts';
import { commandBlocks, firstCommand, statements, type CommandBlock, type Marker, type Shape } from './document.ts';
import { EFFECTS } from './effects.ts';
import { AWS_CLI, EQUIVALENTS, writeCdkContext } from './equivalents.ts';
import { shellQuote, ShellSession, type BlockRun } from './session.ts';
import { World } from './world.ts';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The documented minimum kubectl (ValidatingAdmissionPolicy v1: Kubernetes 1.30). */
export const KUBECTL_MIN = '1.30';

export interface StepReport {
  line: number;
  section: string;
  command: string;
  how: 'run' | `local-equivalent ${string}`;
  ok: boolean;
  ms: number;
  checks: string[];
  problems: string[];
  output: string;
}

export interface JourneyReport {
  shape: Shape;
  ok: boolean;
  ms: number;
  steps: StepReport[];
  /** Problems found before running (markers). */
  documentProblems: string[];
}

export interface JourneyOptions {
  markdown: string;
  shape: Shape;
  values: Values;
  motoEndpoint: string;
  /** The operator's checkout (cwd of the session). */
  workdir: string;
  region?: string;
  blockTimeoutMs?: number;
  backstopMs?: number;
  log?: (line: string) => void;
}

/** A block's statements grouped in order into runs stood for by the equivalent (`covered`) and runs for real. */
export function segmentsOf(text: string, covers: RegExp): { covered: boolean; text: string }[] {
  const out: { covered: boolean; text: string }[] = [];
  for (const st of statements(text)) {
    const covered = covers.test(st);
    const last = out.at(-1);
    if (last && last.covered === covered) last.text += `\n${st}`;
    else out.push({ covered, text: st });
  }
  return out;
}

/** Problems with the document's markers, for one shape: unmarked blocks, unknown markers or equivalents. */
export function documentProblems(blocks: CommandBlock[]): string[] {
  const problems: string[] = [];
  for (const b of blocks) {
    const where = `line ${b.line} (${b.section}): \`${firstCommand(b)}\``;
    if (b.markerError) problems.push(`${where}: ${b.markerError}`);
    else if (!b.marker)
      problems.push(
        `${where}: no journey marker — mark it <!-- journey: run shape=eks|vpn|both --> if it runs here, or <!-- journey: local-equivalent NAME --> (one of: ${Object.keys(EQUIVALENTS).join(', ')})`,
      );
    else if (b.marker.kind === 'local-equivalent') {
      const eq = EQUIVALENTS[b.marker.name];
      if (!eq)
        problems.push(
          `${where}: no local equivalent named "${b.marker.name}" (known: ${Object.keys(EQUIVALENTS).join(', ')})`,
        );
      else if (!eq.expects.test(b.text))
        problems.push(`${where}: local equivalent "${b.marker.name}" stands for ${eq.expects} — not this block`);
      else {
        const covers = eq.covers ?? AWS_CLI;
        for (const seg of segmentsOf(b.text, covers)) {
          if (!seg.covered && AWS_CLI.test(seg.text))
            problems.push(
              `${where}: "${seg.text.split('\n')[0]}" calls the AWS CLI, which equivalent "${b.marker.name}" does not stand for: give it a block and marker of its own`,
            );
        }
      }
    }
  }
  return problems;
}

/** A real kubectl of at least the minimum version on PATH (for `kubectl kustomize`), if any. */
export function findRealKubectl(): string | undefined {
  const which = spawnSync('bash', ['-c', 'type -P kubectl'], { encoding: 'utf8' });
  const bin = which.stdout.trim();
  if (!bin) return undefined;
  const r = spawnSync(bin, ['version', '--client', '-o', 'json'], { encoding: 'utf8', timeout: 20_000 });
  try {
    const v = (JSON.parse(r.stdout) as { clientVersion: { major: string; minor: string } }).clientVersion;
    const [maj, min] = KUBECTL_MIN.split('.').map(Number) as [number, number];
    const minor = Number(v.minor.replace(/\D.*$/, ''));
    return Number(v.major) > maj || (Number(v.major) === maj && minor >= min) ? bin : undefined;
  } catch {
    return undefined;
  }
}

/**
 * PATH shims: kubectl (journey/shims/kubectl.mjs) and an `aws` that refuses, in `dir`; the CLI
 * (this checkout's bin/ on its compiled dist/, dialling through the operator's network:
 * journey/shims/network.mjs) in `cliDir`, which the install step puts on PATH.
 */
async function writeShims(dir: string, cliDir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await mkdir(cliDir, { recursive: true });
  const node = process.execPath;
  const cli = join(REPO_ROOT, 'bin', 'contrast-autorecover.js');
  const network = pathToFileURL(join(REPO_ROOT, 'journey', 'shims', 'network.mjs')).href;
  await writeFile(
    join(cliDir, 'contrast-autorecover'),
    `#!/usr/bin/env bash\nexec ${shellQuote(node)} --import ${shellQuote(network)} ${shellQuote(cli)} "$@"\n`,
  );
  await writeFile(
    join(dir, 'kubectl'),
    `#!/usr/bin/env bash\nexec ${shellQuote(node)} ${shellQuote(join(REPO_ROOT, 'journey', 'shims', 'kubectl.mjs'))} "$@"\n`,
  );
  await writeFile(
    join(dir, 'aws'),
    '#!/usr/bin/env bash\necho "aws: the AWS CLI is not part of the journey (not on this machine kind); mark the block <!-- journey: local-equivalent NAME -->" >&2\nexit 127\n',
  );
  for (const f of [join(cliDir, 'contrast-autorecover'), join(dir, 'kubectl'), join(dir, 'aws')]) await chmod(f, 0o755);
}

/** The operator's home: the AWS config and credentials of their default profile (the journey's account). */
async function writeHome(home: string, region: string): Promise<void> {
  await mkdir(join(home, '.aws'), { recursive: true });
  await writeFile(
    join(home, '.aws', 'credentials'),
    '[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n',
  );
  await writeFile(join(home, '.aws', 'config'), `[default]\nregion = ${region}\n`);
}

/** `${JOURNEY_…}` in the values file, from the world. */
function fill(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{(JOURNEY_[A-Z_]+)\}/g, (m, k: string) => env[k] ?? m);
}

export async function runJourney(o: JourneyOptions): Promise<JourneyReport> {
  const t0 = performance.now();
  const log = o.log ?? (() => undefined);
  // `output` and `app` blocks are not commands (what a command prints; CDK app code): not run.
  const blocks = commandBlocks(o.markdown).filter(
    (b) => (!b.marker || b.marker.shapes.includes(o.shape)) && b.marker?.kind !== 'output' && b.marker?.kind !== 'app',
  );
  const report: JourneyReport = {
    shape: o.shape,
    ok: false,
    ms: 0,
    steps: [],
    documentProblems: documentProblems(blocks),
  };
  if (report.documentProblems.length > 0) {
    for (const p of report.documentProblems) log(`✘ ${p}`);
    report.ms = Math.round(performance.now() - t0);
    return report;
  }
  const region = o.region ?? 'eu-central-1';
  const world = await World.start({
    motoEndpoint: o.motoEndpoint,
    region,
    workdir: o.workdir,
    namespace: o.values.cluster.namespace,
    ...(o.shape === 'eks' && o.values.cluster.eksClusterName
      ? {
          eks: {
            clusterName: o.values.cluster.eksClusterName,
            authenticationMode: o.values.cluster.authenticationMode ?? 'CONFIG_MAP',
          },
        }
      : {}),
    ...(o.backstopMs !== undefined ? { backstopMs: o.backstopMs } : {}),
  });
  world.reviewFromAppliedRbac('contrast-autorecover');
  const scratch = await mkdtemp(join(tmpdir(), `journey-${o.shape}-`));
  const shims = join(scratch, 'bin');
  const cliDir = join(scratch, 'cli-bin');
  await writeShims(shims, cliDir);
  const home = join(scratch, 'home');
  await writeHome(home, region);
  const worldEnv = world.shellEnv();
  const realKubectl = findRealKubectl();
  const env: Record<string, string> = {
    PATH: [shims, dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':'),
    HOME: home,
    // The CLI's directory once installed (the install step's equivalent puts it on PATH).
    JOURNEY_CLI_DIR: cliDir,
    // The operator's npm cache (no network round trips the journey does not need).
    npm_config_cache: process.env.npm_config_cache ?? join(process.env.HOME ?? home, '.npm'),
    USER: 'operator',
    LANG: 'C.UTF-8',
    TERM: 'dumb',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    // An operator's npm, minus the network round trips the journey does not need.
    npm_config_prefer_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    JOURNEY_KUBECTL_MIN: KUBECTL_MIN,
    ...(realKubectl ? { JOURNEY_REAL_KUBECTL: realKubectl } : {}),
    ...worldEnv,
    ...Object.fromEntries(Object.entries(o.values.env).map(([k, v]) => [k, fill(v, worldEnv)])),
    // Names the operator dials, routed to the stand-ins (the VPN, the NLB).
    JOURNEY_NETWORK: JSON.stringify(
      Object.fromEntries(Object.entries(o.values.network ?? {}).map(([k, v]) => [k, fill(v, worldEnv)])),
    ),
  };
  const values: Values = {
    ...o.values,
    cdkContext: JSON.parse(fill(JSON.stringify(o.values.cdkContext), worldEnv)) as Record<string, unknown>,
  };
  const session = ShellSession.start({ cwd: o.workdir, env, dir: scratch });
  let sessionEnv = { ...env };
  const blockTimeoutMs = o.blockTimeoutMs ?? 600_000;
  try {
    for (const block of blocks) {
      const marker = block.marker as Extract<Marker, { kind: 'run' | 'local-equivalent' }>;
      const step: StepReport = {
        line: block.line,
        section: block.section,
        command: firstCommand(block),
        how: marker.kind === 'run' ? 'run' : `local-equivalent ${marker.name}`,
        ok: false,
        ms: 0,
        checks: [],
        problems: [],
        output: '',
      };
      report.steps.push(step);
      log(`[${o.shape}] ▶ line ${block.line} (${block.section}) ${step.how}: ${step.command}`);
      const s0 = performance.now();
      const ctx: StepContext = {
        world,
        session,
        shape: o.shape,
        block,
        values,
        workdir: o.workdir,
        env: sessionEnv,
        before: snapshot(world),
        startedAt: Date.now(),
        blockTimeoutMs,
        sh: (text) => session.run(text, { timeoutMs: blockTimeoutMs }),
      };
      try {
        // The example app's configuration as the operator has it by now.
        await writeCdkContext(ctx);
        // Segments: the whole block for `run`; for an equivalent, its statements in order,
        // each either stood for by the equivalent or run for real.
        const eq = marker.kind === 'local-equivalent' ? EQUIVALENTS[marker.name]! : undefined;
        const segments = eq ? segmentsOf(block.text, eq.covers ?? AWS_CLI) : [{ covered: false, text: block.text }];
        if (eq) log(`[${o.shape}]   (stands for: ${eq.standsFor})`);
        const realText: string[] = [];
        let lastRun: BlockRun | undefined;
        const outputs: string[] = [];
        for (const seg of segments) {
          if (!seg.covered) {
            const run = await session.run(seg.text, { timeoutMs: blockTimeoutMs });
            outputs.push(`${run.stdout}${run.stderr ? `\n${run.stderr}` : ''}`);
            if (run.code !== 0) {
              step.problems.push(
                `exit status ${run.code}${run.timedOut ? ' (timed out)' : ''}${eq ? ` in: ${seg.text.split('\n')[0]}` : ''}`,
              );
              break;
            }
            sessionEnv = run.env;
            ctx.env = run.env;
            realText.push(seg.text);
            lastRun = {
              ...run,
              stdout: [lastRun?.stdout ?? '', run.stdout].join(''),
              stderr: [lastRun?.stderr ?? '', run.stderr].join(''),
            };
          } else {
            const result = await eq!.run({ ...ctx, block: { ...block, text: seg.text } });
            outputs.push(result.output);
            step.checks.push(`equivalent ${marker.kind === 'local-equivalent' ? marker.name : ''}`);
            const exports = Object.entries(result.exports ?? {});
            const set = await session.run(exports.map(([k, v]) => `export ${k}=${shellQuote(v)}`).join('\n') || ':', {
              timeoutMs: 30_000,
            });
            if (set.code !== 0) {
              step.problems.push(`could not set ${exports.map(([k]) => k).join(', ')} in the session`);
              break;
            }
            sessionEnv = set.env;
            ctx.env = set.env;
          }
        }
        step.output = tail(outputs.join('\n'));
        if (step.problems.length === 0 && lastRun) {
          const text = realText.join('\n');
          // Matched on logical lines (continuations joined), as the shell reads them.
          const logical = text.replace(/\\\n\s*/g, ' ');
          const checks = EFFECTS.filter((e) => e.applies.test(logical));
          if (checks.length === 0)
            step.problems.push(
              'no effect check for this block: add one to journey/effects.ts (the exit status alone proves nothing)',
            );
          for (const c of checks) {
            step.checks.push(c.name);
            for (const p of await c.check({ ...ctx, block: { ...block, text } }, lastRun))
              step.problems.push(`${c.name}: ${p}`);
          }
        }
      } catch (err) {
        step.problems.push((err as Error).message);
      }
      step.ms = Math.round(performance.now() - s0);
      step.ok = step.problems.length === 0;
      log(
        `[${o.shape}] ${step.ok ? '✔' : '✘'} line ${block.line} ${(step.ms / 1000).toFixed(1)} s${step.checks.length ? ` — checked: ${step.checks.join('; ')}` : ''}`,
      );
      if (!step.ok) {
        for (const p of step.problems) log(`[${o.shape}]   ✘ ${p}`);
        if (step.output) log(step.output.replace(/^/gm, '  │ '));
        break;
      }
    }
    report.ok = report.steps.length > 0 && report.steps.every((s) => s.ok) && report.steps.length === blocks.length;
  } finally {
    session.kill();
    await world.stop();
  }
  report.ms = Math.round(performance.now() - t0);
  return report;
}

function tail(text: string, max = 4000): string {
  const t = text.trim();
  return t.length > max ? `…${t.slice(-max)}` : t;
}

export type { BlockRun };
