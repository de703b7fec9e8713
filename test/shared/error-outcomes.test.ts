/**
 * Every error class the code throws names the outcome it stands for: a test walks every class
 * declared in lambda/ and cli/ and fails on one that reaches Error without passing through
 * RecoveryError (which carries the outcome) — except the CLI's usage error (exit 2) and the
 * local demo's stand-in for AWS SDK errors — or whose constructor falls back to a default
 * outcome (each use names its own: an unknown OID in the Coordinator's evidence is not a bad bundle). The classes whose outcome depends on the case are
 * checked case by case: a dependency's trouble is never blamed on the evidence or the bundle.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CollateralFetchError } from '../../lambda/attestation/collateral/needs.ts';
import { CollateralUnavailableError, StaleCollateralError } from '../../lambda/attestation/collateral/sources.ts';
import { DerError } from '../../lambda/attestation/der.ts';
import { ConfigError } from '../../lambda/function/config.ts';
import { KubeApiError } from '../../lambda/kubernetes/errors.ts';
import type { RecoveryError } from '../../lambda/shared/errors.ts';
import { isOutcome } from '../../lambda/shared/outcomes.ts';
import { ViaFunctionError } from '../../cli/via-function.ts';
import { KubeAccessError } from '../../cli/operations/kube.ts';
import { REPO_ROOT } from '../support/cli.ts';

/** Error classes that stand for no outcome, and why. */
const WITHOUT_OUTCOME: Record<string, string> = {
  UsageError: 'a mistake in how the CLI was called: exit 2 (cli/program.ts), never an outcome',
  AwsLikeError:
    "the local demo key provider imitates an AWS SDK error; lambda/keys/aws-errors.ts classifies it like the SDK's own",
  SourceTimeout:
    'the audit (lambda/audit/run.ts) reads sources, not a Coordinator: a timeout makes the source `unreadable` (exit 3, an alarm), never a reconcile outcome',
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return name === 'gen' ? [] : sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

/** class name → the class it extends, for every class declared in lambda/ and cli/. */
function declaredClasses(): Map<string, { base: string; file: string }> {
  const classes = new Map<string, { base: string; file: string }>();
  for (const file of [...sources(path.join(REPO_ROOT, 'lambda')), ...sources(path.join(REPO_ROOT, 'cli'))]) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\bclass\s+(\w+)\s+extends\s+([\w.]+)/g)) {
      classes.set(m[1]!, { base: m[2]!, file: path.relative(REPO_ROOT, file) });
    }
  }
  return classes;
}

function ancestry(name: string, classes: Map<string, { base: string }>): string[] {
  const chain = [name];
  for (let c = classes.get(name); c; c = classes.get(c.base)) chain.push(c.base);
  return chain;
}

/** The parameter list of `name`'s own constructor, or undefined when it declares none (it inherits its parent's). */
function constructorParams(name: string, file: string): string | undefined {
  const text = readFileSync(path.join(REPO_ROOT, file), 'utf8');
  const start = new RegExp(`\\bclass\\s+${name}\\s+extends\\s+[\\w.]+\\s*\\{`).exec(text);
  if (!start) throw new Error(`class ${name} not found in ${file}`);
  // The class body, up to its matching closing brace.
  let open = 1;
  let end = start.index + start[0].length;
  for (; end < text.length && open > 0; end++) open += text[end] === '{' ? 1 : text[end] === '}' ? -1 : 0;
  const body = text.slice(start.index + start[0].length, end - 1);
  const ctor = body.indexOf('constructor(');
  if (ctor < 0) return undefined;
  let depth = 1;
  let i = ctor + 'constructor('.length;
  for (; i < body.length && depth > 0; i++) depth += body[i] === '(' ? 1 : body[i] === ')' ? -1 : 0;
  return body.slice(ctor + 'constructor('.length, i - 1);
}

/** A default outcome (`= 'bundle-invalid'`) or an optional outcome parameter in a parameter list. */
function defaultedOutcomes(params: string): string[] {
  const defaults = [...params.matchAll(/=\s*'([a-z-]+)'/g)].filter((m) => isOutcome(m[1]!)).map((m) => `= '${m[1]}'`);
  const optional = [...params.matchAll(/\boutcome\?:/g)].map((m) => m[0]);
  return [...defaults, ...optional];
}

describe('every error class maps to an outcome', () => {
  const classes = declaredClasses();
  const errorClasses = [...classes.keys()].filter(
    (n) => ancestry(n, classes).some((a) => a === 'Error' || a.endsWith('Error')) && !['RecoveryError'].includes(n),
  );

  it('finds the error classes (the walker works)', () => {
    expect(errorClasses).toEqual(
      expect.arrayContaining([
        'InputError',
        'AttestationError',
        'UnreachableError',
        'KubeApiError',
        'ConfigError',
        'DerError',
        'CoordinatorRpcError',
      ]),
    );
  });

  it.each(errorClasses)('%s passes through RecoveryError or is a documented exception', (name) => {
    const chain = ancestry(name, classes);
    if (WITHOUT_OUTCOME[name]) {
      expect(chain).not.toContain('RecoveryError');
      return;
    }
    expect(
      chain,
      `${name} (${classes.get(name)!.file}) extends ${chain.slice(1).join(' → ')}: give it an outcome (extend RecoveryError) or document why not`,
    ).toContain('RecoveryError');
  });

  it.each(errorClasses.filter((n) => !WITHOUT_OUTCOME[n]))(
    '%s names its outcome at every use: its constructor has no default or optional outcome',
    (name) => {
      const params = constructorParams(name, classes.get(name)!.file);
      expect(params === undefined ? [] : defaultedOutcomes(params), `${name} (${classes.get(name)!.file})`).toEqual([]);
    },
  );

  it('the default-outcome detector sees a default and an optional outcome', () => {
    expect(
      defaultedOutcomes("message: string, outcome: Outcome = 'bundle-invalid', options?: { cause?: unknown }"),
    ).toEqual(["= 'bundle-invalid'"]);
    expect(defaultedOutcomes("message: string, outcome: 'unreachable' | 'config-invalid' = 'unreachable'")).toEqual([
      "= 'unreachable'",
    ]);
    expect(defaultedOutcomes('message: string, outcome?: Outcome')).toEqual(['outcome?:']);
    expect(defaultedOutcomes('message: string, outcome: Outcome, options?: { cause?: unknown }')).toEqual([]);
  });

  it('the documented exceptions still exist', () => {
    for (const name of Object.keys(WITHOUT_OUTCOME)) expect(classes.has(name), name).toBe(true);
  });
});

describe('outcomes that depend on the case', () => {
  const outcome = (e: RecoveryError) => {
    expect(isOutcome(e.outcome)).toBe(true);
    return e.outcome;
  };

  it('a collateral mirror that timed out, failed or lacks a document is unreachable; one serving a document that does not verify is attestation-failed', () => {
    expect(
      outcome(
        new CollateralFetchError([
          { file: 'vcek', reason: 'timeout' },
          { file: 'crl', reason: 'HTTP 503' },
        ]),
      ),
    ).toBe('unreachable');
    expect(
      outcome(
        new CollateralFetchError([
          { file: 'vcek', reason: 'timeout' },
          { file: 'crl', reason: 'bad signature', refused: true },
        ]),
      ),
    ).toBe('attestation-failed');
    expect(outcome(new CollateralUnavailableError('snp.crl', 'no current AMD CRL'))).toBe('unreachable');
    expect(outcome(new StaleCollateralError('collateral', 'past nextUpdate'))).toBe('attestation-failed');
  });

  it('malformed DER in evidence is attestation-failed, not a retried "unexpected failure"', () => {
    expect(outcome(new DerError('DER truncated at offset 3'))).toBe('attestation-failed');
  });

  it('Kubernetes refusals are config-invalid (retrying does not help); no answer, conflicts and throttling are unreachable', () => {
    const api = (status: number) => new KubeApiError(status, 'X', 'm', 'GET', '/api/v1/pods');
    expect([401, 403].map((s) => outcome(api(s)))).toEqual(['config-invalid', 'config-invalid']);
    expect([0, 409, 429, 500, 503].map((s) => outcome(api(s)))).toEqual(Array(5).fill('unreachable'));
    expect([403, 500].map((s) => outcome(new KubeAccessError('m', s)))).toEqual(['config-invalid', 'unreachable']);
  });

  it('a bad setting is config-invalid, never bundle-invalid or transient', () => {
    expect(outcome(new ConfigError('KUBE_AUTH', 'required'))).toBe('config-invalid');
    expect(outcome(new ViaFunctionError('returned no JSON result', 'config-invalid'))).toBe('config-invalid');
    expect(outcome(new ViaFunctionError('could not invoke', 'unreachable'))).toBe('unreachable');
  });
});
