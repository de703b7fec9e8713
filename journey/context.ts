/** What a journey step sees: the world, the shell session, the block, the operator's values. */
import type { CommandBlock, Shape } from './document.ts';
import type { BlockRun, ShellSession } from './session.ts';
import type { World } from './world.ts';

export interface Values {
  /** What the operator's shell has before the first step (exported). */
  env: Record<string, string>;
  /** The example app's configuration (written to cdk.context.json), `${VAR}` from the session. */
  cdkContext: Record<string, unknown>;
  /** Names the operator dials ("host:port") and where they lead in the journey's world (`${JOURNEY_…}`). */
  network?: Record<string, string>;
  /** The existing Contrast deployment and cluster. */
  cluster: {
    namespace: string;
    deployment: string;
    eksClusterName?: string;
    authenticationMode?: 'CONFIG_MAP' | 'API_AND_CONFIG_MAP' | 'API';
  };
}

/** The stand-in's objects, by resource/namespace/name → resourceVersion, before a step. */
export type Snapshot = Map<string, string>;

export interface StepContext {
  world: World;
  session: ShellSession;
  shape: Shape;
  block: CommandBlock;
  values: Values;
  workdir: string;
  /** The session's exported environment before the step. */
  env: Record<string, string>;
  before: Snapshot;
  startedAt: number;
  blockTimeoutMs: number;
  /** Runs shell text in the session (equivalents that run part of a block for real). */
  sh(text: string): Promise<BlockRun>;
}

/** `$VAR` and `${VAR}` from env; an unset variable is an error, as under `set -u`. */
export function expandVars(text: string, env: Record<string, string>): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (_m, a: string | undefined, b: string | undefined) => {
      const name = (a ?? b)!;
      const v = env[name];
      if (v === undefined) throw new Error(`$${name} is not set at this step (no value and no step before sets it)`);
      return v;
    },
  );
}

/** Variables a block assigns from a command: `X=$(…)`, `export X=$(…)`. */
export function assignedFromCommand(text: string): string[] {
  return [...text.matchAll(/(?:^|[\s;(])(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=\$\(/g)].map((m) => m[1]!);
}

/** The value of `--flag value` / `--flag=value` in a command text (quotes removed). */
export function flagValue(text: string, flag: string): string | undefined {
  const m = new RegExp(`${flag.replace(/-/g, '\\-')}(?:=|\\s+)("[^"]*"|'[^']*'|\\S+)`).exec(text);
  return m ? m[1]!.replace(/^["'](.*)["']$/, '$1') : undefined;
}

export function snapshot(world: World): Snapshot {
  const out: Snapshot = new Map();
  for (const resource of [
    'namespaces',
    'secrets',
    'configmaps',
    'services',
    'serviceaccounts',
    'deployments',
    'roles',
    'rolebindings',
    'clusterroles',
    'clusterrolebindings',
    'validatingadmissionpolicies',
    'validatingadmissionpolicybindings',
  ]) {
    for (const o of world.objects(resource))
      out.set(`${resource}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, o.metadata.resourceVersion);
  }
  return out;
}

/** Objects created or changed since the snapshot. */
export function changedSince(world: World, before: Snapshot): string[] {
  const now = snapshot(world);
  return [...now].filter(([k, rv]) => before.get(k) !== rv).map(([k]) => k);
}
