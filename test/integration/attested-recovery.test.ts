/**
 * Real-format SEV-SNP and TDX evidence through the whole recovery path: the emulator binds
 * synthetic evidence (signed by test chains) to each connection; reconcile verifies it with
 * the native verifier (test roots injected in code) before the seed leaves.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ATTESTATION_OIDS } from '../../lambda/attestation/verifier.ts';
import { reconcile } from '../../lambda/reconcile/reconcile.ts';
import { productionVerifierFactory } from '../../lambda/reconcile/verification.ts';
import { motoAvailable, SKIP_REASON } from '../support/aws.ts';
import { CoordinatorEmulator, type EvidenceProducer } from '../../testing/coordinator-emulator.ts';
import {
  makeSnpEvidence,
  makeTdxEvidence,
  makeTestManifest,
  TEST_POLICY_HASH,
  TEST_POLICY_HASH_HEX,
  testSnpVerifierFactory,
  testTdxVerifierFactory,
} from '../../testing/evidence/index.ts';
import { portsFor, enroll, TEST_TIME } from '../support/fixture.ts';
import { makeWorkspace, type Workspace } from '../../testing/workspace.ts';

let ws: Workspace;
const started: CoordinatorEmulator[] = [];
beforeAll(async () => {
  ws = await makeWorkspace({
    coordinatorPolicyHash: TEST_POLICY_HASH_HEX,
    manifestExtra: { ReferenceValues: makeTestManifest().ReferenceValues },
  });
});
afterEach(async () => {
  await Promise.all(started.splice(0).map((e) => e.stop()));
});

const snp =
  (extra: Partial<Parameters<typeof makeSnpEvidence>[0]> = {}): EvidenceProducer =>
  (reportData) => [
    { oid: ATTESTATION_OIDS.snp, value: makeSnpEvidence({ reportData, hostData: TEST_POLICY_HASH, ...extra }) },
  ];
const tdx =
  (extra: Partial<Parameters<typeof makeTdxEvidence>[0]> = {}): EvidenceProducer =>
  (reportData) => [
    { oid: ATTESTATION_OIDS.tdx, value: makeTdxEvidence({ reportData, policyHash: TEST_POLICY_HASH, ...extra }) },
  ];

async function emulator(evidence: EvidenceProducer) {
  const emu = await CoordinatorEmulator.start({
    state: 'stale',
    manifest: ws.manifest,
    seed: ws.seed,
    salt: ws.salt,
    evidence,
  });
  started.push(emu);
  return emu;
}

describe.skipIf(!motoAvailable)(`recovery with real-format evidence${motoAvailable ? '' : ` (${SKIP_REASON})`}`, () => {
  it.each([
    ['SEV-SNP', snp(), testSnpVerifierFactory(), 'snp'],
    ['TDX', tdx(), testTdxVerifierFactory(), 'tdx'],
  ] as const)('%s evidence passes end to end and is summarised', async (_name, evidence, factory, kind) => {
    const e = await enroll(ws);
    const emu = await emulator(evidence);
    const r = await reconcile(
      { name: e.deployment, secretId: e.secretId, coordinator: emu.endpoint },
      portsFor(e, factory),
      TEST_TIME,
    );
    expect(r.outcome, r.message).toBe('recovered');
    expect(r.evidence?.kind).toBe(kind);
    expect(r.evidence?.policyHash).toBe(TEST_POLICY_HASH_HEX);
    expect(r.evidence?.measurement).toMatch(/^[0-9a-f]{96}$/);
    expect(emu.recoverCalls.map((c) => c.result)).toEqual(['ok']);
  });

  it.each([
    ['SEV-SNP', snp()],
    ['TDX', tdx()],
  ])(
    'the production verifier refuses %s evidence from a chain that is not pinned; no KMS, no Recover',
    async (_name, evidence) => {
      const e = await enroll(ws);
      const emu = await emulator(evidence);
      const r = await reconcile(
        { name: e.deployment, secretId: e.secretId, coordinator: emu.endpoint },
        portsFor(e, productionVerifierFactory()),
        TEST_TIME,
      );
      expect(r.outcome).toBe('attestation-failed');
      expect(r.message).not.toMatch(/verifier unavailable/);
      expect(r.kmsDecrypts).toBe(0);
      expect(emu.recoverCalls).toHaveLength(0);
    },
  );

  it.each([
    ['SEV-SNP measurement', snp({ measurement: Buffer.alloc(48, 0xee) }), testSnpVerifierFactory(), /measurement/i],
    ['SEV-SNP HOST_DATA', snp({ hostData: Buffer.alloc(32, 1) }), testSnpVerifierFactory(), /host.?data|policy hash/i],
    ['TDX MRTD', tdx({ mrTd: Buffer.alloc(48, 0xee) }), testTdxVerifierFactory(), /mrtd/i],
    ['TDX MRCONFIGID', tdx({ policyHash: Buffer.alloc(32, 2) }), testTdxVerifierFactory(), /mrconfigid|policy hash/i],
  ] as const)(
    'a wrong %s is refused with its own message before the seed leaves',
    async (_name, evidence, factory, message) => {
      const e = await enroll(ws);
      const emu = await emulator(evidence);
      const r = await reconcile(
        { name: e.deployment, secretId: e.secretId, coordinator: emu.endpoint },
        portsFor(e, factory),
        TEST_TIME,
      );
      expect(r.outcome).toBe('attestation-failed');
      expect(r.message).toMatch(message);
      expect(r.kmsDecrypts).toBe(0);
      expect(emu.recoverCalls).toHaveLength(0);
    },
  );
});
