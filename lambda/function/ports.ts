/**
 * What reconcile is given in the function, built in this one module: the container's adapters
 * once (createFunctionPorts, called by runtime.ts at cold start; nothing here calls out), and
 * per reconcile those joined with what that reconcile owns (reconcilePorts, called by guard.ts):
 * its record, the bundle read beside the guard's snapshot, its step tracker.
 */
import type { KubernetesSide } from '../kubernetes/types.ts';
import type { RecoveryBundle } from '../keys/bundle.ts';
import type { WarmBundles } from '../keys/warm-bundles.ts';
import { kmsOwnerKeys } from '../reconcile/aws-deps.ts';
import type {
  BundleVerifierFactory,
  OwnerKeyDecrypter,
  ProgressEvent,
  ReconcilePorts,
} from '../reconcile/reconcile.ts';
import type { RecoveryRecordStore } from '../reconcile/types.ts';
import { productionVerifierFactory } from '../reconcile/verification.ts';
import type { Budgets } from '../shared/budgets.ts';
import type { DeploymentConfig, HandlerConfig } from './config.ts';
import { lazyKubernetes } from './kubernetes-access.ts';
import type { AwsClients, HandlerOverrides } from './runtime.ts';

/** The container's reconcile ports: one set per Lambda container, shared by every invocation. */
export interface FunctionPorts {
  readonly bundles: WarmBundles;
  readonly ownerKeys: OwnerKeyDecrypter;
  /** The verifier factory of a deployment (its accepted TDX TCB statuses). */
  verifierFactory(d: DeploymentConfig): BundleVerifierFactory;
  /** The deployment's Kubernetes side, loaded on first use; undefined when KUBE_AUTH is none. */
  kubernetes(d: DeploymentConfig): (() => Promise<KubernetesSide>) | undefined;
  readonly now: () => number;
  /** Test seams (HandlerOverrides.ports): never reachable from configuration. */
  readonly seams: Partial<Pick<ReconcilePorts, 'openSession' | 'progress'>>;
}

export function createFunctionPorts(
  config: HandlerConfig,
  clients: AwsClients,
  bundles: WarmBundles,
  budgets: Budgets,
  now: () => number,
  overrides: HandlerOverrides,
): FunctionPorts {
  return {
    bundles,
    ownerKeys: kmsOwnerKeys(clients.kms),
    verifierFactory: overrides.verifierFactory ? () => overrides.verifierFactory! : verifierFactoryFor(config),
    kubernetes: lazyKubernetes(config, clients, overrides.kubernetes, budgets),
    now,
    seams: overrides.ports ?? {},
  };
}

/** What one reconcile owns besides the container's ports. */
export interface ReconcileOwn {
  /** The deployment's bundle, read while the guard reads its snapshot (deployment-run.ts). */
  bundle: Promise<RecoveryBundle>;
  records: RecoveryRecordStore;
  progress: (event: ProgressEvent) => void;
}

/**
 * One reconcile's ports: the container's, with this reconcile's record, bundle read and tracker;
 * its Decrypt reads the bundle again first when step 1 had the kept copy (keys/warm-bundles.ts).
 */
export function reconcilePorts(ports: FunctionPorts, d: DeploymentConfig, own: ReconcileOwn): ReconcilePorts {
  const { openSession, progress } = ports.seams;
  const kubernetes = ports.kubernetes(d);
  return {
    bundles: { load: (secretId) => (secretId === d.secretId ? own.bundle : ports.bundles.load(secretId)) },
    // The owner key only from the bundle as Secrets Manager holds it now: a kept copy is read again.
    ownerKeys: {
      decryptOwnerKey: async (bundle, context) =>
        ports.ownerKeys.decryptOwnerKey(await ports.bundles.forOwnerKey(d.secretId, bundle), context),
    },
    verifierFactory: ports.verifierFactory(d),
    records: own.records,
    now: ports.now,
    progress: progress
      ? (e) => {
          own.progress(e);
          progress(e);
        }
      : own.progress,
    ...(openSession ? { openSession } : {}),
    ...(kubernetes ? { kubernetes } : {}),
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
