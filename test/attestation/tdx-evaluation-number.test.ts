/**
 * MinTCBEvaluationDataNumber as Contrast applies it: internal/manifest/manifest.go
 * `TDXValidateOpts` sets go-tdx-guest's `EvaluationDataNumber` from it (when > 0), and the
 * edgelesssys fork's verify/verify.go `getTcbInfo` then requests the TCB Info *for* that number
 * (`tcbEvaluationDataNumber=N`, pcs.go `TcbInfoURLWithEvaluationDataNumber`), refuses one whose
 * number is lower, and judges the TCB status against it; QE Identity and CRLs stay current
 * (`obtainCollateral`), and `checkCollateralExpiration` still refuses an expired TCB Info.
 * Genuine TCB Info at two numbers for one FMSPC is not among the fixtures: the collateral here
 * is signed by the test root (testing/evidence `makeTdxRecoveryCollateral`).
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleCollateral } from '../../lambda/attestation/collateral/bundle-cache.ts';
import { collateralNeeds, fetchCollateral, putCollateral } from '../../lambda/attestation/collateral/needs.ts';
import {
  ChainedCollateral,
  MemoryCollateral,
  MirrorCollateral,
  collateralFile,
  collateralPath,
  parseCollateralFile,
  type CollateralKey,
} from '../../lambda/attestation/collateral/sources.ts';
import { collateralVerifier } from '../../lambda/attestation/collateral/verify.ts';
import { tdxEvaluationDataNumbers } from '../../lambda/attestation/reference.ts';
import { verifyTdxFile } from '../../lambda/attestation/offline.ts';
import { ATTESTATION_OIDS } from '../../lambda/attestation/verifier.ts';
import { refreshBundleCollateral } from '../../lambda/function/collateral-refresh.ts';
import { BUNDLE_FORMAT, type BundleDocument, type RecoveryBundle } from '../../lambda/keys/bundle.ts';
import { AttestationError } from '../../lambda/shared/errors.ts';
import {
  TEST_POLICY_HASH,
  addTdxCrls,
  makeTdxCollateral,
  makeTdxEvidence,
  makeTdxQuoteRaw,
  makeTdxRecoveryCollateral,
  makeTestManifest,
  testReference,
  testRoots,
  testTdxVerifierFactory,
} from '../../testing/evidence/index.ts';
import { TEST_FMSPC, tdxReferenceValues } from '../../testing/evidence/tdx.ts';
import { startMirror, type TestMirror } from '../support/collateral-mirror.ts';
import { resolveEnrollCollateral } from '../../cli/enroll-collateral.ts';
import { CoordinatorEmulator } from '../../testing/coordinator-emulator.ts';
import { makeWorkspace } from '../../testing/workspace.ts';

const DAY = 86_400_000;
/** A seed-share owner key, so the bundle's manifest is one enroll accepts. */
const OWNER = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .publicKey.export({ type: 'pkcs1', format: 'der' })
  .toString('hex');
const reportData = new Uint8Array(64).fill(9);
const evidence = makeTdxEvidence({ reportData, policyHash: TEST_POLICY_HASH });
const ext = { oid: ATTESTATION_OIDS.tdx, value: evidence };
const pinnedKey = (n: number): CollateralKey => ({ kind: 'tdx-tcb-info', fmspc: TEST_FMSPC, evaluationDataNumber: n });
const NEWEST: CollateralKey = { kind: 'tdx-tcb-info', fmspc: TEST_FMSPC };
const QE: CollateralKey = { kind: 'tdx-qe-identity' };

/** ReferenceValues.tdx entries with these MinTCBEvaluationDataNumbers (claims otherwise those of the evidence). */
const entries = (...numbers: number[]) =>
  testReference({ tdx: numbers.map((n) => ({ ...tdxReferenceValues(), MinTCBEvaluationDataNumber: n })) });
const verify = (collateral: MemoryCollateral | ChainedCollateral, ...numbers: number[]) =>
  testTdxVerifierFactory({ collateral: collateral as MemoryCollateral })(entries(...numbers)).verify({
    oid: ATTESTATION_OIDS.tdx,
    evidence,
    reportData,
  });

describe('getTcbInfo with EvaluationDataNumber (TCB Info pinned to MinTCBEvaluationDataNumber)', () => {
  it('TcbInfoURLWithEvaluationDataNumber: the pinned request names the number; QE Identity and CRLs are not pinned', () => {
    expect(collateralPath(pinnedKey(18))).toBe(
      `tdx/certification/v4/tcb?fmspc=${TEST_FMSPC}&tcbEvaluationDataNumber=18`,
    );
    expect(collateralPath(NEWEST)).toBe(`tdx/certification/v4/tcb?fmspc=${TEST_FMSPC}`);
    // The cache file name maps back to the same key, and a 0 never names an edition.
    expect(parseCollateralFile(collateralFile(pinnedKey(18)))).toEqual(pinnedKey(18));
    expect(parseCollateralFile(`tdx/certification/v4/tcb_fmspc_${TEST_FMSPC}_tcbEvaluationDataNumber_0`)).toBe(
      undefined,
    );
    const needs = collateralNeeds(ext, [18]);
    expect(needs).toEqual([
      pinnedKey(18),
      { kind: 'tdx-qe-identity' },
      { kind: 'tdx-pck-crl', ca: 'platform' },
      { kind: 'tdx-root-crl' },
    ]);
    // One edition per distinct number the manifest names (0: the newest), in its order.
    expect(tdxEvaluationDataNumbers(entries(0, 18, 18, 19).referenceValues.tdx)).toEqual([0, 18, 19]);
    expect(collateralNeeds(ext, [0, 18]).filter((k) => k.kind === 'tdx-tcb-info')).toEqual([NEWEST, pinnedKey(18)]);
  });

  it('TDXValidateOpts: a host UpToDate under N but OutOfDate under the newest TCB Info is accepted, as Contrast accepts it', async () => {
    const collateral = addTdxCrls(await makeTdxRecoveryCollateral(18, 19));
    await expect(verify(collateral, 18)).resolves.toMatchObject({ tcbStatus: 'UpToDate', tcbEvaluationDataNumber: 18 });
    // Without a pin the newest edition decides, and there the platform is OutOfDate.
    await expect(verify(collateral, 0)).rejects.toMatchObject({
      outcome: 'attestation-failed',
      check: 'tdx.tcb-status',
      message: expect.stringMatching(/got OutOfDate/),
    });
  });

  it('TDXValidateOpts per entry: entries are tried in order, each against the TCB Info for its own number', async () => {
    const collateral = addTdxCrls(await makeTdxRecoveryCollateral(18, 19));
    // The first entry (newest edition) refuses the platform; the second, pinned to 18, accepts it.
    await expect(verify(collateral, 0, 18)).resolves.toMatchObject({
      tcbStatus: 'UpToDate',
      tcbEvaluationDataNumber: 18,
    });
    // Pinned to a number the collateral does not hold: that edition is missing, and the newest does not stand in.
    await expect(verify(collateral, 20)).rejects.toMatchObject({
      check: 'tdx.tcb-status',
      message: expect.stringMatching(/TCB Info for FMSPC .* at TCB evaluation data number 20/),
    });
  });

  it('attestation verify --manifest judges against the edition the matching entry pins', async () => {
    const collateral = addTdxCrls(await makeTdxRecoveryCollateral(18, 19));
    const quote = makeTdxQuoteRaw({ reportData, policyHash: TEST_POLICY_HASH });
    const run = (n: number) =>
      verifyTdxFile(quote, { trust: testRoots(), now: new Date(), collateral, reference: entries(n) });
    const pinned = await run(18);
    expect(pinned.verdict, JSON.stringify(pinned.error)).toBe('passed');
    expect(pinned.checks).toContainEqual(expect.objectContaining({ check: 'tdx.tcb-evaluation-data-number' }));
    await expect(run(0)).resolves.toMatchObject({ verdict: 'failed', error: { check: 'tdx.tcb-status' } });
  });

  it('getTcbInfo: a TCB Info whose number is below the requested one is refused by name; a higher one is taken', async () => {
    const lower = addTdxCrls(makeTdxCollateral({ evaluationDataNumber: 17, requestedAs: 18 }));
    const err = await verify(lower, 18).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AttestationError);
    expect(err).toMatchObject({ outcome: 'attestation-failed', check: 'tdx.tcb-evaluation-data-number' });
    expect((err as Error).message).toMatch(/requested at tcbEvaluationDataNumber 18 .* but has 17/);
    // upstream refuses only `got < requested`
    const higher = addTdxCrls(makeTdxCollateral({ evaluationDataNumber: 19, requestedAs: 18 }));
    await expect(verify(higher, 18)).resolves.toMatchObject({ tcbEvaluationDataNumber: 19 });
    // The collateral verifier (enroll, mirror refresh) refuses it before it can enter a cache.
    const doc = (await lower.get(pinnedKey(18)))!;
    await expect(collateralVerifier(testRoots())(pinnedKey(18), doc)).rejects.toThrow(/but has 17/);
  });

  it('checkCollateralExpiration (ErrTcbInfoExpired): a pinned TCB Info past its nextUpdate is not used; a current copy from the next source is', async () => {
    const expired = addTdxCrls(
      await makeTdxRecoveryCollateral(18, 19, { pinnedNextUpdate: new Date(Date.now() - DAY) }),
    );
    // Only an expired edition 18 at hand (the current newest edition does not stand in): unavailable, retried.
    const err = await verify(expired, 18).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(AttestationError);
    expect(err).toMatchObject({ outcome: 'unreachable', check: 'tdx.tcb-info' });
    expect((err as Error).message).toMatch(/not current/);
    // The cache's copy is expired, the mirror's current: the mirror's is used.
    const mirror = new MemoryCollateral().set(
      pinnedKey(18),
      (await (await makeTdxRecoveryCollateral(18, 19)).get(pinnedKey(18)))!,
    );
    await expect(verify(new ChainedCollateral([expired, mirror]), 18)).resolves.toMatchObject({
      tcbStatus: 'UpToDate',
      tcbEvaluationDataNumber: 18,
    });
  });
});

describe('enroll and the collateral mirror hold the TCB Info for the number the manifest names', () => {
  let mirror: TestMirror;
  beforeAll(async () => {
    mirror = await startMirror();
  });
  afterAll(() => mirror.close());

  const serve = async (collateral: MemoryCollateral, keys: CollateralKey[]) => {
    mirror.clear();
    mirror.failWith = undefined;
    for (const k of keys) {
      const doc = await collateral.get(k);
      if (doc) mirror.serve(k, doc);
    }
  };

  it('enroll fetches edition N (tcbEvaluationDataNumber=N) from the mirror, and the verifier accepts from that cache alone', async () => {
    const docs = addTdxCrls(await makeTdxRecoveryCollateral(18, 19));
    const needs = collateralNeeds(ext, [18]);
    await serve(docs, [...needs, NEWEST]);
    const record = await fetchCollateral(
      needs,
      new MirrorCollateral(mirror.url, 2000),
      collateralVerifier(testRoots()),
    );
    expect(mirror.requests).toContain(`tdx/certification/v4/tcb?fmspc=${TEST_FMSPC}&tcbEvaluationDataNumber=18`);
    expect(mirror.requests).not.toContain(`tdx/certification/v4/tcb?fmspc=${TEST_FMSPC}`);
    expect(Object.keys(record)).toContain(collateralFile(pinnedKey(18)));
    expect(Object.keys(record)).not.toContain(collateralFile(NEWEST));
    const cache = new BundleCollateral(record);
    await expect(
      testTdxVerifierFactory({ collateral: cache as unknown as MemoryCollateral })(entries(18)).verify({
        oid: ATTESTATION_OIDS.tdx,
        evidence,
        reportData,
      }),
    ).resolves.toMatchObject({ tcbStatus: 'UpToDate' });
  });

  it('enroll --collateral DIR: the cache must hold edition N of the manifest, the newest TCB Info does not cover it', async () => {
    const ws = await makeWorkspace();
    const m = JSON.parse(Buffer.from(ws.manifest).toString()) as { ReferenceValues: { tdx: unknown[] } };
    m.ReferenceValues.tdx = [{ ...tdxReferenceValues(), MinTCBEvaluationDataNumber: 18 }];
    const manifest = Buffer.from(JSON.stringify(m));
    const docs = addTdxCrls(await makeTdxRecoveryCollateral(18, 19));
    const dirWith = async (keys: CollateralKey[]) => {
      const record: Record<string, string> = {};
      for (const k of keys) putCollateral(record, k, (await docs.get(k))!);
      return record;
    };
    const rest: CollateralKey[] = [QE, { kind: 'tdx-pck-crl', ca: 'platform' }, { kind: 'tdx-root-crl' }];
    const emu = await CoordinatorEmulator.start({
      state: 'healthy',
      manifest,
      seed: ws.seed,
      salt: ws.salt,
      evidence: (rd) => [
        { oid: ATTESTATION_OIDS.tdx, value: makeTdxEvidence({ reportData: rd, policyHash: TEST_POLICY_HASH }) },
      ],
    });
    try {
      const newestOnly = await resolveEnrollCollateral(
        { coordinator: emu.address, manifest },
        await dirWith([NEWEST, ...rest]),
      ).catch((e: unknown) => e);
      expect(newestOnly).toMatchObject({ outcome: 'bundle-invalid' });
      expect((newestOnly as Error).message).toContain(
        `at TCB evaluation data number 18 (${collateralFile(pinnedKey(18))})`,
      );
      const pinned = await resolveEnrollCollateral(
        { coordinator: emu.address, manifest },
        await dirWith([pinnedKey(18), ...rest]),
      );
      expect(Object.keys(pinned.record!)).toContain(collateralFile(pinnedKey(18)));
      expect(pinned.lines.join('\n')).toMatch(/covers the Coordinator's evidence: .*at TCB evaluation data number 18/);
    } finally {
      await emu.stop();
    }
  });

  it('a mirror that answers 410 Gone for edition N says that Intel no longer serves it', async () => {
    mirror.clear();
    mirror.failWith = 410;
    const err = await new MirrorCollateral(mirror.url, 2000).get(pinnedKey(18)).catch((e: unknown) => e);
    mirror.failWith = undefined;
    expect(err).toMatchObject({ outcome: 'unreachable', check: 'tdx.tcb-evaluation-data-number' });
    expect((err as Error).message).toMatch(/410 Gone .* raise MinTCBEvaluationDataNumber/);
  });

  /** A bundle whose manifest pins TDX to `n`, with `collateral` as its cache; a store that keeps what is saved. */
  const bundleWith = (n: number, collateral: Record<string, string>) => {
    const m = makeTestManifest();
    (m.ReferenceValues as { tdx: unknown[] }).tdx = [{ ...tdxReferenceValues(), MinTCBEvaluationDataNumber: n }];
    m.SeedshareOwnerPubKeys = [OWNER];
    const manifest = Buffer.from(JSON.stringify(m));
    const document = {
      format: BUNDLE_FORMAT,
      version: 1,
      deployment: 'd',
      createdAt: new Date().toISOString(),
      manifest: manifest.toString('base64'),
      seedShares: Buffer.from('{}').toString('base64'),
      ownerPublicKey: 'aa',
      ownerKey: {},
      collateral,
    } as unknown as BundleDocument;
    const bundle: RecoveryBundle = { document, manifest, seedShares: Buffer.from('{}') };
    const saved: BundleDocument[] = [];
    const store = {
      load: async () => bundle,
      save: async (_id: string, doc: BundleDocument) => {
        saved.push(doc);
        return { created: false, versionId: 'v2' };
      },
    };
    return { bundle, store, saved };
  };

  it('the collateral refresh renews edition N under the same number before it expires', async () => {
    const old = await makeTdxRecoveryCollateral(18, 19, { pinnedNextUpdate: new Date(Date.now() + DAY) });
    const record: Record<string, string> = {};
    putCollateral(record, pinnedKey(18), (await old.get(pinnedKey(18)))!);
    putCollateral(record, QE, (await old.get(QE))!);
    const { bundle, store, saved } = bundleWith(18, record);
    const fresh = await makeTdxRecoveryCollateral(18, 19);
    await serve(fresh, [pinnedKey(18), NEWEST, QE]);
    const r = await refreshBundleCollateral({
      store: store as never,
      secretId: 's',
      bundle,
      mirror: new MirrorCollateral(mirror.url, 2000),
      verify: collateralVerifier(testRoots()),
      now: new Date(),
    });
    expect(r.failed).toEqual([]);
    expect(r.refreshed).toContain(collateralFile(pinnedKey(18)));
    expect(mirror.requests).not.toContain(`tdx/certification/v4/tcb?fmspc=${TEST_FMSPC}`);
    const cached = saved[0]!.collateral as Record<string, string>;
    const file = collateralFile(pinnedKey(18));
    expect(cached[file]).not.toBe(record[file]);
    const renewed = JSON.parse(Buffer.from(cached[file]!, 'base64').toString()) as {
      tcbInfo: { tcbEvaluationDataNumber: number; nextUpdate: string };
    };
    expect(renewed.tcbInfo.tcbEvaluationDataNumber).toBe(18);
    expect(new Date(renewed.tcbInfo.nextUpdate).getTime()).toBeGreaterThan(Date.now() + 2 * DAY);
    expect(Object.keys(cached)).not.toContain(collateralFile(NEWEST));
  });

  it('the collateral refresh adds edition N when the cache holds only the newest TCB Info (a bundle enrolled before pinning)', async () => {
    const docs = await makeTdxRecoveryCollateral(18, 19);
    const record: Record<string, string> = {};
    putCollateral(record, NEWEST, (await docs.get(NEWEST))!);
    const { bundle, store, saved } = bundleWith(18, record);
    await serve(docs, [pinnedKey(18), NEWEST]);
    const r = await refreshBundleCollateral({
      store: store as never,
      secretId: 's',
      bundle,
      mirror: new MirrorCollateral(mirror.url, 2000),
      verify: collateralVerifier(testRoots()),
      now: new Date(),
    });
    expect(r.failed).toEqual([]);
    expect(r.refreshed).toEqual([collateralFile(pinnedKey(18))]);
    expect(r.expiries.map((e) => e.file)).toContain(collateralFile(pinnedKey(18)));
    const cached = saved[0]!.collateral as Record<string, string>;
    expect(Object.keys(cached)).toContain(collateralFile(pinnedKey(18)));
    // A mirror that serves a lower edition under N is refused, and nothing is written.
    const lower = makeTdxCollateral({ evaluationDataNumber: 17, requestedAs: 18 });
    await serve(lower, [pinnedKey(18)]);
    const again = bundleWith(18, record);
    const r2 = await refreshBundleCollateral({
      store: again.store as never,
      secretId: 's',
      bundle: again.bundle,
      mirror: new MirrorCollateral(mirror.url, 2000),
      verify: collateralVerifier(testRoots()),
      now: new Date(),
    });
    expect(r2.written).toBe(false);
    expect(r2.failed[0]?.reason).toMatch(/but has 17/);
  });
});
