/**
 * A Contrast manifest as the Contrast CLI and Coordinator read it (edgelesssys/contrast
 * internal/manifest/manifest.go, `Manifest` and `Validate`): Go's JSON rules (go-json.ts),
 * then the checks the Coordinator applies before it accepts a manifest, so that a manifest it
 * would refuse is refused here too, at enroll and again when a bundle is loaded (outcome
 * `bundle-invalid`, never retried). Top-level fields the project does not use (e.g.
 * `MinimumAPIVersion`) are ignored as Go ignores them; `ReferenceValues` is read strictly
 * (reference-values.ts). The manifest's exact bytes are what is hashed and compared, never a
 * re-serialisation.
 */
import { createPublicKey } from 'node:crypto';
import { InputError } from '../shared/errors.ts';
import { sha256Hex } from '../shared/digest.ts';
import type { ReferenceValues } from '../attestation/reference.ts';
import { JsonObject, bindFields, describeJson, parseJson, type JsonValue } from './go-json.ts';
import { parseReferenceValues } from './reference-values.ts';

const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;
const MANIFEST_FIELDS = [
  'Policies',
  'ReferenceValues',
  'WorkloadOwnerKeyDigests',
  'WorkloadOwnerPubKeys',
  'SeedshareOwnerPubKeys',
] as const;
/** `Role` values Contrast's Validate accepts (exact spelling): none, and the Coordinator's. */
const ROLE_COORDINATOR = 'coordinator';

export interface Manifest {
  /** The exact bytes as enrolled / as served by the Coordinator. */
  bytes: Uint8Array;
  /** SHA-256 hex of `bytes`. */
  sha256: string;
  /** Lowercase hex policy hashes whose entry has Role "coordinator" (any is acceptable). */
  coordinatorPolicyHashes: string[];
  /** Hex PKCS#1 DER public keys of the seed-share owners (lowercase): the keys Recover accepts. */
  seedshareOwnerPubKeys: string[];
  /** `ReferenceValues`, resolved to the rules of the manifest's Contrast release. */
  referenceValues: ReferenceValues;
}

function strings(v: JsonValue | undefined, path: string, problems: string[]): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    problems.push(`${path}: must be a list, got ${describeJson(v)}`);
    return [];
  }
  return v.map((x, i) => {
    if (typeof x === 'string') return x;
    problems.push(`${path}[${i}]: must be a string, got ${describeJson(x)}`);
    return '';
  });
}

/** Contrast's ParseSeedShareOwnerKey: hex of a PKCS#1 DER RSA public key. */
function checkSeedshareOwnerKey(hex: string): string | undefined {
  if (!/^([0-9a-fA-F]{2})+$/.test(hex)) return 'is not hex';
  try {
    const key = createPublicKey({ key: Buffer.from(hex, 'hex'), format: 'der', type: 'pkcs1' });
    return key.asymmetricKeyType === 'rsa' ? undefined : `is a ${key.asymmetricKeyType} key, not RSA`;
  } catch {
    return 'is not a PKCS#1 DER RSA public key';
  }
}

/** Contrast's ParseWorkloadOwnerPublicKey: hex of a PKIX (SPKI) DER ECDSA public key. */
function checkWorkloadOwnerKey(hex: string): string | undefined {
  if (!/^([0-9a-fA-F]{2})+$/.test(hex)) return 'is not hex';
  try {
    const key = createPublicKey({ key: Buffer.from(hex, 'hex'), format: 'der', type: 'spki' });
    return key.asymmetricKeyType === 'ec' ? undefined : `is a ${key.asymmetricKeyType} key, not ECDSA`;
  } catch {
    return 'is not a PKIX DER public key';
  }
}

export function parseManifest(bytes: Uint8Array, source = 'manifest.json'): Manifest {
  const json = parseJson(Buffer.from(bytes).toString('utf8'), source);
  if (!(json instanceof JsonObject))
    throw new InputError(
      `${source} is not a Contrast manifest: expected a JSON object, got ${describeJson(json)}; use the manifest.json that \`contrast generate\` wrote`,
      'bundle-invalid',
    );
  const top = bindFields(json, MANIFEST_FIELDS);
  const problems: string[] = [];
  for (const d of top.duplicates)
    problems.push(
      `${d.field}: given ${d.keys.length} times (${d.keys.map((k) => JSON.stringify(k)).join(', ')}); keep exactly one`,
    );

  // Policies: a map from policy hash (exact key, as Go's map decoding reads it) to its entry.
  const coordinatorPolicyHashes: string[] = [];
  const policies = top.fields.get('Policies');
  if (policies !== undefined && policies !== null && !(policies instanceof JsonObject))
    problems.push(`Policies: must be an object, got ${describeJson(policies)}`);
  const seenHashes = new Set<string>();
  for (const [hash, entry] of policies instanceof JsonObject ? policies.entries : []) {
    const at = `Policies[${JSON.stringify(hash)}]`;
    if (seenHashes.has(hash)) problems.push(`${at}: given twice; keep exactly one`);
    seenHashes.add(hash);
    if (!HEX_SHA256.test(hash)) problems.push(`${at}: a policy hash is 64 hex characters (SHA-256)`);
    if (entry !== null && !(entry instanceof JsonObject)) {
      problems.push(`${at}: must be an object, got ${describeJson(entry)}`);
      continue;
    }
    const role = entry ? bindFields(entry, ['SANs', 'WorkloadSecretID', 'Role']).fields.get('Role') : undefined;
    if (role !== undefined && role !== null && typeof role !== 'string')
      problems.push(`${at}.Role: must be a string, got ${describeJson(role)}`);
    else if (role && role !== ROLE_COORDINATOR)
      problems.push(
        `${at}.Role: unknown role ${JSON.stringify(role)} (Contrast accepts "" and "${ROLE_COORDINATOR}", exactly so spelled)`,
      );
    else if (role === ROLE_COORDINATOR && HEX_SHA256.test(hash)) coordinatorPolicyHashes.push(hash.toLowerCase());
  }
  if (coordinatorPolicyHashes.length === 0) {
    problems.push(
      'Policies: no policy has Role "coordinator", so the Coordinator\'s evidence cannot be bound to this manifest (Contrast refuses it too); regenerate it with `contrast generate`',
    );
  }

  const owners = strings(top.fields.get('SeedshareOwnerPubKeys'), 'SeedshareOwnerPubKeys', problems);
  owners.forEach((k, i) => {
    const bad = checkSeedshareOwnerKey(k);
    if (bad) problems.push(`SeedshareOwnerPubKeys[${i}]: ${bad}`);
  });
  if (owners.length === 0) {
    problems.push(
      'SeedshareOwnerPubKeys: empty, so the Coordinator accepts Recover from nobody and hands out no seed share; generate the manifest with a seed-share owner (`contrast generate --add-seedshare-owner-key seedshare-owner.pem`)',
    );
  }
  strings(top.fields.get('WorkloadOwnerKeyDigests'), 'WorkloadOwnerKeyDigests', problems).forEach((d, i) => {
    if (!HEX_SHA256.test(d))
      problems.push(`WorkloadOwnerKeyDigests[${i}]: a key digest is 64 hex characters (SHA-256)`);
  });
  strings(top.fields.get('WorkloadOwnerPubKeys'), 'WorkloadOwnerPubKeys', problems).forEach((k, i) => {
    const bad = checkWorkloadOwnerKey(k);
    if (bad) problems.push(`WorkloadOwnerPubKeys[${i}]: ${bad}`);
  });

  let referenceValues: ReferenceValues | undefined;
  try {
    referenceValues = parseReferenceValues(top.fields.get('ReferenceValues'), source);
  } catch (err) {
    if (!(err instanceof InputError) || problems.length === 0) throw err;
    problems.push(
      err.message
        .split('\n')
        .slice(1, -1)
        .map((l) => l.replace(/^\s*- /, ''))
        .join('\n  - '),
    );
  }
  // Releases before the APEIP shape: manifest Validate requires exactly one Coordinator policy
  // (C internal/manifest/manifest.go, `coordinatorCount != 1` / CoordinatorCountError) and the
  // client binds the evidence to that one hash (`CoordinatorPolicyHash`). Only the newest
  // Validate (`CoordinatorPolicyHashes`, "implicitly checks Coordinator count") accepts several.
  if (referenceValues && referenceValues.shape !== 'apeip' && coordinatorPolicyHashes.length > 1) {
    problems.push(
      `Policies: ${coordinatorPolicyHashes.length} policies have Role "coordinator"; a manifest of the ${referenceValues.shape} shape's releases must have exactly one (their manifest Validate refuses several)`,
    );
  }
  if (problems.length || !referenceValues) {
    throw new InputError(
      `${source} is not a manifest the Coordinator would accept:\n  - ${problems.join('\n  - ')}\nNothing was accepted; fix the manifest with \`contrast generate\` (then \`contrast set\` it) — docs/compatibility.md lists what this project supports.`,
      'bundle-invalid',
    );
  }
  return {
    bytes,
    sha256: sha256Hex(bytes),
    coordinatorPolicyHashes,
    seedshareOwnerPubKeys: owners.map((k) => k.toLowerCase()),
    referenceValues,
  };
}

/**
 * The identity of the Coordinator's manifest history, recorded with each mesh CA key
 * (reconcile/mesh-ca.ts). The state guard's `UpdateState` (a `contrast set`) appends a
 * transition that names the previous one — a new transition hash even for identical manifest
 * bytes — while `ResetState` (a user's Recover) and a peer recovery append none
 * (edgelesssys/contrast coordinator/internal/stateguard/stateguard.go). Releases with the
 * state guard return the latest transition hash in GetManifests
 * (coordinator/internal/userapi/userapi.go); the earlier authority generation does not
 * (coordinator/internal/authority/userapi.go), and there the ordered manifest list stands in:
 * it grows by one entry per transition (GetHistory walks the transitions), so it changes on
 * every `contrast set` too. The kind is part of the identity: two kinds never match.
 */
export function historyIdentity(
  manifests: readonly Uint8Array[],
  latestTransitionHash: Uint8Array | undefined,
): string {
  if (latestTransitionHash && latestTransitionHash.length > 0)
    return `transition:${Buffer.from(latestTransitionHash).toString('hex')}`;
  // The hashes of the manifests in order: unambiguous whatever the manifests' lengths.
  return `manifest-list:${sha256Hex(...manifests.map((m) => Buffer.from(sha256Hex(m), 'hex')))}`;
}
