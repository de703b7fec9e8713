/**
 * One test per TDX rule of Contrast's TDX validator (go-tdx-guest validate.TdxQuote with the
 * options of Contrast's TDXValidateOpts, plus Contrast's XFAM, PIID and policy-hash checks),
 * each built so that it fails if the rule is inverted.
 */
import { describe, expect, it } from 'vitest';
import type { ClaimSet } from '../../lambda/attestation/checks.ts';
import type { TdxReference } from '../../lambda/attestation/reference.ts';
import {
  decodeTdxEvidence,
  quoteParts,
  quoteToAbiBytes,
  quoteToProto,
  type Quote,
} from '../../lambda/attestation/tdx/abi.ts';
import { parsePckExtensions } from '../../lambda/attestation/tdx/pck.ts';
import { tdxQuoteClaims, tdxReferenceClaims, validateTdx } from '../../lambda/attestation/tdx/validate.ts';
import { ClaimsError } from '../../lambda/attestation/checks.ts';
import { ATTESTATION_OIDS } from '../../lambda/attestation/verifier.ts';
import { Cert, pemBlocks } from '../../lambda/attestation/x509.ts';
import type { AttestationError } from '../../lambda/shared/errors.ts';
import {
  TEST_POLICY_HASH,
  TEST_POLICY_HASH_HEX,
  addTdxCrls,
  makeTdxCollateral,
  makeTdxEvidence,
  referenceValuesOf,
  testReference,
  testTdxVerifierFactory,
  type TdxEvidenceOptions,
} from '../../testing/evidence/index.ts';
import { buildCert, name } from '../../testing/evidence/certs.ts';
import { TEST_TD_ATTRIBUTES, TEST_XFAM, tdxReferenceValues } from '../../testing/evidence/tdx.ts';
import { generateKeyPairSync } from 'node:crypto';

const reportData = new Uint8Array(64).fill(6);

function quote(opts: Partial<TdxEvidenceOptions> = {}): Quote {
  return decodeTdxEvidence(makeTdxEvidence({ reportData, policyHash: TEST_POLICY_HASH, ...opts })).quote;
}
const pckOf = (q: Quote) =>
  parsePckExtensions(Cert.parse(pemBlocks(quoteParts(q).pckChain.pckCertChain)[0]!, 'PCK certificate'));
/** The newest shape's entry (TD attributes fixed, CET ignored) with `patch`; `old` gives the older exact-XFAM semantics. */
function ref(patch: Record<string, unknown> = {}, raw: Partial<TdxReference> = {}): TdxReference {
  return { ...referenceValuesOf({ tdx: [{ ...tdxReferenceValues(), ...patch }] }).tdx[0]!, ...raw };
}
const verdict = (c: ClaimSet, check: string) =>
  c.failures.some((f) => f.check === check) ? 'fail' : c.passes.some(([n]) => n === check) ? 'pass' : 'absent';
const claims = (opts: Partial<TdxEvidenceOptions>, r: TdxReference) => {
  const q = quote(opts);
  return tdxReferenceClaims(q, pckOf(q), r, [TEST_POLICY_HASH_HEX]);
};
const xfamWith = (bits: bigint, clear = 0n) => {
  const v = (new DataView(TEST_XFAM.buffer.slice(0)).getBigUint64(0, true) | bits) & ~clear;
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
};

describe('the default quote passes every claim of the default reference', () => {
  it('no failures', () => {
    const c = claims({}, ref());
    expect(c.failures).toEqual([]);
    for (const check of [
      'tdx.mrtd',
      'tdx.rtmr0',
      'tdx.rtmr3',
      'tdx.mrseam',
      'tdx.td-attributes',
      'tdx.xfam',
      'tdx.mrconfigid',
    ])
      expect(verdict(c, check), check).toBe('pass');
    expect(tdxQuoteClaims(quote()).failures).toEqual([]);
  });
});

describe('TdxQuote (go-tdx-guest validate): only version 4 quotes', () => {
  /** The same quote laid out as version 5 with a TDX 1.0 body descriptor (type 2, 584 bytes). */
  function asV5(q: Quote): Quote {
    const raw = Buffer.from(quoteToAbiBytes(q));
    const descriptor = Buffer.alloc(6);
    descriptor.writeUInt16LE(2, 0);
    descriptor.writeUInt32LE(584, 2);
    const v5 = Buffer.concat([raw.subarray(0, 48), descriptor, raw.subarray(48)]);
    v5.writeUInt16LE(5, 0);
    return quoteToProto(v5);
  }

  it('refuses a v5 quote by name even when every claim matches; the same quote as v4 passes', () => {
    const q = quote();
    expect(validateTdx(q, pckOf(q), [ref()], [TEST_POLICY_HASH_HEX]).index).toBe(0);
    const q5 = asV5(q);
    expect(q5.$typeName).toBe('tdx.QuoteV5');
    let err: unknown;
    try {
      validateTdx(q5, pckOf(q5), [ref()], [TEST_POLICY_HASH_HEX]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ClaimsError);
    expect((err as ClaimsError).failures.map((f) => f.check)).toEqual(['tdx.quote-version']);
  });
});

describe('XFAM', () => {
  it('Contrast ignores bits 11 and 12 (CET) in its comparison, from the Platform shape on', () => {
    expect(verdict(claims({ xfam: xfamWith(0n, 1n << 11n) }, ref()), 'tdx.xfam')).toBe('pass');
    expect(verdict(claims({ xfam: xfamWith(0n, (1n << 11n) | (1n << 12n)) }, ref()), 'tdx.xfam')).toBe('pass');
    // Any other bit still counts.
    expect(verdict(claims({ xfam: xfamWith(0n, 1n << 9n) }, ref()), 'tdx.xfam')).toBe('fail');
  });

  it('compared exactly for the older shapes (their validator had no CET masking)', () => {
    expect(verdict(claims({ xfam: xfamWith(0n, 1n << 11n) }, ref({}, { xfamIgnoresCet: false })), 'tdx.xfam')).toBe(
      'fail',
    );
  });

  it("go-tdx-guest's fixed bits: 0 and 1 set, nothing outside 0x0006DBE7 (which includes the CET bits)", () => {
    expect(verdict(tdxQuoteClaims(quote({ xfam: xfamWith(0n, 1n) })), 'tdx.xfam.fixed')).toBe('fail');
    expect(verdict(tdxQuoteClaims(quote({ xfam: xfamWith(1n << 3n) })), 'tdx.xfam.fixed')).toBe('fail');
    expect(verdict(tdxQuoteClaims(quote({ xfam: xfamWith((1n << 11n) | (1n << 12n)) })), 'tdx.xfam.fixed')).toBe(
      'pass',
    );
  });
});

describe('TD attributes', () => {
  it('compared exactly with the value Contrast fixes (SEPT_VE_DISABLE only)', () => {
    const pks = new Uint8Array(TEST_TD_ATTRIBUTES);
    pks[3]! |= 0x40; // bit 30
    expect(verdict(claims({ tdAttributes: pks }, ref()), 'tdx.td-attributes')).toBe('fail');
    expect(verdict(claims({ tdAttributes: new Uint8Array(8) }, ref()), 'tdx.td-attributes')).toBe('fail');
  });

  it("compared exactly with the manifest's value in the older shapes", () => {
    const r = ref({}, { TdAttributes: '0000005000000000' });
    const attrs = new Uint8Array([0, 0, 0, 0x50, 0, 0, 0, 0]);
    expect(verdict(claims({ tdAttributes: attrs }, r), 'tdx.td-attributes')).toBe('pass');
    expect(verdict(claims({}, r), 'tdx.td-attributes')).toBe('fail');
  });

  it("go-tdx-guest's fixed bits: only DEBUG, SEPT_VE_DISABLE, PKS and PERFMON may be set", () => {
    const bad = new Uint8Array(TEST_TD_ATTRIBUTES);
    bad[0]! |= 0x20;
    expect(verdict(tdxQuoteClaims(quote({ tdAttributes: bad })), 'tdx.td-attributes.fixed')).toBe('fail');
  });
});

describe('measurements and the Coordinator policy hash', () => {
  it('MRTD, each RTMR and MRSEAM are compared exactly', () => {
    expect(verdict(claims({ mrTd: new Uint8Array(48).fill(2) }, ref()), 'tdx.mrtd')).toBe('fail');
    expect(
      verdict(claims({ rtmrs: [0x21, 0x22, 0x99, 0x24].map((b) => new Uint8Array(48).fill(b)) }, ref()), 'tdx.rtmr2'),
    ).toBe('fail');
    expect(verdict(claims({ mrSeam: new Uint8Array(48).fill(7) }, ref()), 'tdx.mrseam')).toBe('fail');
  });

  it('ValidatorsFromManifest (sdk): MRCONFIGID is the Coordinator policy hash followed by 16 zero bytes, all 48 compared', () => {
    const exact = new Uint8Array([...TEST_POLICY_HASH, ...new Uint8Array(16)]);
    expect(verdict(claims({ mrConfigId: exact }, ref()), 'tdx.mrconfigid')).toBe('pass');
    const trailing = new Uint8Array([...TEST_POLICY_HASH, ...new Uint8Array(15), 1]);
    expect(verdict(claims({ mrConfigId: trailing }, ref()), 'tdx.mrconfigid')).toBe('fail');
    expect(verdict(claims({ policyHash: new Uint8Array(32).fill(3) }, ref()), 'tdx.mrconfigid')).toBe('fail');
  });
});

describe('SVN minimums of the older shapes (go-tdx-guest minVersionCheck)', () => {
  it('TEE_TCB_SVN at least the minimum in every byte', () => {
    const min = Buffer.alloc(16);
    min[2] = 6; // the quote has 5
    expect(verdict(claims({}, ref({}, { MinimumTeeTcbSvn: min.toString('hex') })), 'tdx.svn.tee-tcb')).toBe('fail');
    min[2] = 5;
    expect(verdict(claims({}, ref({}, { MinimumTeeTcbSvn: min.toString('hex') })), 'tdx.svn.tee-tcb')).toBe('pass');
  });

  it('QE SVN and PCE SVN from the header', () => {
    expect(verdict(claims({ qeSvn: 3 }, ref({}, { MinimumQeSvn: 4 })), 'tdx.svn.qe')).toBe('fail');
    expect(verdict(claims({ qeSvn: 4 }, ref({}, { MinimumQeSvn: 4 })), 'tdx.svn.qe')).toBe('pass');
    expect(verdict(claims({ pceSvn: 10 }, ref({}, { MinimumPceSvn: 11 })), 'tdx.svn.pce')).toBe('fail');
    expect(verdict(claims({ pceSvn: 11 }, ref({}, { MinimumPceSvn: 11 })), 'tdx.svn.pce')).toBe('pass');
    // The newest shapes have none.
    expect(verdict(claims({ qeSvn: 0 }, ref()), 'tdx.svn.qe')).toBe('absent');
  });
});

describe('PCK platform options and AllowedPIIDs', () => {
  it('MemoryIntegrity requires SGX Type 2 (scalable with integrity)', () => {
    expect(verdict(claims({ pck: { sgxType: 1 } }, ref({ MemoryIntegrity: true })), 'tdx.pck.memory-integrity')).toBe(
      'fail',
    );
    expect(verdict(claims({ pck: { sgxType: 2 } }, ref({ MemoryIntegrity: true })), 'tdx.pck.memory-integrity')).toBe(
      'pass',
    );
    expect(verdict(claims({ pck: { sgxType: 1 } }, ref()), 'tdx.pck.memory-integrity')).toBe('absent');
  });

  it('SMTDisabled requires a PCK whose configuration says SMT is off (absent configuration reads as off)', () => {
    expect(
      verdict(
        claims({ pck: { configuration: { smtEnabled: true } } }, ref({ SMTDisabled: true })),
        'tdx.pck.smt-disabled',
      ),
    ).toBe('fail');
    expect(
      verdict(
        claims({ pck: { configuration: { smtEnabled: false } } }, ref({ SMTDisabled: true })),
        'tdx.pck.smt-disabled',
      ),
    ).toBe('pass');
    expect(verdict(claims({}, ref({ SMTDisabled: true })), 'tdx.pck.smt-disabled')).toBe('pass');
  });

  it('StaticPlatform requires a PCK of a platform that is not dynamic', () => {
    expect(
      verdict(
        claims({ pck: { configuration: { dynamicPlatform: true } } }, ref({ StaticPlatform: true })),
        'tdx.pck.static-platform',
      ),
    ).toBe('fail');
    expect(
      verdict(
        claims({ pck: { configuration: { dynamicPlatform: false, cachedKeys: true } } }, ref({ StaticPlatform: true })),
        'tdx.pck.static-platform',
      ),
    ).toBe('pass');
  });

  it('AllowedPIIDs: the PCK PIID must be listed; a PCK without PIID never is', () => {
    const piid = new Uint8Array(16).fill(0x61);
    const listed = Buffer.from(piid).toString('hex');
    expect(verdict(claims({ pck: { piid } }, ref({ AllowedPIIDs: [listed] })), 'tdx.allowed-piids')).toBe('pass');
    expect(verdict(claims({ pck: { piid } }, ref({ AllowedPIIDs: ['62'.repeat(16)] })), 'tdx.allowed-piids')).toBe(
      'fail',
    );
    expect(verdict(claims({}, ref({ AllowedPIIDs: [listed] })), 'tdx.allowed-piids')).toBe('fail');
  });

  it('the PCK certificate must have exactly six extensions, as go-tdx-guest requires', () => {
    const q = quote();
    const pck = Cert.parse(pemBlocks(quoteParts(q).pckChain.pckCertChain)[0]!, 'PCK certificate');
    expect(parsePckExtensions(pck).fmspc).toMatch(/^[0-9a-f]{12}$/);
    const k = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const one = Cert.parse(
      buildCert({
        serial: 9,
        issuer: name('x'),
        subject: name('y'),
        notBefore: new Date(0),
        notAfter: new Date(2 ** 40),
        publicKey: k.publicKey,
        signingKey: k.privateKey,
        alg: 'ecdsa-sha256',
        extensions: [{ oid: '1.2.840.113741.1.13.1', value: new Uint8Array([0x30, 0]) }],
      }),
      'PCK certificate',
    );
    expect(() => parsePckExtensions(one)).toThrow(
      /has 1 extensions; go-tdx-guest accepts only PCK certificates with 6/,
    );
  });
});

describe('collateral-dependent rules (production verifier)', () => {
  const evidence = makeTdxEvidence({ reportData, policyHash: TEST_POLICY_HASH });
  const verify = (collateral = addTdxCrls(makeTdxCollateral()), reference = testReference(), accepted?: string[]) =>
    testTdxVerifierFactory({ collateral, ...(accepted ? { acceptedTdxTcbStatuses: accepted } : {}) })(reference).verify(
      { oid: ATTESTATION_OIDS.tdx, evidence, reportData },
    );
  const withMin = (n: number) => testReference({ tdx: [{ ...tdxReferenceValues(), MinTCBEvaluationDataNumber: n }] });

  // The full set (two editions, a lower number, expiry, enroll and refresh): tdx-evaluation-number.test.ts.
  it('MinTCBEvaluationDataNumber: the TCB Info of that edition decides; the newest one does not stand in for it', async () => {
    await expect(
      verify(addTdxCrls(makeTdxCollateral({ evaluationDataNumber: 18, requestedAs: 18 })), withMin(18)),
    ).resolves.toMatchObject({ tcbStatus: 'UpToDate', tcbEvaluationDataNumber: 18 });
    const err = await verify(addTdxCrls(makeTdxCollateral({ evaluationDataNumber: 18 })), withMin(18)).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ check: 'tdx.tcb-status' });
    expect((err as Error).message).toMatch(/at TCB evaluation data number 18/);
  });

  it('TCB status: only UpToDate by default (go-tdx-guest); more only as configured, and the summary names what was accepted', async () => {
    const outOfDate = addTdxCrls(makeTdxCollateral({ tcbStatus: 'OutOfDate' }));
    await expect(verify(outOfDate)).rejects.toMatchObject({ outcome: 'attestation-failed', check: 'tdx.tcb-status' });
    await expect(verify(outOfDate, testReference(), ['OutOfDate'])).resolves.toMatchObject({
      tcbStatus: 'OutOfDate',
      acceptedTcbStatuses: ['UpToDate', 'OutOfDate'],
    });
    await expect(verify()).resolves.toMatchObject({ acceptedTcbStatuses: ['UpToDate'] });
  });

  it('every failed claim is reported, with expected and actual values', async () => {
    const bad = makeTdxEvidence({
      reportData,
      policyHash: new Uint8Array(32).fill(3),
      mrTd: new Uint8Array(48).fill(2),
    });
    const err = (await testTdxVerifierFactory()(testReference())
      .verify({ oid: ATTESTATION_OIDS.tdx, evidence: bad, reportData })
      .catch((e: unknown) => e)) as AttestationError & { failures: unknown[] };
    expect(err.failures).toHaveLength(2);
    expect(err.message).toMatch(
      /2 claims refused: tdx\.mrtd: expected MRTD 1111.*, got 0202.*; tdx\.mrconfigid: expected MRCONFIGID = a Coordinator policy hash/,
    );
  });
});
