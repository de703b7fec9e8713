import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleCollateral } from '../../../lambda/attestation/collateral/bundle-cache.ts';
import {
  carriedCollateral,
  collateralNeeds,
  CollateralFetchError,
  fetchCollateral,
} from '../../../lambda/attestation/collateral/needs.ts';
import { collateralVerifier, pinnedCollateralVerifier } from '../../../lambda/attestation/collateral/verify.ts';
import {
  MirrorCollateral,
  collateralFile,
  collateralPath,
  type CollateralKey,
} from '../../../lambda/attestation/collateral/sources.ts';
import { decodeSnpAttestation } from '../../../lambda/attestation/snp/abi.ts';
import { ATTESTATION_OIDS } from '../../../lambda/attestation/verifier.ts';
import { createVerifierWithRoots } from '../../../testing/attestation/with-roots.ts';
import { AttestationError } from '../../../lambda/shared/errors.ts';
import { toPem } from '../../../testing/evidence/certs.ts';
import { TEST_CHIP_ID } from '../../../testing/evidence/snp.ts';
import { TEST_FMSPC, addTdxCrls } from '../../../testing/evidence/tdx.ts';
import {
  TEST_POLICY_HASH,
  makeSnpEvidence,
  makeTdxCollateral,
  makeTdxEvidence,
  snpTestChain,
  testReference,
  testRoots,
} from '../../../testing/evidence/index.ts';
import { startMirror, type TestMirror } from '../../support/collateral-mirror.ts';

const reportData = new Uint8Array(64).fill(7);
const snp = (opts: Parameters<typeof makeSnpEvidence>[0] extends infer O ? Partial<O> : never = {}) => ({
  oid: ATTESTATION_OIDS.snp,
  value: makeSnpEvidence({ reportData, hostData: TEST_POLICY_HASH, ...opts }),
});
const tdx = () => ({ oid: ATTESTATION_OIDS.tdx, value: makeTdxEvidence({ reportData, policyHash: TEST_POLICY_HASH }) });
const VCEK_KEY: CollateralKey = {
  kind: 'snp-vcek',
  product: 'Milan',
  chipId: Buffer.from(TEST_CHIP_ID).toString('hex'),
  tcbQuery: 'blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115',
};
const CHAIN_KEY: CollateralKey = { kind: 'snp-cert-chain', product: 'Milan', signer: 'vcek' };
const CRL_KEY: CollateralKey = { kind: 'snp-crl', product: 'Milan' };

describe('collateralNeeds', () => {
  it('SNP with VCEK and chain in the evidence: only the CRL, also when the evidence carries one (it may be stale by recovery time)', () => {
    expect(collateralNeeds(snp())).toEqual([CRL_KEY]);
    expect(collateralNeeds(snp({ includeCrl: false }))).toEqual([CRL_KEY]);
  });

  it('SNP without VCEK: the VCEK for its chip and reported TCB (the same key the verifier looks up)', () => {
    expect(collateralNeeds(snp({ includeVcek: false }))).toEqual([VCEK_KEY, CRL_KEY]);
    expect(collateralFile(VCEK_KEY)).toMatch(/^vcek\/v1\/Milan\/[0-9a-f]{128}_blSPL_3_teeSPL_0_snpSPL_8_ucodeSPL_115$/);
  });

  it('SNP without anything: VCEK, chain and CRL', () => {
    expect(collateralNeeds(snp({ includeVcek: false, includeChain: false }))).toEqual([VCEK_KEY, CHAIN_KEY, CRL_KEY]);
  });

  it('SNP without VCEK and with a zero CHIP_ID cannot be looked up', () => {
    expect(() => collateralNeeds(snp({ includeVcek: false, chipId: new Uint8Array(64) }))).toThrow(
      /masks CHIP_ID.*enroll --collateral DIR/,
    );
  });

  it('TDX: TCB Info for the PCK FMSPC and the QE Identity', () => {
    expect(collateralNeeds(tdx())).toEqual([
      { kind: 'tdx-tcb-info', fmspc: TEST_FMSPC },
      { kind: 'tdx-qe-identity' },
      { kind: 'tdx-pck-crl', ca: 'platform' },
      { kind: 'tdx-root-crl' },
    ]);
  });

  it('testing evidence needs nothing; unknown OIDs and malformed evidence are refused', () => {
    expect(collateralNeeds({ oid: ATTESTATION_OIDS.testing, value: reportData })).toEqual([]);
    // An unknown OID is the Coordinator's evidence refused (attestation-failed), as the verifier refuses it — not a bad bundle.
    const unknown = (() => {
      try {
        return collateralNeeds({ oid: '1.2.3', value: reportData });
      } catch (err) {
        return err;
      }
    })();
    expect(unknown).toBeInstanceOf(AttestationError);
    expect(unknown).toMatchObject({
      outcome: 'attestation-failed',
      check: 'verifier',
      message: expect.stringMatching(/unknown attestation OID 1\.2\.3/),
    });
    expect(() => collateralNeeds({ oid: ATTESTATION_OIDS.snp, value: new Uint8Array([1, 2, 3]) })).toThrow(
      AttestationError,
    );
  });
});

describe('fetchCollateral from a mirror', () => {
  let mirror: TestMirror;
  const c = snpTestChain();
  const chainPem = new Uint8Array(Buffer.from(toPem(c.askDer) + toPem(c.arkDer)));
  const verify = collateralVerifier(testRoots());

  beforeAll(async () => {
    mirror = await startMirror();
  });
  afterAll(() => mirror.close());

  const serveAll = async () => {
    mirror.clear();
    mirror.serve(VCEK_KEY, { body: c.vcekDer });
    mirror.serve(CHAIN_KEY, { body: chainPem });
    mirror.serve(CRL_KEY, { body: c.crlDer });
    const tdxDocs = addTdxCrls(makeTdxCollateral());
    for (const key of collateralNeeds(tdx())) mirror.serve(key, (await tdxDocs.get(key))!);
    return tdxDocs;
  };

  it('SNP: fetches and verifies VCEK, chain and CRL; the verifier then accepts evidence without them', async () => {
    await serveAll();
    const ext = snp({ includeVcek: false, includeChain: false });
    const record = await fetchCollateral(collateralNeeds(ext), new MirrorCollateral(mirror.url, 2000), verify);
    expect(Object.keys(record).sort()).toEqual(
      [collateralFile(CHAIN_KEY), collateralFile(CRL_KEY), collateralFile(VCEK_KEY)].sort(),
    );
    const verifier = createVerifierWithRoots(testReference(), {
      roots: testRoots(),
      collateral: new BundleCollateral(record),
    });
    await expect(verifier.verify({ oid: ext.oid, evidence: ext.value, reportData })).resolves.toMatchObject({
      kind: 'snp',
      platform: 'Milan',
    });
  });

  it('SNP: a VCEK alone verifies against the chain the evidence carries', async () => {
    await serveAll();
    const ext = snp({ includeVcek: false });
    mirror.requests.length = 0;
    const record = await fetchCollateral(
      [VCEK_KEY],
      new MirrorCollateral(mirror.url, 2000),
      verify,
      carriedCollateral(ext),
    );
    expect(Object.keys(record)).toEqual([collateralFile(VCEK_KEY)]);
    // Only the VCEK was asked for: the chain came from the evidence.
    expect(mirror.requests).toEqual([collateralPath(VCEK_KEY)]);
    expect(decodeSnpAttestation(ext.value).ask).toBeDefined();
  });

  it('TDX: TCB Info, QE Identity and PCK CRL with their PCS issuer chains, and the root CRL, accepted by the verifier', async () => {
    await serveAll();
    const ext = tdx();
    const record = await fetchCollateral(collateralNeeds(ext), new MirrorCollateral(mirror.url, 2000), verify);
    expect(Object.keys(record).sort()).toEqual([
      'sgx/certification/v4/pckcrl_ca_platform_encoding_der',
      'sgx/certification/v4/pckcrl_ca_platform_encoding_der.issuer-chain.pem',
      'sgx/certification/v4/rootcacrl',
      'tdx/certification/v4/qe/identity',
      'tdx/certification/v4/qe/identity.issuer-chain.pem',
      `tdx/certification/v4/tcb_fmspc_${TEST_FMSPC}`,
      `tdx/certification/v4/tcb_fmspc_${TEST_FMSPC}.issuer-chain.pem`,
    ]);
    const verifier = createVerifierWithRoots(testReference(), {
      roots: testRoots(),
      collateral: new BundleCollateral(record),
    });
    await expect(verifier.verify({ oid: ext.oid, evidence: ext.value, reportData })).resolves.toMatchObject({
      kind: 'tdx',
      tcbStatus: 'UpToDate',
    });
  });

  it('refuses a VCEK of another chip filed under this chip, a missing document, and anything under the production pins', async () => {
    await serveAll();
    const other: CollateralKey = { ...VCEK_KEY, chipId: '00'.repeat(63) + '01' };
    mirror.serve(other, { body: c.vcekDer });
    const src = new MirrorCollateral(mirror.url, 2000);
    const err = await fetchCollateral([CHAIN_KEY, other, { kind: 'snp-crl', product: 'Genoa' }], src, verify).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CollateralFetchError);
    const failures = (err as CollateralFetchError).failures;
    expect(failures.map((f) => f.file)).toEqual([
      collateralFile({ kind: 'snp-crl', product: 'Genoa' }),
      collateralFile(other),
    ]);
    expect(failures[0]!.reason).toMatch(/mirror does not have the AMD CRL of Genoa.*enroll --collateral DIR/);
    expect(failures[1]!.reason).toMatch(/hwID .* is not chip/);
    // The same genuine-looking documents fail against the pinned AMD/Intel roots.
    const pinned = (await fetchCollateral(
      [CHAIN_KEY, { kind: 'tdx-qe-identity' }],
      src,
      pinnedCollateralVerifier(),
    ).catch((e: unknown) => e)) as CollateralFetchError;
    expect(pinned).toBeInstanceOf(CollateralFetchError);
    expect(pinned.failures.map((f) => f.reason).join('\n')).toMatch(
      /not the pinned AMD root for Milan[\s\S]*not the pinned Intel SGX Root CA/,
    );
  });
});
