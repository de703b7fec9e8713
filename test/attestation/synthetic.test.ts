/**
 * The verifiers end to end on synthetic evidence (testing/evidence): binding, the SEV-SNP
 * revocation rules as Contrast configures them (a fresh CRL required; a CRL that cannot be had
 * is `unreachable`, a revoked chip `attestation-failed`), every failed claim reported, several
 * reference entries, Turin evidence, and the production verifier's dispatch.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClaimsError } from '../../lambda/attestation/checks.ts';
import {
  ChainedCollateral,
  CollateralUnavailableError,
  MemoryCollateral,
  MirrorCollateral,
} from '../../lambda/attestation/collateral/sources.ts';
import { verifySnpFiles } from '../../lambda/attestation/offline.ts';
import { createProductionVerifier } from '../../lambda/attestation/production.ts';
import { ATTESTATION_OIDS } from '../../lambda/attestation/verifier.ts';
import { AttestationError } from '../../lambda/shared/errors.ts';
import { startMirror } from '../support/collateral-mirror.ts';
import { buildCrl, name, toPem } from '../../testing/evidence/certs.ts';
import {
  TEST_POLICY_HASH,
  TEST_POLICY_HASH_HEX,
  makeSnpEvidence,
  makeSnpReportRaw,
  makeTestManifest,
  snpTestChain,
  testReference,
  testRoots,
  testSnpVerifierFactory,
  type SnpEvidenceOptions,
} from '../../testing/evidence/index.ts';
import { snpReferenceValues, TEST_TURIN_TCB } from '../../testing/evidence/snp.ts';
import { REPO_ROOT } from './vectors.ts';

const reportData = new Uint8Array(64).map((_, i) => i + 1);
const reference = testReference();
const day = 86_400_000;

async function snpVerify(
  opts: Partial<SnpEvidenceOptions>,
  ref = reference,
  collateral?: MemoryCollateral | ChainedCollateral | MirrorCollateral,
): Promise<unknown> {
  const v = testSnpVerifierFactory(collateral ? { collateral } : {})(ref);
  return v
    .verify({
      oid: ATTESTATION_OIDS.snp,
      evidence: makeSnpEvidence({ reportData, hostData: TEST_POLICY_HASH, ...opts }),
      reportData,
    })
    .catch((e: unknown) => e);
}

/** A CRL of the Milan test ARK with its own window and revoked serials. */
function crl(
  opts: { revoked?: number[]; thisUpdate?: Date; nextUpdate?: Date; signer?: 'ark' | 'ask' } = {},
): Uint8Array {
  const c = snpTestChain();
  return buildCrl(
    name('ARK-Milan', 'Advanced Micro Devices (TEST)'),
    opts.signer === 'ask' ? c.askKey : c.arkKey,
    'rsa-pss-sha384',
    opts.revoked ?? [99],
    opts.thisUpdate ?? new Date(Date.now() - day),
    opts.nextUpdate ?? new Date(Date.now() + 30 * day),
  );
}
const CRL_KEY = { kind: 'snp-crl', product: 'Milan' } as const;

describe('synthetic SEV-SNP evidence', () => {
  it('passes with the matching manifest and summarises it', async () => {
    expect(await snpVerify({})).toMatchObject({ kind: 'snp', platform: 'Milan', policyHash: TEST_POLICY_HASH_HEX });
  });

  it('refuses evidence bound to another key or nonce', async () => {
    expect(await snpVerify({ reportData: new Uint8Array(64) })).toMatchObject({
      check: 'binding',
      message: expect.stringMatching(/bound to another key or nonce/),
    });
  });

  it('reports every failed claim with expected and actual values, not only the first', async () => {
    const err = (await snpVerify({
      measurement: new Uint8Array(48).fill(9),
      vmpl: 1,
      hostData: new Uint8Array(32).fill(1),
    })) as ClaimsError;
    expect(err).toBeInstanceOf(ClaimsError);
    expect(err.outcome).toBe('attestation-failed');
    expect(err.failures.map((f) => f.check).sort()).toEqual([
      'snp.host-data',
      'snp.id-key-digest',
      'snp.measurement',
      'snp.vmpl',
    ]);
    expect(err.message).toMatch(
      /4 claims refused: .*snp\.measurement: expected MEASUREMENT a0a1.*, got 0909.*snp\.vmpl: expected VMPL 0, got VMPL 1/,
    );
  });

  it('accepts when one of several reference entries matches; otherwise names each entry', async () => {
    const good = snpReferenceValues();
    const several = testReference({ snp: [{ ...good, TrustedMeasurement: '00'.repeat(48) }, good] });
    expect(await snpVerify({}, several)).toMatchObject({ kind: 'snp' });
    const none = testReference({
      snp: [
        { ...good, TrustedMeasurement: '00'.repeat(48) },
        { ...good, ProductName: 'Genoa' },
      ],
    });
    const err = (await snpVerify({}, none)) as ClaimsError;
    expect(err.message).toMatch(/snp\.measurement: expected snp\[0\]: MEASUREMENT 0000/);
    expect(err.message).toMatch(/snp\.product: expected snp\[1\]: evidence from Genoa, got Milan evidence/);
  });

  it('refuses evidence when the manifest has no SEV-SNP reference values', async () => {
    expect(await snpVerify({}, testReference(makeTestManifest({ snp: false }).ReferenceValues))).toMatchObject({
      check: 'snp.reference-values',
    });
  });

  it('the production verifier refuses the test chain (ARK not pinned)', async () => {
    const err = await createProductionVerifier(reference)
      .verify({
        oid: ATTESTATION_OIDS.snp,
        evidence: makeSnpEvidence({ reportData, hostData: TEST_POLICY_HASH }),
        reportData,
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AttestationError);
    expect((err as AttestationError).check).toBe('snp.chain');
  });
});

describe('SEV-SNP revocation as Contrast configures it (CheckRevocations)', () => {
  it('no CRL anywhere: not a pass, and not refused evidence either: unreachable, retried', async () => {
    const err = await snpVerify({ includeCrl: false });
    expect(err).toBeInstanceOf(CollateralUnavailableError);
    expect(err).toMatchObject({
      outcome: 'unreachable',
      check: 'snp.crl',
      message: expect.stringMatching(/no current the AMD CRL of Milan.*vcek\/v1\/Milan\/crl.*it is retried/),
    });
  });

  it('an expired CRL is never a pass, wherever it comes from; a current copy from the next source is taken', async () => {
    const expired = crl({ thisUpdate: new Date(Date.now() - 40 * day), nextUpdate: new Date(Date.now() - day) });
    const cache = new MemoryCollateral().set(CRL_KEY, { body: expired });
    expect(await snpVerify({ includeCrl: false }, reference, cache)).toMatchObject({
      outcome: 'unreachable',
      message: expect.stringMatching(/copy from collateral source 1 is not current/),
    });
    const mirror = new MemoryCollateral().set(CRL_KEY, { body: crl() });
    expect(await snpVerify({ includeCrl: false }, reference, new ChainedCollateral([cache, mirror]))).toMatchObject({
      kind: 'snp',
    });
    const notYet = new MemoryCollateral().set(CRL_KEY, { body: crl({ thisUpdate: new Date(Date.now() + day) }) });
    expect(await snpVerify({ includeCrl: false }, reference, notYet)).toMatchObject({ outcome: 'unreachable' });
  });

  it('a revoked ASK is attestation-failed, naming the serial', async () => {
    const revoked = new MemoryCollateral().set(CRL_KEY, { body: crl({ revoked: [2] }) });
    expect(await snpVerify({ includeCrl: false }, reference, revoked)).toMatchObject({
      outcome: 'attestation-failed',
      check: 'snp.crl',
      message: expect.stringMatching(/ASK serial 02 is revoked/),
    });
  });

  it('the VCEK is not looked up in the CRL (AMD supersedes VCEKs by TCB; go-sev-guest checks only the ASK)', async () => {
    const listsVcek = new MemoryCollateral().set(CRL_KEY, { body: crl({ revoked: [3] }) });
    expect(await snpVerify({ includeCrl: false }, reference, listsVcek)).toMatchObject({ kind: 'snp' });
  });

  it('a CRL not signed by the ARK is refused', async () => {
    const forged = new MemoryCollateral().set(CRL_KEY, { body: crl({ signer: 'ask' }) });
    expect(await snpVerify({ includeCrl: false }, reference, forged)).toMatchObject({
      outcome: 'attestation-failed',
      check: 'snp.crl',
    });
  });

  it('a collateral mirror that answers 5xx or times out is unreachable, never attestation-failed', async () => {
    const mirror = await startMirror();
    try {
      mirror.failWith = 503;
      // The mirror answers at once; a budget no busy machine can miss keeps this about the 503, not the clock.
      const e503 = await snpVerify({ includeCrl: false }, reference, new MirrorCollateral(mirror.url, 20_000));
      expect(mirror.requests.length).toBeGreaterThan(0);
      expect(e503).not.toBeInstanceOf(AttestationError);
      expect(e503).toMatchObject({
        outcome: 'unreachable',
        message: expect.stringMatching(/answered HTTP 503 .*it is retried/),
      });
      mirror.failWith = undefined;
      mirror.hang = true;
      const hung = await snpVerify({ includeCrl: false }, reference, new MirrorCollateral(mirror.url, 150));
      expect(hung).toMatchObject({
        outcome: 'unreachable',
        message: expect.stringMatching(/did not answer .* within 150 ms/),
      });
    } finally {
      await mirror.close();
    }
  });

  it('claims are judged first: refused evidence is attestation-failed even when the CRL is also missing', async () => {
    expect(await snpVerify({ includeCrl: false, vmpl: 1 })).toMatchObject({
      outcome: 'attestation-failed',
      check: 'snp.vmpl',
    });
  });
});

describe('synthetic SEV-SNP evidence from Turin (its own TCB layout and 8-byte hwID), verified offline', () => {
  const chain = snpTestChain('Turin');
  const trust = { ...testRoots(), amdArk: { ...testRoots().amdArk, Turin: [chain.arkFingerprint] } };
  const files = (opts: Partial<SnpEvidenceOptions>) => ({
    report: makeSnpReportRaw({ reportData, product: 'Turin', ...opts }),
    signer: chain.vcekDer,
    chain: new Uint8Array(Buffer.from(toPem(chain.askDer) + toPem(chain.arkDer))),
  });
  const statusOf = (r: Awaited<ReturnType<typeof verifySnpFiles>>, check: string) =>
    r.checks.find((c) => c.check === check)?.status;

  it('passes: FMC/BL/TEE/SNP/ucode read from their Turin positions, hwID against the first 8 bytes of CHIP_ID', async () => {
    const r = await verifySnpFiles(files({}), { trust, now: new Date() });
    expect(r.error?.message).toBeUndefined();
    for (const c of ['snp.signature', 'snp.tcb.vcek', 'snp.chip-id']) expect(statusOf(r, c), c).toBe('pass');
  });

  it('refuses a VCEK whose FMC SPL differs from REPORTED_TCB', async () => {
    const r = await verifySnpFiles(files({ reportedTcb: { ...TEST_TURIN_TCB, fmc: 2 } }), { trust, now: new Date() });
    expect(r.error?.check).toBe('snp.tcb.vcek');
  });

  it('refuses a CHIP_ID whose first 8 bytes differ from the hwID', async () => {
    const other = chain.chipId.slice();
    other[3]! ^= 0xff;
    const r = await verifySnpFiles(files({ chipId: other }), { trust, now: new Date() });
    expect(r.error?.check).toBe('snp.chip-id');
  });

  it('a manifest cannot name Turin: Contrast accepts Milan and Genoa only', () => {
    expect(() => testReference({ snp: [{ ...snpReferenceValues(), ProductName: 'Turin' }] })).toThrow(
      /unknown product name "Turin"/,
    );
  });
});

describe('production verifier dispatch', () => {
  it('refuses the testing OID and unknown OIDs', async () => {
    const v = createProductionVerifier(reference);
    await expect(v.verify({ oid: ATTESTATION_OIDS.testing, evidence: reportData, reportData })).rejects.toThrow(
      /never accepted/,
    );
    await expect(v.verify({ oid: '1.2.3', evidence: reportData, reportData })).rejects.toThrow(
      /unknown attestation OID/,
    );
  });

  it('no production module imports the test-roots entry or test support (the demo may, in code)', () => {
    const files: string[] = [];
    const walk = (d: string) => {
      for (const f of readdirSync(d)) {
        const p = path.join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts')) files.push(p);
      }
    };
    for (const d of ['lambda', 'cli']) walk(path.join(REPO_ROOT, d));
    const allowed = [path.join('attestation', 'with-roots.ts'), path.join('cli', 'demo.ts')];
    const offenders = files.filter(
      (f) => !allowed.some((a) => f.endsWith(a)) && /with-roots(\.ts)?['"]|test\/support/.test(readFileSync(f, 'utf8')),
    );
    expect(offenders).toEqual([]);
  });
});
