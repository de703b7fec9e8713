/**
 * TEST-ONLY entry: the native verifier with caller-chosen trust anchors, for evidence signed
 * by chains the tests generate. No production module imports this file (a test asserts it);
 * it is reachable only from code, never from a setting, flag or environment variable.
 */
import { buildVerifier, type VerifierSettings } from '../../lambda/attestation/core.ts';
import type { TrustAnchors } from '../../lambda/attestation/roots.ts';
import type { ReferenceInput, Verifier } from '../../lambda/attestation/verifier.ts';

export function createVerifierWithRoots(
  reference: ReferenceInput,
  options: VerifierSettings & { roots: TrustAnchors },
): Verifier {
  const { roots, ...settings } = options;
  return buildVerifier(reference, roots, settings);
}
