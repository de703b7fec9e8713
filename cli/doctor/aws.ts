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
import { awsErrorName } from '../../lambda/keys/aws-errors.ts';

export type Service = 'lambda' | 'eks' | 'kms' | 'secrets' | 'cloudtrail' | 'logs';

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

  private config(service: Service): Record<string, unknown> {
    const endpoint = this.settings.endpoints?.[service];
    return {
      maxAttempts: 3,
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

  /** The Lambda client's settings, for invokeViaFunction (which builds its own client). */
  lambdaClientConfig(): Record<string, unknown> {
    return this.config('lambda');
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
