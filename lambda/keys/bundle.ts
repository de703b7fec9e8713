/**
 * The recovery bundle: one JSON document per deployment, kept in Secrets Manager.
 *
 * Version 1:
 * {
 *   "format": "contrast-autorecover/recovery-bundle",
 *   "version": 1,
 *   "deployment": "<name at enroll time; informational — the KMS context uses the configured name>",
 *   "createdAt": "<ISO time>",
 *   "manifest": "<std base64 of the exact manifest.json bytes>",
 *   "seedShares": "<std base64 of the exact seed-shares.json bytes>",
 *   "ownerPublicKey": "<hex PKCS#1 DER of the owner's public key (not secret)>",
 *   "ownerKey": {                       // the owner's private key, never in plain text
 *     "scheme": "kms-envelope-aes-256-gcm",
 *     "kmsKeyId": "<key ARN that generated the data key>",
 *     "encryptedDataKey": "<base64 KMS CiphertextBlob>",
 *     "iv": "<base64, 12 bytes>", "ciphertext": "<base64 of AES-256-GCM(PKCS#1 DER)>", "tag": "<base64, 16 bytes>"
 *   },
 *   "collateral": { ... }              // optional, non-secret attestation collateral cache
 * }
 * The data key is wrapped by KMS under the encryption context of keys/context.ts; the
 * same context is the AES-GCM associated data.
 */
import * as z from '../shared/zod.ts';
import { InputError } from '../shared/errors.ts';

export const BUNDLE_FORMAT = 'contrast-autorecover/recovery-bundle';
export const BUNDLE_VERSION = 1;
const SUPPORTED_VERSIONS = [BUNDLE_VERSION] as const;

const b64 = z.string().check(z.regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not standard base64'));
const nonEmptyB64 = b64.check(z.minLength(1));

const ownerKeySchema = z.object({
  scheme: z.literal('kms-envelope-aes-256-gcm'),
  kmsKeyId: z.string().check(z.minLength(1)),
  encryptedDataKey: nonEmptyB64,
  iv: b64,
  ciphertext: nonEmptyB64,
  tag: b64,
});

const bundleV1Schema = z.object({
  format: z.literal(BUNDLE_FORMAT),
  version: z.literal(1),
  deployment: z.string().check(z.minLength(1)),
  createdAt: z.string(),
  manifest: nonEmptyB64,
  seedShares: nonEmptyB64,
  ownerPublicKey: z.string().check(z.regex(/^[0-9a-f]+$/, 'not lowercase hex')),
  ownerKey: ownerKeySchema,
  collateral: z.optional(z.record(z.string(), z.unknown())),
});

export type EncryptedOwnerKey = z.infer<typeof ownerKeySchema>;
export type BundleDocument = z.infer<typeof bundleV1Schema>;

export interface RecoveryBundle {
  document: BundleDocument;
  manifest: Buffer;
  seedShares: Buffer;
}

export function serializeBundle(doc: BundleDocument): string {
  return JSON.stringify(doc, null, 1);
}

/**
 * Whether two bundle documents hold the same enrollment: everything but the non-secret
 * collateral cache, which the scheduled refresh rewrites in a new version of the secret.
 */
export function sameEnrollment(a: BundleDocument, b: BundleDocument): boolean {
  const { collateral: _a, ...restA } = a;
  const { collateral: _b, ...restB } = b;
  return serializeBundle(restA as BundleDocument) === serializeBundle(restB as BundleDocument);
}

/** Parses a bundle; unknown versions and malformed documents are refused with what to do. */
export function parseBundle(text: string, source: string): RecoveryBundle {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new InputError(
      `${source} does not hold a recovery bundle (not JSON); run \`contrast-autorecover enroll\` for this deployment`,
      'bundle-invalid',
    );
  }
  const head = z.object({ format: z.string(), version: z.number() }).safeParse(json);
  if (!head.success || head.data.format !== BUNDLE_FORMAT) {
    throw new InputError(
      `${source} does not hold a recovery bundle (format is not "${BUNDLE_FORMAT}"); run \`contrast-autorecover enroll\``,
      'bundle-invalid',
    );
  }
  if (!(SUPPORTED_VERSIONS as readonly number[]).includes(head.data.version)) {
    throw new InputError(
      `${source} holds a recovery bundle of version ${head.data.version}; this build reads version(s) ${SUPPORTED_VERSIONS.join(', ')} — upgrade contrast-autorecover or re-enroll with this version`,
      'bundle-invalid',
    );
  }
  const parsed = bundleV1Schema.safeParse(json);
  if (!parsed.success) {
    throw new InputError(
      `${source} holds a malformed version-1 recovery bundle: ${z.prettifyError(parsed.error)}; re-enroll the deployment`,
      'bundle-invalid',
    );
  }
  return {
    document: parsed.data,
    manifest: Buffer.from(parsed.data.manifest, 'base64'),
    seedShares: Buffer.from(parsed.data.seedShares, 'base64'),
  };
}
