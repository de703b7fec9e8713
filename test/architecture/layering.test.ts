/**
 * The layering rules of docs/architecture.md, checked on the real import graph of lambda/ and
 * cli/ (static, type-only and dynamic imports): dependencies point inward — `function/` and
 * `cli/` use `reconcile/` (and `audit/`), `reconcile/` uses the leaves (coordinator, attestation, keys,
 * kubernetes), leaves never import each other except coordinator → attestation, and `shared/`
 * (like the generated `gen/`) imports nothing of ours. `cli/doctor/` and `cli/rehearse/` share
 * `cli/operations/` instead of importing each other. No production code imports `testing/` or
 * `test/`; the demo, which wires the emulator on purpose, is the one documented exception.
 * The checker itself is tested on synthetic graphs, so a broken rule is seen, not assumed.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/cli.ts';

/** An import from one repository file to another, both relative to the repository root. */
type Edge = readonly [from: string, to: string];

/** Innermost first: a room may import rooms of a lower rank (and itself). */
const RANK: Record<string, number> = {
  shared: 0,
  gen: 0,
  coordinator: 1,
  attestation: 1,
  keys: 1,
  kubernetes: 1,
  reconcile: 2,
  // The audit's reconciliation (CloudTrail ⋈ audit records): used by the CLI's `audit` and the
  // scheduled audit function; it imports only shared/, like a core beside reconcile/.
  audit: 2,
  function: 3,
  cli: 3,
};

/** Imports between rooms of one rank that the architecture allows, and why. */
const ALLOWED_ACROSS: { from: string; to: (file: string) => boolean; why: string }[] = [
  {
    from: 'coordinator',
    to: (f) => f.startsWith('lambda/attestation/'),
    why: 'the aTLS connector verifies the evidence',
  },
  {
    from: 'cli',
    to: (f) => f === 'lambda/function/config.ts' || f === 'lambda/function/deployment-store.ts',
    why: "the operator commands read the deployed function's configuration (its deployments' parameters included) with the function's own reader and parser",
  },
];

/** Production files that may import testing/, and why. */
const MAY_USE_TESTING: Record<string, string> = {
  'cli/demo.ts':
    'the local demo wires the Coordinator emulator, the API stand-in and test roots; only `demo` loads it (test/architecture/trust-boundary.test.ts)',
};

/** The room a file of lambda/ or cli/ lives in; undefined for other files. */
function roomOf(file: string): string | undefined {
  if (file === 'lambda/handler.ts') return 'function';
  const lambda = /^lambda\/([^/]+)\//.exec(file);
  if (lambda) return lambda[1]!;
  if (file.startsWith('cli/')) return 'cli';
  return undefined;
}

/** Every rule an edge breaks, as a sentence naming it. */
function violations(edges: readonly Edge[]): string[] {
  const out: string[] = [];
  for (const [from, to] of edges) {
    const a = roomOf(from);
    if (a === undefined) continue;
    const say = (rule: string) => out.push(`${from} → ${to}: ${rule}`);
    if (to.startsWith('testing/') || to.startsWith('test/')) {
      if (!MAY_USE_TESTING[from]) say('production code never imports testing/ or test/');
      continue;
    }
    const b = roomOf(to);
    if (b === undefined) {
      say('lambda/ and cli/ import only from lambda/ and cli/');
      continue;
    }
    if (!(a in RANK)) {
      say(`unknown room ${a}: give it a place in docs/architecture.md and in RANK`);
      continue;
    }
    if (!(b in RANK)) {
      say(`unknown room ${b}: give it a place in docs/architecture.md and in RANK`);
      continue;
    }
    const crossCli = /^cli\/(doctor|rehearse)\//.exec(from)?.[1];
    const intoCli = /^cli\/(doctor|rehearse)\//.exec(to)?.[1];
    if (crossCli && intoCli && crossCli !== intoCli)
      say('doctor and rehearse share cli/operations/, never import each other');
    if (a === b) continue;
    if (RANK[b]! < RANK[a]!) continue;
    if (ALLOWED_ACROSS.some((x) => x.from === a && x.to(to))) continue;
    if (a === 'shared' || a === 'gen') say(`${a}/ imports nothing of ours`);
    else if (RANK[a] === 1 && RANK[b] === 1) say('leaves never import each other (except coordinator → attestation)');
    else say(`dependencies point inward: ${a} (rank ${RANK[a]}) may not import ${b} (rank ${RANK[b]})`);
  }
  return out;
}

function sources(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir)).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(join(REPO_ROOT, p)).isDirectory()) return sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports of every file in lambda/ and cli/: `import … from`, `export … from`, `import '…'`, `import('…')`. */
function importEdges(): Edge[] {
  const edges: Edge[] = [];
  for (const file of [...sources('lambda'), ...sources('cli')]) {
    const text = readFileSync(join(REPO_ROOT, file), 'utf8');
    for (const m of text.matchAll(
      /(?:import|export)\s[^'";]*?from\s+['"](\.[^'"]+)['"]|import\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g,
    )) {
      const spec = (m[1] ?? m[2] ?? m[3])!;
      edges.push([file, relative(REPO_ROOT, resolve(REPO_ROOT, dirname(file), spec))]);
    }
  }
  return edges;
}

describe('layering (docs/architecture.md)', () => {
  it('the real import graph keeps every rule', () => {
    const edges = importEdges();
    // The walker sees the graph: the front doors, the core and the leaves are all there.
    expect(edges.length).toBeGreaterThan(200);
    expect(edges).toContainEqual(['lambda/reconcile/reconcile.ts', 'lambda/coordinator/client.ts']);
    expect(edges.some(([f, t]) => f.startsWith('cli/') && t.startsWith('lambda/reconcile/'))).toBe(true);
    expect(edges.some(([f, t]) => f === 'cli/program.ts' && t === 'cli/demo.ts')).toBe(true); // a dynamic import
    expect(violations(edges)).toEqual([]);
  });

  it('the documented exceptions are still used', () => {
    const edges = importEdges();
    for (const file of Object.keys(MAY_USE_TESTING))
      expect(
        edges.some(([f, t]) => f === file && t.startsWith('testing/')),
        file,
      ).toBe(true);
    for (const x of ALLOWED_ACROSS)
      expect(
        edges.some(([f, t]) => roomOf(f) === x.from && x.to(t)),
        x.why,
      ).toBe(true);
  });

  it('the checker sees each kind of broken rule', () => {
    expect(violations([['lambda/shared/names.ts', 'lambda/reconcile/types.ts']])).toEqual([
      expect.stringContaining('shared/ imports nothing of ours'),
    ]);
    expect(violations([['lambda/shared/x.ts', 'lambda/gen/sevsnp/sevsnp_pb.ts']])).toEqual([
      expect.stringContaining('shared/ imports nothing of ours'),
    ]);
    expect(violations([['lambda/coordinator/client.ts', 'lambda/reconcile/types.ts']])).toEqual([
      expect.stringContaining('dependencies point inward: coordinator'),
    ]);
    expect(violations([['lambda/keys/store.ts', 'lambda/kubernetes/api.ts']])).toEqual([
      expect.stringContaining('leaves never import each other'),
    ]);
    expect(violations([['lambda/attestation/core.ts', 'lambda/coordinator/client.ts']])).toEqual([
      expect.stringContaining('leaves never import each other'),
    ]);
    expect(violations([['lambda/reconcile/reconcile.ts', 'lambda/function/guard.ts']])).toEqual([
      expect.stringContaining('dependencies point inward: reconcile'),
    ]);
    expect(violations([['lambda/function/handler.ts', 'cli/output.ts']])).toEqual([
      expect.stringContaining('dependencies point inward: function'),
    ]);
    expect(violations([['cli/doctor/run.ts', 'lambda/function/guard.ts']])).toEqual([
      expect.stringContaining('dependencies point inward: cli'),
    ]);
    expect(
      violations([
        ['lambda/handler.ts', 'lambda/reconcile/aws-deps.ts'],
        ['lambda/reconcile/x.ts', 'lambda/reconcile/y.ts'],
      ]),
    ).toEqual([]);
    expect(violations([['cli/doctor/run.ts', 'cli/rehearse/function-logs.ts']])).toEqual([
      expect.stringContaining('doctor and rehearse'),
    ]);
    expect(violations([['cli/rehearse/run.ts', 'cli/doctor/aws.ts']])).toEqual([
      expect.stringContaining('doctor and rehearse'),
    ]);
    expect(
      violations([
        ['lambda/function/runtime.ts', 'testing/moto-server.ts'],
        ['cli/commands.ts', 'test/support/aws.ts'],
      ]),
    ).toHaveLength(2);
    expect(violations([['lambda/newroom/a.ts', 'lambda/shared/errors.ts']])).toEqual([
      expect.stringContaining('unknown room newroom'),
    ]);
    expect(violations([['lambda/keys/store.ts', 'infra/contract.ts']])).toEqual([
      expect.stringContaining('only from lambda/ and cli/'),
    ]);
  });

  it('the checker lets inward imports and the documented exceptions pass', () => {
    const allowed: Edge[] = [
      ['lambda/function/handler.ts', 'lambda/reconcile/reconcile.ts'],
      ['lambda/function/runtime.ts', 'lambda/keys/store.ts'],
      ['cli/commands.ts', 'lambda/reconcile/enroll.ts'],
      ['lambda/reconcile/reconcile.ts', 'lambda/kubernetes/index.ts'],
      ['lambda/coordinator/client.ts', 'lambda/attestation/verifier.ts'],
      ['lambda/attestation/core.ts', 'lambda/gen/sevsnp/sevsnp_pb.ts'],
      ['lambda/keys/store.ts', 'lambda/shared/errors.ts'],
      ['cli/operations/deployed-function.ts', 'lambda/function/config.ts'],
      ['cli/doctor/run.ts', 'cli/operations/function-logs.ts'],
      ['cli/demo.ts', 'testing/coordinator-emulator.ts'],
    ];
    expect(violations(allowed)).toEqual([]);
  });
});
