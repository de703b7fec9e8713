import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AttestationError } from '../../lambda/shared/errors.ts';
import { collateralNeeds } from '../../lambda/attestation/collateral-needs.ts';
import { createProductionVerifier } from '../../lambda/attestation/production.ts';
import { createVerifierWithRoots } from '../../lambda/attestation/with-roots.ts';
import { ATTESTATION_OIDS, type ReferenceInput } from '../../lambda/attestation/verifier.ts';
import {
  TEST_POLICY_HASH,
  TEST_POLICY_HASH_HEX,
  makeSnpEvidence,
  makeTdxCollateral,
  makeTdxEvidence,
  makeTestManifest,
  snpTestChain,
  testRoots,
  testSnpVerifierFactory,
  testTdxVerifierFactory,
  type SnpEvidenceOptions,
  type TdxEvidenceOptions,
} from '../../testing/evidence/index.ts';
import { snpReferenceValues, TEST_TURIN_TCB } from '../../testing/evidence/snp.ts';
import { REPO_ROOT } from './vectors.ts';

const reportData = new Uint8Array(64).map((_, i) => i + 1);
const manifest = makeTestManifest();
const reference: ReferenceInput = { referenceValues: manifest.ReferenceValues, coordinatorPolicyHashes: [TEST_POLICY_HASH_HEX] };

async function snpCheck(opts: Partial<SnpEvidenceOptions>, ref = reference): Promise<AttestationError | undefined> {
  const v = testSnpVerifierFactory()(ref);
  try {
    await v.verify({ oid: ATTESTATION_OIDS.snp, evidence: makeSnpEvidence({ reportData, hostData: TEST_POLICY_HASH, ...opts }), reportData });
    return undefined;
  } catch (err) {
    if (err instanceof AttestationError) return err;
    throw err;
  }
}

async function tdxCheck(opts: Partial<TdxEvidenceOptions>, factoryOpts = {}): Promise<AttestationError | undefined> {
  const v = testTdxVerifierFactory(factoryOpts)(reference);
  try {
    await v.verify({ oid: ATTESTATION_OIDS.tdx, evidence: makeTdxEvidence({ reportData, policyHash: TEST_POLICY_HASH, ...opts }), reportData });
    return undefined;
  } catch (err) {
    if (err instanceof AttestationError) return err;
    throw err;
  }
}

describe('synthetic SEV-SNP evidence from Turin (its own TCB layout and 8-byte hwID)', () => {
  const chain = snpTestChain('Turin');
  const roots = { ...testRoots(), amdArk: { ...testRoots().amdArk, Turin: [chain.arkFingerprint] } };
  const t = TEST_TURIN_TCB;
  const turinRef = (minimum = { BootloaderVersion: t.bl, TEEVersion: t.tee, SNPVersion: t.snp, MicrocodeVersion: t.ucode }): ReferenceInput => ({
    referenceValues: { snp: [{ ...snpReferenceValues(), ProductName: 'Turin', MinimumTCB: minimum }] },
    coordinatorPolicyHashes: [TEST_POLICY_HASH_HEX],
  });
  const verify = (opts: Partial<SnpEvidenceOptions>, ref = turinRef()) =>
    createVerifierWithRoots(ref, { roots }).verify({ oid: ATTESTATION_OIDS.snp, evidence: makeSnpEvidence({ reportData, hostData: TEST_POLICY_HASH, product: 'Turin', ...opts }), reportData });

  it('passes: FMC/BL/TEE/SNP/ucode read from their Turin positions, hwID against the first 8 bytes of CHIP_ID', async () => {
    await expect(verify({})).resolves.toMatchObject({ kind: 'snp', platform: 'Turin' });
  });

  it('refuses a VCEK whose FMC SPL differs from REPORTED_TCB', async () => {
    await expect(verify({ reportedTcb: { ...t, fmc: 2 } })).rejects.toThrow(/REPORTED_TCB fmc=2 differs from the VCEK's fmc SPL 1/);
  });

  it('refuses a CHIP_ID whose first 8 bytes differ from the hwID', async () => {
    const other = chain.chipId.slice();
    other[3]! ^= 0xff;
    await expect(verify({ chipId: other })).rejects.toThrow(/CHIP_ID [0-9a-f]{16} differs from the VCEK hwID/);
  });

  it('compares MinimumTCB against the Turin fields', async () => {
    await expect(verify({}, turinRef({ BootloaderVersion: t.bl, TEEVersion: t.tee, SNPVersion: t.snp + 1, MicrocodeVersion: t.ucode }))).rejects.toThrow(new RegExp(`REPORTED_TCB SNP version: expected at least ${t.snp + 1}, got ${t.snp} \\(fmc=1 bl=4`));
  });

  it('names the 8-byte hwID when the VCEK must come from the cache or AMD KDS', () => {
    const ext = { oid: ATTESTATION_OIDS.snp, value: makeSnpEvidence({ reportData, product: 'Turin', includeVcek: false }) };
    expect(collateralNeeds(ext)).toContainEqual({ kind: 'snp-vcek', product: 'Turin', chipId: Buffer.from(chain.chipId.subarray(0, 8)).toString('hex'), tcbQuery: `fmcSPL=${t.fmc}&blSPL=${t.bl}&teeSPL=${t.tee}&snpSPL=${t.snp}&ucodeSPL=${t.ucode}` });
  });
});

describe('synthetic SEV-SNP evidence', () => {
  it('passes with the matching manifest and summarises it', async () => {
    const v = testSnpVerifierFactory()(reference);
    const s = await v.verify({ oid: ATTESTATION_OIDS.snp, evidence: makeSnpEvidence({ reportData, hostData: TEST_POLICY_HASH, includeCrl: true }), reportData });
    expect(s).toMatchObject({ kind: 'snp', platform: 'Milan', policyHash: TEST_POLICY_HASH_HEX });
  });

  const cases: [string, Partial<SnpEvidenceOptions>, string, RegExp][] = [
    ['binding', { reportData: new Uint8Array(64) }, 'binding', /bound to another key or nonce/],
    ['measurement', { measurement: new Uint8Array(48).fill(9) }, 'snp.measurement', /MEASUREMENT: expected/],
    ['host data', { hostData: new Uint8Array(32).fill(1) }, 'snp.host-data', /HOST_DATA: expected a coordinator policy hash/],
    ['debug policy', { policy: 0x30000n | (1n << 19n) }, 'snp.policy.debug', /always refused/],
    ['policy bit not allowed', { policy: 0x30000n | (1n << 20n) }, 'snp.policy.SingleSocket', /SingleSocket/],
    ['policy bit 17 clear', { policy: 0x10000n }, 'snp.policy', /bit 17 must be 1/],
    ['platform info bit', { platformInfo: 0x3n | (1n << 2n) }, 'snp.platform-info.ECCEnabled', /ECCEnabled/],
    ['VMPL', { vmpl: 1 }, 'snp.vmpl', /VMPL: expected 0, got 1/],
    ['REPORTED_TCB vs VCEK', { reportedTcb: { bl: 4, tee: 0, snp: 8, ucode: 115 } }, 'snp.reported-tcb', /differs from the VCEK/],
    ['LAUNCH_TCB below minimum', { launchTcb: { bl: 3, tee: 0, snp: 7, ucode: 115 } }, 'snp.tcb.launch', /LAUNCH_TCB SNP version: expected at least 8, got 7/],
    ['CHIP_ID vs hwID', { chipId: new Uint8Array(64).fill(5) }, 'snp.chip-id', /differs from the VCEK hwID/],
    ['ID-key digest', { idKeyDigest: new Uint8Array(48).fill(1) }, 'snp.id-key-digest', /ID_KEY_DIGEST: expected/],
    ['missing ASK/ARK and no collateral', { includeChain: false }, 'snp.chain', /run `enroll --collateral DIR`/],
  ];
  for (const [what, opts, check, msg] of cases) {
    it(`fails on a wrong ${what} with its own message`, async () => {
      const err = await snpCheck(opts);
      expect(err?.check).toBe(check);
      expect(err?.message).toMatch(msg);
    });
  }

  it('fails on a REPORTED_TCB below MinimumTCB', async () => {
    const m = makeTestManifest();
    (m.ReferenceValues as { snp: { MinimumTCB: { SNPVersion: number } }[] }).snp[0]!.MinimumTCB.SNPVersion = 9;
    const err = await snpCheck({}, { referenceValues: m.ReferenceValues, coordinatorPolicyHashes: [TEST_POLICY_HASH_HEX] });
    expect(err?.check).toBe('snp.tcb.reported');
  });

  it('fails when the chip is not in AllowedChipIDs', async () => {
    const m = makeTestManifest();
    (m.ReferenceValues as { snp: { AllowedChipIDs: string[] }[] }).snp[0]!.AllowedChipIDs = ['ab'.repeat(64)];
    const err = await snpCheck({}, { referenceValues: m.ReferenceValues, coordinatorPolicyHashes: [TEST_POLICY_HASH_HEX] });
    expect(err?.check).toBe('snp.allowed-chip-ids');
  });

  it('accepts when one of several reference entries matches', async () => {
    const m = makeTestManifest();
    const snp = (m.ReferenceValues as { snp: Record<string, unknown>[] }).snp;
    snp.unshift({ ...snp[0], TrustedMeasurement: '00'.repeat(48) });
    expect(await snpCheck({}, { referenceValues: m.ReferenceValues, coordinatorPolicyHashes: [TEST_POLICY_HASH_HEX] })).toBeUndefined();
  });

  it('the production verifier refuses the test chain (ARK not pinned)', async () => {
    const err = await createProductionVerifier(reference)
      .verify({ oid: ATTESTATION_OIDS.snp, evidence: makeSnpEvidence({ reportData, hostData: TEST_POLICY_HASH }), reportData })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AttestationError);
    expect((err as AttestationError).check).toBe('snp.chain');
  });
});

describe('synthetic TDX evidence', () => {
  it('passes with matching manifest and collateral, repeating the accepted statuses', async () => {
    const v = testTdxVerifierFactory()(reference);
    const s = await v.verify({ oid: ATTESTATION_OIDS.tdx, evidence: makeTdxEvidence({ reportData, policyHash: TEST_POLICY_HASH }), reportData });
    expect(s).toMatchObject({ kind: 'tdx', tcbStatus: 'UpToDate', acceptedTcbStatuses: ['UpToDate'], policyHash: TEST_POLICY_HASH_HEX });
  });

  const cases: [string, Partial<TdxEvidenceOptions>, string, RegExp][] = [
    ['binding', { reportData: new Uint8Array(64) }, 'binding', /bound to another key or nonce/],
    ['MRTD', { mrTd: new Uint8Array(48).fill(2) }, 'tdx.mrtd', /MRTD: expected/],
    ['RTMR2', { rtmrs: [0x21, 0x22, 0x99, 0x24].map((b) => new Uint8Array(48).fill(b)) }, 'tdx.rtmr2', /RTMR2: expected/],
    ['MRSEAM', { mrSeam: new Uint8Array(48).fill(7) }, 'tdx.mrseam', /MRSEAM: expected/],
    ['XFAM', { xfam: new Uint8Array(8).fill(1) }, 'tdx.xfam', /XFAM: expected/],
    ['debug TD attributes', { tdAttributes: new Uint8Array([1, 0, 0, 0x10, 0, 0, 0, 0]) }, 'tdx.td-attributes.debug', /always refused/],
    ['TD attributes without SEPT_VE_DISABLE', { tdAttributes: new Uint8Array(8) }, 'tdx.td-attributes', /SEPT_VE_DISABLE/],
    ['MRCONFIGID', { policyHash: new Uint8Array(32).fill(3) }, 'tdx.mrconfigid', /MRCONFIGID: expected a coordinator policy hash/],
    ['MRCONFIGID padding', { mrConfigId: new Uint8Array([...TEST_POLICY_HASH, ...new Uint8Array(15), 1]) }, 'tdx.mrconfigid', /followed by 16 zero bytes/],
  ];
  for (const [what, opts, check, msg] of cases) {
    it(`fails on a wrong ${what} with its own message`, async () => {
      const err = await tdxCheck(opts);
      expect(err?.check).toBe(check);
      expect(err?.message).toMatch(msg);
    });
  }

  it('refuses an OutOfDate TCB unless the deployment accepts it', async () => {
    const collateral = makeTdxCollateral({ tcbStatus: 'OutOfDate' });
    const err = await tdxCheck({}, { collateral });
    expect(err?.check).toBe('tdx.tcb-status');
    expect(err?.message).toMatch(/expected UpToDate, got OutOfDate/);
    expect(await tdxCheck({}, { collateral, acceptedTdxTcbStatuses: ['UpToDate', 'OutOfDate'] })).toBeUndefined();
  });

  it('an out-of-date QE lowers the status', async () => {
    const err = await tdxCheck({}, { collateral: makeTdxCollateral({ qeStatus: 'OutOfDate' }) });
    expect(err?.message).toMatch(/got OutOfDate/);
  });

  it('uses tdxModuleIdentities when TEE_TCB_SVN[1] > 0', async () => {
    const svn = new Uint8Array([2, 3, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const identity = (status: string) => [{ id: 'TDX_03', mrsigner: '00'.repeat(48), attributes: '0000000000000000', attributesMask: 'FFFFFFFFFFFFFFFF', tcbLevels: [{ tcb: { isvsvn: 2 }, tcbStatus: status }] }];
    // The platform level's components 0 and 1 (3, 0) are skipped: the module identity decides.
    expect(await tdxCheck({ teeTcbSvn: svn }, { collateral: makeTdxCollateral({ moduleIdentities: identity('UpToDate') }) })).toBeUndefined();
    const err = await tdxCheck({ teeTcbSvn: svn }, { collateral: makeTdxCollateral({ moduleIdentities: identity('OutOfDate') }) });
    expect(err?.message).toMatch(/got OutOfDate/);
    const missing = await tdxCheck({ teeTcbSvn: svn }, { collateral: makeTdxCollateral({ moduleIdentities: [] }) });
    expect(missing?.message).toMatch(/TDX_03/);
  });

  it('refuses collateral past nextUpdate or signed by an expired certificate', async () => {
    expect((await tdxCheck({}, { collateral: makeTdxCollateral({ nextUpdate: new Date(Date.now() - 1000) }) }))?.check).toBe('tdx.tcb-info');
    expect((await tdxCheck({}, { collateral: makeTdxCollateral({ signerNotAfter: new Date(Date.now() - 1000) }) }))?.message).toMatch(/signing certificate is not valid/);
  });

  it('without collateral the TCB status cannot be evaluated and the evidence is refused, naming the missing piece', async () => {
    const v = testTdxVerifierFactory({ collateral: { get: async () => undefined } })(reference);
    const err = (await v.verify({ oid: ATTESTATION_OIDS.tdx, evidence: makeTdxEvidence({ reportData, policyHash: TEST_POLICY_HASH }), reportData }).catch((e: unknown) => e)) as AttestationError;
    expect(err.check).toBe('tdx.tcb-status');
    expect(err.message).toMatch(/TCB Info for FMSPC .*enroll --collateral DIR/);
  });
});

describe('production verifier dispatch', () => {
  it('refuses the testing OID and unknown OIDs', async () => {
    const v = createProductionVerifier(reference);
    await expect(v.verify({ oid: ATTESTATION_OIDS.testing, evidence: reportData, reportData })).rejects.toThrow(/never accepted/);
    await expect(v.verify({ oid: '1.2.3', evidence: reportData, reportData })).rejects.toThrow(/unknown attestation OID/);
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
    const offenders = files.filter((f) => !allowed.some((a) => f.endsWith(a)) && /with-roots(\.ts)?['"]|test\/support/.test(readFileSync(f, 'utf8')));
    expect(offenders).toEqual([]);
  });
});
