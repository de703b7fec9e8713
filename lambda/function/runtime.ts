/**
 * What one Lambda container builds once and every invocation shares: configuration, AWS
 * clients, the lock table, the bundles (kept while their version is current), telemetry,
 * reconcile's ports (ports.ts: the verifier factory, the KMS Decrypt, the lazy Kubernetes side)
 * and its step budgets. A bad configuration throws here and fails every invocation loudly.
 *
 * Every AWS client is bounded by lambda/shared/budgets.ts: connection and request timeouts
 * and a number of attempts, so no call can keep an invocation past its limit.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { CollateralVerify } from '../attestation/collateral/verify.ts';
import { BundleStore } from '../keys/store.ts';
import { WarmBundles } from '../keys/warm-bundles.ts';
import type { KubernetesSide } from '../kubernetes/types.ts';
import { reconcile as realReconcile, type BundleVerifierFactory, type ReconcilePorts } from '../reconcile/reconcile.ts';
import { BUDGETS, minLeaseSeconds, stepBudgetsOf, type Budgets, type StepBudgets } from '../shared/budgets.ts';
import { awsClientSettings } from '../shared/aws-http.ts';
import { ENV } from '../shared/contract.ts';
import { ConfigError, loadConfig, type DeploymentConfig, type HandlerConfig } from './config.ts';
import { LockTable } from './lease.ts';
import { createLogger, createMetricsSink, createTrace, type Telemetry } from './observability.ts';
import { createFunctionPorts, type FunctionPorts } from './ports.ts';
import { recordRequestIds } from './request-ids.ts';

export interface AwsClients {
  secrets: SecretsManagerClient;
  kms: KMSClient;
  dynamodb: DynamoDBClient;
  events: EventBridgeClient;
}

/** Test seams. Production passes none; nothing here is reachable from configuration. */
export interface HandlerOverrides {
  env?: Record<string, string | undefined>;
  config?: HandlerConfig;
  clients?: Partial<AwsClients>;
  /** Parameter Store client for the deployments (CONTRAST_DEPLOYMENTS_PATH), read once per container. */
  ssm?: SSMClient;
  verifierFactory?: BundleVerifierFactory;
  kubernetes?: (deployment: DeploymentConfig) => Promise<KubernetesSide>;
  telemetry?: Partial<Telemetry>;
  reconcile?: typeof realReconcile;
  /** Time budgets (tests and the chaos suite scale them down); default lambda/shared/budgets.ts. */
  budgets?: Budgets;
  /** Extra reconcile ports: a session opener (the handler tests), progress (the chaos suite). */
  ports?: Partial<Pick<ReconcilePorts, 'openSession' | 'progress'>>;
  now?: () => number;
  /** Verifies mirror documents in the scheduled collateral refresh (tests: test roots). */
  collateralVerify?: CollateralVerify;
}

export interface Runtime {
  config: HandlerConfig;
  clients: AwsClients;
  lock: LockTable;
  /** The deployments' bundles, kept across warm invocations (keys/warm-bundles.ts). */
  bundles: WarmBundles;
  telemetry: Telemetry;
  now: () => number;
  reconcile: typeof realReconcile;
  /** Reconcile's ports, built once (ports.ts); guard.ts adds what one reconcile owns. */
  ports: FunctionPorts;
  budgets: Budgets;
  /** The step budgets reconcile works with (stepBudgetsOf(budgets)); the deployment run adds its deadline. */
  stepBudgets: StepBudgets;
  /** Settles once the AWS region is known and the trace can record; rejects with a ConfigError when no region is. */
  ready: Promise<void>;
  collateralVerify?: CollateralVerify;
}

/** Telemetry is built with the handler (before configuration), so a bad configuration is still logged. */
export function createTelemetry(overrides: HandlerOverrides): Telemetry {
  return {
    logger: overrides.telemetry?.logger ?? createLogger(),
    metrics: overrides.telemetry?.metrics ?? createMetricsSink(),
    trace: overrides.telemetry?.trace ?? createTrace(),
  };
}

function createClients(
  overrides: Partial<AwsClients> | undefined,
  trace: Telemetry['trace'],
  budgets: Budgets,
): AwsClients {
  // Region, endpoint and credentials come from the standard environment (AWS_REGION, ...).
  const settings = () => awsClientSettings(budgets.aws);
  return {
    // KMS and Secrets Manager carry secrets: not instrumented by the tracer. Their request
    // IDs go into the audit record (request-ids.ts).
    secrets: recordRequestIds(overrides?.secrets ?? new SecretsManagerClient(settings()), 'secretsmanager'),
    kms: recordRequestIds(overrides?.kms ?? new KMSClient(settings()), 'kms'),
    dynamodb: overrides?.dynamodb ?? trace.captureClient(new DynamoDBClient(settings())),
    events: overrides?.events ?? trace.captureClient(new EventBridgeClient(settings())),
  };
}

/**
 * A missing region is a configuration error, never a transient one: the SDK would only say
 * "Region is missing" at the first call, and that call's failure would look like `unreachable`.
 */
async function requireRegion(clients: AwsClients): Promise<void> {
  try {
    await Promise.all([clients.kms.config.region(), clients.secrets.config.region()]);
  } catch (err) {
    throw new ConfigError(
      'AWS_REGION',
      `no AWS region is configured (${(err as Error).message}); Lambda sets AWS_REGION itself — elsewhere export AWS_REGION or set a profile's region`,
    );
  }
}

/** LEASE_SECONDS against the budgets actually in force (tests may scale them). */
function checkLease(config: HandlerConfig, stepBudgets: StepBudgets, budgets: Budgets): void {
  const min = minLeaseSeconds(stepBudgets, budgets.leaseMarginMs);
  if (config.leaseSeconds !== undefined && config.leaseSeconds < min) {
    throw new ConfigError(
      ENV.leaseSeconds,
      `${config.leaseSeconds} s is shorter than one recovery may take under these budgets (${min} s); raise it`,
    );
  }
}

/**
 * The runtime with its configuration loaded: from the overrides, or from the environment and
 * (when it names CONTRAST_DEPLOYMENTS_PATH) Parameter Store, whose module is imported only then.
 */
export async function loadRuntime(overrides: HandlerOverrides, telemetry: Telemetry): Promise<Runtime> {
  const env = overrides.env ?? process.env;
  if (overrides.config || !env[ENV.deploymentsPath]) return createRuntime(overrides, telemetry);
  const [{ loadConfigFromStore }, { SSMClient }] = await Promise.all([
    import('./deployment-store.ts'),
    import('@aws-sdk/client-ssm'),
  ]);
  const settings = awsClientSettings((overrides.budgets ?? BUDGETS).aws);
  const config = await loadConfigFromStore(env, () => overrides.ssm ?? new SSMClient(settings));
  return createRuntime({ ...overrides, config }, telemetry);
}

export function createRuntime(overrides: HandlerOverrides, telemetry: Telemetry): Runtime {
  const config = overrides.config ?? loadConfig(overrides.env ?? process.env);
  const budgets = overrides.budgets ?? BUDGETS;
  const clients = createClients(overrides.clients, telemetry.trace, budgets);
  const stepBudgets = stepBudgetsOf(budgets);
  checkLease(config, stepBudgets, budgets);
  const now = overrides.now ?? Date.now;
  const bundles = new WarmBundles(new BundleStore(clients.secrets), (secretId, error) =>
    telemetry.logger.warn(
      'DescribeSecret failed, so the bundle was read instead (a KMS Decrypt in CloudTrail); if refused, allow secretsmanager:DescribeSecret on the secret and through its endpoint',
      { secretId, error },
    ),
  );
  const ready = Promise.all([requireRegion(clients), telemetry.trace.ready]).then(() => undefined);
  ready.catch(() => {}); // awaited by the handler, which reports it
  return {
    config,
    clients,
    lock: new LockTable({ client: clients.dynamodb, tableName: config.lockTableName, now }),
    bundles,
    telemetry,
    now,
    reconcile: overrides.reconcile ?? realReconcile,
    ports: createFunctionPorts(config, clients, bundles, budgets, now, overrides),
    budgets,
    stepBudgets,
    ready,
    ...(overrides.collateralVerify ? { collateralVerify: overrides.collateralVerify } : {}),
  };
}
