/**
 * The function's way to its cluster: configuration → the Kubernetes side's settings, loaded on
 * first use only. lambda/kubernetes/ is imported when reconcile has Kubernetes work, never for
 * a healthy deployment with nothing to restart; @kubernetes/client-node only in kubeconfig mode.
 */
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { KubernetesSettings } from '../kubernetes/index.ts';
import { BUDGETS, type Budgets } from '../shared/budgets.ts';
import { errorMessage, InputError, UnreachableError } from '../shared/errors.ts';
import type { KubernetesSide } from '../kubernetes/types.ts';
import type { DeploymentConfig, HandlerConfig } from './config.ts';
import type { AwsClients, HandlerOverrides } from './runtime.ts';

/** A loader of the Kubernetes side per deployment (memoized); undefined when KUBE_AUTH is none. */
export function lazyKubernetes(
  config: HandlerConfig,
  clients: AwsClients,
  override?: HandlerOverrides['kubernetes'],
  budgets: Budgets = BUDGETS,
) {
  const cache = new Map<string, Promise<KubernetesSide>>();
  return (d: DeploymentConfig): (() => Promise<KubernetesSide>) | undefined => {
    if (!override && config.kube.auth === 'none') return undefined;
    return () => {
      let side = cache.get(d.name);
      if (!side) {
        side = override
          ? override(d)
          : import('../kubernetes/index.ts').then(async (m) =>
              m.createKubernetesSide(await kubernetesSettings(config, d, clients, budgets)),
            );
        // A failed load is not cached: the next reconcile tries again.
        side.catch(() => cache.delete(d.name));
        cache.set(d.name, side);
      }
      return side;
    };
  };
}

/** Maps configuration to the Kubernetes side's settings (type-only import: nothing loaded here). */
async function kubernetesSettings(
  config: HandlerConfig,
  d: DeploymentConfig,
  clients: AwsClients,
  budgets: Budgets,
): Promise<KubernetesSettings> {
  let auth: KubernetesSettings['auth'];
  if (config.kube.auth === 'eks') {
    // The token is signed with the function's own credentials, as its SDK clients resolve them.
    auth = {
      kind: 'eks',
      clusterName: config.kube.clusterName!,
      endpoint: config.kube.endpoint!,
      caData: config.kube.caData!,
      region: await clients.secrets.config.region(),
      credentials: clients.secrets.config.credentials,
    };
  } else {
    const id = config.kube.kubeconfigSecretId!;
    let out;
    try {
      out = await clients.secrets.send(new GetSecretValueCommand({ SecretId: id }));
    } catch (err) {
      // A missing secret is a configuration fault; anything else (throttling, network) passes.
      const name = (err as { name?: string }).name;
      if (name === 'ResourceNotFoundException')
        throw new InputError(
          `the kubeconfig secret ${id} (KUBECONFIG_SECRET_ID) does not exist — store the cluster's kubeconfig there`,
          'config-invalid',
          { cause: err },
        );
      throw new UnreachableError(
        `cannot read the kubeconfig secret ${id} (KUBECONFIG_SECRET_ID): ${name ?? 'error'}: ${errorMessage(err)}`,
        { cause: err },
      );
    }
    if (!out.SecretString)
      throw new InputError(`secret ${id} (KUBECONFIG_SECRET_ID) holds no kubeconfig text`, 'config-invalid');
    auth = { kind: 'kubeconfig', kubeconfig: out.SecretString };
  }
  const namespaces: KubernetesSettings['namespaces'] = d.namespaceLabelSelector
    ? { kind: 'selector', labelSelector: d.namespaceLabelSelector }
    : d.namespaces.includes('*')
      ? { kind: 'all' }
      : { kind: 'list', names: d.namespaces };
  return {
    auth,
    // Contrast deploys the Coordinator into the workloads' namespace; `default` unless configured.
    coordinatorNamespace:
      d.coordinatorNamespace ??
      (namespaces.kind === 'list' && namespaces.names.length === 1 ? namespaces.names[0]! : 'default'),
    namespaces,
    allowPodDeletion: config.allowPodDeletion,
    // Each request ends after this much silence, with this many attempts (lambda/shared/budgets.ts).
    budget: budgets.kubernetes,
  };
}
