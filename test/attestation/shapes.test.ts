/**
 * Each supported reference-value shape (test/fixtures/manifests) parsed and enforced with its
 * release's rules, on synthetic evidence: the default evidence passes every fixture, and each
 * difference between the shapes shows up where, and only where, that release applies it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ATTESTATION_OIDS, type ReferenceInput } from '../../lambda/attestation/verifier.ts';
import { parseManifest } from '../../lambda/coordinator/manifest.ts';
import {
  TEST_POLICY_HASH,
  makeSnpEvidence,
  makeTdxEvidence,
  testSnpVerifierFactory,
  testTdxVerifierFactory,
  type SnpEvidenceOptions,
  type TdxEvidenceOptions,
} from '../../testing/evidence/index.ts';
import { TEST_XFAM } from '../../testing/evidence/tdx.ts';
import { REPO_ROOT } from './vectors.ts';

const SHAPES = [
  'guest-policy',
  'platform-info',
  'tdx-without-svns',
  'rtmrs',
  'platform-marker',
  'cpus',
  'apeip',
] as const;
const reportData = new Uint8Array(64).fill(8);
const reference = (shape: string): ReferenceInput => {
  const m = parseManifest(readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'manifests', `${shape}.json`)));
  return { referenceValues: m.referenceValues, coordinatorPolicyHashes: m.coordinatorPolicyHashes };
};
const snp = (shape: string, opts: Partial<SnpEvidenceOptions> = {}) =>
  testSnpVerifierFactory()(reference(shape))
    .verify({
      oid: ATTESTATION_OIDS.snp,
      evidence: makeSnpEvidence({ reportData, hostData: TEST_POLICY_HASH, ...opts }),
      reportData,
    })
    .then(
      () => 'pass',
      (e: { check?: string }) => `fail ${e.check}`,
    );
const tdx = (shape: string, opts: Partial<TdxEvidenceOptions> = {}) =>
  testTdxVerifierFactory()(reference(shape))
    .verify({
      oid: ATTESTATION_OIDS.tdx,
      evidence: makeTdxEvidence({ reportData, policyHash: TEST_POLICY_HASH, ...opts }),
      reportData,
    })
    .then(
      () => 'pass',
      (e: { check?: string }) => `fail ${e.check}`,
    );

describe.each(SHAPES)('%s.json', (shape) => {
  it('accepts the evidence it describes (SEV-SNP and TDX)', async () => {
    expect(await snp(shape)).toBe('pass');
    expect(await tdx(shape)).toBe('pass');
  });

  it('refuses another measurement', async () => {
    expect(await snp(shape, { measurement: new Uint8Array(48).fill(1) })).toMatch(
      /^fail snp\.(measurement|id-key-digest)$/,
    );
    expect(await tdx(shape, { mrTd: new Uint8Array(48).fill(1) })).toBe('fail tdx.mrtd');
  });

  // C internal/manifest/manifest.go SNPValidateOpts sets RequireIDBlock: true with the ID-key
  // hash derived from the reference in every supported release (read: the guest-policy,
  // PlatformInfo/AllowedChipIDs and APEIP-era versions); only v0.x did not, and v0.x is refused.
  it('SNPValidateOpts (RequireIDBlock): refuses a report whose ID key is not the one derived from the reference', async () => {
    expect(await snp(shape, { idKeyDigest: new Uint8Array(48).fill(9) })).toBe('fail snp.id-key-digest');
  });
});

describe('where the shapes differ', () => {
  it('platform info: not checked before the PlatformInfo shape, checked (TSME not allowed) from it on', async () => {
    const tsme = { platformInfo: 0x27n };
    expect(await snp('guest-policy', tsme)).toBe('pass');
    for (const shape of SHAPES.slice(1))
      expect(await snp(shape, tsme), shape).toBe('fail snp.platform-info.TSMEEnabled');
  });

  it('XFAM: exact in the shapes with TD attributes in the manifest, CET bits ignored from the Platform shape on', async () => {
    const noCet = new Uint8Array(TEST_XFAM);
    noCet[1]! &= ~0x18; // bits 11 and 12
    for (const shape of ['guest-policy', 'platform-info', 'tdx-without-svns', 'rtmrs'])
      expect(await tdx(shape, { xfam: noCet }), shape).toBe('fail tdx.xfam');
    for (const shape of ['platform-marker', 'cpus', 'apeip'])
      expect(await tdx(shape, { xfam: noCet }), shape).toBe('pass');
  });

  it('SVN minimums: enforced where the shape has them (QE SVN 4, PCE SVN 11), absent later', async () => {
    for (const shape of ['guest-policy', 'platform-info']) {
      expect(await tdx(shape, { qeSvn: 3 }), shape).toBe('fail tdx.svn.qe');
      expect(await tdx(shape, { pceSvn: 10 }), shape).toBe('fail tdx.svn.pce');
    }
    for (const shape of ['tdx-without-svns', 'rtmrs', 'cpus'])
      expect(await tdx(shape, { qeSvn: 3, pceSvn: 10 }), shape).toBe('pass');
  });

  it("TD attributes: the manifest's value in the older shapes, Contrast's fixed SEPT_VE_DISABLE later; PKS set fails both", async () => {
    const pks = new Uint8Array([0, 0, 0, 0x50, 0, 0, 0, 0]);
    for (const shape of SHAPES) expect(await tdx(shape, { tdAttributes: pks }), shape).toBe('fail tdx.td-attributes');
  });
});
