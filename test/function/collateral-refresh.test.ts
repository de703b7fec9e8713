/**
 * The scheduled refresh of the bundle's collateral cache against a local mirror and moto's
 * Secrets Manager/KMS: expiring documents are replaced by newer verified ones in a new secret
 * version that still decrypts under the same KMS context; refused, stale or unreachable
 * mirror documents leave the secret untouched.
 */
import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BundleCollateral } from '../../lambda/attestation/collateral/bundle-cache.ts';
import { collateralVerifier } from '../../lambda/attestation/collateral/verify.ts';
import {
  ChainedCollateral,
  MemoryCollateral,
  MirrorCollateral,
  collateralFile,
  type CollateralDocument,
  type CollateralKey,
} from '../../lambda/attestation/collateral/sources.ts';
import { rawJsonMember } from '../../lambda/attestation/tdx/pcs.ts';
import { ATTESTATION_OIDS } from '../../lambda/attestation/verifier.ts';
import { createVerifierWithRoots } from '../../testing/attestation/with-roots.ts';
import { Cert } from '../../lambda/attestation/x509.ts';
import { BUNDLE_CHANGED, refreshBundleCollateral } from '../../lambda/function/collateral-refresh.ts';
import type { RecoveryBundle } from '../../lambda/keys/bundle.ts';
import { ownerKeyContext } from '../../lambda/keys/context.ts';
import { decryptOwnerKey } from '../../lambda/keys/envelope.ts';
import { BundleStore } from '../../lambda/keys/store.ts';
import { SKIP_REASON, motoAvailable } from '../support/aws.ts';
import { basicConstraintsCa, buildCert, buildCrl, name, toPem } from '../../testing/evidence/certs.ts';
import {
  TEST_POLICY_HASH,
  addTdxCrls,
  makeTdxCollateral,
  makeTdxEvidence,
  makeTestManifest,
  snpTestChain,
  testReference,
  testRoots,
} from '../../testing/evidence/index.ts';
import { TEST_FMSPC } from '../../testing/evidence/tdx.ts';
import { enroll, type Enrolled } from '../support/fixture.ts';
import { makeWorkspace, type Workspace } from '../../testing/workspace.ts';
import { startMirror, type TestMirror } from '../support/collateral-mirror.ts';

const DAY = 86_400_000;
const TCB: CollateralKey = { kind: 'tdx-tcb-info', fmspc: TEST_FMSPC };
const QE: CollateralKey = { kind: 'tdx-qe-identity' };
const CHAIN: CollateralKey = { kind: 'snp-cert-chain', product: 'Milan', signer: 'vcek' };
const CRL: CollateralKey = { kind: 'snp-crl', product: 'Milan' };
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

function snpCrl(thisUpdate: Date, nextUpdate: Date): Uint8Array {
  const c = snpTestChain();
  return buildCrl(Cert.parse(c.arkDer, 'ARK').subjectDer, c.arkKey, 'rsa-pss-sha384', [], thisUpdate, nextUpdate);
}

async function tdxDocs(
  opts: Parameters<typeof makeTdxCollateral>[0],
): Promise<{ tcb: CollateralDocument; qe: CollateralDocument }> {
  const m = makeTdxCollateral(opts);
  return { tcb: (await m.get(TCB))!, qe: (await m.get(QE))! };
}

/** The TCB Info re-signed under a root nobody pinned (everything else is genuine-looking). */
function otherRoot(doc: CollateralDocument): CollateralDocument {
  const root = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const signer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const rootName = name('Intel SGX Root CA (TEST)', 'Intel Corporation (TEST)');
  const when = { notBefore: new Date('2020-01-01Z'), notAfter: new Date('2045-01-01Z') };
  const rootDer = buildCert({
    serial: 1,
    issuer: rootName,
    subject: rootName,
    ...when,
    publicKey: root.publicKey,
    signingKey: root.privateKey,
    alg: 'ecdsa-sha256',
    extensions: [basicConstraintsCa()],
  });
  const signerDer = buildCert({
    serial: 2,
    issuer: rootName,
    subject: name('Intel SGX TCB Signing (TEST)'),
    ...when,
    publicKey: signer.publicKey,
    signingKey: root.privateKey,
    alg: 'ecdsa-sha256',
  });
  const member = rawJsonMember(Buffer.from(doc.body).toString('utf8'), 'tcbInfo');
  const sig = sign('sha256', Buffer.from(member), { key: signer.privateKey, dsaEncoding: 'ieee-p1363' }).toString(
    'hex',
  );
  return {
    body: new Uint8Array(Buffer.from(`{"tcbInfo":${member},"signature":"${sig}"}`)),
    issuerChain: new Uint8Array(Buffer.from(toPem(signerDer) + toPem(rootDer))),
  };
}

describe.skipIf(!motoAvailable)(`collateral refresh (${motoAvailable ? 'moto' : SKIP_REASON})`, () => {
  let ws: Workspace;
  let mirror: TestMirror;
  const now = new Date();
  const verify = collateralVerifier(testRoots(), () => now);
  const chainPem = new Uint8Array(Buffer.from(toPem(snpTestChain().askDer) + toPem(snpTestChain().arkDer)));

  beforeAll(async () => {
    ws = await makeWorkspace({ manifestExtra: { ReferenceValues: makeTestManifest().ReferenceValues } });
    mirror = await startMirror();
  });
  afterAll(() => mirror.close());

  /** An enrolled deployment whose cache holds TDX collateral and an SNP CRL that expire in two days. */
  async function enrolledWithExpiringCollateral(): Promise<{
    e: Enrolled;
    store: BundleStore;
    bundle: RecoveryBundle;
    old: { tcb: CollateralDocument; qe: CollateralDocument; crl: Uint8Array };
  }> {
    const e = await enroll(ws);
    const store = new BundleStore(e.secrets);
    const loaded = await store.load(e.secretId);
    const tdx = await tdxDocs({
      issueDate: new Date(now.getTime() - 28 * DAY),
      nextUpdate: new Date(now.getTime() + 2 * DAY),
    });
    const crl = snpCrl(new Date(now.getTime() - 28 * DAY), new Date(now.getTime() + 2 * DAY));
    const collateral = {
      [collateralFile(TCB)]: b64(tdx.tcb.body),
      [`${collateralFile(TCB)}.issuer-chain.pem`]: b64(tdx.tcb.issuerChain!),
      [collateralFile(QE)]: b64(tdx.qe.body),
      [`${collateralFile(QE)}.issuer-chain.pem`]: b64(tdx.qe.issuerChain!),
      [collateralFile(CHAIN)]: b64(chainPem),
      [collateralFile(CRL)]: b64(crl),
      pckcrl: b64(Buffer.from('an operator-cached file the refresh does not know')),
    };
    await store.save(e.secretId, { ...loaded.document, collateral }, e.kmsKeyId);
    return { e, store, bundle: await store.load(e.secretId), old: { ...tdx, crl } };
  }

  const versionOf = async (e: Enrolled) =>
    (await e.secrets.send(new GetSecretValueCommand({ SecretId: e.secretId }))).VersionId;

  it('replaces expiring documents with newer verified ones in a new version that decrypts under the same context', async () => {
    const { e, store, bundle } = await enrolledWithExpiringCollateral();
    const before = await versionOf(e);
    const fresh = await tdxDocs({
      issueDate: new Date(now.getTime() - DAY),
      nextUpdate: new Date(now.getTime() + 30 * DAY),
    });
    const freshCrl = snpCrl(new Date(now.getTime() - DAY), new Date(now.getTime() + 60 * DAY));
    mirror.clear();
    mirror.serve(TCB, fresh.tcb);
    mirror.serve(QE, fresh.qe);
    mirror.serve(CRL, { body: freshCrl });

    const result = await refreshBundleCollateral({
      store,
      secretId: e.secretId,
      bundle,
      mirror: new MirrorCollateral(mirror.url, 2000),
      verify,
      now,
    });
    expect(result.failed).toEqual([]);
    expect(result.refreshed).toEqual([collateralFile(CRL), collateralFile(TCB), collateralFile(QE)]);
    expect(result.written).toBe(true);
    expect(result.versionId).toBeDefined();
    expect(result.versionId).not.toBe(before);
    expect(result.expiries.find((x) => x.file === collateralFile(TCB))!.expiresAt).toBe(
      new Date(Math.floor((now.getTime() + 30 * DAY) / 1000) * 1000).toISOString(),
    );

    const after = await store.load(e.secretId);
    const { collateral: newCache, ...fixed } = after.document;
    const { collateral: oldCache, ...oldFixed } = bundle.document;
    expect(fixed).toEqual(oldFixed);
    expect(newCache![collateralFile(TCB)]).toBe(b64(fresh.tcb.body));
    expect(newCache![`${collateralFile(QE)}.issuer-chain.pem`]).toBe(b64(fresh.qe.issuerChain!));
    expect(newCache![collateralFile(CRL)]).toBe(b64(freshCrl));
    for (const kept of [collateralFile(CHAIN), 'pckcrl']) expect(newCache![kept]).toBe(oldCache![kept]);

    // Same manifest and seed shares, so the same KMS context opens the owner key.
    const der = await decryptOwnerKey(
      e.kms,
      after.document.ownerKey,
      ownerKeyContext(e.deployment, after.manifest, after.seedShares),
    );
    expect(der.equals(createPrivateKey(ws.ownerKeyPem).export({ type: 'pkcs1', format: 'der' }))).toBe(true);
    der.fill(0);

    // Three days on, the old cache would be refused; the refreshed one verifies TDX evidence.
    const later = new Date(now.getTime() + 3 * DAY);
    const reportData = new Uint8Array(64).fill(3);
    const evidence = makeTdxEvidence({ reportData, policyHash: TEST_POLICY_HASH });
    const reference = testReference();
    // The CRLs come from elsewhere here: this case is about the TCB Info and QE Identity.
    const crls = addTdxCrls(new MemoryCollateral());
    const verifierWith = (cache: Record<string, unknown>) =>
      createVerifierWithRoots(reference, {
        roots: testRoots(),
        collateral: new ChainedCollateral([new BundleCollateral(cache), crls]),
        now: () => later,
      });
    await expect(verifierWith(oldCache!).verify({ oid: ATTESTATION_OIDS.tdx, evidence, reportData })).rejects.toThrow(
      /not current/,
    );
    await expect(
      verifierWith(newCache!).verify({ oid: ATTESTATION_OIDS.tdx, evidence, reportData }),
    ).resolves.toMatchObject({ tcbStatus: 'UpToDate' });

    // Nothing is due any more: no request, no write.
    mirror.requests.length = 0;
    const again = await refreshBundleCollateral({
      store,
      secretId: e.secretId,
      bundle: after,
      mirror: new MirrorCollateral(mirror.url, 2000),
      verify,
      now,
    });
    expect(again).toMatchObject({ refreshed: [], failed: [], written: false });
    expect(mirror.requests).toEqual([]);
  });

  it.each([
    [
      'tampered',
      async () => {
        const d = (await tdxDocs({ nextUpdate: new Date(now.getTime() + 30 * DAY) })).tcb;
        return {
          ...d,
          body: new Uint8Array(
            Buffer.from(Buffer.from(d.body).toString().replace('"tcbStatus":"OutOfDate"', '"tcbStatus":"UpToDate"')),
          ),
        };
      },
      /signature does not verify/,
    ],
    [
      'expired',
      async () =>
        (await tdxDocs({ issueDate: new Date(now.getTime() - 40 * DAY), nextUpdate: new Date(now.getTime() - DAY) }))
          .tcb,
      /not current/,
    ],
    [
      'signed under another root',
      async () => otherRoot((await tdxDocs({ nextUpdate: new Date(now.getTime() + 30 * DAY) })).tcb),
      /not the pinned Intel SGX Root CA/,
    ],
    [
      'QE Identity filed as',
      async () => (await tdxDocs({ nextUpdate: new Date(now.getTime() + 30 * DAY) })).qe,
      /not the expected JSON/,
    ],
  ] as const)('refuses a %s TCB Info and leaves the bundle unchanged', async (_label, make, reason) => {
    const { e, store, bundle } = await enrolledWithExpiringCollateral();
    const before = await versionOf(e);
    mirror.clear();
    mirror.serve(TCB, await make());
    const result = await refreshBundleCollateral({
      store,
      secretId: e.secretId,
      bundle,
      mirror: new MirrorCollateral(mirror.url, 2000),
      verify,
      now,
    });
    expect(result.written).toBe(false);
    expect(result.refreshed).toEqual([]);
    const tcbFailure = result.failed.find((f) => f.file === collateralFile(TCB))!;
    expect(tcbFailure.reason).toMatch(reason);
    expect(tcbFailure.reason).toMatch(/the cached one was kept .*check that the mirror serves genuine/);
    // The others are simply absent from this mirror, and say so.
    expect(result.failed.find((f) => f.file === collateralFile(QE))!.reason).toMatch(
      /mirror does not have the Intel TD QE Identity.*enroll --collateral DIR/,
    );
    expect(await versionOf(e)).toBe(before);
    expect((await store.load(e.secretId)).document).toEqual(bundle.document);
  });

  it('refuses a document that is no newer than the cached one (no rollback, no pointless write)', async () => {
    const { e, store, bundle, old } = await enrolledWithExpiringCollateral();
    const before = await versionOf(e);
    mirror.clear();
    mirror.serve(TCB, old.tcb);
    mirror.serve(
      QE,
      (await tdxDocs({ issueDate: new Date(now.getTime() - 29 * DAY), nextUpdate: new Date(now.getTime() + 30 * DAY) }))
        .qe,
    );
    mirror.serve(CRL, { body: snpCrl(new Date(now.getTime() - 30 * DAY), new Date(now.getTime() + 30 * DAY)) });
    const result = await refreshBundleCollateral({
      store,
      secretId: e.secretId,
      bundle,
      mirror: new MirrorCollateral(mirror.url, 2000),
      verify,
      now,
    });
    expect(result.written).toBe(false);
    expect(Object.fromEntries(result.failed.map((f) => [f.file, f.reason]))).toEqual({
      [collateralFile(TCB)]: expect.stringMatching(/no newer .*no later than the cached one/),
      [collateralFile(QE)]: expect.stringMatching(/issued .* before the cached one/),
      [collateralFile(CRL)]: expect.stringMatching(/issued .* before the cached one/),
    });
    expect(await versionOf(e)).toBe(before);
  });

  it('a hanging mirror times out within bounds and nothing is written', async () => {
    const { e, store, bundle } = await enrolledWithExpiringCollateral();
    const before = await versionOf(e);
    mirror.hang = true;
    try {
      mirror.log.length = 0;
      const result = await refreshBundleCollateral({
        store,
        secretId: e.secretId,
        bundle,
        mirror: new MirrorCollateral(mirror.url, 3_000),
        verify,
        now,
      });
      // Requests run concurrently, so one timeout bounds the run, not one per document: every
      // request reached the mirror before the client gave up any — read from the order of
      // events, not from a clock (sequential requests would each wait out the 3 s first).
      await vi.waitFor(() => expect(mirror.log.filter((l) => l.startsWith('x '))).toHaveLength(3), { timeout: 10_000 });
      const firstGivenUp = mirror.log.findIndex((l) => l.startsWith('x '));
      expect(mirror.log.slice(0, firstGivenUp).filter((l) => l.startsWith('> '))).toHaveLength(3);
      expect(result.written).toBe(false);
      expect(result.failed.map((f) => f.file).sort()).toEqual(
        [collateralFile(CRL), collateralFile(TCB), collateralFile(QE)].sort(),
      );
      for (const f of result.failed)
        expect(f.reason).toMatch(/did not answer .* within 3000 ms.*check that the mirror is reachable/);
    } finally {
      mirror.hang = false;
    }
    expect(await versionOf(e)).toBe(before);
  });

  it('writes nothing when the secret was re-enrolled while refreshing', async () => {
    const { e, store, bundle } = await enrolledWithExpiringCollateral();
    const fresh = await tdxDocs({ nextUpdate: new Date(now.getTime() + 30 * DAY) });
    mirror.clear();
    mirror.serve(TCB, fresh.tcb);
    // Another enrollment puts a bundle with other seed shares between our load and our write.
    await store.save(
      e.secretId,
      { ...bundle.document, seedShares: b64(Buffer.from('{"SeedShares":[],"salt":""}')) },
      e.kmsKeyId,
    );
    const reenrolled = await versionOf(e);
    const result = await refreshBundleCollateral({
      store,
      secretId: e.secretId,
      bundle,
      mirror: new MirrorCollateral(mirror.url, 2000),
      verify,
      now,
    });
    expect(result.written).toBe(false);
    expect(result.failed.find((f) => f.file === BUNDLE_CHANGED)?.reason).toMatch(
      /changed while its collateral was refreshed/,
    );
    expect(await versionOf(e)).toBe(reenrolled);
  });
});
