/**
 * What the bench's end-to-end figures share: moto with a stack's resources (lock table with
 * TTL, event bus, KMS key), enrolment of deployments into Secrets Manager, and the function's
 * environment for them — the variables the construct sets (lambda/shared/contract.ts), plus
 * what the Lambda runtime sets, so Powertools' tracer is on as with the construct's Active
 * tracing (infra/function.ts).
 */
import { randomUUID } from 'node:crypto';
import { CreateTableCommand, DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { buildBundle } from '../lambda/reconcile/enroll.ts';
import { BundleStore } from '../lambda/keys/store.ts';
import { ENV } from '../lambda/shared/contract.ts';
import { findMotoPython, startMoto, type MotoServer } from '../testing/moto-server.ts';
import type { Workspace } from '../testing/workspace.ts';

export interface Stack {
  moto: MotoServer;
  aws: { region: string; endpoint: string; credentials: { accessKeyId: string; secretAccessKey: string } };
  clients: { dynamodb: DynamoDBClient; kms: KMSClient; secrets: SecretsManagerClient; events: EventBridgeClient };
  tableName: string;
  busName: string;
  kmsKeyId: string;
  /** Stores the deployment's recovery bundle; returns its secret id. */
  enroll(deployment: string, ws: Workspace): Promise<string>;
  /** The function's environment for these CONTRAST_DEPLOYMENTS entries. */
  env(deployments: Record<string, unknown>[], extra?: Record<string, string>): NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/** The trace header the Lambda runtime sets per invocation (sampled), for X-Ray's facade segment. */
const TRACE_ID = () =>
  `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomUUID().replace(/-/g, '').slice(0, 24)};Parent=${randomUUID().replace(/-/g, '').slice(0, 16)};Sampled=1`;

/** undefined when moto is not installed. */
export async function startStack(): Promise<Stack | undefined> {
  const python = findMotoPython();
  if (!python) return undefined;
  const moto = await startMoto(python);
  const aws = {
    region: 'eu-central-1',
    endpoint: moto.endpoint,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  };
  const clients = {
    dynamodb: new DynamoDBClient(aws),
    kms: new KMSClient(aws),
    secrets: new SecretsManagerClient(aws),
    events: new EventBridgeClient(aws),
  };
  const suffix = randomUUID().slice(0, 8);
  const tableName = `locks-${suffix}`;
  const busName = `bus-${suffix}`;
  try {
    await clients.dynamodb.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await clients.dynamodb.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      }),
    );
    await clients.events.send(new CreateEventBusCommand({ Name: busName }));
  } catch (err) {
    await moto.stop();
    throw err;
  }
  const kmsKeyId = (await clients.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  const store = new BundleStore(clients.secrets);
  return {
    moto,
    aws,
    clients,
    tableName,
    busName,
    kmsKeyId,
    async enroll(deployment, ws) {
      const secretId = `contrast/${deployment}`;
      const { document } = await buildBundle({
        deployment,
        kmsKeyId,
        files: { manifest: ws.manifest, seedShares: ws.seedShares, ownerKeyPem: Buffer.from(ws.ownerKeyPem) },
        kms: clients.kms,
      });
      await store.save(secretId, document, kmsKeyId);
      return secretId;
    },
    env(deployments, extra = {}) {
      return {
        PATH: process.env.PATH,
        AWS_REGION: aws.region,
        AWS_ENDPOINT_URL: moto.endpoint,
        AWS_ACCESS_KEY_ID: aws.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: aws.credentials.secretAccessKey,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        // What the Lambda runtime sets: Powertools' tracer is on (Active tracing), X-Ray's
        // segments go over UDP to a daemon address where nothing listens.
        AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
        AWS_LAMBDA_FUNCTION_NAME: 'contrast-autorecover',
        _X_AMZN_TRACE_ID: TRACE_ID(),
        AWS_XRAY_DAEMON_ADDRESS: '127.0.0.1:2000',
        POWERTOOLS_SERVICE_NAME: 'contrast-autorecover',
        POWERTOOLS_METRICS_NAMESPACE: 'ContrastAutorecover',
        [ENV.deployments]: JSON.stringify(deployments),
        [ENV.lockTable]: tableName,
        [ENV.eventBus]: busName,
        ...extra,
      };
    },
    stop: () => moto.stop(),
  };
}

/** The EventBridge envelope of the function's backstop schedule (eb-run-lambda-schedule). */
export function scheduledEvent(): Record<string, unknown> {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '123456789012',
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: 'eu-central-1',
    resources: ['arn:aws:events:eu-central-1:123456789012:rule/contrast-autorecover-schedule'],
    detail: {},
  };
}
