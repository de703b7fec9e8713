/**
 * RBAC of the function's Kubernetes identity, asked of the API server itself with one
 * SubjectAccessReview per permission (authorization.k8s.io/v1; the server's authorizers
 * answer, so bindings, aggregated roles and webhooks all count). The permissions are those
 * the function's calls need (lambda/kubernetes/: peers.ts lists the Coordinator pods;
 * discovery.ts lists pods and the seven workload kinds per namespace, and namespaces for a
 * label selector; restart.ts patches Deployments, StatefulSets and DaemonSets and, only when
 * pod deletion is opted in, deletes pods), in the namespaces the configuration names.
 */
import type { DeploymentConfig } from '../../lambda/function/config.ts';
import { result, type CheckResult } from './checks.ts';
import type { KubeIdentity } from './cluster-access.ts';
import { KubeAccessError, type OperatorKube } from '../operations/kube.ts';

interface Permission {
  verb: string;
  group: string;
  resource: string;
  /** "" = cluster scope. */
  namespace: string;
  why: string;
}

const READS: [string, string][] = [
  ['', 'pods'],
  ['apps', 'deployments'],
  ['apps', 'statefulsets'],
  ['apps', 'daemonsets'],
  ['apps', 'replicasets'],
  ['', 'replicationcontrollers'],
  ['batch', 'jobs'],
  ['batch', 'cronjobs'],
];
const PATCHED: [string, string][] = [
  ['apps', 'deployments'],
  ['apps', 'statefulsets'],
  ['apps', 'daemonsets'],
];

function label(p: Pick<Permission, 'verb' | 'group' | 'resource' | 'namespace'>): string {
  return `${p.verb} ${p.resource}${p.group ? `.${p.group}` : ''} ${p.namespace ? `in namespace ${p.namespace}` : 'cluster-wide'}`;
}

/** The restart scopes: namespace names, or "" for cluster-wide lists. */
async function restartScopes(d: DeploymentConfig, kube: OperatorKube, notes: string[]): Promise<string[]> {
  if (d.namespaceLabelSelector) {
    try {
      const names = await kube.namespaces(d.namespaceLabelSelector);
      if (names.length === 0) notes.push(`no namespace matches ${d.namespaceLabelSelector} yet`);
      return names;
    } catch (err) {
      notes.push(
        `cannot resolve the namespace selector with your identity (${(err as Error).message}); only the cluster-wide namespace list was checked`,
      );
      return [];
    }
  }
  return d.namespaces.includes('*') ? [''] : [...new Set(d.namespaces)];
}

export async function rbacCheck(
  d: DeploymentConfig,
  allowPodDeletion: boolean,
  identity: KubeIdentity,
  kube: OperatorKube,
): Promise<CheckResult> {
  const title = `RBAC of ${identity.groups.filter((g) => g !== 'system:authenticated').join(', ') || identity.user}`;
  const notes: string[] = [];
  // The configuration names it (default `default`): lambda/function/config.ts.
  const coordinatorNs = d.coordinatorNamespace;
  const needed: Permission[] = [
    { verb: 'list', group: '', resource: 'pods', namespace: coordinatorNs, why: 'peer check' },
  ];
  if (d.namespaceLabelSelector)
    needed.push({ verb: 'list', group: '', resource: 'namespaces', namespace: '', why: 'namespace selector' });
  const scopes = await restartScopes(d, kube, notes);
  for (const ns of scopes) {
    for (const [group, resource] of READS)
      needed.push({ verb: 'list', group, resource, namespace: ns, why: 'restarts' });
    for (const [group, resource] of PATCHED)
      needed.push({ verb: 'patch', group, resource, namespace: ns, why: 'restarts' });
    if (allowPodDeletion)
      needed.push({ verb: 'delete', group: '', resource: 'pods', namespace: ns, why: 'pod deletion (opted in)' });
  }
  const unique = [...new Map(needed.map((p) => [label(p), p])).values()];

  let answers: boolean[];
  let surplus: string[] = [];
  try {
    const ask = (p: Pick<Permission, 'verb' | 'group' | 'resource' | 'namespace'>) =>
      kube.review({ ...(identity.user ? { user: identity.user } : {}), groups: identity.groups, ...p });
    answers = await Promise.all(unique.map(async (p) => (await ask(p)).allowed));
    // Least privilege: pod deletion granted although not opted in.
    if (!allowPodDeletion) {
      const extra = await Promise.all(
        scopes.map(async (ns) =>
          (await ask({ verb: 'delete', group: '', resource: 'pods', namespace: ns })).allowed ? ns : undefined,
        ),
      );
      surplus = extra
        .filter((ns): ns is string => ns !== undefined)
        .map((ns) => (ns ? `namespace ${ns}` : 'cluster-wide'));
    }
  } catch (err) {
    const forbidden = err instanceof KubeAccessError && err.status === 403;
    return result(
      'rbac',
      title,
      'fail',
      [`cannot ask the API server (${(err as Error).message})`],
      forbidden
        ? 'run doctor with a kubeconfig identity that may create subjectaccessreviews.authorization.k8s.io (e.g. a cluster admin)'
        : 'check --kubeconfig/--kube-context and the API server address',
    );
  }

  const missing = unique.filter((_, i) => !answers[i]);
  const details = [
    `asked for ${identity.source}${identity.user ? ` (user ${identity.user})` : ''}; ${unique.length} permission(s) in ${scopes.length === 0 ? 'no' : scopes.map((s) => s || 'all namespaces').join(', ')} and the Coordinator's namespace ${coordinatorNs}`,
    ...notes,
  ];
  if (missing.length > 0) {
    const namespaces = [...new Set(missing.filter((p) => p.namespace).map((p) => p.namespace))];
    const fixes: string[] = [];
    if (missing.some((p) => p.verb !== 'delete' && p.resource !== 'namespaces')) {
      fixes.push(
        namespaces.length
          ? `apply infra/k8s/rbac.yaml with its RoleBinding copied into namespace(s) ${namespaces.join(', ')}`
          : 'bind the workloads ClusterRole cluster-wide, or better configure a namespace list',
      );
    }
    if (missing.some((p) => p.resource === 'namespaces'))
      fixes.push('apply the namespaces ClusterRole and ClusterRoleBinding of infra/k8s/rbac.yaml');
    if (missing.some((p) => p.verb === 'delete'))
      fixes.push('apply infra/k8s/rbac-pod-deletion.yaml in the same namespaces (pod deletion is opted in)');
    return result(
      'rbac',
      title,
      'fail',
      [...details, ...missing.map((p) => `cannot ${label(p)} (${p.why})`)],
      fixes.join('; '),
    );
  }
  if (surplus.length > 0) {
    return result(
      'rbac',
      title,
      'warn',
      [...details, `may delete pods (${surplus.join(', ')}) although pod deletion is not opted in`],
      'remove the RoleBindings of infra/k8s/rbac-pod-deletion.yaml, or opt in to pod deletion',
    );
  }
  return result('rbac', title, 'pass', [
    ...details,
    'every permission the peer check and the restarts need is granted',
  ]);
}
