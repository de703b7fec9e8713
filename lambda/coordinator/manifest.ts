/**
 * The parts of a Contrast manifest this service needs. Parsed leniently (docs/protocol.md
 * "Compatibility"): unknown fields are kept and ignored, so manifests of newer releases
 * still load. The manifest's exact bytes are what is hashed and compared, never a
 * re-serialisation.
 */
import * as z from 'zod';
import { InputError } from '../shared/errors.ts';
import { sha256Hex } from '../shared/digest.ts';

const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;

const manifestSchema = z.looseObject({
  Policies: z.record(z.string(), z.looseObject({ Role: z.string().optional() }).or(z.null())).optional(),
  ReferenceValues: z.looseObject({}).optional(),
  SeedshareOwnerPubKeys: z.array(z.string()).nullable().optional(),
});

export interface Manifest {
  /** The exact bytes as enrolled / as served by the Coordinator. */
  bytes: Uint8Array;
  /** SHA-256 hex of `bytes`. */
  sha256: string;
  /** Lowercase hex policy hashes whose entry has Role "coordinator" (any is acceptable). */
  coordinatorPolicyHashes: string[];
  /** Hex PKCS#1 DER public keys of the seed-share owners (lowercase). */
  seedshareOwnerPubKeys: string[];
  /** `ReferenceValues` as parsed JSON; the attestation verifiers validate its shape. */
  referenceValues: unknown;
}

export function parseManifest(bytes: Uint8Array, source = 'manifest.json'): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new InputError(`${source} is not valid JSON (${(err as Error).message}); use the manifest.json that \`contrast generate\` wrote`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    throw new InputError(`${source} is not a Contrast manifest: ${z.prettifyError(parsed.error)}`);
  }
  const m = parsed.data;
  const coordinatorPolicyHashes = Object.entries(m.Policies ?? {})
    .filter(([hash, entry]) => HEX_SHA256.test(hash) && entry?.Role?.toLowerCase() === 'coordinator')
    .map(([hash]) => hash.toLowerCase());
  if (coordinatorPolicyHashes.length === 0) {
    throw new InputError(
      `${source} has no policy with Role "coordinator": the Coordinator's evidence could not be bound to this manifest; regenerate it with \`contrast generate\``,
    );
  }
  return {
    bytes,
    sha256: sha256Hex(bytes),
    coordinatorPolicyHashes,
    seedshareOwnerPubKeys: (m.SeedshareOwnerPubKeys ?? []).map((k) => k.toLowerCase()),
    referenceValues: m.ReferenceValues ?? {},
  };
}
