/**
 * The seam between the aTLS connector and the attestation verifiers.
 *
 * The connector extracts exactly one attestation extension from the Coordinator's
 * certificate and computes the expected binding SHA-512(SPKI || nonce); a Verifier chosen
 * by the extension's OID must approve the evidence (including that binding) before any
 * request byte is written. Verifiers throw AttestationError; they never return "false".
 */
import type { ReferenceValues } from './reference.ts';

export const ATTESTATION_OIDS = {
  snp: '1.3.9901.2.1',
  tdx: '1.3.9901.2.2',
  /** Insecure testing evidence: never accepted outside tests and the demo. */
  testing: '1.3.9901.2.3',
} as const;

export type EvidenceKind = keyof typeof ATTESTATION_OIDS;

export interface EvidenceInput {
  /** OID of the certificate extension that carried the evidence. */
  oid: string;
  /** The extension's value (contents of extnValue). */
  evidence: Uint8Array;
  /** The 64 bytes REPORT_DATA / REPORTDATA must equal: SHA-512(SPKI-DER || nonce). */
  reportData: Uint8Array;
}

/** Non-secret facts about accepted evidence, for logs, events and the audit record. */
export interface EvidenceSummary {
  kind: EvidenceKind;
  /** hex launch measurement (SNP MEASUREMENT / TDX MRTD). */
  measurement?: string;
  /** The Coordinator policy hash the evidence is bound to (HOST_DATA / MRCONFIGID). */
  policyHash?: string;
  /** Human-readable TCB, e.g. `bl=3 tee=0 snp=8 ucode=115` or a TDX TEE_TCB_SVN. */
  tcb?: string;
  /** TDX only: Intel TCB status the evidence was accepted with. */
  tcbStatus?: string;
  /** TDX only: the tcbEvaluationDataNumber of the TCB Info the status was judged against. */
  tcbEvaluationDataNumber?: number;
  /** TDX only: the TCB statuses this deployment accepts (audit records repeat them). */
  acceptedTcbStatuses?: readonly string[];
  /** Product or platform, e.g. `Milan` or `TDX`. */
  platform?: string;
}

export interface Verifier {
  verify(input: EvidenceInput): Promise<EvidenceSummary>;
}

/**
 * What a verifier checks claims against: the manifest's reference values (read and refused
 * by lambda/coordinator/manifest.ts as the manifest's Contrast release reads them) and the
 * manifest's Coordinator policy hashes (lowercase hex).
 */
export interface ReferenceInput {
  referenceValues: ReferenceValues;
  coordinatorPolicyHashes: readonly string[];
}

export type VerifierFactory = (reference: ReferenceInput) => Verifier;
