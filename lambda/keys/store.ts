/** The recovery bundle's home: one Secrets Manager secret per deployment. */
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { InputError, UnreachableError } from '../shared/errors.ts';
import { parseBundle, serializeBundle, type BundleDocument, type RecoveryBundle } from './bundle.ts';
import { awsErrorName, isTransientAwsError } from './aws-errors.ts';

export interface SaveResult {
  created: boolean;
  versionId: string | undefined;
}

export class BundleStore {
  constructor(private readonly secrets: SecretsManagerClient) {}

  /** Loads and parses the bundle; nothing is decrypted here. */
  async load(secretId: string): Promise<RecoveryBundle> {
    return parseBundle((await this.read(secretId)).text, `secret ${secretId}`);
  }

  /**
   * The secret's value and its version id: the version `versionId`, else the current one
   * (AWSCURRENT). Secrets Manager decrypts the value with the secret's KMS key on every call:
   * each read is a KMS Decrypt in CloudTrail (AWS Secrets Manager User Guide, "Secret
   * encryption and decryption").
   */
  async read(secretId: string, versionId?: string): Promise<{ text: string; versionId: string | undefined }> {
    let out;
    try {
      out = await this.secrets.send(
        new GetSecretValueCommand({ SecretId: secretId, ...(versionId !== undefined ? { VersionId: versionId } : {}) }),
      );
    } catch (err) {
      const name = awsErrorName(err);
      if (name === 'ResourceNotFoundException') {
        throw new InputError(
          `secret ${secretId} does not exist or has no value; run \`contrast-autorecover enroll --secret-id ${secretId}\` for this deployment`,
          'bundle-invalid',
        );
      }
      if (isTransientAwsError(err))
        throw new UnreachableError(
          `Secrets Manager GetSecretValue for ${secretId} failed transiently (${name}); it is retried`,
        );
      throw new InputError(
        `Secrets Manager refused GetSecretValue for ${secretId} (${name}); check the secret's resource policy and the caller's role`,
        'config-invalid',
      );
    }
    if (out.SecretString === undefined)
      throw new InputError(
        `secret ${secretId} holds binary data, not a recovery bundle; re-enroll the deployment`,
        'bundle-invalid',
      );
    return { text: out.SecretString, versionId: out.VersionId };
  }

  /**
   * The id of the version that holds the AWSCURRENT label, from DescribeSecret: the secret's
   * metadata only ("It does not include the encrypted secret value", AWS Secrets Manager API
   * Reference, DescribeSecret), so no KMS call. Undefined when no version is current or the
   * secret is scheduled for deletion (DeletedDate): then only a read can say what is wrong.
   * A failed call throws the SDK's error unchanged; the caller decides what it means.
   */
  async currentVersion(secretId: string): Promise<string | undefined> {
    const out = await this.secrets.send(new DescribeSecretCommand({ SecretId: secretId }));
    if (out.DeletedDate !== undefined) return undefined;
    const current = Object.entries(out.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes('AWSCURRENT'));
    return current?.[0];
  }

  /**
   * Puts a new version of the secret. An absent secret is created only with `createWithKmsKeyId`,
   * the key that encrypts the secret itself: the CDK construct creates one secret per deployment
   * under its bundle-secrets key, and that key must not be the recovery key that holds the owner
   * key's envelope (else every read of the bundle is a Decrypt on the recovery key).
   */
  async save(secretId: string, doc: BundleDocument, createWithKmsKeyId?: string): Promise<SaveResult> {
    const SecretString = serializeBundle(doc);
    try {
      const out = await this.secrets.send(new PutSecretValueCommand({ SecretId: secretId, SecretString }));
      return { created: false, versionId: out.VersionId };
    } catch (err) {
      if (awsErrorName(err) !== 'ResourceNotFoundException') throw this.writeFailure(secretId, err);
    }
    if (createWithKmsKeyId === undefined) {
      throw new InputError(
        `secret ${secretId} does not exist: deploy the stack first (it creates one secret per deployment, encrypted with its own bundle-secrets key), or pass --secret-kms-key-id KEY to create it here under a key that is not the recovery key`,
        'config-invalid',
      );
    }
    try {
      const out = await this.secrets.send(
        new CreateSecretCommand({
          Name: secretId,
          SecretString,
          KmsKeyId: createWithKmsKeyId,
          Description:
            'contrast-autorecover recovery bundle (manifest, seed shares, KMS-encrypted seed-share owner key)',
        }),
      );
      return { created: true, versionId: out.VersionId };
    } catch (err) {
      throw this.writeFailure(secretId, err);
    }
  }

  private writeFailure(secretId: string, err: unknown): Error {
    const name = awsErrorName(err);
    if (isTransientAwsError(err))
      return new UnreachableError(`Secrets Manager write to ${secretId} failed transiently (${name}); try again`);
    return new InputError(
      `Secrets Manager refused to write ${secretId} (${name}); check that the enroller role may create/put this secret`,
      'config-invalid',
    );
  }
}
