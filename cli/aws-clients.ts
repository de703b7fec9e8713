/**
 * AWS clients for the CLI, configured by the standard environment (AWS_REGION,
 * AWS_ENDPOINT_URL, the default credentials chain). Created once per run, with the same time
 * budgets as the function's (lambda/shared/budgets.ts): no call waits forever.
 */
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { BUDGETS, stepBudgetsOf } from '../lambda/shared/budgets.ts';
import { awsClientSettings } from '../lambda/shared/aws-http.ts';
import { awsPorts } from '../lambda/reconcile/aws-deps.ts';
import type { BundleVerifierFactory, ReconcilePorts, ReconcileTime } from '../lambda/reconcile/reconcile.ts';
import { InputError } from '../lambda/shared/errors.ts';

/** The clients, once the region is known: a missing region is `config-invalid` (exit 21), not a network fault. */
export async function cliAwsClients(): Promise<{ kms: KMSClient; secrets: SecretsManagerClient }> {
  const settings = () => awsClientSettings(BUDGETS.aws);
  const clients = { kms: new KMSClient(settings()), secrets: new SecretsManagerClient(settings()) };
  try {
    await clients.kms.config.region();
  } catch {
    throw new InputError(
      'no AWS region is configured: export AWS_REGION (e.g. AWS_REGION=eu-central-1) or set a region in your AWS profile',
      'config-invalid',
    );
  }
  return clients;
}

/**
 * Reconcile's ports and time for the CLI, built here only: the AWS adapters
 * (lambda/reconcile/aws-deps.ts), the verifier, and what the command adds (progress lines, the
 * Kubernetes side, a record). The budgets are the function's (lambda/shared/budgets.ts); the
 * CLI has no invocation deadline.
 */
export function cliReconcile(
  clients: { kms: KMSClient; secrets: SecretsManagerClient },
  verifierFactory: BundleVerifierFactory,
  extra: Pick<ReconcilePorts, 'progress' | 'kubernetes' | 'records'>,
): { ports: ReconcilePorts; time: ReconcileTime } {
  return { ports: { ...awsPorts(clients, verifierFactory), ...extra }, time: { budgets: stepBudgetsOf(BUDGETS) } };
}
