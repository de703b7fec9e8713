/**
 * The KMS encryption context of the owner key. It is built from configuration (the
 * deployment name the service was deployed with) and from the hash of the bundle's manifest
 * and seed-share document — never read from the bundle — so:
 *  - a bundle copied into another deployment's secret does not decrypt there;
 *  - whoever can write the secret cannot swap the manifest (and with it the reference
 *    values the seed is released against) without breaking decryption;
 *  - CloudTrail's Decrypt entry names the deployment and manifest in plain text.
 */
import { CONTEXT_KEYS, OWNER_KEY_PURPOSE } from '../shared/contract.ts';
import { sha256Hex } from '../shared/digest.ts';

/** SHA-256(manifest bytes || seed-share document bytes), hex. */
export function bundleDigest(manifest: Uint8Array, seedShares: Uint8Array): string {
  return sha256Hex(manifest, seedShares);
}

export function ownerKeyContext(
  deployment: string,
  manifest: Uint8Array,
  seedShares: Uint8Array,
): Record<string, string> {
  return {
    [CONTEXT_KEYS.deployment]: deployment,
    [CONTEXT_KEYS.purpose]: OWNER_KEY_PURPOSE,
    [CONTEXT_KEYS.bundleSha256]: bundleDigest(manifest, seedShares),
  };
}

/** Canonical bytes of a context (sorted keys), used as AES-GCM associated data. */
export function contextAad(context: Record<string, string>): Buffer {
  const sorted = Object.keys(context)
    .sort()
    .map((k) => [k, context[k]]);
  return Buffer.from(JSON.stringify(sorted), 'utf8');
}
