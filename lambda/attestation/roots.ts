/**
 * Pinned trust anchors. The root certificates themselves arrive with the evidence, from the
 * collateral cache or from a mirror; only these SHA-256 fingerprints (of the DER) decide
 * whether such a certificate is a root we trust. Production code never widens this set:
 * tests build their own TrustAnchors in code (see testing/attestation/with-roots.ts).
 */

export type SnpProduct = 'Milan' | 'Genoa' | 'Turin';

export interface TrustAnchors {
  /** SHA-256 of each product's AMD Root Key certificate DER, lowercase hex. */
  readonly amdArk: Readonly<Record<SnpProduct, readonly string[]>>;
  /** SHA-256 of the Intel SGX Root CA certificate DER, lowercase hex. */
  readonly intelRoot: readonly string[];
}

export const PINNED_ROOTS: TrustAnchors = Object.freeze({
  amdArk: Object.freeze({
    Milan: Object.freeze(['69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd']),
    Genoa: Object.freeze(['4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1']),
    Turin: Object.freeze(['1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a']),
  }),
  intelRoot: Object.freeze(['44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3']),
});
