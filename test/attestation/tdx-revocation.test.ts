/**
 * TDX revocation: the Intel PCK CRL (PCK Platform/Processor CA) and the Intel SGX Root CA CRL.
 * Contrast sets CheckRevocations, so both are required: offline (the operator command) a
 * missing or expired CRL is recorded as not evaluated; the production verifier then does not
 * pass the evidence and reports the collateral unavailable (`unreachable`, retried). With the
 * genuine Intel sample CRLs (testdata) and with CRLs of the synthetic test chain.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { collateralVerifier, pinnedCollateralVerifier } from '../../lambda/attestation/collateral/verify.ts';
import {
  ChainedCollateral,
  CollateralUnavailableError,
  MemoryCollateral,
  MirrorCollateral,
  collateralFile,
  type CollateralKey,
} from '../../lambda/attestation/collateral/sources.ts';
import { collateralExpiry } from '../../lambda/attestation/collateral/expiry.ts';
import { verifyTdxFile, type OfflineResult } from '../../lambda/attestation/offline.ts';
import { PINNED_ROOTS } from '../../lambda/attestation/roots.ts';
import { ATTESTATION_OIDS } from '../../lambda/attestation/verifier.ts';
import { AttestationError } from '../../lambda/shared/errors.ts';
import { startMirror } from '../support/collateral-mirror.ts';
import {
  TEST_POLICY_HASH,
  addTdxCrls,
  makeTdxCollateral,
  makeTdxCrl,
  makeTdxEvidence,
  makeTdxQuoteRaw,
  tdxTestChain,
  testReference,
  testRoots,
  testTdxVerifierFactory,
  type TdxCrlOptions,
} from '../../testing/evidence/index.ts';
import { read, vectors } from './vectors.ts';

const PCK_CRL: CollateralKey = { kind: 'tdx-pck-crl', ca: 'platform' };
const ROOT_CRL: CollateralKey = { kind: 'tdx-root-crl' };

const status = (r: OfflineResult, check: string) => r.checks.find((c) => c.check === check);
const flip = (b: Uint8Array, off: number) => {
  const c = new Uint8Array(b);
  c[off]! ^= 0x01;
  return c;
};

describe('genuine Intel CRLs (testdata/attestation/tdx/collateral)', () => {
  const pckCrl = read('tdx/collateral/pckcrl');
  const pckChain = read('tdx/collateral/pckcrl.issuer-chain.pem');
  const rootCrl = read('tdx/collateral/rootcrl.der');
  // Inside both CRLs' windows (PCK CRL 2023-06-08..07-08, root CRL 2023-04-03..2024-04-02)
  // and inside the certificate windows of the quotes below (PCKs issued 2022-09 and 2023-02).
  const at = new Date('2023-07-01T00:00:00Z');
  const quotes = vectors.tdx.filter((v) => ['tdx/spr-e4-v4.quote.dat', 'tdx/q4.quote.dat'].includes(v.quote));
  const source = (pck = pckCrl, root = rootCrl) =>
    new MemoryCollateral().set(PCK_CRL, { body: pck, issuerChain: pckChain }).set(ROOT_CRL, { body: root });

  it('has the quotes it is meant for', () =>
    expect(quotes.map((v) => v.quote)).toEqual(['tdx/spr-e4-v4.quote.dat', 'tdx/q4.quote.dat']));

  for (const v of quotes) {
    it(`${v.quote}: neither the PCK nor the PCK Platform CA is revoked`, async () => {
      const r = await verifyTdxFile(read(v.quote), { trust: PINNED_ROOTS, now: at, collateral: source() });
      expect(r.error).toBeUndefined();
      expect(status(r, 'tdx.pck-revocation')).toMatchObject({
        status: 'pass',
        detail: expect.stringMatching(
          /^PCK serial [0-9a-f]+ not revoked \(Intel SGX PCK Platform CA CRL of 2023-06-08/,
        ),
      });
      expect(status(r, 'tdx.intermediate-revocation')).toMatchObject({
        status: 'pass',
        detail: expect.stringMatching(/serial 956f5dcdbd1be1e94049c9d4f433ce01570bde54 not revoked/),
      });
    });

    it(`${v.quote}: a CRL past its nextUpdate is never a pass (at the vector's validAt)`, async () => {
      const r = await verifyTdxFile(read(v.quote), {
        trust: PINNED_ROOTS,
        now: new Date(v.validAt),
        collateral: source(),
      });
      expect(r.verdict).toBe('incomplete');
      expect(status(r, 'tdx.intermediate-revocation')).toMatchObject({
        status: 'not-evaluated',
        detail: expect.stringMatching(/Root CA CRL is not current at 2025-01-01.*nextUpdate 2024-04-02/),
      });
      const pckOnly = await verifyTdxFile(read(v.quote), {
        trust: PINNED_ROOTS,
        now: new Date(v.validAt),
        collateral: new MemoryCollateral().set(PCK_CRL, { body: pckCrl }),
      });
      expect(status(pckOnly, 'tdx.pck-revocation')).toMatchObject({
        status: 'not-evaluated',
        detail: expect.stringMatching(/not current .*nextUpdate 2023-07-08T07:27:52/),
      });
      // collateralNow pins only the collateral clock (archived collateral).
      const archived = await verifyTdxFile(read(v.quote), {
        trust: PINNED_ROOTS,
        now: new Date(v.validAt),
        collateralNow: at,
        collateral: source(),
      });
      expect(status(archived, 'tdx.pck-revocation')?.status).toBe('pass');
    });
  }

  it('a flipped bit anywhere in a CRL (signed part, signature) is refused', async () => {
    const q = read(quotes[0]!.quote);
    for (const off of [40, 200, pckCrl.length - 40, pckCrl.length - 5]) {
      const r = await verifyTdxFile(q, { trust: PINNED_ROOTS, now: at, collateral: source(flip(pckCrl, off)) });
      expect(r.error?.check, `offset ${off}`).toBe('tdx.pck-revocation');
    }
    for (const off of [30, 120, rootCrl.length - 10]) {
      const r = await verifyTdxFile(q, {
        trust: PINNED_ROOTS,
        now: at,
        collateral: source(pckCrl, flip(rootCrl, off)),
      });
      expect(r.error?.check, `offset ${off}`).toBe('tdx.intermediate-revocation');
    }
  });

  it('the PCK CRL is not accepted as the root CRL, nor the other way round', async () => {
    const q = read(quotes[0]!.quote);
    const swapped = await verifyTdxFile(q, { trust: PINNED_ROOTS, now: at, collateral: source(rootCrl, pckCrl) });
    expect(swapped.error?.check).toBe('tdx.intermediate-revocation');
    expect(swapped.error?.message).toMatch(/issued by another CA than the Intel SGX Root CA/);
  });

  it('collateral-verify accepts them under the production pins, the root CRL through a cached Intel issuer chain', async () => {
    const verify = pinnedCollateralVerifier(() => at);
    await expect(verify(PCK_CRL, { body: pckCrl, issuerChain: pckChain })).resolves.toBeUndefined();
    const lookup = new MemoryCollateral().set(PCK_CRL, { body: pckCrl, issuerChain: pckChain });
    await expect(verify(ROOT_CRL, { body: rootCrl }, { lookup })).resolves.toBeUndefined();
    // Without any issuer chain there is nothing to verify them with.
    await expect(verify(PCK_CRL, { body: pckCrl })).rejects.toThrow(/SGX-PCK-CRL-Issuer-Chain/);
    await expect(verify(ROOT_CRL, { body: rootCrl })).rejects.toThrow(/Intel SGX Root CA certificate is needed/);
    // Filed as the Processor CA's CRL, or checked after nextUpdate: refused.
    await expect(
      verify({ kind: 'tdx-pck-crl', ca: 'processor' }, { body: pckCrl, issuerChain: pckChain }),
    ).rejects.toThrow(/not the PCK processor CA/);
    await expect(
      pinnedCollateralVerifier(() => new Date('2023-08-01T00:00:00Z'))(PCK_CRL, {
        body: pckCrl,
        issuerChain: pckChain,
      }),
    ).rejects.toThrow(/not current/);
    // Under other anchors (tests only), the genuine chain is not pinned.
    await expect(
      collateralVerifier(testRoots(), () => at)(PCK_CRL, { body: pckCrl, issuerChain: pckChain }),
    ).rejects.toThrow(/not the pinned Intel SGX Root CA/);
  });

  it('expiry: nextUpdate of each CRL, and the PCK CRL issuer chain', () => {
    const e = collateralExpiry(PCK_CRL, { body: pckCrl, issuerChain: pckChain });
    expect(e.expiresAt?.toISOString()).toBe('2023-07-08T07:27:52.000Z');
    expect(e.issuedAt?.toISOString()).toBe('2023-06-08T07:27:52.000Z');
    expect(e.limitedBy).toBe('PCK CRL nextUpdate');
    expect(e.parts.map((p) => p.what)).toEqual([
      'PCK CRL nextUpdate',
      'PCK CRL signing certificate notAfter',
      'Intel SGX Root CA notAfter',
    ]);
    const r = collateralExpiry(ROOT_CRL, { body: rootCrl });
    expect(r.expiresAt?.toISOString()).toBe('2024-04-02T10:22:51.000Z');
    // PCCS v3 serves the root CRL as hex text: the same document.
    expect(
      collateralExpiry(ROOT_CRL, { body: new Uint8Array(Buffer.from(Buffer.from(rootCrl).toString('hex'))) }).expiresAt,
    ).toEqual(r.expiresAt);
  });
});

describe('synthetic TDX chain', () => {
  const trust = testRoots();
  const quote = makeTdxQuoteRaw({ reportData: new Uint8Array(64).fill(5), policyHash: TEST_POLICY_HASH });
  const run = (opts: { pck?: TdxCrlOptions | false; root?: TdxCrlOptions | false } = {}) =>
    verifyTdxFile(quote, { trust, now: new Date(), collateral: addTdxCrls(makeTdxCollateral(), opts) });

  it('passes with both CRLs, naming what was checked', async () => {
    const r = await run();
    expect(r.error).toBeUndefined();
    expect(status(r, 'tdx.pck-revocation')).toMatchObject({
      status: 'pass',
      detail: expect.stringMatching(/^PCK serial 03 not revoked \(Intel SGX PCK Platform CA \(TEST\) CRL/),
    });
    expect(status(r, 'tdx.intermediate-revocation')?.status).toBe('pass');
    expect(status(r, 'tdx.tcb-status')?.status).toBe('pass');
  });

  it('a revoked PCK fails with its check, naming the serial and the CRL', async () => {
    const r = await run({ pck: { revoked: [7, tdxTestChain().pckSerial] } });
    expect(r.verdict).toBe('failed');
    expect(r.error?.check).toBe('tdx.pck-revocation');
    expect(r.error?.message).toMatch(
      /PCK certificate serial 03 is revoked by the Intel PCK CRL of the Intel SGX PCK Platform CA \(TEST\)/,
    );
  });

  it('an intermediate revoked by the root CRL fails', async () => {
    const r = await run({ root: { revoked: [tdxTestChain().caSerial] } });
    expect(r.error?.check).toBe('tdx.intermediate-revocation');
    expect(r.error?.message).toMatch(/PCK intermediate CA serial 02 is revoked by the Intel SGX Root CA CRL/);
  });

  it('a CRL signed by the wrong key fails', async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    expect((await run({ pck: { signingKey: other } })).error?.check).toBe('tdx.pck-revocation');
    expect((await run({ root: { signingKey: other } })).error?.check).toBe('tdx.intermediate-revocation');
    // The platform CA's CRL under the root CRL's name is issued by the wrong CA.
    const c = new MemoryCollateral().set(ROOT_CRL, { body: makeTdxCrl('pck') });
    const r = await verifyTdxFile(quote, { trust, now: new Date(), collateral: c });
    expect(r.error?.message).toMatch(/issued by another CA/);
  });

  it('an expired (or not yet issued) CRL is never a pass: not evaluated offline, unreachable (retried) in production', async () => {
    const day = 86_400_000;
    const expired = await run({
      pck: { thisUpdate: new Date(Date.now() - 40 * day), nextUpdate: new Date(Date.now() - day) },
    });
    expect(expired.verdict).toBe('incomplete');
    expect(status(expired, 'tdx.pck-revocation')).toMatchObject({
      status: 'not-evaluated',
      detail: expect.stringMatching(/is not current at .*enroll --collateral DIR/),
    });
    const future = await run({ root: { thisUpdate: new Date(Date.now() + day) } });
    expect(status(future, 'tdx.intermediate-revocation')?.status).toBe('not-evaluated');
    const reportData = new Uint8Array(64).fill(9);
    const evidence = makeTdxEvidence({ reportData, policyHash: TEST_POLICY_HASH });
    const stale = addTdxCrls(makeTdxCollateral(), {
      pck: { thisUpdate: new Date(Date.now() - 40 * day), nextUpdate: new Date(Date.now() - day) },
    });
    const err = await testTdxVerifierFactory({ collateral: stale })(testReference())
      .verify({ oid: ATTESTATION_OIDS.tdx, evidence, reportData })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CollateralUnavailableError);
    expect(err).toMatchObject({ outcome: 'unreachable', check: 'tdx.pck-revocation' });
    // A current copy from the next source (the mirror after the bundle's cache) is taken.
    const fresh = addTdxCrls(new MemoryCollateral(), { root: false });
    const chained = new ChainedCollateral([stale, fresh]);
    await expect(
      testTdxVerifierFactory({ collateral: chained })(testReference()).verify({
        oid: ATTESTATION_OIDS.tdx,
        evidence,
        reportData,
      }),
    ).resolves.toMatchObject({ tcbStatus: 'UpToDate' });
  });

  it('a flipped bit in a CRL fails', async () => {
    const crl = makeTdxCrl('pck', { revoked: [] });
    for (const off of [20, crl.length - 20]) {
      const c = addTdxCrls(makeTdxCollateral(), { pck: false }).set(PCK_CRL, { body: flip(crl, off) });
      const r = await verifyTdxFile(quote, { trust, now: new Date(), collateral: c });
      expect(r.error?.check, `offset ${off}`).toBe('tdx.pck-revocation');
    }
  });

  it('CRLs absent: offline both checks are not evaluated (with how to supply them); the production verifier does not pass the evidence (unreachable, retried)', async () => {
    const r = await run({ pck: false, root: false });
    expect(r.error).toBeUndefined();
    expect(r.verdict).toBe('incomplete');
    expect(status(r, 'tdx.pck-revocation')).toMatchObject({
      status: 'not-evaluated',
      detail: expect.stringMatching(new RegExp(`${collateralFile(PCK_CRL)}.*enroll --collateral DIR.*mirror`)),
    });
    expect(status(r, 'tdx.intermediate-revocation')).toMatchObject({
      status: 'not-evaluated',
      detail: expect.stringMatching(/sgx\/certification\/v4\/rootcacrl/),
    });
    // Contrast sets CheckRevocations: without CRLs the production verifier does not pass the evidence.
    const reportData = new Uint8Array(64).fill(9);
    const reference = testReference();
    const evidence = makeTdxEvidence({ reportData, policyHash: TEST_POLICY_HASH });
    await expect(
      testTdxVerifierFactory({ collateral: makeTdxCollateral() })(reference).verify({
        oid: ATTESTATION_OIDS.tdx,
        evidence,
        reportData,
      }),
    ).rejects.toMatchObject({ outcome: 'unreachable', check: 'tdx.intermediate-revocation' });
    await expect(
      testTdxVerifierFactory()(reference).verify({ oid: ATTESTATION_OIDS.tdx, evidence, reportData }),
    ).resolves.toMatchObject({ tcbStatus: 'UpToDate' });
    const revoked = testTdxVerifierFactory({ collateral: addTdxCrls(makeTdxCollateral(), { pck: { revoked: [3] } }) })(
      reference,
    );
    await expect(revoked.verify({ oid: ATTESTATION_OIDS.tdx, evidence, reportData })).rejects.toMatchObject({
      check: 'tdx.pck-revocation',
    });
  });

  it('a mirror that does not answer leaves the checks not evaluated; the production verifier reports unreachable, never attestation-failed', async () => {
    const mirror = await startMirror();
    try {
      mirror.hang = true;
      const r = await verifyTdxFile(quote, {
        trust,
        now: new Date(),
        collateral: new MirrorCollateral(mirror.url, 200),
      });
      expect(r.verdict).toBe('incomplete');
      expect(status(r, 'tdx.pck-revocation')).toMatchObject({
        status: 'not-evaluated',
        detail: expect.stringMatching(/did not answer for .* within 200 ms/),
      });
      const reportData = new Uint8Array(64).fill(9);
      const evidence = makeTdxEvidence({ reportData, policyHash: TEST_POLICY_HASH });
      const err = await testTdxVerifierFactory({ collateral: new MirrorCollateral(mirror.url, 200) })(testReference())
        .verify({ oid: ATTESTATION_OIDS.tdx, evidence, reportData })
        .catch((e: unknown) => e);
      expect(err).not.toBeInstanceOf(AttestationError);
      expect(err).toMatchObject({ outcome: 'unreachable' });
      expect(mirror.requests).toEqual(
        expect.arrayContaining([
          'sgx/certification/v4/pckcrl?ca=platform&encoding=der',
          'sgx/certification/v4/rootcacrl',
        ]),
      );
    } finally {
      await mirror.close();
    }
  });

  it('collateral-verify refuses a synthetic PCK CRL whose issuer chain is not the PCK CA of the key', async () => {
    const c = tdxTestChain();
    const verify = collateralVerifier(trust);
    const chainPem = (await addTdxCrls(new MemoryCollateral()).get(PCK_CRL))!.issuerChain!;
    await expect(verify(PCK_CRL, { body: makeTdxCrl('pck'), issuerChain: chainPem })).resolves.toBeUndefined();
    await expect(verify(PCK_CRL, { body: makeTdxCrl('root'), issuerChain: chainPem })).rejects.toThrow(
      /issued by another CA/,
    );
    await expect(
      verify(ROOT_CRL, { body: makeTdxCrl('root') }, { lookup: makeTdxCollateral() }),
    ).resolves.toBeUndefined();
    expect(c.caSerial).toBe(2);
  });
});
