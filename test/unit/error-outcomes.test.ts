/**
 * Every error class the code throws names the outcome it stands for: a test walks every class
 * declared in lambda/ and cli/ and fails on one that reaches Error without passing through
 * RecoveryError (which carries the outcome) — except the CLI's usage error (exit 2) and the
 * local demo's stand-in for AWS SDK errors. The classes whose outcome depends on the case are
 * checked case by case: a dependency's trouble is never blamed on the evidence or the bundle.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CollateralFetchError } from '../../lambda/attestation/collateral-needs.ts';
import { CollateralUnavailableError, StaleCollateralError } from '../../lambda/attestation/collateral.ts';
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
  AwsLikeError: 'the local demo key provider imitates an AWS SDK error; lambda/keys/aws-errors.ts classifies it like the SDK\'s own',
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

describe('every error class maps to an outcome', () => {
  const classes = declaredClasses();
  const errorClasses = [...classes.keys()].filter((n) => ancestry(n, classes).some((a) => a === 'Error' || a.endsWith('Error')) && !['RecoveryError'].includes(n));

  it('finds the error classes (the walker works)', () => {
    expect(errorClasses).toEqual(expect.arrayContaining(['InputError', 'AttestationError', 'UnreachableError', 'KubeApiError', 'ConfigError', 'DerError', 'CoordinatorRpcError']));
  });

  it.each(errorClasses)('%s passes through RecoveryError or is a documented exception', (name) => {
    const chain = ancestry(name, classes);
    if (WITHOUT_OUTCOME[name]) {
      expect(chain).not.toContain('RecoveryError');
      return;
    }
    expect(chain, `${name} (${classes.get(name)!.file}) extends ${chain.slice(1).join(' → ')}: give it an outcome (extend RecoveryError) or document why not`).toContain('RecoveryError');
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
    expect(outcome(new CollateralFetchError([{ file: 'vcek', reason: 'timeout' }, { file: 'crl', reason: 'HTTP 503' }]))).toBe('unreachable');
    expect(outcome(new CollateralFetchError([{ file: 'vcek', reason: 'timeout' }, { file: 'crl', reason: 'bad signature', refused: true }]))).toBe('attestation-failed');
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
    expect(outcome(new ViaFunctionError('could not invoke'))).toBe('unreachable');
  });
});
