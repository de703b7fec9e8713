/**
 * AWS clients for the CLI, configured by the standard environment (AWS_REGION,
 * AWS_ENDPOINT_URL, the default credentials chain). Created once per run, with the same time
 * budgets as the function's (lambda/shared/budgets.ts): no call waits forever.
 */
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { awsClientSettings, BUDGETS, stepBudgetsOf } from '../lambda/shared/budgets.ts';
import type { ReconcileDeps } from '../lambda/reconcile/reconcile.ts';
import { InputError } from '../lambda/shared/errors.ts';

/** The clients, once the region is known: a missing region is `config-invalid` (exit 21), not a network fault. */
export async function cliAwsClients(): Promise<{ kms: KMSClient; secrets: SecretsManagerClient }> {
  const settings = awsClientSettings(BUDGETS.aws);
  const clients = { kms: new KMSClient(settings), secrets: new SecretsManagerClient(settings) };
  try {
    await clients.kms.config.region();
  } catch {
    throw new InputError('no AWS region is configured: export AWS_REGION (e.g. AWS_REGION=eu-central-1) or set a region in your AWS profile', 'config-invalid');
  }
  return clients;
}

/** The Coordinator and AWS budgets reconcile works with (the CLI has no invocation deadline). */
export function cliReconcileBudgets(): Pick<ReconcileDeps, 'handshakeTimeoutMs' | 'rpcTimeoutMs' | 'awsCallMs'> {
  const s = stepBudgetsOf(BUDGETS);
  return { handshakeTimeoutMs: s.handshakeTimeoutMs, rpcTimeoutMs: s.rpcTimeoutMs, awsCallMs: s.awsCallMs };
}
