/**
 * What one Lambda container builds once and every invocation shares: configuration, AWS
 * clients, the lock table, the bundle store, telemetry, the verifier factory and the lazy
 * Kubernetes side. A bad configuration throws here and fails every invocation loudly.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CollateralVerify } from '../attestation/collateral-verify.ts';
import { BundleStore } from '../keys/store.ts';
import type { KubernetesSide } from '../kubernetes/types.ts';
import { reconcile as realReconcile, type BundleVerifierFactory, type ReconcileDeps } from '../reconcile/reconcile.ts';
import { productionVerifierFactory } from '../reconcile/verification.ts';
import { loadConfig, type DeploymentConfig, type HandlerConfig } from './config.ts';
import { lazyKubernetes } from './kubernetes-access.ts';
import { LockTable } from './lease.ts';
import { createLogger, createMetricsSink, createTrace, type Telemetry } from './observability.ts';

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
  verifierFactory?: BundleVerifierFactory;
  kubernetes?: (deployment: DeploymentConfig) => Promise<KubernetesSide>;
  telemetry?: Partial<Telemetry>;
  reconcile?: typeof realReconcile;
  /** Extra reconcile dependencies (e.g. timeouts). */
  reconcileDeps?: Partial<Pick<ReconcileDeps, 'handshakeTimeoutMs' | 'rpcTimeoutMs' | 'openSession'>>;
  now?: () => number;
  /** Verifies mirror documents in the scheduled collateral refresh (tests: test roots). */
  collateralVerify?: CollateralVerify;
}

export interface Runtime {
  config: HandlerConfig;
  clients: AwsClients;
  lock: LockTable;
  bundles: BundleStore;
  telemetry: Telemetry;
  now: () => number;
  reconcile: typeof realReconcile;
  reconcileDeps: HandlerOverrides['reconcileDeps'];
  collateralVerify?: CollateralVerify;
  verifierFactory: (deployment: DeploymentConfig) => BundleVerifierFactory;
  kubernetes: (deployment: DeploymentConfig) => (() => Promise<KubernetesSide>) | undefined;
}

/** Telemetry is built with the handler (before configuration), so a bad configuration is still logged. */
export function createTelemetry(overrides: HandlerOverrides): Telemetry {
  return {
    logger: overrides.telemetry?.logger ?? createLogger(),
    metrics: overrides.telemetry?.metrics ?? createMetricsSink(),
    trace: overrides.telemetry?.trace ?? createTrace(),
  };
}

function createClients(overrides: Partial<AwsClients> | undefined, trace: Telemetry['trace']): AwsClients {
  // Region, endpoint and credentials come from the standard environment (AWS_REGION, ...).
  return {
    // KMS and Secrets Manager carry secrets: not instrumented by the tracer.
    secrets: overrides?.secrets ?? new SecretsManagerClient({}),
    kms: overrides?.kms ?? new KMSClient({}),
    dynamodb: overrides?.dynamodb ?? trace.captureClient(new DynamoDBClient({})),
    events: overrides?.events ?? trace.captureClient(new EventBridgeClient({})),
  };
}

/**
 * The production verifier per deployment: pinned roots only; collateral from the evidence,
 * the bundle's cache, then COLLATERAL_MIRROR_URL; the deployment's accepted TDX TCB statuses.
 */
function verifierFactoryFor(config: HandlerConfig): (deployment: DeploymentConfig) => BundleVerifierFactory {
  const perDeployment = new Map<string, BundleVerifierFactory>();
  return (d) => {
    let f = perDeployment.get(d.name);
    if (!f) {
      f = productionVerifierFactory({
        ...(config.collateralMirrorUrl ? { collateralMirrorUrl: config.collateralMirrorUrl } : {}),
        ...(d.tdxAcceptedTcbStatuses?.length ? { acceptedTdxTcbStatuses: d.tdxAcceptedTcbStatuses } : {}),
      });
      perDeployment.set(d.name, f);
    }
    return f;
  };
}

export function createRuntime(overrides: HandlerOverrides, telemetry: Telemetry): Runtime {
  const config = overrides.config ?? loadConfig(overrides.env ?? process.env);
  const clients = createClients(overrides.clients, telemetry.trace);
  const now = overrides.now ?? Date.now;
  return {
    config,
    clients,
    lock: new LockTable({ client: clients.dynamodb, tableName: config.lockTableName, now }),
    bundles: new BundleStore(clients.secrets),
    telemetry,
    now,
    reconcile: overrides.reconcile ?? realReconcile,
    reconcileDeps: overrides.reconcileDeps,
    ...(overrides.collateralVerify ? { collateralVerify: overrides.collateralVerify } : {}),
    verifierFactory: overrides.verifierFactory ? () => overrides.verifierFactory! : verifierFactoryFor(config),
    kubernetes: lazyKubernetes(config, clients, overrides.kubernetes),
  };
}
