import { buildVerifier, type VerifierSettings } from './core.ts';
import { PINNED_ROOTS } from './roots.ts';
import type { ReferenceInput, Verifier } from './verifier.ts';

export type { VerifierSettings } from './core.ts';

/**
 * The verifier every production path (handler, CLI recover/status) uses: native SEV-SNP and
 * TDX verification against the roots pinned in roots.ts. Settings can supply collateral,
 * a clock and the accepted TDX TCB statuses; none of them can add a root or skip a check.
 * The testing OID and unknown OIDs are refused.
 */
export function createProductionVerifier(reference: ReferenceInput, settings: VerifierSettings = {}): Verifier {
  return buildVerifier(reference, PINNED_ROOTS, settings);
}
