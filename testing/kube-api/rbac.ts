/**
 * RBAC for the Kubernetes API stand-in, built from the real manifests in infra/k8s/ so the
 * rules the tests run under are exactly the ones an operator applies.
 *
 * Semantics follow the Kubernetes RBAC authorizer: a Role grants in its own namespace via a
 * RoleBinding; a ClusterRole grants in one namespace via a RoleBinding, cluster-wide via a
 * ClusterRoleBinding. Cluster-wide requests (no namespace) need a ClusterRoleBinding.
 */

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

interface RbacDoc {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  rules?: PolicyRule[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

/** One effective grant: rules usable in `namespace` (undefined = cluster-wide). */
export interface Grant {
  namespace: string | undefined;
  rules: PolicyRule[];
}

export interface AccessRequest {
  verb: string;
  apiGroup: string;
  resource: string;
  namespace: string | undefined;
  name?: string;
}

export class RbacAuthorizer {
  constructor(readonly grants: Grant[]) {}

  /** Everything allowed: for tests that are not about RBAC. */
  static allowAll(): RbacAuthorizer {
    return new RbacAuthorizer([
      { namespace: undefined, rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] },
    ]);
  }

  /**
   * Grants for the subject group from manifest documents. `bindNamespaces` re-targets a
   * RoleBinding (by name) into these namespaces: the manifests carry one RoleBinding as the
   * template for "each namespace you choose".
   */
  static fromManifests(docs: unknown[], group: string, bindNamespaces: Record<string, string[]> = {}): RbacAuthorizer {
    const list = docs.filter((d): d is RbacDoc => typeof d === 'object' && d !== null);
    const roles = new Map<string, PolicyRule[]>();
    const clusterRoles = new Map<string, PolicyRule[]>();
    for (const d of list) {
      if (d.kind === 'Role') roles.set(`${d.metadata?.namespace ?? 'default'}/${d.metadata?.name}`, d.rules ?? []);
      if (d.kind === 'ClusterRole') clusterRoles.set(d.metadata?.name ?? '', d.rules ?? []);
    }
    const grants: Grant[] = [];
    for (const d of list) {
      if (d.kind !== 'RoleBinding' && d.kind !== 'ClusterRoleBinding') continue;
      if (!d.subjects?.some((s) => s.kind === 'Group' && s.name === group)) continue;
      const ref = d.roleRef;
      if (!ref) continue;
      if (d.kind === 'ClusterRoleBinding') {
        grants.push({ namespace: undefined, rules: clusterRoles.get(ref.name) ?? [] });
        continue;
      }
      const namespaces = bindNamespaces[d.metadata?.name ?? ''] ?? [d.metadata?.namespace ?? 'default'];
      for (const ns of namespaces) {
        const rules =
          ref.kind === 'ClusterRole'
            ? clusterRoles.get(ref.name)
            : roles.get(`${d.metadata?.namespace ?? 'default'}/${ref.name}`);
        grants.push({ namespace: ns, rules: rules ?? [] });
      }
    }
    return new RbacAuthorizer(grants);
  }

  allows(req: AccessRequest): boolean {
    return this.grants.some(
      (g) => (g.namespace === undefined || g.namespace === req.namespace) && g.rules.some((r) => ruleAllows(r, req)),
    );
  }
}

function ruleAllows(rule: PolicyRule, req: AccessRequest): boolean {
  const has = (list: string[] | undefined, value: string): boolean =>
    !!list && (list.includes('*') || list.includes(value));
  if (!has(rule.verbs, req.verb)) return false;
  if (!has(rule.apiGroups, req.apiGroup)) return false;
  if (!has(rule.resources, req.resource)) return false;
  if (rule.resourceNames && rule.resourceNames.length > 0) {
    return req.name !== undefined && rule.resourceNames.includes(req.name);
  }
  return true;
}
