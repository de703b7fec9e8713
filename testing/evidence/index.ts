/**
 * Test evidence for the Coordinator emulator and the attestation tests: real-format SNP and
 * TDX evidence signed by chains generated in the test process, the matching verifier
 * factories (test roots injected in code through createVerifierWithRoots), and a manifest
 * whose reference values the default evidence satisfies.
 */
import { createHash } from 'node:crypto';
import { createVerifierWithRoots } from '../../lambda/attestation/with-roots.ts';
import type { CollateralSource } from '../../lambda/attestation/collateral.ts';
import type { TrustAnchors } from '../../lambda/attestation/roots.ts';
import type { VerifierFactory } from '../../lambda/attestation/verifier.ts';
import { snpReferenceValues, snpTestChain } from './snp.ts';
import { makeTdxCollateral, tdxReferenceValues, tdxTestChain } from './tdx.ts';

export { makeSnpEvidence, makeSnpReportRaw, snpTestChain, type SnpEvidenceOptions } from './snp.ts';
export { addTdxCrls, makeTdxCrl, makeTdxEvidence, makeTdxQuoteRaw, makeTdxCollateral, tdxTestChain, type TdxCrlOptions, type TdxEvidenceOptions } from './tdx.ts';

/** The coordinator policy hash the default evidence carries (HOST_DATA / MRCONFIGID). */
export const TEST_POLICY_HASH = createHash('sha256').update('contrast-autorecover test coordinator policy').digest();
export const TEST_POLICY_HASH_HEX = TEST_POLICY_HASH.toString('hex');

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

/** A verifier factory for synthetic TDX evidence, with matching collateral by default. */
export function testTdxVerifierFactory(opts: TestVerifierOptions = {}): VerifierFactory {
  const roots = testRoots();
  const collateral = opts.collateral ?? makeTdxCollateral();
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
export function makeTestManifest(opts: { policyHash?: string; snp?: boolean; tdx?: boolean } = {}): Record<string, unknown> {
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
