/**
 * Builds a recovery bundle from a Contrast workspace's files, checking everything a later
 * recovery depends on before anything is written (fail closed, early): the manifest is one
 * the Coordinator would accept, with reference values this project judges exactly as the
 * manifest's Contrast release does (anything else is refused by name: lambda/coordinator/
 * manifest.ts), a Coordinator policy and at least one seed-share owner; the owner key is
 * PKCS#1 and one of those owners — in every supported release the key `Recover` authorizes
 * (docs/compatibility.md), so it is the only key captured; one share belongs to it and
 * decrypts to a seed of the right size; the salt is 32 bytes.
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import { InputError } from '../shared/errors.ts';
import { DEPLOYMENT_NAME } from '../shared/names.ts';
import { parseManifest } from '../coordinator/manifest.ts';
import { sha256Hex } from '../shared/digest.ts';
import {
  decryptSeed,
  findShare,
  ownerKeyFromPem,
  parseSeedShareDocument,
  publicKeyHex,
} from '../coordinator/seedshares.ts';
import { BUNDLE_FORMAT, BUNDLE_VERSION, type BundleDocument } from '../keys/bundle.ts';
import { ownerKeyContext } from '../keys/context.ts';
import { encryptOwnerKey } from '../keys/envelope.ts';

export interface WorkspaceFiles {
  manifest: Buffer;
  seedShares: Buffer;
  /** The caller zeroes this Buffer after the call. */
  ownerKeyPem: Buffer;
}

export interface EnrollSummary {
  manifestSha256: string;
  coordinatorPolicyHashes: string[];
  /** The manifest's reference-value shape (docs/compatibility.md), which decides the rules applied. */
  referenceShape: string;
  ownerPublicKeySha256: string;
  shares: number;
  encryptionContext: Record<string, string>;
}

export async function buildBundle(input: {
  deployment: string;
  kmsKeyId: string;
  files: WorkspaceFiles;
  kms: KMSClient;
  collateral?: Record<string, unknown>;
  now?: Date;
}): Promise<{ document: BundleDocument; summary: EnrollSummary }> {
  const { deployment, kmsKeyId, files, kms } = input;
  if (!DEPLOYMENT_NAME.test(deployment)) {
    throw new InputError(
      `deployment name "${deployment}" is not valid: use 1-128 letters, digits, '.', '_' or '-'`,
      'event-invalid',
    );
  }
  const manifest = parseManifest(files.manifest);
  const doc = parseSeedShareDocument(files.seedShares);
  const ownerKey = ownerKeyFromPem(files.ownerKeyPem);
  const pubHex = publicKeyHex(ownerKey);
  if (!manifest.seedshareOwnerPubKeys.includes(pubHex)) {
    throw new InputError(
      "the owner key in seedshare-owner.pem is not among the manifest's SeedshareOwnerPubKeys: the Coordinator would refuse Recover from it; use this workspace's key or add it with `contrast generate --add-seedshare-owner-key`",
      'bundle-invalid',
    );
  }
  const share = findShare(doc, pubHex);
  decryptSeed(share, ownerKey).fill(0); // proves the share decrypts; the seed itself is not kept

  const context = ownerKeyContext(deployment, files.manifest, files.seedShares);
  const der = ownerKey.export({ type: 'pkcs1', format: 'der' });
  let ownerKeyEnc;
  try {
    ownerKeyEnc = await encryptOwnerKey(kms, kmsKeyId, context, der);
  } finally {
    der.fill(0);
  }
  const document: BundleDocument = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    deployment,
    createdAt: (input.now ?? new Date()).toISOString(),
    manifest: files.manifest.toString('base64'),
    seedShares: files.seedShares.toString('base64'),
    ownerPublicKey: pubHex,
    ownerKey: ownerKeyEnc,
    ...(input.collateral ? { collateral: input.collateral } : {}),
  };
  return {
    document,
    summary: {
      manifestSha256: manifest.sha256,
      coordinatorPolicyHashes: manifest.coordinatorPolicyHashes,
      referenceShape: manifest.referenceValues.shape,
      ownerPublicKeySha256: sha256Hex(Buffer.from(pubHex, 'hex')),
      shares: doc.shares.length,
      encryptionContext: context,
    },
  };
}
