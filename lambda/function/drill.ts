/**
 * Decrypt drill: proves, without contacting the Coordinator, that the deployment's bundle
 * still decrypts — the KMS key is enabled, the role may use it under this deployment's
 * encryption context, the owner key matches the bundle's public key and its seed share
 * decrypts. Everything decrypted is zeroed before return; the result holds no secret.
 * It is one KMS Decrypt, recorded like a recovery's (audit record with action "drill").
 */
import { errorMessage } from '../shared/errors.ts';
import { decryptSeed, findShare, ownerKeyFromDer, parseSeedShareDocument, publicKeyHex } from '../coordinator/seedshares.ts';
import type { RecoveryBundle } from '../keys/bundle.ts';
import { ownerKeyContext } from '../keys/context.ts';
import type { DeploymentTarget } from '../reconcile/types.ts';

export interface DrillDeps {
  loadBundle(secretId: string): Promise<RecoveryBundle>;
  decryptOwnerKey(bundle: RecoveryBundle, context: Record<string, string>): Promise<Buffer>;
}

export interface DrillResult {
  deployment: string;
  ok: boolean;
  /** What was proven, or what failed and what to do. Never contains secrets. */
  message: string;
  kmsEncryptionContext?: Record<string, string>;
  kmsKeyId?: string;
  kmsDecrypts: number;
  durationMs: number;
}

export async function decryptDrill(target: DeploymentTarget, deps: DrillDeps): Promise<DrillResult> {
  const t0 = performance.now();
  const result: DrillResult = { deployment: target.name, ok: false, message: '', kmsDecrypts: 0, durationMs: 0 };
  try {
    const bundle = await deps.loadBundle(target.secretId);
    result.kmsKeyId = bundle.document.ownerKey.kmsKeyId;
    // The context comes from configuration (target.name) exactly as in reconcile step 4.
    const context = ownerKeyContext(target.name, bundle.manifest, bundle.seedShares);
    result.kmsEncryptionContext = context;
    result.kmsDecrypts = 1;
    const der = await deps.decryptOwnerKey(bundle, context);
    try {
      const key = ownerKeyFromDer(der);
      const pub = publicKeyHex(key);
      if (pub !== bundle.document.ownerPublicKey) {
        result.message = `the decrypted owner key does not match the bundle's ownerPublicKey; re-enroll ${target.name} from its workspace`;
        return result;
      }
      const doc = parseSeedShareDocument(bundle.seedShares, `the bundle's seed shares (${target.secretId})`);
      decryptSeed(findShare(doc, pub), key).fill(0);
    } finally {
      der.fill(0);
    }
    result.ok = true;
    result.message = `the owner key of ${target.name} decrypts under its encryption context and opens its seed share`;
    return result;
  } catch (err) {
    result.message = `decrypt drill failed: ${errorMessage(err)}`;
    return result;
  } finally {
    result.durationMs = performance.now() - t0;
  }
}
