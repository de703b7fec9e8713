import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { registerAttestationCommand } from '../../cli/attestation.ts';
import { collateralFile, type CollateralKey } from '../../lambda/attestation/collateral/sources.ts';
import { TESTDATA, vectors } from '../attestation/vectors.ts';

async function cli(...args: string[]): Promise<{ code: number; out: string }> {
  const program = new Command().exitOverride();
  registerAttestationCommand(program);
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  const err = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  process.exitCode = undefined;
  try {
    await program.parseAsync(['node', 'cli', 'attestation', 'verify', ...args]);
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { code, out: lines.join('\n') };
}

const p = (rel: string) => path.join(TESTDATA, rel);
const tmp = mkdtempSync(path.join(tmpdir(), 'att-cli-'));

function mutant(rel: string, offset: number): string {
  const b = readFileSync(p(rel));
  b[offset % b.length]! ^= 0x10;
  const out = path.join(tmp, `${path.basename(rel)}.${offset}`);
  writeFileSync(out, b);
  return out;
}

afterEach(() => {
  process.exitCode = undefined;
});

describe('attestation verify', () => {
  for (const v of vectors.snp) {
    const genuine = v.expect.chain === 'valid';
    it(`${v.report} + ${v.signer}: exit ${genuine ? '3' : '1'}`, async () => {
      const r = await cli(
        '--snp-report',
        p(v.report),
        '--vcek',
        p(v.signer),
        '--chain',
        p(v.roots),
        '--product',
        v.product,
        '--at',
        v.validAt,
      );
      expect(r.code, r.out).toBe(genuine ? 3 : 1);
      expect(r.out).toMatch(genuine ? /PASS {2}snp\.signature/ : /FAIL {2}snp\.chain/);
    });
    if (genuine) {
      it(`${v.report} mutants exit 1`, async () => {
        for (const off of [0x90, 0x2a5])
          expect(
            (
              await cli(
                '--snp-report',
                mutant(v.report, off),
                '--vcek',
                p(v.signer),
                '--chain',
                p(v.roots),
                '--at',
                v.validAt,
              )
            ).code,
          ).toBe(1);
        expect(
          (
            await cli(
              '--snp-report',
              p(v.report),
              '--vcek',
              mutant(v.signer, 300),
              '--chain',
              p(v.roots),
              '--at',
              v.validAt,
            )
          ).code,
        ).toBe(1);
      });
    }
  }

  for (const v of vectors.tdx) {
    it(`${v.quote}: exit 3 (TCB status needs collateral), mutants exit 1`, async () => {
      const r = await cli('--tdx-quote', p(v.quote), '--at', v.validAt, '--json');
      expect(r.code, r.out).toBe(3);
      const summary = JSON.parse(r.out) as { verdict: string; checks: { check: string; status: string }[] };
      expect(summary.verdict).toBe('incomplete');
      expect(summary.checks.find((c) => c.check === 'tdx.tcb-status')?.status).toBe('not-evaluated');
      for (const off of [10, 200, 700])
        expect((await cli('--tdx-quote', mutant(v.quote, off), '--at', v.validAt)).code).toBe(1);
    });
  }

  it('picks the Intel CRLs up from --collateral DIR and reports the revocation checks', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'att-cli-crl-'));
    const put = (key: CollateralKey, rel: string) => {
      const file = path.join(dir, collateralFile(key));
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, readFileSync(p(rel)));
    };
    put({ kind: 'tdx-pck-crl', ca: 'platform' }, 'tdx/collateral/pckcrl');
    put({ kind: 'tdx-root-crl' }, 'tdx/collateral/rootcrl.der');
    const quote = p('tdx/spr-e4-v4.quote.dat');
    const ok = await cli('--tdx-quote', quote, '--collateral', dir, '--at', '2023-07-01T00:00:00Z');
    expect(ok.code, ok.out).toBe(3);
    expect(ok.out).toMatch(/PASS {2}tdx\.intermediate-revocation +Intel SGX PCK Platform CA serial 956f5d/);
    expect(ok.out).toMatch(/PASS {2}tdx\.pck-revocation +PCK serial [0-9a-f]+ not revoked/);
    // The same CRLs after their nextUpdate are never a pass (not evaluated, naming why); without them the checks are skipped too.
    const stale = await cli('--tdx-quote', quote, '--collateral', dir, '--at', '2025-01-01T00:00:00Z');
    expect(stale.code, stale.out).toBe(3);
    expect(stale.out).toMatch(/SKIP {2}tdx\.intermediate-revocation .*not current/);
    const none = await cli('--tdx-quote', quote, '--at', '2023-07-01T00:00:00Z');
    expect(none.out).toMatch(
      /SKIP {2}tdx\.pck-revocation +.*not at hand \(file .*pckcrl_ca_platform_encoding_der.*enroll --collateral DIR/,
    );
  });

  it('usage errors exit 2', async () => {
    expect((await cli()).code).toBe(2);
    expect((await cli('--snp-report', 'a', '--tdx-quote', 'b')).code).toBe(2);
    expect((await cli('--tdx-quote', p(vectors.tdx[0]!.quote), '--vcek', 'x')).code).toBe(2);
    expect((await cli('--snp-report', p(vectors.snp[0]!.report), '--product', 'Rome')).code).toBe(2);
    expect((await cli('--snp-report', p(vectors.snp[0]!.report), '--at', 'yesterday')).code).toBe(2);
    expect((await cli('--snp-report', p(vectors.snp[0]!.report), '--bogus')).code).toBe(2);
    expect((await cli('--snp-report')).code).toBe(2);
  });

  it('with a manifest the claims are checked (a foreign manifest fails)', async () => {
    const v = vectors.snp[0]!;
    const manifest = path.join(tmp, 'manifest.json');
    const owners = JSON.parse(
      readFileSync(path.join(TESTDATA, '..', 'manifests', 'cpus.json'), 'utf8'),
    ).SeedshareOwnerPubKeys;
    writeFileSync(
      manifest,
      JSON.stringify({
        Policies: { ['ab'.repeat(32)]: { Role: 'coordinator' } },
        ReferenceValues: {
          snp: [
            {
              ProductName: 'Milan',
              TrustedMeasurement: '00'.repeat(48),
              MinimumTCB: { BootloaderVersion: 0, TEEVersion: 0, SNPVersion: 0, MicrocodeVersion: 0 },
              GuestPolicy: { SMT: true },
              PlatformInfo: { SMTEnabled: true },
            },
          ],
        },
        SeedshareOwnerPubKeys: owners,
      }),
    );
    const r = await cli(
      '--snp-report',
      p(v.report),
      '--vcek',
      p(v.signer),
      '--chain',
      p(v.roots),
      '--at',
      v.validAt,
      '--manifest',
      manifest,
    );
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/FAIL/);
  });

  it("--json on the genuine Genoa report with Contrast's default reference values: the verdicts a Coordinator would give", async () => {
    const v = vectors.snp.find((x) => x.report.includes('genoa'))!;
    const manifest = path.join(TESTDATA, '..', 'manifests', 'genoa-default.json');
    const r = await cli(
      '--snp-report',
      p(v.report),
      '--vcek',
      p(v.signer),
      '--chain',
      p(v.roots),
      '--at',
      v.validAt,
      '--manifest',
      manifest,
      '--json',
    );
    const out = JSON.parse(r.out) as {
      verdict: string;
      exitCode: number;
      checks: { check: string; status: string; detail: string }[];
      failed: { check: string; message: string };
    };
    expect(r.code).toBe(1);
    expect(out.verdict).toBe('failed');
    for (const c of out.checks) expect(Object.keys(c).sort()).toEqual(['check', 'detail', 'status']);
    const family = (prefix: string) => out.checks.filter((c) => c.check.startsWith(prefix));
    expect(family('snp.policy').length).toBeGreaterThan(0);
    expect(family('snp.policy').every((c) => c.status === 'pass')).toBe(true);
    expect(family('snp.platform-info').every((c) => c.status === 'pass')).toBe(true);
    expect(family('snp.tcb').every((c) => c.status === 'pass')).toBe(true);
    // Not a Contrast guest, so its ID key digest is refused — with expected and actual values.
    expect(out.checks.find((c) => c.check === 'snp.id-key-digest')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/^snp\[1\]: expected ID_KEY_DIGEST [0-9a-f]{96} .*, got [0-9a-f]{96}$/),
    });
    expect(out.checks.find((c) => c.check === 'snp.crl')?.status).toBe('not-evaluated');
  });

  it('a manifest this project cannot judge exactly as Contrast does is a usage error naming the field', async () => {
    const m = JSON.parse(readFileSync(path.join(TESTDATA, '..', 'manifests', 'cpus.json'), 'utf8'));
    m.ReferenceValues.snp[0].Surprise = 1;
    const file = path.join(tmp, 'surprise.json');
    writeFileSync(file, JSON.stringify(m));
    const v = vectors.snp[0]!;
    const r = await cli('--snp-report', p(v.report), '--manifest', file, '--json');
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out).error).toMatch(/ReferenceValues\.snp\[0\]\.Surprise: unknown field/);
  });
});
