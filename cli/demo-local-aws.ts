/**
 * LOCAL DEMO KEY PROVIDER — not AWS, not secure storage. When moto is not installed, the
 * demo runs the real enroll/reconcile code against these in-process stand-ins for the
 * KMS and Secrets Manager clients. They keep the parts that matter for the flow: the data
 * key is wrapped under a master key that never leaves this object, and Decrypt refuses a
 * different encryption context, as KMS does. Nothing outside cli/demo.ts uses them.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { DecryptCommand, GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { contextAad } from '../lambda/keys/context.ts';

class AwsLikeError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

export class LocalDemoKms {
  readonly keyId = 'local-demo-key';
  decrypts = 0;
  private readonly master = randomBytes(32);

  async send(command: unknown): Promise<Record<string, unknown>> {
    if (command instanceof GenerateDataKeyCommand) {
      const dataKey = randomBytes(32);
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', this.master, iv);
      c.setAAD(contextAad(command.input.EncryptionContext ?? {}));
      const blob = Buffer.concat([iv, c.update(dataKey), c.final(), c.getAuthTag()]);
      return { Plaintext: dataKey, CiphertextBlob: blob, KeyId: this.keyId };
    }
    if (command instanceof DecryptCommand) {
      this.decrypts++;
      const blob = Buffer.from(command.input.CiphertextBlob ?? new Uint8Array());
      const d = createDecipheriv('aes-256-gcm', this.master, blob.subarray(0, 12));
      d.setAAD(contextAad(command.input.EncryptionContext ?? {}));
      d.setAuthTag(blob.subarray(blob.length - 16));
      try {
        return {
          Plaintext: Buffer.concat([d.update(blob.subarray(12, blob.length - 16)), d.final()]),
          KeyId: this.keyId,
        };
      } catch {
        throw new AwsLikeError(
          'InvalidCiphertextException',
          'local demo KMS: ciphertext or encryption context does not match',
        );
      }
    }
    throw new Error('local demo KMS: unsupported command');
  }

  asClient(): KMSClient {
    return this as unknown as KMSClient;
  }
}

export class LocalDemoSecrets {
  private readonly values = new Map<string, string>();

  async send(command: unknown): Promise<Record<string, unknown>> {
    if (command instanceof GetSecretValueCommand || command instanceof PutSecretValueCommand) {
      const id = command.input.SecretId ?? '';
      if (!this.values.has(id))
        throw new AwsLikeError('ResourceNotFoundException', `local demo secrets: ${id} not found`);
      if (command instanceof PutSecretValueCommand) {
        this.values.set(id, command.input.SecretString ?? '');
        return { VersionId: randomBytes(8).toString('hex') };
      }
      return { SecretString: this.values.get(id) };
    }
    if (command instanceof CreateSecretCommand) {
      this.values.set(command.input.Name ?? '', command.input.SecretString ?? '');
      return { VersionId: randomBytes(8).toString('hex') };
    }
    throw new Error('local demo secrets: unsupported command');
  }

  asClient(): SecretsManagerClient {
    return this as unknown as SecretsManagerClient;
  }
}
