/**
 * A deployed stack and its cluster, for the operator commands' tests: what `doctor` reads
 * and what `rehearse` follows.
 *
 * - moto: the recovery key (with a key policy like the stack's), the bundle secret, the lock
 *   table, the bus, the function's log group and a CloudTrail trail.
 * - stand-ins where moto lacks the API: Lambda (GetFunctionConfiguration; Invoke runs the
 *   real handler in this process), EKS (authentication mode, access entries), CloudTrail
 *   event history (LookupEvents over the KMS calls the function really made).
 * - the Coordinator emulator, and the Kubernetes API stand-in with a Coordinator
 *   StatefulSet, a Contrast workload, the RBAC of infra/k8s/rbac.yaml for the function's
 *   group (answered by SubjectAccessReview) and the exporter's ConfigMap.
 * - the function: createHandler with the test verifier, its log records shipped to the log
 *   group as Lambda ships them, its KMS calls recorded by the CloudTrail stand-in.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudTrailClient, CreateTrailCommand, StartLoggingCommand } from '@aws-sdk/client-cloudtrail';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { CreateEventBusCommand, EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { stringify } from 'yaml';
import { createInsecureTestingVerifier } from '../../testing/attestation/insecure-verifier.ts';
import { loadConfig } from '../../lambda/function/config.ts';
import { createHandler } from '../../lambda/function/handler.ts';
import type { HandlerOverrides } from '../../lambda/function/runtime.ts';
import type { MetricsSink } from '../../lambda/function/observability.ts';
import { BundleStore } from '../../lambda/keys/store.ts';
import { createKubernetesSide } from '../../lambda/kubernetes/index.ts';
import { buildBundle } from '../../lambda/reconcile/enroll.ts';
import {
  CONTEXT_KEYS,
  DEFAULTS,
  EVENTS,
  OPERATIONS,
  OWNER_KEY_PURPOSE,
  TRIGGER_DETAIL,
} from '../../lambda/shared/contract.ts';
import { budgetsWith } from '../../lambda/shared/budgets.ts';
import type { AwsSettings } from '../../cli/operations/aws.ts';
import { CloudTrailStub } from '../../testing/aws-stubs/cloudtrail.ts';
import { EksStub } from '../../testing/aws-stubs/eks.ts';
import { logGroupShipper, ShippingLogger } from '../../testing/aws-stubs/function-logs.ts';
import { LambdaStub } from '../../testing/aws-stubs/lambda.ts';
import { CoordinatorEmulator } from '../../testing/coordinator-emulator.ts';
import {
  contrastTemplate,
  coordinatorTemplate,
  kubeconfigFor,
  manifestRbac,
  RBAC_GROUP,
  startKubeApi,
  type KubeApi,
} from '../../testing/kube-api/index.ts';
import { makeWorkspace, type Workspace } from '../../testing/workspace.ts';
import { recordingTrace } from '../function/handler-fixture.ts';
import { createLockTable } from '../function/lock-table.ts';
import { awsClientConfig, motoEndpoint, TEST_REGION, uniqueName } from '../support/aws.ts';

export const ACCOUNT = '123456789012';
export const NAMESPACE = 'contrast';
export const CLUSTER = 'prod-eks';

export interface Stack {
  deployment: string;
  functionName: string;
  roleArn: string;
  adminArn: string;
  secretId: string;
  kmsKeyArn: string;
  secretsKeyArn: string;
  busName: string;
  logGroup: string;
  env: Record<string, string>;
  ws: Workspace;
  emu: CoordinatorEmulator;
  kube: KubeApi;
  /** The operator's kubeconfig file for the stand-in. */
  kubeconfigFile: string;
  eks: EksStub;
  lambda: LambdaStub;
  trail: CloudTrailStub;
  logger: ShippingLogger;
  clients: {
    kms: KMSClient;
    secrets: SecretsManagerClient;
    events: EventBridgeClient;
    logs: CloudWatchLogsClient;
    cloudtrail: CloudTrailClient;
  };
  /** Settings pointing every service of the operator commands at moto or a stand-in. */
  aws: AwsSettings;
  /** The exporter's config document for this deployment (as the ConfigMap holds it). */
  exporterConfig(overrides?: Record<string, unknown>): string;
  putExporterConfig(text: string): void;
  /** Invokes the function (in-process) with an event, as the EventBridge rule does. */
  invoke(event: unknown, context?: { awsRequestId: string }): Promise<unknown>;
  /** The same function with some of its parts replaced (a session that dies, a later clock), as `invoke`. */
  invokeWith(
    overrides: Pick<HandlerOverrides, 'ports' | 'now'>,
  ): (event: unknown, context?: { awsRequestId: string }) => Promise<unknown>;
  /** The function role's assumed-role ARN, as CloudTrail names its calls. */
  functionCallerArn: string;
  stop(): Promise<void>;
}

/** A key policy shaped like infra/keys.ts: named admins, the function's Decrypt bound to the context. */
export function stackKeyPolicy(o: {
  roleArn: string;
  adminArn: string;
  deployment: string;
  extra?: unknown[];
}): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'KeyAdministration',
        Effect: 'Allow',
        Principal: { AWS: o.adminArn },
        Action: ['kms:Describe*', 'kms:Put*', 'kms:Get*', 'kms:ScheduleKeyDeletion'],
        Resource: '*',
      },
      {
        Sid: 'FunctionDecryptOwnerKey',
        Effect: 'Allow',
        Principal: { AWS: o.roleArn },
        Action: 'kms:Decrypt',
        Resource: '*',
        Condition: {
          StringEquals: {
            [`kms:EncryptionContext:${CONTEXT_KEYS.deployment}`]: [o.deployment],
            [`kms:EncryptionContext:${CONTEXT_KEYS.purpose}`]: OWNER_KEY_PURPOSE,
          },
          Null: { [`kms:EncryptionContext:${CONTEXT_KEYS.bundleSha256}`]: 'false' },
        },
      },
      {
        Sid: 'SecretsManagerDecrypt',
        Effect: 'Allow',
        Principal: { AWS: o.roleArn },
        Action: 'kms:Decrypt',
        Resource: '*',
        Condition: { StringEquals: { 'kms:ViaService': `secretsmanager.${TEST_REGION}.amazonaws.com` } },
      },
      ...(o.extra ?? []),
    ],
  });
}

/** moto's S3 picks the service from the credential scope; the signature is not checked. */
async function createBucket(name: string): Promise<void> {
  const res = await fetch(`${motoEndpoint}/${name}`, {
    method: 'PUT',
    headers: {
      authorization: `AWS4-HMAC-SHA256 Credential=testing/20240101/${TEST_REGION}/s3/aws4_request, SignedHeaders=host, Signature=0`,
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    },
    body: `<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>${TEST_REGION}</LocationConstraint></CreateBucketConfiguration>`,
  });
  if (res.status >= 300) throw new Error(`moto CreateBucket ${name}: ${res.status} ${await res.text()}`);
}

export async function createTrail(
  cloudtrail: CloudTrailClient,
  o: { multiRegion: boolean; logging?: boolean },
): Promise<string> {
  const bucket = uniqueName('trail-bucket');
  await createBucket(bucket);
  const name = uniqueName('trail');
  await cloudtrail.send(
    new CreateTrailCommand({ Name: name, S3BucketName: bucket, IsMultiRegionTrail: o.multiRegion }),
  );
  if (o.logging ?? true) await cloudtrail.send(new StartLoggingCommand({ Name: name }));
  return name;
}

const noMetrics: MetricsSink = { publish: () => undefined };

export async function startStack(
  o: { state?: 'healthy' | 'stale'; allowPodDeletion?: boolean; trail?: boolean } = {},
): Promise<Stack> {
  const cfg = awsClientConfig();
  const kms = new KMSClient(cfg);
  const secrets = new SecretsManagerClient(cfg);
  const events = new EventBridgeClient(cfg);
  const logs = new CloudWatchLogsClient(cfg);
  const cloudtrail = new CloudTrailClient(cfg);

  const deployment = uniqueName('prod');
  const functionName = uniqueName('contrast-autorecover');
  const roleArn = `arn:aws:iam::${ACCOUNT}:role/${functionName}-role`;
  const adminArn = `arn:aws:iam::${ACCOUNT}:role/key-admins`;
  const key = await kms.send(
    new CreateKeyCommand({
      Description: 'recovery key (operations test)',
      Policy: stackKeyPolicy({ roleArn, adminArn, deployment }),
    }),
  );
  const kmsKeyArn = key.KeyMetadata!.Arn!;
  // The secret itself is encrypted with a key of its own (infra: the bundle secrets key).
  const secretsKey = await kms.send(new CreateKeyCommand({ Description: 'bundle secrets key (operations test)' }));
  const secretsKeyArn = secretsKey.KeyMetadata!.Arn!;
  const secretId = `${DEFAULTS.secretPrefix}/${deployment}`;
  const ws = await makeWorkspace({ modulusLength: 2048 });
  const pem = Buffer.from(ws.ownerKeyPem);
  const { document } = await buildBundle({
    deployment,
    kmsKeyId: kmsKeyArn,
    files: { manifest: ws.manifest, seedShares: ws.seedShares, ownerKeyPem: pem },
    kms,
  });
  pem.fill(0);
  await new BundleStore(secrets).save(secretId, document, secretsKeyArn);
  const { client: dynamodb, tableName } = await createLockTable();
  const busName = uniqueName('bus');
  await events.send(new CreateEventBusCommand({ Name: busName }));
  if (o.trail ?? true) await createTrail(cloudtrail, { multiRegion: true });

  const emu = await CoordinatorEmulator.start({
    state: o.state ?? 'healthy',
    manifest: ws.manifest,
    seed: ws.seed,
    salt: ws.salt,
  });
  const kube = await startKubeApi();
  kube.store.addStatefulSet(NAMESPACE, 'coordinator', {
    template: coordinatorTemplate(),
    startedAt: new Date(Date.now() - 3_600_000),
  });
  kube.store.addDeployment(NAMESPACE, 'web', {
    template: contrastTemplate('web'),
    replicas: 2,
    startedAt: new Date(Date.now() - 3_600_000),
  });
  kube.reviews.grantGroup(RBAC_GROUP, manifestRbac([NAMESPACE], { podDeletion: o.allowPodDeletion === true }));
  const dir = await mkdtemp(join(tmpdir(), 'ops-'));
  const kubeconfigFile = join(dir, 'kubeconfig');
  await writeFile(kubeconfigFile, kubeconfigFor(kube.url, 'operator-token', kube.caData));

  const eks = await new EksStub(TEST_REGION, ACCOUNT).start();
  eks.addCluster({ name: CLUSTER, endpoint: kube.url, caData: kube.caData, authenticationMode: 'API_AND_CONFIG_MAP' });
  eks.addAccessEntry(CLUSTER, { principalArn: roleArn, kubernetesGroups: [RBAC_GROUP] });
  const trail = await new CloudTrailStub(TEST_REGION, ACCOUNT).start();

  const logGroup = `/aws/lambda/${functionName}`;
  const logger = new ShippingLogger().shipTo(await logGroupShipper(logs, logGroup));
  const env: Record<string, string> = {
    CONTRAST_DEPLOYMENTS: JSON.stringify([
      {
        name: deployment,
        secretId,
        coordinator: emu.address,
        namespaces: [NAMESPACE],
        coordinatorNamespace: NAMESPACE,
      },
    ]),
    LOCK_TABLE_NAME: tableName,
    EVENT_BUS_NAME: busName,
    // Tests rehearse often; the crash-loop guard would pause the third recovery of the hour.
    MAX_RECOVERIES_PER_HOUR: '100',
    KUBE_AUTH: 'eks',
    EKS_CLUSTER_NAME: CLUSTER,
    EKS_ENDPOINT: kube.url,
    EKS_CA_DATA: kube.caData,
    ...(o.allowPodDeletion ? { ALLOW_POD_DELETION: 'true' } : {}),
  };
  // The function's own KMS client: its calls are what CloudTrail records.
  const functionKms = new KMSClient(cfg);
  const functionSecrets = new SecretsManagerClient(cfg);
  const functionArn = `arn:aws:sts::${ACCOUNT}:assumed-role/${functionName}-role/${functionName}`;
  trail.recordKmsCalls(functionKms, functionArn);
  trail.recordSecretsManagerCalls(functionSecrets, functionArn, { secretsKeyArn });
  const makeHandler = (overrides: Pick<HandlerOverrides, 'ports' | 'now'> = {}) =>
    createHandler({
      config: loadConfig(env),
      clients: { kms: functionKms, secrets: functionSecrets, dynamodb, events },
      verifierFactory: () => createInsecureTestingVerifier(),
      telemetry: { logger, metrics: noMetrics, trace: recordingTrace() },
      budgets: budgetsWith({ coordinator: { handshakeTimeoutMs: 3000, rpcTimeoutMs: 3000 } }),
      // The function's way into the cluster (an EKS token in production) reaches the stand-in.
      kubernetes: () =>
        createKubernetesSide({
          auth: { kind: 'kubeconfig', kubeconfig: kubeconfigFor(kube.url, 'function-token', kube.caData) },
          coordinatorNamespace: NAMESPACE,
          namespaces: { kind: 'list', names: [NAMESPACE] },
          allowPodDeletion: o.allowPodDeletion === true,
        }),
      ...overrides,
    });
  const handler = makeHandler();
  const invokeWith = async (
    h: ReturnType<typeof createHandler>,
    event: unknown,
    context: { awsRequestId: string; clientContext?: { custom?: unknown } } = { awsRequestId: crypto.randomUUID() },
  ) => {
    try {
      // The function's whole timeout (5 min): the time budgets decide what fits in it.
      return await h(event, {
        ...context,
        functionName,
        getRemainingTimeInMillis: () => 300_000,
      } as unknown as Parameters<typeof handler>[1]);
    } finally {
      await logger.flushed();
    }
  };
  const invoke = (event: unknown, context?: { awsRequestId: string; clientContext?: { custom?: unknown } }) =>
    invokeWith(handler, event, context);
  const lambda = await new LambdaStub(TEST_REGION, ACCOUNT).start();
  lambda.add({ name: functionName, roleArn, env, logGroup, invoke });

  const exporterConfig = (overrides: Record<string, unknown> = {}) =>
    stringify({
      logLevel: 'info',
      namespace: NAMESPACE,
      route: {
        routes: [
          {
            match: [
              {
                receiver: `coordinator-${deployment}`,
                kind: '^Pod$',
                reason: '^Started$',
                labels: { 'app.kubernetes.io/name': 'coordinator' },
              },
            ],
          },
        ],
      },
      receivers: [
        {
          name: `coordinator-${deployment}`,
          eventbridge: {
            eventBusName: busName,
            region: TEST_REGION,
            source: EVENTS.triggerSource,
            detailType: EVENTS.triggerDetailTypes[0],
            details: {
              [TRIGGER_DETAIL.deployment]: deployment,
              [TRIGGER_DETAIL.pod]: '{{ .InvolvedObject.Name }}',
              [TRIGGER_DETAIL.podUid]: '{{ .InvolvedObject.UID }}',
              [TRIGGER_DETAIL.cluster]: CLUSTER,
            },
            ...overrides,
          },
        },
      ],
    });
  const putExporterConfig = (text: string) => {
    kube.store.put('configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: `event-exporter-cfg-${deployment}`,
        namespace: OPERATIONS.exporterNamespace,
        uid: crypto.randomUUID(),
        resourceVersion: '0',
        creationTimestamp: new Date().toISOString(),
      },
      data: { 'config.yaml': text },
    } as unknown as Parameters<typeof kube.store.put>[1]);
  };
  putExporterConfig(exporterConfig());

  return {
    deployment,
    functionName,
    roleArn,
    adminArn,
    secretId,
    kmsKeyArn,
    secretsKeyArn,
    busName,
    logGroup,
    env,
    ws,
    emu,
    kube,
    kubeconfigFile,
    eks,
    lambda,
    trail,
    logger,
    clients: { kms, secrets, events, logs, cloudtrail },
    aws: {
      region: TEST_REGION,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      endpoints: {
        lambda: lambda.endpoint,
        eks: eks.endpoint,
        kms: motoEndpoint,
        secrets: motoEndpoint,
        cloudtrail: motoEndpoint,
        logs: motoEndpoint,
        ssm: motoEndpoint,
      },
    },
    exporterConfig,
    putExporterConfig,
    invoke: (event, context) => invoke(event, context),
    invokeWith: (overrides) => {
      const h = makeHandler(overrides);
      return (event, context) => invokeWith(h, event, context);
    },
    functionCallerArn: functionArn,
    stop: async () => {
      await Promise.all([emu.stop(), kube.close(), eks.close(), lambda.close(), trail.close()]);
    },
  };
}

/** What the exporter does on a Coordinator `Started` event: put the trigger on the bus. */
export async function exportRestart(
  stack: Stack,
  pod: { name: string; uid: string },
): Promise<Record<string, unknown>> {
  const detail = {
    [TRIGGER_DETAIL.deployment]: stack.deployment,
    [TRIGGER_DETAIL.pod]: pod.name,
    [TRIGGER_DETAIL.podUid]: pod.uid,
    [TRIGGER_DETAIL.cluster]: CLUSTER,
  };
  const out = await stack.clients.events.send(
    new PutEventsCommand({
      Entries: [
        {
          EventBusName: stack.busName,
          Source: EVENTS.triggerSource,
          DetailType: EVENTS.triggerDetailTypes[0],
          Detail: JSON.stringify(detail),
        },
      ],
    }),
  );
  // The event as the rule delivers it to the function.
  return {
    version: '0',
    id: out.Entries![0]!.EventId!,
    'detail-type': EVENTS.triggerDetailTypes[0],
    source: EVENTS.triggerSource,
    account: ACCOUNT,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: TEST_REGION,
    resources: [],
    detail,
  };
}
