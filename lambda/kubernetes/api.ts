/**
 * The handful of Kubernetes API calls this service makes, on the REST paths the official
 * clients use. Lists are paged (limit/continue) so a large cluster is not one huge answer, and
 * bounded in items, pages and restarts (KUBERNETES_LIMITS). Nothing reads a single object:
 * RBAC (infra/k8s/rbac.yaml) grants no `get`.
 */
import { KUBERNETES_LIMITS, type KubernetesLimits } from '../shared/budgets.ts';
import { KubeApiError, KubeLimitError } from './errors.ts';
import type { KubeTransport } from './http.ts';
import type { Namespace, ObjectList, Pod } from './objects.ts';
import type { WorkloadKind } from './types.ts';

/** apps/v1, batch/v1 and core/v1 collection per kind. */
const KIND_PATHS: Record<WorkloadKind, { prefix: string; resource: string }> = {
  Deployment: { prefix: '/apis/apps/v1', resource: 'deployments' },
  StatefulSet: { prefix: '/apis/apps/v1', resource: 'statefulsets' },
  DaemonSet: { prefix: '/apis/apps/v1', resource: 'daemonsets' },
  ReplicaSet: { prefix: '/apis/apps/v1', resource: 'replicasets' },
  ReplicationController: { prefix: '/api/v1', resource: 'replicationcontrollers' },
  Job: { prefix: '/apis/batch/v1', resource: 'jobs' },
  CronJob: { prefix: '/apis/batch/v1', resource: 'cronjobs' },
  Pod: { prefix: '/api/v1', resource: 'pods' },
};

const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';

function collectionPath(kind: WorkloadKind, namespace: string | undefined): string {
  const { prefix, resource } = KIND_PATHS[kind];
  return namespace === undefined
    ? `${prefix}/${resource}`
    : `${prefix}/namespaces/${encodeURIComponent(namespace)}/${resource}`;
}

function objectPath(kind: WorkloadKind, namespace: string, name: string): string {
  return `${collectionPath(kind, namespace)}/${encodeURIComponent(name)}`;
}

export class KubeApiClient {
  constructor(
    readonly transport: KubeTransport,
    private readonly limits: KubernetesLimits = KUBERNETES_LIMITS,
  ) {}

  /** All objects of a kind in a namespace (undefined = every namespace), following continue tokens. */
  async list<T>(
    kind: WorkloadKind,
    namespace: string | undefined,
    labelSelector?: string,
    signal?: AbortSignal,
  ): Promise<T[]> {
    return this.listPath<T>(collectionPath(kind, namespace), labelSelector, signal);
  }

  listPods(namespace: string | undefined, labelSelector?: string, signal?: AbortSignal): Promise<Pod[]> {
    return this.list<Pod>('Pod', namespace, labelSelector, signal);
  }

  listNamespaces(labelSelector: string, signal?: AbortSignal): Promise<Namespace[]> {
    return this.listPath<Namespace>('/api/v1/namespaces', labelSelector, signal);
  }

  /**
   * Follows continue tokens to the end of the list. A 410 Gone on a continue token means the
   * token expired (its etcd revision was compacted): the list starts over without it, since a
   * consistent list must be read from one revision (kubernetes.io, "Kubernetes API Concepts",
   * retrieving large results sets in chunks: on 410 the client restarts the list).
   */
  private async listPath<T>(
    path: string,
    labelSelector: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<T[]> {
    const { pageSize, listItems, listPages, listRestarts } = this.limits;
    const refuse = (limit: KubeLimitError['limit'], message: string) =>
      new KubeLimitError(limit, 200, message, 'GET', path);
    let items: T[] = [];
    let cont: string | undefined;
    let pages = 0;
    let restarts = 0;
    for (;;) {
      if (++pages > listPages)
        throw refuse(
          'list-pages',
          `the list did not end within ${listPages} pages (KUBERNETES_LIMITS.listPages): the API server keeps sending continue tokens`,
        );
      let page: ObjectList<T>;
      try {
        page = await this.transport.request<ObjectList<T>>({
          method: 'GET',
          path,
          query: { labelSelector, limit: String(pageSize), continue: cont },
          signal,
        });
      } catch (err) {
        if (cont === undefined || !(err instanceof KubeApiError) || err.status !== 410) throw err;
        if (++restarts > listRestarts) {
          throw new KubeLimitError(
            'list-restarts',
            410,
            `the list expired (410 Gone) ${restarts} times while it was read (KUBERNETES_LIMITS.listRestarts) — try again later`,
            'GET',
            path,
          );
        }
        items = [];
        cont = undefined;
        continue;
      }
      if (!page || !Array.isArray(page.items))
        throw new KubeApiError(200, 'InvalidResponse', 'the answer is not a list (no items)', 'GET', path);
      if (items.length + page.items.length > listItems) {
        throw refuse(
          'list-items',
          `the list has more than ${listItems} items (KUBERNETES_LIMITS.listItems) — narrow the deployment's namespaces (a list or namespaceLabelSelector instead of "*")`,
        );
      }
      for (const item of page.items) items.push(item);
      const next = page.metadata?.continue;
      if (typeof next !== 'string' || next === '') return items;
      cont = next;
    }
  }

  /**
   * Strategic-merge patch, the content type `kubectl rollout restart` sends. Judged by its
   * status code: a 2xx was applied, whatever body comes with it.
   */
  async patch(kind: WorkloadKind, namespace: string, name: string, body: unknown, signal?: AbortSignal): Promise<void> {
    await this.transport.request<void>({
      method: 'PATCH',
      path: objectPath(kind, namespace, name),
      body,
      contentType: STRATEGIC_MERGE_PATCH,
      expect: 'status',
      signal,
    });
  }

  /** Judged by its status code, like patch. */
  async deletePod(namespace: string, name: string, signal?: AbortSignal): Promise<void> {
    await this.transport.request<void>({
      method: 'DELETE',
      path: objectPath('Pod', namespace, name),
      expect: 'status',
      signal,
    });
  }
}
