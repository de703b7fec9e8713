/**
 * The operator's way into the cluster: their own kubeconfig, found and merged as the other
 * commands find it (cli/kubernetes.ts: `--kubeconfig`, else KUBECONFIG, else ~/.kube/config;
 * `--kube-context`), through @kubernetes/client-node's generated clients. Only what doctor and rehearse need: SubjectAccessReviews for the
 * function's identity, the exporter's ConfigMaps, namespaces by label, the Coordinator pods
 * and (rehearse only) deleting them.
 */
import { ApiException, AuthorizationV1Api, CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { buildKubeConfig } from '../../lambda/kubernetes/kubeconfig.ts';
import { RecoveryError } from '../../lambda/shared/errors.ts';
import { kubeconfigPaths, NO_ACCESS_HINT, readKubeconfig } from '../kubernetes.ts';

export interface ReviewRequest {
  user?: string;
  groups: string[];
  verb: string;
  group: string;
  resource: string;
  /** "" or undefined: all namespaces. */
  namespace?: string;
}

export interface ReviewAnswer {
  allowed: boolean;
  denied?: boolean;
  reason?: string;
  evaluationError?: string;
}

export interface PodSummary {
  name: string;
  uid: string;
  ready: boolean;
  deleting: boolean;
  startTime?: Date;
  created?: Date;
}

export interface OperatorKube {
  /** `context (server)` for messages. */
  readonly describe: string;
  review(r: ReviewRequest): Promise<ReviewAnswer>;
  configMaps(namespace: string): Promise<{ name: string; data: Record<string, string> }[]>;
  namespaces(labelSelector: string): Promise<string[]>;
  pods(namespace: string, labelSelector: string): Promise<PodSummary[]>;
  deletePod(namespace: string, name: string): Promise<void>;
}

/** An API answer other than success, with the server's own message: a refusal is `config-invalid`, no answer `unreachable`. */
export class KubeAccessError extends RecoveryError {
  constructor(
    message: string,
    readonly status: number | undefined,
  ) {
    super(status === 401 || status === 403 ? 'config-invalid' : 'unreachable', message);
  }
}

export interface KubeAccessOptions {
  kubeconfig?: string;
  kubeContext?: string;
}

async function loadKubeConfig(o: KubeAccessOptions): Promise<KubeConfig> {
  try {
    const found = await kubeconfigPaths(o);
    if (found.paths.length === 0) throw new Error(`no kubeconfig: ${NO_ACCESS_HINT.split('; or')[0]}`);
    const documents = await Promise.all(found.paths.map(readKubeconfig));
    // The operator's kubeconfig, as kubectl reads it: referenced files only as bounded regular files.
    return await buildKubeConfig({
      kind: 'kubeconfig',
      kubeconfig: documents,
      policy: 'kubectl',
      ...(o.kubeContext ? { context: o.kubeContext } : {}),
    });
  } catch (err) {
    throw new KubeAccessError((err as Error).message, undefined);
  }
}

async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ApiException) {
      let message = String(err.body ?? '');
      try {
        message = (JSON.parse(message) as { message?: string }).message ?? message;
      } catch {
        /* not a Status body */
      }
      throw new KubeAccessError(`${what}: HTTP ${err.code}: ${message}`, err.code);
    }
    throw new KubeAccessError(`${what}: ${(err as Error).message}`, undefined);
  }
}

function podSummary(p: V1Pod): PodSummary {
  return {
    name: p.metadata?.name ?? '',
    uid: p.metadata?.uid ?? '',
    ready:
      !p.metadata?.deletionTimestamp &&
      (p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false),
    deleting: !!p.metadata?.deletionTimestamp,
    ...(p.status?.startTime ? { startTime: new Date(p.status.startTime) } : {}),
    ...(p.metadata?.creationTimestamp ? { created: new Date(p.metadata.creationTimestamp) } : {}),
  };
}

export async function operatorKube(o: KubeAccessOptions = {}): Promise<OperatorKube> {
  const kc = await loadKubeConfig(o);
  const core = kc.makeApiClient(CoreV1Api);
  const authz = kc.makeApiClient(AuthorizationV1Api);
  return {
    describe: `context ${kc.getCurrentContext()} (${kc.getCurrentCluster()!.server})`,
    async review(r) {
      const out = await call('create a SubjectAccessReview', () =>
        authz.createSubjectAccessReview({
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SubjectAccessReview',
            spec: {
              ...(r.user ? { user: r.user } : {}),
              groups: r.groups,
              resourceAttributes: { verb: r.verb, group: r.group, resource: r.resource, namespace: r.namespace ?? '' },
            },
          },
        }),
      );
      const s = out.status;
      return {
        allowed: s?.allowed === true,
        ...(s?.denied ? { denied: true } : {}),
        ...(s?.reason ? { reason: s.reason } : {}),
        ...(s?.evaluationError ? { evaluationError: s.evaluationError } : {}),
      };
    },
    async configMaps(namespace) {
      const list = await call(`list ConfigMaps in namespace ${namespace}`, () =>
        core.listNamespacedConfigMap({ namespace }),
      );
      return list.items.map((c) => ({ name: c.metadata?.name ?? '', data: c.data ?? {} }));
    },
    async namespaces(labelSelector) {
      const list = await call(`list namespaces (${labelSelector})`, () => core.listNamespace({ labelSelector }));
      return list.items.map((n) => n.metadata?.name ?? '').sort();
    },
    async pods(namespace, labelSelector) {
      const list = await call(`list pods (${labelSelector}) in namespace ${namespace}`, () =>
        core.listNamespacedPod({ namespace, labelSelector }),
      );
      return list.items.map(podSummary);
    },
    async deletePod(namespace, name) {
      await call(`delete pod ${name} in namespace ${namespace}`, () => core.deleteNamespacedPod({ namespace, name }));
    },
  };
}
