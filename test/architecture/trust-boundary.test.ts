/**
 * No production entry point can reach a verifier that accepts test roots or insecure
 * testing evidence: walk the static and dynamic import graph from the Lambda handler and the
 * CLI's recover/status commands.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/cli.ts';

function importGraph(entry: string): Set<string> {
  const seen = new Set<string>();
  const stack = [resolve(REPO_ROOT, entry)];
  while (stack.length) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(
      /(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g,
    )) {
      const spec = m[1] ?? m[2]!;
      const target = resolve(dirname(file), spec);
      if (existsSync(target)) stack.push(target);
    }
  }
  return seen;
}

const FORBIDDEN = [
  'testing/attestation/insecure-verifier.ts',
  'testing/attestation/with-roots.ts',
  'test/',
  'testing/',
];

describe('trust boundary', () => {
  it.each(['lambda/handler.ts', 'cli/commands.ts', 'lambda/reconcile/verification.ts'])(
    '%s cannot reach test roots or the testing verifier',
    (entry) => {
      if (!existsSync(join(REPO_ROOT, entry))) throw new Error(`${entry} is missing`);
      const graph = [...importGraph(entry)].map((f) => f.slice(REPO_ROOT.length + 1));
      expect(graph.length).toBeGreaterThan(3);
      expect(graph.filter((f) => FORBIDDEN.some((x) => f.startsWith(x) || f === x))).toEqual([]);
    },
  );

  it('the walker does see test roots where they are wired on purpose (the demo)', () => {
    const graph = [...importGraph('cli/demo.ts')].map((f) => f.slice(REPO_ROOT.length + 1));
    expect(graph).toContain('testing/attestation/with-roots.ts');
  });
});

describe('accepted TDX TCB statuses', () => {
  it('never include Revoked or unknown values, whatever a setting says', async () => {
    const { loadConfig } = await import('../../lambda/function/config.ts');
    const base = { LOCK_TABLE_NAME: 't', EVENT_BUS_NAME: 'b', KUBE_AUTH: 'none' };
    const deployments = (statuses: string[]) =>
      JSON.stringify([{ name: 'prod', secretId: 's', coordinator: 'c:1313', tdxAcceptedTcbStatuses: statuses }]);
    expect(() => loadConfig({ ...base, CONTRAST_DEPLOYMENTS: deployments(['Revoked']) })).toThrow(
      /CONTRAST_DEPLOYMENTS/,
    );
    expect(() => loadConfig({ ...base, CONTRAST_DEPLOYMENTS: deployments(['OutOfDate']) })).not.toThrow();
    const { ACCEPTABLE_TDX_TCB_STATUSES } = await import('../../lambda/attestation/core.ts');
    expect(ACCEPTABLE_TDX_TCB_STATUSES).not.toContain('Revoked');
  });
});
