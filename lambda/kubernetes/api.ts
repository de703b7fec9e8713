/**
 * The handful of Kubernetes API calls this service makes, on the REST paths the official
 * clients use. Lists are paged (limit/continue) so a large cluster is not one huge answer.
 * Nothing reads a single object: RBAC (infra/k8s/rbac.yaml) grants no `get`.
 */
import type { KubeTransport } from './http.ts';
import type { Namespace, ObjectList, Pod, WorkloadObject } from './objects.ts';
import type { WorkloadKind } from './types.ts';

/** apps/v1 and core/v1 collection per kind. */
const KIND_PATHS: Record<WorkloadKind, { prefix: string; resource: string }> = {
  Deployment: { prefix: '/apis/apps/v1', resource: 'deployments' },
  StatefulSet: { prefix: '/apis/apps/v1', resource: 'statefulsets' },
  DaemonSet: { prefix: '/apis/apps/v1', resource: 'daemonsets' },
  ReplicaSet: { prefix: '/apis/apps/v1', resource: 'replicasets' },
  Pod: { prefix: '/api/v1', resource: 'pods' },
};

/** Items per list page: 1,000 workloads of a kind are two round trips, each answer a few MB at most. */
const LIST_PAGE_SIZE = 500;

const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';

function collectionPath(kind: WorkloadKind, namespace: string | undefined): string {
  const { prefix, resource } = KIND_PATHS[kind];
  return namespace === undefined ? `${prefix}/${resource}` : `${prefix}/namespaces/${encodeURIComponent(namespace)}/${resource}`;
}

function objectPath(kind: WorkloadKind, namespace: string, name: string): string {
  return `${collectionPath(kind, namespace)}/${encodeURIComponent(name)}`;
}

export class KubeApiClient {
  constructor(readonly transport: KubeTransport) {}

  /** All objects of a kind in a namespace (undefined = every namespace), following continue tokens. */
  async list<T>(kind: WorkloadKind, namespace: string | undefined, labelSelector?: string): Promise<T[]> {
    return this.listPath<T>(collectionPath(kind, namespace), labelSelector);
  }

  listPods(namespace: string | undefined, labelSelector?: string): Promise<Pod[]> {
    return this.list<Pod>('Pod', namespace, labelSelector);
  }

  listNamespaces(labelSelector: string): Promise<Namespace[]> {
    return this.listPath<Namespace>('/api/v1/namespaces', labelSelector);
  }

  private async listPath<T>(path: string, labelSelector: string | undefined): Promise<T[]> {
    const items: T[] = [];
    let cont: string | undefined;
    do {
      const page: ObjectList<T> = await this.transport.request<ObjectList<T>>({
        method: 'GET',
        path,
        query: { labelSelector, limit: String(LIST_PAGE_SIZE), continue: cont },
      });
      for (const item of page.items ?? []) items.push(item);
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return items;
  }

  /** Strategic-merge patch, the content type `kubectl rollout restart` sends. */
  patch<T = WorkloadObject>(kind: WorkloadKind, namespace: string, name: string, body: unknown): Promise<T> {
    return this.transport.request<T>({ method: 'PATCH', path: objectPath(kind, namespace, name), body, contentType: STRATEGIC_MERGE_PATCH });
  }

  deletePod(namespace: string, name: string): Promise<unknown> {
    return this.transport.request({ method: 'DELETE', path: objectPath('Pod', namespace, name) });
  }
}
