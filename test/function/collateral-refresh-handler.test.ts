/**
 * The scheduled refresh of each bundle's collateral cache from COLLATERAL_MIRROR_URL, through
 * the handler: moto, a local mirror, documents verified against roots given in code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collateralVerifier } from '../../lambda/attestation/collateral/verify.ts';
import { collateralFile, type CollateralKey } from '../../lambda/attestation/collateral/sources.ts';
import { BundleStore } from '../../lambda/keys/store.ts';
import { motoAvailable, SKIP_REASON } from '../support/aws.ts';
import { makeTdxCollateral, testRoots } from '../../testing/evidence/index.ts';
import { TEST_FMSPC } from '../../testing/evidence/tdx.ts';
import { startMirror, type TestMirror } from '../support/collateral-mirror.ts';
import { captureOutput, emfRecords, setupFixture, type Fixture } from './handler-fixture.ts';
import { lambdaContext, scheduledEvent } from './samples.ts';

const DAY = 86_400_000;
const TCB: CollateralKey = { kind: 'tdx-tcb-info', fmspc: TEST_FMSPC };
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

describe.skipIf(!motoAvailable)(`scheduled collateral refresh (${motoAvailable ? 'moto' : SKIP_REASON})`, () => {
  let mirror: TestMirror;
  let fx: Fixture;
  beforeAll(async () => {
    mirror = await startMirror();
    fx = await setupFixture({ state: 'healthy', env: { COLLATERAL_MIRROR_URL: mirror.url } });
  });
  afterAll(async () => {
    await fx?.stop();
    await mirror?.close();
  });

  async function cacheExpiringTcbInfo(): Promise<void> {
    const old = await makeTdxCollateral({
      issueDate: new Date(Date.now() - 28 * DAY),
      nextUpdate: new Date(Date.now() + 2 * DAY),
    }).get(TCB);
    const store = new BundleStore(fx.clients.secrets);
    const loaded = await store.load(fx.secretId);
    const collateral = {
      [collateralFile(TCB)]: b64(old!.body),
      [`${collateralFile(TCB)}.issuer-chain.pem`]: b64(old!.issuerChain!),
    };
    await store.save(fx.secretId, { ...loaded.document, collateral }, fx.kmsKeyId);
    const fresh = await makeTdxCollateral({
      issueDate: new Date(Date.now() - DAY),
      nextUpdate: new Date(Date.now() + 30 * DAY),
    }).get(TCB);
    mirror.clear();
    mirror.serve(TCB, fresh!);
  }

  it('replaces an expiring document with a newer verified one', async () => {
    await cacheExpiringTcbInfo();
    const out = captureOutput();
    let res;
    try {
      res = await fx.makeHandler({ collateralVerify: collateralVerifier(testRoots()) })(
        scheduledEvent(),
        lambdaContext(),
      );
    } finally {
      out.restore();
    }
    expect(out.json().some((r) => r.message === 'collateral cache checked')).toBe(true);
    expect(res.collateral).toEqual([
      { deployment: fx.deployment, refreshed: [collateralFile(TCB)], failed: [], written: true },
    ]);
    const after = await new BundleStore(fx.clients.secrets).load(fx.secretId);
    const cached = JSON.parse(
      Buffer.from(String(after.document.collateral![collateralFile(TCB)]), 'base64').toString(),
    );
    expect(new Date(cached.tcbInfo.nextUpdate).getTime()).toBeGreaterThan(Date.now() + 20 * DAY);
  });

  it('with the production pins a document from another root is refused, alarmed, and the bundle left alone', async () => {
    await cacheExpiringTcbInfo();
    const before = (await new BundleStore(fx.clients.secrets).load(fx.secretId)).document.collateral;
    const out = captureOutput();
    let res;
    try {
      res = await fx.handler(scheduledEvent(), lambdaContext());
    } finally {
      out.restore();
    }
    expect(res.collateral?.[0]?.written).toBe(false);
    expect(res.collateral?.[0]?.failed.map((f) => f.file)).toContain(collateralFile(TCB));
    expect((await new BundleStore(fx.clients.secrets).load(fx.secretId)).document.collateral).toEqual(before);
    const emf = emfRecords(out.json()).filter((r) => 'CollateralRefreshFailed' in r);
    expect(emf.map((r) => r.CollateralRefreshFailed)).toEqual([1]);
  });
});
