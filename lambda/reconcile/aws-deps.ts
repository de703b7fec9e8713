/**
 * Reconcile's AWS-backed ports (Secrets Manager for the bundle, KMS for the owner key), the
 * one adapter module the function (lambda/function/ports.ts) and the CLI build them from.
 * Clients are passed in so each caller creates them once (per Lambda container, per CLI run).
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { decryptOwnerKey } from '../keys/envelope.ts';
import { BundleStore } from '../keys/store.ts';
import type { BundleSource, BundleVerifierFactory, OwnerKeyDecrypter, ReconcilePorts } from './reconcile.ts';

/** Step 4's port: KMS Decrypt of the owner key with the bundle's key id and the given context. */
export function kmsOwnerKeys(kms: KMSClient): OwnerKeyDecrypter {
  return { decryptOwnerKey: (bundle, context) => decryptOwnerKey(kms, bundle.document.ownerKey, context) };
}

/** The AWS ports and the verifier factory; the caller adds Kubernetes, the record and progress. */
export function awsPorts(
  clients: { kms: KMSClient; secrets: SecretsManagerClient },
  verifierFactory: BundleVerifierFactory,
  bundles: BundleSource = new BundleStore(clients.secrets),
): Pick<ReconcilePorts, 'bundles' | 'ownerKeys' | 'verifierFactory'> {
  return { bundles, ownerKeys: kmsOwnerKeys(clients.kms), verifierFactory };
}
