/**
 * AWS clients of the operator commands (doctor, rehearse), one per service and run, from the
 * standard environment (AWS_REGION, AWS_ENDPOINT_URL[_<SERVICE>], the credentials chain).
 * This module and the SDK clients it imports are loaded only when `doctor` or `rehearse`
 * runs (cli/doctor/command.ts, cli/rehearse/command.ts import their run module lazily).
 */
import { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { EKSClient } from '@aws-sdk/client-eks';
import { KMSClient } from '@aws-sdk/client-kms';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { awsErrorName } from '../../lambda/keys/aws-errors.ts';
import { BUDGETS } from '../../lambda/shared/budgets.ts';
import { awsClientSettings } from '../../lambda/shared/aws-http.ts';
import { InputError } from '../../lambda/shared/errors.ts';

export type Service = 'lambda' | 'eks' | 'kms' | 'secrets' | 'cloudtrail' | 'logs' | 'ssm';

/** Settings in code only (tests point services at moto and the stand-ins); none from flags. */
export interface AwsSettings {
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  endpoints?: Partial<Record<Service, string>>;
}

type Destroyable = { destroy(): void };

export class OperatorAws {
  private readonly made = new Map<Service, Destroyable>();

  constructor(private readonly settings: AwsSettings = {}) {}

  /** Where, as whom; plus the function's time budgets per call (lambda/shared/budgets.ts) unless bare. */
  private config(service: Service, bare = false): Record<string, unknown> {
    const endpoint = this.settings.endpoints?.[service];
    return {
      ...(bare ? {} : awsClientSettings(BUDGETS.aws)),
      ...(this.settings.region ? { region: this.settings.region } : {}),
      ...(this.settings.credentials ? { credentials: this.settings.credentials } : {}),
      ...(endpoint ? { endpoint } : {}),
    };
  }

  private client<C extends Destroyable>(service: Service, make: (config: Record<string, unknown>) => C): C {
    let c = this.made.get(service) as C | undefined;
    if (!c) this.made.set(service, (c = make(this.config(service))));
    return c;
  }

  get lambda(): LambdaClient {
    // One attempt: an Invoke is not retried behind the operator's back.
    return this.client('lambda', (c) => new LambdaClient({ ...c, maxAttempts: 1 }));
  }
  get eks(): EKSClient {
    return this.client('eks', (c) => new EKSClient(c));
  }
  get kms(): KMSClient {
    return this.client('kms', (c) => new KMSClient(c));
  }
  get secrets(): SecretsManagerClient {
    return this.client('secrets', (c) => new SecretsManagerClient(c));
  }
  get cloudtrail(): CloudTrailClient {
    return this.client('cloudtrail', (c) => new CloudTrailClient(c));
  }
  get logs(): CloudWatchLogsClient {
    return this.client('logs', (c) => new CloudWatchLogsClient(c));
  }
  /** The deployments' parameters (the function's CONTRAST_DEPLOYMENTS_PATH). */
  get ssm(): SSMClient {
    return this.client('ssm', (c) => new SSMClient(c));
  }

  /** Settings for invokeViaFunction, which builds its own client with the function's timeout. */
  lambdaClientConfig(): Record<string, unknown> {
    return this.config('lambda', true);
  }

  /** A missing region is `config-invalid` (exit 21), as for the other commands (cli/aws-clients.ts). */
  async requireRegion(): Promise<string> {
    try {
      return await this.lambda.config.region();
    } catch {
      throw new InputError(
        'no AWS region is configured: export AWS_REGION (e.g. AWS_REGION=eu-central-1) or set a region in your AWS profile',
        'config-invalid',
      );
    }
  }

  destroy(): void {
    for (const c of this.made.values()) c.destroy();
    this.made.clear();
  }
}

export { awsErrorName };

/** `Name: message` of an SDK error, for check details. */
export function describeAwsError(err: unknown): string {
  return `${awsErrorName(err)}: ${(err as Error)?.message ?? String(err)}`;
}
