/**
 * The native verifier: dispatch by OID, bind the evidence to the TLS key and nonce, verify
 * (signatures, chains to the given anchors, collateral), then validate the claims against
 * the manifest. Production passes PINNED_ROOTS (production.ts); only code can pass others.
 */
import { timingSafeEqual } from 'node:crypto';
import { AttestationError } from '../shared/errors.ts';
import { ACCEPTABLE_TDX_TCB_STATUSES, DEFAULT_TDX_TCB_STATUSES } from '../shared/settings.ts';
import { hex } from './bytes.ts';
import type { CheckSink } from './checks.ts';
import type { CollateralSource } from './collateral/sources.ts';
import { normalizePolicyHashes, type TdxReference } from './reference.ts';
import type { TrustAnchors } from './roots.ts';
import { decodeSnpAttestation, formatTcb } from './snp/abi.ts';
import { validateSnp } from './snp/validate.ts';
import { verifySnp } from './snp/verify.ts';
import { decodeTdxEvidence, quoteBody } from './tdx/abi.ts';
import { tdxReferenceClaims, validateTdx } from './tdx/validate.ts';
import {
  checkTcbStatus,
  judgeTdxTcb,
  verifyTdx,
  type TdxTcb,
  type TdxVerifyOptions,
  type VerifiedTdx,
} from './tdx/verify.ts';
import { ATTESTATION_OIDS, type EvidenceSummary, type ReferenceInput, type Verifier } from './verifier.ts';

export interface VerifierSettings {
  /** TDX TCB statuses to accept; default ['UpToDate']. Every audit record repeats them. */
  acceptedTdxTcbStatuses?: string[];
  /** Collateral cache and mirror for pieces the evidence does not carry. */
  collateral?: CollateralSource;
  now?: () => Date;
}

// One list for the construct (synth), the function's configuration and the verifier.
export { ACCEPTABLE_TDX_TCB_STATUSES } from '../shared/settings.ts';

function checkBinding(actual: Uint8Array, expected: Uint8Array): void {
  if (expected.length !== 64 || actual.length !== 64 || !timingSafeEqual(actual, expected)) {
    throw new AttestationError(
      'binding',
      `evidence is bound to another key or nonce: expected report data ${hex(expected)}, got ${hex(actual)}`,
    );
  }
}

/**
 * The TCB status of a TDX quote whose claims `ref` accepts. Contrast's TDX validator
 * (internal/attestation/tdx/validator.go) tries the manifest's TDX entries in order, each with
 * its own go-tdx-guest options — MinTCBEvaluationDataNumber > 0 becomes `EvaluationDataNumber`
 * (internal/manifest/manifest.go `TDXValidateOpts`), which pins the TCB Info — and accepts on
 * the first entry that passes. So the entries whose claims match are tried in that order, each
 * judged against the TCB Info for its own number; the first refusal is reported when none passes.
 */
export async function acceptTdxTcb(
  v: VerifiedTdx,
  refs: readonly TdxReference[],
  policyHashes: readonly string[],
  first: TdxReference,
  accepted: readonly string[],
  opts: TdxVerifyOptions,
): Promise<{ status: string; tcb: TdxTcb }> {
  const tried = new Set<number>();
  const candidates = [
    first,
    ...refs.filter(
      (r) => r !== first && tdxReferenceClaims(v.quote, v.pckExtensions, r, policyHashes).failures.length === 0,
    ),
  ];
  let firstError: unknown;
  for (const ref of candidates) {
    const n = ref.MinTCBEvaluationDataNumber > 0 ? ref.MinTCBEvaluationDataNumber : 0;
    if (tried.has(n)) continue;
    tried.add(n);
    try {
      const tcb = await judgeTdxTcb(v, opts, n);
      return { status: checkTcbStatus(tcb, accepted), tcb };
    } catch (err) {
      firstError ??= err;
    }
  }
  throw firstError;
}

export function buildVerifier(
  reference: ReferenceInput,
  trust: TrustAnchors,
  settings: VerifierSettings = {},
  log?: CheckSink,
): Verifier {
  // UpToDate always; others only as configured. Defence in depth: configuration validates the
  // list too, and an unknown or revoked status is dropped here.
  const requested = [...DEFAULT_TDX_TCB_STATUSES, ...(settings.acceptedTdxTcbStatuses ?? [])];
  const accepted = [...new Set(requested)].filter((st) =>
    (ACCEPTABLE_TDX_TCB_STATUSES as readonly string[]).includes(st),
  );
  const now = settings.now ?? (() => new Date());
  const refs = reference.referenceValues;
  const hashes = normalizePolicyHashes(reference.coordinatorPolicyHashes);

  return {
    async verify(input): Promise<EvidenceSummary> {
      if (input.oid === ATTESTATION_OIDS.snp) {
        const att = decodeSnpAttestation(input.evidence);
        checkBinding(att.report.reportData, input.reportData);
        const v = await verifySnp(att, { trust, now: now(), collateral: settings.collateral, log });
        validateSnp(v, refs.snp, hashes, log);
        // Claims first: refused evidence is reported as such even when a CRL is also out of reach.
        if (v.crlMissing) throw v.crlMissing;
        return {
          kind: 'snp',
          platform: v.product,
          measurement: hex(v.report.measurement),
          policyHash: hex(v.report.hostData),
          tcb: formatTcb(v.reportedTcb),
        };
      }
      if (input.oid === ATTESTATION_OIDS.tdx) {
        const ev = decodeTdxEvidence(input.evidence);
        const body = quoteBody(ev.quote);
        checkBinding(body.reportData, input.reportData);
        const opts: TdxVerifyOptions = { trust, now: now(), collateral: settings.collateral, log };
        const v = await verifyTdx(ev.quote, opts);
        const ref = validateTdx(ev.quote, v.pckExtensions, refs.tdx, hashes, log);
        if (v.revocationMissing) throw v.revocationMissing;
        const { status, tcb } = await acceptTdxTcb(v, refs.tdx, hashes, ref, accepted, opts);
        return {
          kind: 'tdx',
          platform: 'TDX',
          measurement: hex(body.mrTd),
          policyHash: hex(body.mrConfigId.subarray(0, 32)),
          tcb: hex(body.teeTcbSvn),
          tcbStatus: status,
          acceptedTcbStatuses: accepted,
          ...(tcb.tcbEvaluationDataNumber !== undefined
            ? { tcbEvaluationDataNumber: tcb.tcbEvaluationDataNumber }
            : {}),
        };
      }
      if (input.oid === ATTESTATION_OIDS.testing) {
        throw new AttestationError(
          'verifier',
          `insecure testing evidence (OID ${input.oid}) is never accepted by the production verifier`,
        );
      }
      throw new AttestationError(
        'verifier',
        `unknown attestation OID ${input.oid}: expected ${ATTESTATION_OIDS.snp} (SEV-SNP) or ${ATTESTATION_OIDS.tdx} (TDX)`,
      );
    },
  };
}
