import { describe, expect, it } from 'vitest';
import { BUNDLE_FORMAT, parseBundle, serializeBundle, type BundleDocument } from '../../lambda/keys/bundle.ts';
import { bundleDigest, contextAad, ownerKeyContext } from '../../lambda/keys/context.ts';

const doc: BundleDocument = {
  format: BUNDLE_FORMAT,
  version: 1,
  deployment: 'prod',
  createdAt: '2026-11-27T00:00:00.000Z',
  manifest: Buffer.from('{"Policies":{}}').toString('base64'),
  seedShares: Buffer.from('{}').toString('base64'),
  ownerPublicKey: 'abcd',
  ownerKey: { scheme: 'kms-envelope-aes-256-gcm', kmsKeyId: 'k', encryptedDataKey: 'AAAA', iv: 'AAAAAAAAAAAAAAAA', ciphertext: 'AAAA', tag: 'AAAAAAAAAAAAAAAAAAAAAA==' },
};

describe('recovery bundle', () => {
  it('round-trips version 1 and keeps the exact manifest bytes', () => {
    const b = parseBundle(serializeBundle(doc), 'secret x');
    expect(b.manifest.toString()).toBe('{"Policies":{}}');
    expect(b.document.ownerKey.kmsKeyId).toBe('k');
  });

  it('refuses an unknown version and says what to do', () => {
    expect(() => parseBundle(JSON.stringify({ ...doc, version: 2 }), 'secret x')).toThrow(/version 2; this build reads version\(s\) 1 — upgrade/);
  });

  it('refuses other documents and malformed bundles', () => {
    expect(() => parseBundle('not json', 'secret x')).toThrow(/not JSON.*enroll/);
    expect(() => parseBundle(JSON.stringify({ hello: 1 }), 'secret x')).toThrow(/format is not/);
    expect(() => parseBundle(JSON.stringify({ ...doc, ownerKey: { ...doc.ownerKey, scheme: 'plain' } }), 'secret x')).toThrow(/malformed version-1/);
    const { ownerKey: _drop, ...noKey } = doc;
    expect(() => parseBundle(JSON.stringify(noKey), 'secret x')).toThrow(/ownerKey/);
  });
});

describe('encryption context', () => {
  it('is built from the configured deployment and binds manifest and seed shares', () => {
    const m = Buffer.from('manifest');
    const s = Buffer.from('shares');
    const ctx = ownerKeyContext('prod', m, s);
    expect(ctx).toEqual({
      'contrast-autorecover:deployment': 'prod',
      'contrast-autorecover:purpose': 'seedshare-owner-key',
      'contrast-autorecover:bundle-sha256': bundleDigest(m, s),
    });
    expect(ownerKeyContext('prod', Buffer.from('manifest2'), s)['contrast-autorecover:bundle-sha256']).not.toBe(ctx['contrast-autorecover:bundle-sha256']);
    expect(ownerKeyContext('staging', m, s)['contrast-autorecover:deployment']).toBe('staging');
  });

  it('has canonical associated data independent of key order', () => {
    expect(contextAad({ b: '1', a: '2' }).equals(contextAad({ a: '2', b: '1' }))).toBe(true);
  });
});
