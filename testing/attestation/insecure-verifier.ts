import { timingSafeEqual } from 'node:crypto';
import { AttestationError } from '../../lambda/shared/errors.ts';
import { ATTESTATION_OIDS, type Verifier } from '../../lambda/attestation/verifier.ts';

/**
 * INSECURE. Accepts the testing OID 1.3.9901.2.3 whose value is just the 64-byte binding.
 * It proves nothing about the hardware. Only tests and the demo wire it, in code; no
 * production entry point imports this module (a test asserts that).
 */
export function createInsecureTestingVerifier(): Verifier {
  return {
    async verify(input) {
      if (input.oid !== ATTESTATION_OIDS.testing) {
        throw new AttestationError(
          'verifier',
          `the testing verifier accepts only OID ${ATTESTATION_OIDS.testing}, got ${input.oid}`,
        );
      }
      const got = Buffer.from(input.evidence);
      if (got.length !== 64 || !timingSafeEqual(got, Buffer.from(input.reportData))) {
        throw new AttestationError(
          'binding',
          `evidence is bound to another key or nonce: expected report data ${Buffer.from(input.reportData).toString('hex')}, got ${got.toString('hex')}`,
        );
      }
      return { kind: 'testing', platform: 'insecure-testing' };
    },
  };
}
