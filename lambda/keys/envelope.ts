/**
 * Envelope encryption of the seed-share owner key: KMS GenerateDataKey (AES-256) under the
 * encryption context, AES-256-GCM locally with the context as associated data. The
 * plaintext data key and the plaintext owner key only ever live in Buffers that are zeroed
 * as soon as they are used.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { DecryptCommand, GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import type { RecoveryError } from '../shared/errors.ts';
import { InputError, UnreachableError } from '../shared/errors.ts';
import type { EncryptedOwnerKey } from './bundle.ts';
import { contextAad } from './context.ts';
import { awsErrorName, isTransientAwsError } from './aws-errors.ts';

const IV_BYTES = 12;
const TAG_BYTES = 16;

function describeContext(context: Record<string, string>): string {
  return Object.entries(context)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

function kmsFailure(op: string, keyId: string, context: Record<string, string>, err: unknown): RecoveryError {
  const name = awsErrorName(err);
  // The bundle's data key does not belong to this context (or to the key the bundle names): the bundle is the problem.
  if (name === 'InvalidCiphertextException' || name === 'IncorrectKeyException') {
    return new InputError(
      `KMS ${op} refused the owner key's data key under encryption context {${describeContext(context)}}: the bundle was enrolled for another deployment or under another key, or its manifest or seed shares changed after enrollment — re-enroll this deployment`,
      'bundle-invalid',
    );
  }
  // The key or its policy is not usable as configured: a setting, which re-enrolling does not fix.
  if (
    name === 'AccessDeniedException' ||
    name === 'NotFoundException' ||
    name === 'DisabledException' ||
    name === 'KMSInvalidStateException' ||
    name === 'InvalidKeyUsageException'
  ) {
    return new InputError(
      `KMS ${op} with key ${keyId} was refused (${name}) under encryption context {${describeContext(context)}}: check that the key exists and is enabled and that the caller's role may use it with this context (see the key policy)`,
      'config-invalid',
    );
  }
  if (isTransientAwsError(err)) {
    return new UnreachableError(`KMS ${op} with key ${keyId} failed transiently (${name}); it is retried`);
  }
  return new InputError(
    `KMS ${op} with key ${keyId} failed (${name}); check the key and the caller's permissions`,
    'config-invalid',
  );
}

export async function encryptOwnerKey(
  kms: KMSClient,
  kmsKeyId: string,
  context: Record<string, string>,
  ownerKeyDer: Buffer,
): Promise<EncryptedOwnerKey> {
  let dataKey: Uint8Array | undefined;
  let wrapped: Uint8Array | undefined;
  let keyArn: string | undefined;
  try {
    const out = await kms.send(
      new GenerateDataKeyCommand({ KeyId: kmsKeyId, KeySpec: 'AES_256', EncryptionContext: context }),
    );
    dataKey = out.Plaintext;
    wrapped = out.CiphertextBlob;
    keyArn = out.KeyId;
  } catch (err) {
    throw kmsFailure('GenerateDataKey', kmsKeyId, context, err);
  }
  if (!dataKey || dataKey.length !== 32 || !wrapped) {
    dataKey?.fill(0);
    throw new InputError(`KMS GenerateDataKey with key ${kmsKeyId} returned no usable data key`, 'bundle-invalid');
  }
  try {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', dataKey, iv);
    cipher.setAAD(contextAad(context));
    const ciphertext = Buffer.concat([cipher.update(ownerKeyDer), cipher.final()]);
    return {
      scheme: 'kms-envelope-aes-256-gcm',
      kmsKeyId: keyArn ?? kmsKeyId,
      encryptedDataKey: Buffer.from(wrapped).toString('base64'),
      iv: iv.toString('base64'),
      ciphertext: ciphertext.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
    };
  } finally {
    dataKey.fill(0);
  }
}

/**
 * Returns the owner key as PKCS#1 DER in a Buffer the caller must zero. This is the only
 * KMS Decrypt of a reconcile.
 */
export async function decryptOwnerKey(
  kms: KMSClient,
  enc: EncryptedOwnerKey,
  context: Record<string, string>,
): Promise<Buffer> {
  let dataKey: Uint8Array | undefined;
  try {
    const out = await kms.send(
      new DecryptCommand({
        KeyId: enc.kmsKeyId,
        CiphertextBlob: Buffer.from(enc.encryptedDataKey, 'base64'),
        EncryptionContext: context,
      }),
    );
    dataKey = out.Plaintext;
  } catch (err) {
    throw kmsFailure('Decrypt', enc.kmsKeyId, context, err);
  }
  if (!dataKey || dataKey.length !== 32) {
    dataKey?.fill(0);
    throw new InputError(
      `KMS Decrypt with key ${enc.kmsKeyId} returned no 256-bit data key; re-enroll the deployment`,
      'bundle-invalid',
    );
  }
  try {
    const iv = Buffer.from(enc.iv, 'base64');
    const tag = Buffer.from(enc.tag, 'base64');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES)
      throw new InputError(
        "the bundle's owner key has a malformed IV or tag; re-enroll the deployment",
        'bundle-invalid',
      );
    const decipher = createDecipheriv('aes-256-gcm', dataKey, iv);
    decipher.setAAD(contextAad(context));
    decipher.setAuthTag(tag);
    const first = decipher.update(Buffer.from(enc.ciphertext, 'base64'));
    let last: Buffer;
    try {
      last = decipher.final();
    } catch {
      first.fill(0);
      throw new InputError(
        "the bundle's owner key fails its integrity check (AES-GCM tag) under this encryption context; re-enroll the deployment",
        'bundle-invalid',
      );
    }
    const plain = Buffer.concat([first, last]);
    first.fill(0);
    last.fill(0);
    return plain;
  } finally {
    dataKey.fill(0);
  }
}
