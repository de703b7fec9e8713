/**
 * Seed-share documents (`seed-shares.json`, PROTOCOL.md §2) and the decryption of one
 * share with the seed-share owner's RSA key (RSA-OAEP, SHA-256, label "seedshare").
 */
import { constants, createPrivateKey, createPublicKey, privateDecrypt, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { InputError } from '../errors.ts';

export const SALT_BYTES = 32;
export const MIN_SEED_BYTES = 32;
const OAEP_LABEL = Buffer.from('seedshare');

const STD_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const base64Field = z.string().refine((s) => STD_BASE64.test(s) && s.length % 4 === 0, 'not standard base64');

const seedShareDocSchema = z.looseObject({
  SeedShares: z.array(z.looseObject({ PublicKey: z.string(), EncryptedSeed: base64Field })).min(1, 'no seed shares'),
  salt: base64Field,
});

export interface SeedShare {
  publicKeyHex: string;
  encryptedSeed: Buffer;
}

export interface SeedShareDocument {
  /** The exact bytes as enrolled. */
  bytes: Uint8Array;
  shares: SeedShare[];
  /** Not secret: passed through to Recover unchanged. */
  salt: Buffer;
}

export function parseSeedShareDocument(bytes: Uint8Array, source = 'seed-shares.json'): SeedShareDocument {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new InputError(`${source} is not valid JSON (${(err as Error).message}); use the seed-shares.json that \`contrast set\` wrote`);
  }
  const parsed = seedShareDocSchema.safeParse(json);
  if (!parsed.success) {
    throw new InputError(`${source} is not a seed-share document: ${z.prettifyError(parsed.error)}`);
  }
  const salt = Buffer.from(parsed.data.salt, 'base64');
  if (salt.length !== SALT_BYTES) {
    throw new InputError(
      `${source}: salt is ${salt.length} bytes, the Coordinator requires exactly ${SALT_BYTES}; use the seed-shares.json from the first \`contrast set\``,
    );
  }
  return {
    bytes,
    salt,
    shares: parsed.data.SeedShares.map((s) => ({
      publicKeyHex: s.PublicKey.toLowerCase(),
      encryptedSeed: Buffer.from(s.EncryptedSeed, 'base64'),
    })),
  };
}

/** Lowercase hex of the PKCS#1 DER encoding of an RSA public key (how Contrast names owners). */
export function publicKeyHex(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== 'rsa') throw new InputError(`the seed-share owner key must be RSA, got ${pub.asymmetricKeyType}`);
  return pub.export({ type: 'pkcs1', format: 'der' }).toString('hex');
}

/**
 * Loads a seed-share owner key from a PEM. Contrast writes PKCS#1 (`RSA PRIVATE KEY`) and
 * its CLI rejects other PEM types; so do we, so that a key that works here works there.
 */
export function ownerKeyFromPem(pem: Buffer, source = 'seedshare-owner.pem'): KeyObject {
  const text = pem.toString('latin1');
  const match = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(text);
  if (!match) throw new InputError(`${source} is not a PEM file; expected the "RSA PRIVATE KEY" that \`contrast generate\` wrote`);
  if (match[1] !== 'RSA PRIVATE KEY') {
    throw new InputError(`${source} holds a "${match[1]}" PEM block; expected "RSA PRIVATE KEY" (PKCS#1), as \`contrast generate\` writes`);
  }
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new InputError(`${source} holds an "RSA PRIVATE KEY" block that does not parse; is the file truncated?`);
  }
}

/** Loads the owner key from PKCS#1 DER (the form kept encrypted in the recovery bundle). */
export function ownerKeyFromDer(der: Buffer): KeyObject {
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs1' });
  } catch {
    throw new InputError('the decrypted seed-share owner key is not a PKCS#1 RSA key; re-enroll the deployment', 'bundle-invalid');
  }
}

export function findShare(doc: SeedShareDocument, ownerPublicKeyHex: string, source = 'seed-shares.json'): SeedShare {
  const share = doc.shares.find((s) => s.publicKeyHex === ownerPublicKeyHex);
  if (!share) {
    throw new InputError(
      `no matching seed share: none of the ${doc.shares.length} share(s) in ${source} belongs to the owner key (public key ${ownerPublicKeyHex.slice(0, 16)}…); use the seedshare-owner.pem of this workspace`,
    );
  }
  return share;
}

/**
 * Decrypts the owner's share. The returned Buffer is the secret seed: the caller must
 * zero it (`fill(0)`) once Recover has been sent.
 */
export function decryptSeed(share: SeedShare, ownerKey: KeyObject): Buffer {
  let seed: Buffer;
  try {
    seed = privateDecrypt({ key: ownerKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: OAEP_LABEL }, share.encryptedSeed);
  } catch {
    throw new InputError('the seed share does not decrypt with the owner key (RSA-OAEP-SHA256, label "seedshare"); the workspace files do not belong together');
  }
  if (seed.length < MIN_SEED_BYTES) {
    const n = seed.length;
    seed.fill(0);
    throw new InputError(`the decrypted seed is ${n} bytes; the Coordinator requires at least ${MIN_SEED_BYTES}`);
  }
  return seed;
}
