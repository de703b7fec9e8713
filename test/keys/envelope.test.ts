/**
 * KMS error paths that moto cannot produce (it ignores key policies): an in-process stub of
 * the SDK client stands in for AWS here, and only here.
 */
import { randomBytes } from 'node:crypto';
import type { KMSClient } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { decryptOwnerKey, encryptOwnerKey } from '../../lambda/keys/envelope.ts';
import { InputError, UnreachableError } from '../../lambda/shared/errors.ts';

function stubKms(fail: { name: string; status?: number }): KMSClient {
  return {
    send: async () => {
      const err = new Error(`stub ${fail.name}`) as Error & { $metadata: object; $fault: string };
      err.name = fail.name;
      err.$metadata = { httpStatusCode: fail.status ?? 400 };
      err.$fault = (fail.status ?? 400) >= 500 ? 'server' : 'client';
      throw err;
    },
  } as unknown as KMSClient;
}

const ctx = {
  'contrast-autorecover:deployment': 'prod',
  'contrast-autorecover:purpose': 'seedshare-owner-key',
  'contrast-autorecover:bundle-sha256': 'ab',
};
const enc = {
  scheme: 'kms-envelope-aes-256-gcm' as const,
  kmsKeyId: 'arn:k',
  encryptedDataKey: 'AAAA',
  iv: 'AAAAAAAAAAAAAAAA',
  ciphertext: 'AAAA',
  tag: 'AAAAAAAAAAAAAAAAAAAAAA==',
};

describe('KMS failures', () => {
  it('a key the caller may not use: clear message naming key, context and the key policy', async () => {
    const p = encryptOwnerKey(stubKms({ name: 'AccessDeniedException' }), 'arn:k', ctx, randomBytes(10));
    await expect(p).rejects.toBeInstanceOf(InputError);
    await expect(p).rejects.toThrow(
      /GenerateDataKey with key arn:k was refused \(AccessDeniedException\).*contrast-autorecover:deployment=prod.*key policy/,
    );
    const d = decryptOwnerKey(stubKms({ name: 'AccessDeniedException' }), enc, ctx);
    await expect(d).rejects.toThrow(/Decrypt with key arn:k was refused/);
  });

  it('a disabled key is refused with what to check', async () => {
    await expect(decryptOwnerKey(stubKms({ name: 'DisabledException' }), enc, ctx)).rejects.toThrow(
      /exists and is enabled/,
    );
  });

  it('a key or key policy that does not let the caller use it is config-invalid (a setting; re-enrolling would not help)', async () => {
    for (const name of [
      'AccessDeniedException',
      'NotFoundException',
      'DisabledException',
      'KMSInvalidStateException',
      'InvalidKeyUsageException',
      'SomeFutureRefusalException',
    ]) {
      await expect(decryptOwnerKey(stubKms({ name }), enc, ctx), name).rejects.toMatchObject({
        outcome: 'config-invalid',
      });
      await expect(encryptOwnerKey(stubKms({ name }), 'arn:k', ctx, randomBytes(10)), name).rejects.toMatchObject({
        outcome: 'config-invalid',
      });
    }
  });

  it('a data key that belongs to another context or key is bundle-invalid: re-enroll', async () => {
    for (const name of ['InvalidCiphertextException', 'IncorrectKeyException']) {
      const d = decryptOwnerKey(stubKms({ name }), enc, ctx);
      await expect(d, name).rejects.toMatchObject({ outcome: 'bundle-invalid' });
      await expect(d, name).rejects.toThrow(/re-enroll this deployment/);
    }
  });

  it('throttling and 5xx are transient (unreachable → retried)', async () => {
    await expect(decryptOwnerKey(stubKms({ name: 'ThrottlingException' }), enc, ctx)).rejects.toBeInstanceOf(
      UnreachableError,
    );
    await expect(
      decryptOwnerKey(stubKms({ name: 'KMSInternalException', status: 500 }), enc, ctx),
    ).rejects.toBeInstanceOf(UnreachableError);
  });

  it('a data key of the wrong size is refused and zeroed', async () => {
    const short = Buffer.alloc(16, 7);
    const kms = { send: async () => ({ Plaintext: short }) } as unknown as KMSClient;
    await expect(decryptOwnerKey(kms, enc, ctx)).rejects.toThrow(/no 256-bit data key/);
    expect(short.every((b) => b === 0)).toBe(true);
  });

  it('the plaintext data key is zeroed after encryption', async () => {
    const dataKey = randomBytes(32);
    const kms = {
      send: async () => ({ Plaintext: dataKey, CiphertextBlob: randomBytes(64), KeyId: 'arn:k' }),
    } as unknown as KMSClient;
    const out = await encryptOwnerKey(kms, 'arn:k', ctx, Buffer.from('owner key der'));
    expect(dataKey.every((b) => b === 0)).toBe(true);
    expect(out.ciphertext).not.toContain(Buffer.from('owner key der').toString('base64'));
  });
});
