import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { BUNDLE_FORMAT, parseBundle, serializeBundle, type BundleDocument } from '../../lambda/keys/bundle.ts';
import { bundleDigest, contextAad, ownerKeyContext } from '../../lambda/keys/context.ts';
import { BundleStore } from '../../lambda/keys/store.ts';

const doc: BundleDocument = {
  format: BUNDLE_FORMAT,
  version: 1,
  deployment: 'prod',
  createdAt: '2026-11-27T00:00:00.000Z',
  manifest: Buffer.from('{"Policies":{}}').toString('base64'),
  seedShares: Buffer.from('{}').toString('base64'),
  ownerPublicKey: 'abcd',
  ownerKey: {
    scheme: 'kms-envelope-aes-256-gcm',
    kmsKeyId: 'k',
    encryptedDataKey: 'AAAA',
    iv: 'AAAAAAAAAAAAAAAA',
    ciphertext: 'AAAA',
    tag: 'AAAAAAAAAAAAAAAAAAAAAA==',
  },
};

describe('recovery bundle', () => {
  it('round-trips version 1 and keeps the exact manifest bytes', () => {
    const b = parseBundle(serializeBundle(doc), 'secret x');
    expect(b.manifest.toString()).toBe('{"Policies":{}}');
    expect(b.document.ownerKey.kmsKeyId).toBe('k');
  });

  it('refuses an unknown version and says what to do', () => {
    expect(() => parseBundle(JSON.stringify({ ...doc, version: 2 }), 'secret x')).toThrow(
      /version 2; this build reads version\(s\) 1 — upgrade/,
    );
  });

  it('refuses other documents and malformed bundles', () => {
    expect(() => parseBundle('not json', 'secret x')).toThrow(/not JSON.*enroll/);
    expect(() => parseBundle(JSON.stringify({ hello: 1 }), 'secret x')).toThrow(/format is not/);
    expect(() =>
      parseBundle(JSON.stringify({ ...doc, ownerKey: { ...doc.ownerKey, scheme: 'plain' } }), 'secret x'),
    ).toThrow(/malformed version-1/);
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
    expect(ownerKeyContext('prod', Buffer.from('manifest2'), s)['contrast-autorecover:bundle-sha256']).not.toBe(
      ctx['contrast-autorecover:bundle-sha256'],
    );
    expect(ownerKeyContext('staging', m, s)['contrast-autorecover:deployment']).toBe('staging');
  });

  it('has canonical associated data independent of key order', () => {
    expect(contextAad({ b: '1', a: '2' }).equals(contextAad({ a: '2', b: '1' }))).toBe(true);
  });
});

/** Secrets Manager error paths moto cannot produce (it ignores resource policies): an in-process stub of the SDK client. */
function stubSecrets(fail: { name: string; status?: number }): SecretsManagerClient {
  return {
    send: async () => {
      const err = new Error(`stub ${fail.name}`) as Error & { $metadata: object; $fault: string };
      err.name = fail.name;
      err.$metadata = { httpStatusCode: fail.status ?? 400 };
      err.$fault = (fail.status ?? 400) >= 500 ? 'server' : 'client';
      throw err;
    },
  } as unknown as SecretsManagerClient;
}

describe("the bundle's secret", () => {
  it('a missing secret is a missing bundle (bundle-invalid: enroll); a refused read is config-invalid (the secret policy or role)', async () => {
    await expect(new BundleStore(stubSecrets({ name: 'ResourceNotFoundException' })).load('s')).rejects.toMatchObject({
      outcome: 'bundle-invalid',
      message: expect.stringMatching(/enroll --secret-id s/),
    });
    for (const name of ['AccessDeniedException', 'DecryptionFailure']) {
      await expect(new BundleStore(stubSecrets({ name })).load('s'), name).rejects.toMatchObject({
        outcome: 'config-invalid',
        message: expect.stringMatching(/resource policy and the caller's role/),
      });
    }
    await expect(
      new BundleStore(stubSecrets({ name: 'InternalServiceError', status: 500 })).load('s'),
    ).rejects.toMatchObject({ outcome: 'unreachable' });
  });

  it('enroll: a secret the stack did not create, or a write the role may not make, is config-invalid, not a bad bundle', async () => {
    await expect(
      new BundleStore(stubSecrets({ name: 'ResourceNotFoundException' })).save('s', doc),
    ).rejects.toMatchObject({ outcome: 'config-invalid', message: expect.stringMatching(/deploy the stack first/) });
    await expect(new BundleStore(stubSecrets({ name: 'AccessDeniedException' })).save('s', doc)).rejects.toMatchObject({
      outcome: 'config-invalid',
      message: expect.stringMatching(/refused to write s/),
    });
    await expect(new BundleStore(stubSecrets({ name: 'ThrottlingException' })).save('s', doc)).rejects.toMatchObject({
      outcome: 'unreachable',
    });
  });
});
