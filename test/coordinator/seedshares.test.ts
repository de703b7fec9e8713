import { constants, createPublicKey, publicEncrypt } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  decryptSeed,
  findShare,
  ownerKeyFromDer,
  ownerKeyFromPem,
  parseSeedShareDocument,
  pemBufferFromDer,
  publicKeyHex,
} from '../../lambda/coordinator/seedshares.ts';
import { InputError } from '../../lambda/shared/errors.ts';
import { cachedOwnerKey, makeWorkspace, type Workspace } from '../../testing/workspace.ts';

let ws: Workspace;
beforeAll(async () => {
  ws = await makeWorkspace();
});

describe('seed-share documents', () => {
  it('picks the share of the owner key and decrypts the seed with RSA-OAEP-SHA256 label "seedshare"', async () => {
    const other = await cachedOwnerKey(1536);
    const wsMulti = await makeWorkspace({ extraOwners: [other.publicKey] });
    const doc = parseSeedShareDocument(wsMulti.seedShares);
    expect(doc.shares).toHaveLength(2);
    const key = ownerKeyFromPem(wsMulti.ownerKeyPem);
    const share = findShare(doc, publicKeyHex(key));
    expect(share.publicKeyHex).toBe(wsMulti.ownerPublicKeyHex);
    expect(decryptSeed(share, key).equals(wsMulti.seed)).toBe(true);
    expect(doc.salt.equals(wsMulti.salt)).toBe(true);
  });

  it('refuses a share encrypted with another OAEP label', () => {
    const key = ownerKeyFromPem(ws.ownerKeyPem);
    const ct = publicEncrypt(
      {
        key: createPublicKey(key),
        padding: constants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: 'sha256',
        oaepLabel: Buffer.from('other'),
      },
      Buffer.alloc(64, 7),
    );
    expect(() => decryptSeed({ publicKeyHex: ws.ownerPublicKeyHex, encryptedSeed: ct }, key)).toThrow(
      /does not decrypt/,
    );
  });

  it('refuses a seed shorter than 32 bytes and names the size', () => {
    const key = ownerKeyFromPem(ws.ownerKeyPem);
    const ct = publicEncrypt(
      {
        key: createPublicKey(key),
        padding: constants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: 'sha256',
        oaepLabel: Buffer.from('seedshare'),
      },
      Buffer.alloc(16, 1),
    );
    expect(() => decryptSeed({ publicKeyHex: ws.ownerPublicKeyHex, encryptedSeed: ct }, key)).toThrow(
      /16 bytes.*at least 32/,
    );
  });

  it('says "no matching seed share" when the key owns none', async () => {
    const doc = parseSeedShareDocument(ws.seedShares);
    const other = await cachedOwnerKey(1536);
    expect(() => findShare(doc, publicKeyHex(other.privateKey))).toThrow(/no matching seed share/);
  });

  it.each([
    ['malformed JSON', '{"SeedShares": [', /not valid JSON/],
    ['truncated JSON', () => ws.seedShares.subarray(0, ws.seedShares.length - 10).toString(), /not valid JSON/],
    ['no shares', '{"SeedShares": [], "salt": "AAAA"}', /no seed shares/],
    [
      'salt of 16 bytes',
      () => JSON.stringify({ ...JSON.parse(ws.seedShares.toString()), salt: Buffer.alloc(16).toString('base64') }),
      /salt is 16 bytes.*exactly 32/,
    ],
    ['salt missing', () => JSON.stringify({ SeedShares: JSON.parse(ws.seedShares.toString()).SeedShares }), /salt/],
    ['non-base64 seed', '{"SeedShares": [{"PublicKey": "00", "EncryptedSeed": "%%%"}], "salt": "AAAA"}', /base64/],
  ])('refuses %s with a clear message', (_name, input, message) => {
    const text = typeof input === 'function' ? input() : input;
    const err = (() => {
      try {
        parseSeedShareDocument(Buffer.from(text));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain('seed-shares.json');
  });
});

describe('owner key PEM', () => {
  it('accepts PKCS#1 "RSA PRIVATE KEY" only', async () => {
    const { privateKey } = await cachedOwnerKey(2048);
    const pkcs8 = Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' }));
    expect(() => ownerKeyFromPem(pkcs8)).toThrow(/"PRIVATE KEY".*expected "RSA PRIVATE KEY"/);
    expect(() => ownerKeyFromPem(Buffer.from('hello'))).toThrow(/not a PEM file/);
    const truncated = Buffer.from(ws.ownerKeyPem.toString().slice(0, 200) + '\n-----END RSA PRIVATE KEY-----\n');
    expect(() => ownerKeyFromPem(truncated)).toThrow(/does not parse/);
    expect(publicKeyHex(ownerKeyFromPem(ws.ownerKeyPem))).toBe(ws.ownerPublicKeyHex);
  });

  it('refuses DER that is not a PKCS#1 RSA key as a bundle problem', () => {
    expect(() => ownerKeyFromDer(Buffer.from('garbage'))).toThrow(/re-enroll/);
  });
});

describe('pemBufferFromDer', () => {
  it('writes the same PEM as Node, for every length modulo 3, into a Buffer', async () => {
    const { privateKey } = await cachedOwnerKey(2048);
    const der = privateKey.export({ type: 'pkcs1', format: 'der' });
    expect(pemBufferFromDer('RSA PRIVATE KEY', der).toString()).toBe(
      privateKey.export({ type: 'pkcs1', format: 'pem' }),
    );
    for (const n of [1, 2, 3, 47, 48, 49, 50]) {
      const bytes = Buffer.alloc(n, n);
      const expected = `-----BEGIN X-----\n${bytes.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END X-----\n`;
      expect(pemBufferFromDer('X', bytes).toString()).toBe(expected);
    }
  });
});
