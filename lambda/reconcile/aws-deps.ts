/**
 * Reconcile's AWS-backed dependencies (Secrets Manager for the bundle, KMS for the owner
 * key), shared by the handler and the CLI. Clients are passed in so each caller creates
 * them once (per Lambda container, per CLI run).
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { decryptOwnerKey } from '../keys/envelope.ts';
import { BundleStore } from '../keys/store.ts';
import type { BundleVerifierFactory, ReconcileDeps } from './reconcile.ts';

export function awsReconcileDeps(clients: { kms: KMSClient; secrets: SecretsManagerClient }, verifierFactory: BundleVerifierFactory): ReconcileDeps {
  const store = new BundleStore(clients.secrets);
  return {
    loadBundle: (secretId) => store.load(secretId),
    decryptOwnerKey: (bundle, context) => decryptOwnerKey(clients.kms, bundle.document.ownerKey, context),
    verifierFactory,
  };
}
