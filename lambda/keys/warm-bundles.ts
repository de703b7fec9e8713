/**
 * The function's bundles, kept across warm invocations: a quiet trail. Every GetSecretValue
 * makes Secrets Manager call KMS Decrypt on the bundle secrets key, so reading the bundle on
 * every scheduled reconcile put about 1,440 Decrypts a day per deployment into CloudTrail,
 * around the few that matter. Here a healthy reconcile asks only DescribeSecret which version
 * is current (metadata, no KMS call) and reads the value again only when that version changed.
 *
 * What is kept is the secret's text as Secrets Manager returned it: the manifest, the seed
 * shares (each encrypted to its owner's RSA key) and the owner key's KMS envelope — ciphertext
 * and public data only, nothing a Decrypt was spent on. The decrypted owner key is never kept:
 * it lives in one reconcile's Buffer, zeroed after use (reconcile.ts step 4). Each load parses
 * the text anew, so no reconcile shares Buffers with another.
 *
 * The owner key is used only from the bundle as Secrets Manager holds it at that moment
 * (`forOwnerKey`): a kept copy is read again before the Decrypt, so
 * - revoking the function's read (the secret's policy, the bundle secrets key disabled, the
 *   secret scheduled for deletion) stops the next recovery at once, not when the container ends;
 * - every owner-key Decrypt follows a GetSecretValue of the same reconcile, whose request ID is
 *   in its audit record (the audit joins the two by ID);
 * - the version check at step 1, seconds or minutes before, is not trusted for the Decrypt.
 */
import { UnreachableError } from '../shared/errors.ts';
import { awsErrorName } from './aws-errors.ts';
import { parseBundle, sameEnrollment, type BundleDocument, type RecoveryBundle } from './bundle.ts';
import type { BundleStore, SaveResult } from './store.ts';

interface Kept {
  versionId: string;
  text: string;
}

export class WarmBundles {
  private readonly kept = new Map<string, Kept>();
  /** Bundles this object parsed from a kept copy (not read from Secrets Manager by that load). */
  private readonly fromMemory = new WeakSet<RecoveryBundle>();

  /** `onVersionCheckFailed`: told when DescribeSecret fails (then the value is read, as before). */
  constructor(
    private readonly store: Pick<BundleStore, 'read' | 'currentVersion' | 'save'>,
    private readonly onVersionCheckFailed: (secretId: string, errorName: string) => void = () => {},
  ) {}

  /**
   * The bundle: the kept copy while its version is current, else read (GetSecretValue of the
   * version the check found current, or of AWSCURRENT when there is no kept copy or no answer).
   */
  async load(secretId: string): Promise<RecoveryBundle> {
    const kept = this.kept.get(secretId);
    if (!kept) return this.readFresh(secretId);
    const current = await this.currentVersion(secretId);
    if (current === kept.versionId) {
      const bundle = parseBundle(kept.text, `secret ${secretId}`);
      this.fromMemory.add(bundle);
      return bundle;
    }
    return this.readFresh(secretId, current);
  }

  /** The bundle read from Secrets Manager now (GetSecretValue), kept for the next loads. */
  async readFresh(secretId: string, version?: string): Promise<RecoveryBundle> {
    const { text, versionId } = await this.store.read(secretId, version);
    // Kept even when it does not parse (a secret not enrolled yet): the same version fails the
    // same way, without another read.
    if (versionId !== undefined) this.kept.set(secretId, { versionId, text });
    else this.kept.delete(secretId);
    return parseBundle(text, `secret ${secretId}`);
  }

  /**
   * The bundle to decrypt the owner key from, given the one this reconcile loaded: itself when
   * that load read Secrets Manager, else read again now. A different enrollment in between
   * (re-enrolled: other manifest, shares or envelope) is refused before any Decrypt; the next
   * reconcile starts from the new one. A new version that only refreshed the collateral is fine.
   */
  async forOwnerKey(secretId: string, loaded: RecoveryBundle): Promise<RecoveryBundle> {
    if (!this.fromMemory.has(loaded)) return loaded;
    const now = await this.readFresh(secretId);
    if (!sameEnrollment(now.document, loaded.document)) {
      throw new UnreachableError(
        `secret ${secretId} was re-enrolled during this reconcile (its manifest, seed shares or owner key changed); nothing was decrypted — the next reconcile uses the new bundle`,
      );
    }
    return now;
  }

  /** Puts a new version (BundleStore.save); the next load sees the new version and reads it. */
  save(secretId: string, doc: BundleDocument, createWithKmsKeyId?: string): Promise<SaveResult> {
    return this.store.save(secretId, doc, createWithKmsKeyId);
  }

  /** The version that holds AWSCURRENT; undefined when the check failed (then the value is read). */
  private async currentVersion(secretId: string): Promise<string | undefined> {
    try {
      return await this.store.currentVersion(secretId);
    } catch (err) {
      this.onVersionCheckFailed(secretId, awsErrorName(err));
      return undefined;
    }
  }
}
