/**
 * Test evidence for the Coordinator emulator and the attestation tests: real-format SNP and
 * TDX evidence signed by chains generated in the test process, the matching verifier
 * factories (test roots injected in code through createVerifierWithRoots), and a manifest
 * whose reference values the default evidence satisfies.
 */
import { createHash } from 'node:crypto';
import { createVerifierWithRoots } from '../attestation/with-roots.ts';
import type { CollateralSource } from '../../lambda/attestation/collateral/sources.ts';
import type { TrustAnchors } from '../../lambda/attestation/roots.ts';
import type { ReferenceInput, VerifierFactory } from '../../lambda/attestation/verifier.ts';
import type { ReferenceValues } from '../../lambda/attestation/reference.ts';
import { fromPlain } from '../../lambda/coordinator/go-json.ts';
import { parseReferenceValues } from '../../lambda/coordinator/reference-values.ts';
import { ATTESTATION_OIDS } from '../../lambda/attestation/verifier.ts';
import { makeSnpEvidence, snpReferenceValues, snpTestChain, type SnpEvidenceOptions } from './snp.ts';
import { addTdxCrls, makeTdxCollateral, tdxReferenceValues, tdxTestChain } from './tdx.ts';

export { makeSnpEvidence, makeSnpReport, makeSnpReportRaw, snpTestChain, type SnpEvidenceOptions } from './snp.ts';
export {
  addTdxCrls,
  makeTdxCrl,
  makeTdxEvidence,
  makeTdxQuoteMessage,
  makeTdxQuoteRaw,
  makeTdxCollateral,
  makeTdxRecoveryCollateral,
  tdxTestChain,
  type PckVariant,
  type TdxCrlOptions,
  type TdxEvidenceOptions,
} from './tdx.ts';

/** The coordinator policy hash the default evidence carries (HOST_DATA / MRCONFIGID). */
export const TEST_POLICY_HASH = createHash('sha256').update('contrast-autorecover test coordinator policy').digest();
export const TEST_POLICY_HASH_HEX = TEST_POLICY_HASH.toString('hex');

/**
 * What the emulator's certificate carries for `reportData`: SEV-SNP evidence of the test chain
 * whose HOST_DATA is the test Coordinator policy hash (`CoordinatorEmulator.start({ evidence })`).
 */
export function snpTestEvidence(extra: Partial<SnpEvidenceOptions> = {}) {
  return (reportData: Buffer) => [
    { oid: ATTESTATION_OIDS.snp, value: makeSnpEvidence({ reportData, hostData: TEST_POLICY_HASH, ...extra }) },
  ];
}

/** Trust anchors of the generated test chains (never the production pins). */
export function testRoots(): TrustAnchors {
  return {
    amdArk: { Milan: [snpTestChain().arkFingerprint], Genoa: [], Turin: [] },
    intelRoot: [tdxTestChain().rootFingerprint],
  };
}

export interface TestVerifierOptions {
  now?: () => Date;
  collateral?: CollateralSource;
  acceptedTdxTcbStatuses?: string[];
}

/** A verifier factory that accepts the synthetic SNP evidence (and refuses everything else). */
export function testSnpVerifierFactory(opts: TestVerifierOptions = {}): VerifierFactory {
  const roots = testRoots();
  return (reference) => createVerifierWithRoots(reference, { roots, ...opts });
}

/** A verifier factory for synthetic TDX evidence, with matching collateral (TCB Info, QE Identity, both CRLs) by default. */
export function testTdxVerifierFactory(opts: TestVerifierOptions = {}): VerifierFactory {
  const roots = testRoots();
  const collateral = opts.collateral ?? addTdxCrls(makeTdxCollateral());
  return (reference) => createVerifierWithRoots(reference, { roots, ...opts, collateral });
}

/** One factory accepting both synthetic SNP and TDX evidence. */
export function testAttestationVerifierFactory(opts: TestVerifierOptions = {}): VerifierFactory {
  return testTdxVerifierFactory(opts);
}

/**
 * A manifest JSON object (Contrast shape) whose ReferenceValues match the default synthetic
 * evidence and whose Policies name `policyHash` with Role "coordinator".
 */
export function makeTestManifest(
  opts: { policyHash?: string; snp?: boolean; tdx?: boolean } = {},
): Record<string, unknown> {
  const policyHash = opts.policyHash ?? TEST_POLICY_HASH_HEX;
  return {
    Policies: { [policyHash]: { SANs: ['coordinator'], WorkloadSecretID: 'coordinator', Role: 'coordinator' } },
    ReferenceValues: {
      snp: opts.snp === false ? [] : [snpReferenceValues()],
      tdx: opts.tdx === false ? [] : [tdxReferenceValues()],
    },
    WorkloadOwnerKeyDigests: [],
    SeedshareOwnerPubKeys: [],
  };
}

/** Reference values given as plain JSON (a manifest's `ReferenceValues`), read as Contrast reads them. */
export function referenceValuesOf(json: unknown): ReferenceValues {
  return parseReferenceValues(fromPlain(json), 'the test reference values');
}

/** The ReferenceInput of `makeTestManifest(opts)` (or of given ReferenceValues JSON). */
export function testReference(
  referenceValues: unknown = makeTestManifest().ReferenceValues,
  policyHashes: string[] = [TEST_POLICY_HASH_HEX],
): ReferenceInput {
  return { referenceValues: referenceValuesOf(referenceValues), coordinatorPolicyHashes: policyHashes };
}
