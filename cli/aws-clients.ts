/**
 * AWS clients for the CLI, configured by the standard environment (AWS_REGION,
 * AWS_ENDPOINT_URL, the default credentials chain). Created once per run.
 */
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

export function cliAwsClients(): { kms: KMSClient; secrets: SecretsManagerClient } {
  const common = { maxAttempts: 3 };
  return { kms: new KMSClient(common), secrets: new SecretsManagerClient(common) };
}
