/**
 * The function's kept bundles against moto's Secrets Manager: what each load costs (counted at
 * the SDK client: DescribeSecret is metadata, every GetSecretValue is a KMS Decrypt by Secrets
 * Manager in AWS), when the kept copy is given up, and the read before the owner key is used.
 */
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { BUNDLE_FORMAT, serializeBundle, type BundleDocument } from '../../lambda/keys/bundle.ts';
import { countCalls } from '../../lambda/keys/kms-calls.ts';
import { BundleStore } from '../../lambda/keys/store.ts';
import { WarmBundles } from '../../lambda/keys/warm-bundles.ts';
import { InputError, UnreachableError } from '../../lambda/shared/errors.ts';
import { awsClientConfig, motoAvailable, SKIP_REASON, uniqueName } from '../support/aws.ts';

const doc: BundleDocument = {
  format: BUNDLE_FORMAT,
  version: 1,
  deployment: 'prod',
  createdAt: '2026-12-01T00:00:00.000Z',
  manifest: Buffer.from('{"Policies":{}}').toString('base64'),
  seedShares: Buffer.from('{"SeedShares":[]}').toString('base64'),
  ownerPublicKey: 'abcd',
  ownerKey: {
    scheme: 'kms-envelope-aes-256-gcm',
    kmsKeyId: 'arn:aws:kms:eu-central-1:123456789012:key/k',
    encryptedDataKey: 'AAAA',
    iv: 'AAAAAAAAAAAAAAAA',
    ciphertext: 'AAAA',
    tag: 'AAAAAAAAAAAAAAAAAAAAAA==',
  },
};

async function setup(first: BundleDocument = doc) {
  const secrets = new SecretsManagerClient(awsClientConfig());
  const secretId = `contrast/${uniqueName('warm')}`;
  await secrets.send(new CreateSecretCommand({ Name: secretId, SecretString: serializeBundle(first) }));
  const calls = countCalls(secrets);
  const warnings: string[] = [];
  const bundles = new WarmBundles(new BundleStore(secrets), (_id, error) => warnings.push(error));
  const put = async (d: BundleDocument) =>
    (await secrets.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: serializeBundle(d) })))
      .VersionId!;
  /** The calls since the last take, by operation. */
  const take = () => {
    const out = Object.fromEntries([...calls].map(([k, v]) => [k.replace(/Command$/, ''), v]));
    calls.clear();
    return out;
  };
  return { secrets, secretId, bundles, put, take, warnings };
}

const reEnrolled: BundleDocument = {
  ...doc,
  createdAt: '2026-12-02T00:00:00.000Z',
  manifest: Buffer.from('{"Policies":{"x":1}}').toString('base64'),
  ownerKey: { ...doc.ownerKey, encryptedDataKey: 'BBBB' },
};
const collateralOnly: BundleDocument = { ...doc, collateral: { 'amd-milan-crl.der': 'AAAA' } };

describe.skipIf(!motoAvailable)(`kept bundles (${motoAvailable ? 'moto' : SKIP_REASON})`, () => {
  it('reads the secret once, then only asks which version is current (no GetSecretValue while it is the same)', async () => {
    const t = await setup();
    const first = await t.bundles.load(t.secretId);
    expect(t.take()).toEqual({ GetSecretValue: 1 });
    for (let minute = 0; minute < 3; minute++) {
      const again = await t.bundles.load(t.secretId);
      expect(t.take()).toEqual({ DescribeSecret: 1 });
      // The same bundle, parsed anew: no Buffer is shared between two reconciles.
      expect(again.document).toEqual(first.document);
      expect(again.manifest).not.toBe(first.manifest);
      expect(again.manifest.equals(first.manifest)).toBe(true);
    }
  });

  it('reads a new version on the next load, then keeps that one', async () => {
    const t = await setup();
    await t.bundles.load(t.secretId);
    await t.put(reEnrolled);
    t.take();
    const b = await t.bundles.load(t.secretId);
    expect(t.take()).toEqual({ DescribeSecret: 1, GetSecretValue: 1 });
    expect(b.document.createdAt).toBe(reEnrolled.createdAt);
    await t.bundles.load(t.secretId);
    expect(t.take()).toEqual({ DescribeSecret: 1 });
  });

  it('follows AWSCURRENT back when an enrollment is undone (UpdateSecretVersionStage)', async () => {
    const t = await setup();
    await t.bundles.load(t.secretId);
    const newVersion = await t.put(reEnrolled);
    expect((await t.bundles.load(t.secretId)).document.createdAt).toBe(reEnrolled.createdAt);
    // Move AWSCURRENT back to the first version, as `enroll`'s undo does.
    await t.secrets.send(
      new UpdateSecretVersionStageCommand({
        SecretId: t.secretId,
        VersionStage: 'AWSCURRENT',
        RemoveFromVersionId: newVersion,
        MoveToVersionId: await otherVersionId(t.secrets, t.secretId, newVersion),
      }),
    );
    t.take();
    expect((await t.bundles.load(t.secretId)).document.createdAt).toBe(doc.createdAt);
    expect(t.take()).toEqual({ DescribeSecret: 1, GetSecretValue: 1 });
  });

  it('before the owner key is used: a kept copy is read again, a bundle this reconcile read is not', async () => {
    const t = await setup();
    const cold = await t.bundles.load(t.secretId);
    t.take();
    expect(await t.bundles.forOwnerKey(t.secretId, cold)).toBe(cold);
    expect(t.take()).toEqual({});
    const warm = await t.bundles.load(t.secretId);
    t.take();
    const used = await t.bundles.forOwnerKey(t.secretId, warm);
    expect(t.take()).toEqual({ GetSecretValue: 1 });
    expect(used).not.toBe(warm);
    expect(used.document).toEqual(warm.document);
  });

  it('a new version that only refreshed the collateral is used; a re-enrollment in between is refused before any Decrypt', async () => {
    const t = await setup();
    await t.bundles.load(t.secretId);
    const warm = await t.bundles.load(t.secretId);
    await t.put(collateralOnly);
    expect((await t.bundles.forOwnerKey(t.secretId, warm)).document.collateral).toEqual(collateralOnly.collateral);

    const warm2 = await t.bundles.load(t.secretId);
    await t.put(reEnrolled);
    const refused = t.bundles.forOwnerKey(t.secretId, warm2);
    await expect(refused).rejects.toBeInstanceOf(UnreachableError);
    await expect(refused).rejects.toThrow(/re-enrolled during this reconcile.*nothing was decrypted/);
    // The next reconcile starts from the new enrollment without another read.
    t.take();
    expect((await t.bundles.load(t.secretId)).document.createdAt).toBe(reEnrolled.createdAt);
    expect(t.take()).toEqual({ DescribeSecret: 1 });
  });

  it('a secret scheduled for deletion is never served from memory: the read says what is wrong', async () => {
    const t = await setup();
    await t.bundles.load(t.secretId);
    await t.secrets.send(new DeleteSecretCommand({ SecretId: t.secretId, RecoveryWindowInDays: 7 }));
    t.take();
    const p = t.bundles.load(t.secretId);
    await expect(p).rejects.toBeInstanceOf(InputError);
    await expect(p).rejects.toThrow(/refused GetSecretValue/);
    expect(t.take()).toEqual({ DescribeSecret: 1, GetSecretValue: 1 });
  });

  it('a bundle that does not parse is kept too: the same version fails the same way without another read', async () => {
    const secrets = new SecretsManagerClient(awsClientConfig());
    const secretId = `contrast/${uniqueName('warm')}`;
    await secrets.send(new CreateSecretCommand({ Name: secretId, SecretString: JSON.stringify({ enrolled: false }) }));
    const calls = countCalls(secrets);
    const bundles = new WarmBundles(new BundleStore(secrets));
    await expect(bundles.load(secretId)).rejects.toThrow(/does not hold a recovery bundle/);
    await expect(bundles.load(secretId)).rejects.toThrow(/does not hold a recovery bundle/);
    expect(Object.fromEntries(calls)).toEqual({ GetSecretValueCommand: 1, DescribeSecretCommand: 1 });
  });

  it('when DescribeSecret fails, reads the value (as before) and says so', async () => {
    const secrets = new SecretsManagerClient(awsClientConfig());
    const secretId = `contrast/${uniqueName('warm')}`;
    await secrets.send(new CreateSecretCommand({ Name: secretId, SecretString: serializeBundle(doc) }));
    const store = new BundleStore(secrets);
    const denied = Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' });
    const warnings: string[] = [];
    const bundles = new WarmBundles(
      {
        read: (id) => store.read(id),
        save: (id, d, k) => store.save(id, d, k),
        currentVersion: async () => {
          throw denied;
        },
      },
      (id, error) => warnings.push(`${id}: ${error}`),
    );
    const calls = countCalls(secrets);
    await bundles.load(secretId);
    const again = await bundles.load(secretId);
    expect(again.document).toEqual(doc);
    expect(Object.fromEntries(calls)).toEqual({ GetSecretValueCommand: 2 });
    expect(warnings).toEqual([`${secretId}: AccessDeniedException`]);
  });
});

/** The one version of the secret other than `not`. */
async function otherVersionId(secrets: SecretsManagerClient, secretId: string, not: string): Promise<string> {
  const d = await secrets.send(new DescribeSecretCommand({ SecretId: secretId }));
  const ids = Object.keys(d.VersionIdsToStages ?? {}).filter((id) => id !== not);
  expect(ids).toHaveLength(1);
  return ids[0]!;
}
