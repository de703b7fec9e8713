/**
 * Seed-share documents (`seed-shares.json`, docs/protocol.md §2) and the decryption of one
 * share with the seed-share owner's RSA key (RSA-OAEP, SHA-256, label "seedshare").
 */
import { constants, createPrivateKey, createPublicKey, privateDecrypt, type KeyObject } from 'node:crypto';
import * as z from '../shared/zod.ts';
import { InputError } from '../shared/errors.ts';

const SALT_BYTES = 32;
const MIN_SEED_BYTES = 32;
const OAEP_LABEL = Buffer.from('seedshare');

const STD_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const base64Field = z.string().check(z.refine((s) => STD_BASE64.test(s) && s.length % 4 === 0, 'not standard base64'));

const seedShareDocSchema = z.looseObject({
  SeedShares: z
    .array(z.looseObject({ PublicKey: z.string(), EncryptedSeed: base64Field }))
    .check(z.minLength(1, 'no seed shares')),
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
    throw new InputError(
      `${source} is not valid JSON (${(err as Error).message}); use the seed-shares.json that \`contrast set\` wrote`,
      'bundle-invalid',
    );
  }
  const parsed = seedShareDocSchema.safeParse(json);
  if (!parsed.success) {
    throw new InputError(`${source} is not a seed-share document: ${z.prettifyError(parsed.error)}`, 'bundle-invalid');
  }
  const salt = Buffer.from(parsed.data.salt, 'base64');
  if (salt.length !== SALT_BYTES) {
    throw new InputError(
      `${source}: salt is ${salt.length} bytes, the Coordinator requires exactly ${SALT_BYTES}; use the seed-shares.json from the first \`contrast set\``,
      'bundle-invalid',
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
  if (pub.asymmetricKeyType !== 'rsa')
    throw new InputError(`the seed-share owner key must be RSA, got ${pub.asymmetricKeyType}`, 'bundle-invalid');
  return pub.export({ type: 'pkcs1', format: 'der' }).toString('hex');
}

/**
 * Loads a seed-share owner key from a PEM. Contrast writes PKCS#1 (`RSA PRIVATE KEY`) and
 * its CLI rejects other PEM types; so do we, so that a key that works here works there.
 */
export function ownerKeyFromPem(pem: Buffer, source = 'seedshare-owner.pem'): KeyObject {
  // Read only the (non-secret) label: decoding the whole file would leave a copy of the key
  // in an immutable JS string that cannot be zeroed.
  const begin = pem.indexOf('-----BEGIN ');
  const labelEnd = begin < 0 ? -1 : pem.indexOf('-----', begin + 11);
  if (begin < 0 || labelEnd < 0 || labelEnd - begin > 64) {
    throw new InputError(
      `${source} is not a PEM file; expected the "RSA PRIVATE KEY" that \`contrast generate\` wrote`,
      'bundle-invalid',
    );
  }
  const label = pem.subarray(begin + 11, labelEnd).toString('latin1');
  if (label !== 'RSA PRIVATE KEY') {
    throw new InputError(
      `${source} holds a "${label}" PEM block; expected "RSA PRIVATE KEY" (PKCS#1), as \`contrast generate\` writes`,
      'bundle-invalid',
    );
  }
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new InputError(
      `${source} holds an "RSA PRIVATE KEY" block that does not parse; is the file truncated?`,
      'bundle-invalid',
    );
  }
}

/** Loads the owner key from PKCS#1 DER (the form kept encrypted in the recovery bundle). */
export function ownerKeyFromDer(der: Buffer): KeyObject {
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs1' });
  } catch {
    throw new InputError(
      'the decrypted seed-share owner key is not a PKCS#1 RSA key; re-enroll the deployment',
      'bundle-invalid',
    );
  }
}

export function findShare(doc: SeedShareDocument, ownerPublicKeyHex: string, source = 'seed-shares.json'): SeedShare {
  const share = doc.shares.find((s) => s.publicKeyHex === ownerPublicKeyHex);
  if (!share) {
    throw new InputError(
      `no matching seed share: none of the ${doc.shares.length} share(s) in ${source} belongs to the owner key (public key ${ownerPublicKeyHex.slice(0, 16)}…); use the seedshare-owner.pem of this workspace`,
      'bundle-invalid',
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
    seed = privateDecrypt(
      { key: ownerKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: OAEP_LABEL },
      share.encryptedSeed,
    );
  } catch {
    throw new InputError(
      'the seed share does not decrypt with the owner key (RSA-OAEP-SHA256, label "seedshare"); the workspace files do not belong together',
      'bundle-invalid',
    );
  }
  if (seed.length < MIN_SEED_BYTES) {
    const n = seed.length;
    seed.fill(0);
    throw new InputError(
      `the decrypted seed is ${n} bytes; the Coordinator requires at least ${MIN_SEED_BYTES}`,
      'bundle-invalid',
    );
  }
  return seed;
}

const B64 = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/');

/**
 * PEM of a DER key, written straight into a Buffer. TLS contexts take keys only as PEM, and
 * `KeyObject.export({format: 'pem'})` returns a JS string, which cannot be zeroed; this
 * Buffer can (the caller zeroes it once the context holds the key).
 */
export function pemBufferFromDer(label: string, der: Buffer): Buffer {
  const head = Buffer.from(`-----BEGIN ${label}-----\n`);
  const tail = Buffer.from(`-----END ${label}-----\n`);
  const b64Len = Math.ceil(der.length / 3) * 4;
  const out = Buffer.alloc(head.length + b64Len + Math.ceil(b64Len / 64) + tail.length);
  let o = head.copy(out, 0);
  let col = 0;
  const put = (c: number) => {
    out[o++] = c;
    if (++col === 64) {
      out[o++] = 0x0a;
      col = 0;
    }
  };
  for (let i = 0; i < der.length; i += 3) {
    const a = der[i]!;
    const b = i + 1 < der.length ? der[i + 1]! : 0;
    const c = i + 2 < der.length ? der[i + 2]! : 0;
    put(B64[a >> 2]!);
    put(B64[((a & 3) << 4) | (b >> 4)]!);
    put(i + 1 < der.length ? B64[((b & 15) << 2) | (c >> 6)]! : 0x3d);
    put(i + 2 < der.length ? B64[c & 63]! : 0x3d);
  }
  if (col !== 0) out[o++] = 0x0a;
  o += tail.copy(out, o);
  return out.subarray(0, o);
}
