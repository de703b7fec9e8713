import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  loadManifest,
  manifestRbac,
  POD_DELETION_RBAC_FILE,
  RBAC_FILE,
  RBAC_GROUP,
  RbacAuthorizer,
  type PolicyRule,
} from '../../testing/kube-api/index.ts';

interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: PolicyRule[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string }[];
}

const main = loadManifest(RBAC_FILE) as Doc[];
const optional = loadManifest(POD_DELETION_RBAC_FILE) as Doc[];
const rulesOf = (docs: Doc[]): PolicyRule[] => docs.flatMap((d) => d.rules ?? []);

describe('infra/k8s RBAC manifests', () => {
  it('parse, and every rule has a why-comment', () => {
    expect(main.map((d) => d.kind)).toEqual(['ClusterRole', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding']);
    expect(optional.map((d) => d.kind)).toEqual(['ClusterRole', 'RoleBinding']);
    for (const file of [RBAC_FILE, POD_DELETION_RBAC_FILE]) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/^( *)- apiGroups:/gm)) {
        const before = text.slice(0, m.index).trimEnd().split('\n').pop()!;
        expect(before.trim().startsWith('#'), `rule without a comment in ${file}`).toBe(true);
      }
    }
  });

  it('grant nothing on Secrets or ConfigMaps, no wildcards, and delete only in the optional file', () => {
    for (const r of [...rulesOf(main), ...rulesOf(optional)]) {
      expect(r.resources).not.toContain('secrets');
      expect(r.resources).not.toContain('configmaps');
      for (const list of [r.verbs, r.resources ?? [], r.apiGroups ?? []]) expect(list).not.toContain('*');
      expect(r.verbs).not.toContain('create');
      expect(r.verbs).not.toContain('update');
      expect(r.verbs).not.toContain('escalate');
      expect(r.verbs).not.toContain('bind');
    }
    expect(rulesOf(main).flatMap((r) => r.verbs)).not.toContain('delete');
    // The service lists and patches; it never reads a single object (no rollout is followed).
    expect(rulesOf(main).flatMap((r) => r.verbs)).not.toContain('get');
    expect(rulesOf(optional)).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['delete'] }]);
  });

  it('bind only the service group, and cluster-wide only the namespace list', () => {
    for (const d of [...main, ...optional].filter((x) => x.kind.endsWith('Binding'))) {
      expect(d.subjects).toEqual([{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: RBAC_GROUP }]);
    }
    const clusterBound = main.filter((d) => d.kind === 'ClusterRoleBinding').map((d) => d.roleRef!.name);
    expect(clusterBound).toEqual(['contrast-autorecover-namespaces']);
    const nsRole = main.find((d) => d.metadata.name === 'contrast-autorecover-namespaces')!;
    expect(nsRole.rules).toEqual([{ apiGroups: [''], resources: ['namespaces'], verbs: ['list'] }]);
  });

  it('are exactly the rules the stand-in enforces in the tests', () => {
    const rbac = manifestRbac(['team-a', 'team-b']);
    const workloads = main.find((d) => d.metadata.name === 'contrast-autorecover-workloads')!.rules;
    const nsRules = main.find((d) => d.metadata.name === 'contrast-autorecover-namespaces')!.rules;
    expect(rbac.grants).toEqual([
      { namespace: 'team-a', rules: workloads },
      { namespace: 'team-b', rules: workloads },
      { namespace: undefined, rules: nsRules },
    ]);
    expect(manifestRbac(['x'], { podDeletion: true }).grants.at(-1)).toEqual({
      namespace: 'x',
      rules: rulesOf(optional),
    });
    // Spot checks of the authorizer against the manifests.
    const can = (verb: string, apiGroup: string, resource: string, namespace?: string): boolean =>
      rbac.allows({ verb, apiGroup, resource, namespace });
    expect(can('patch', 'apps', 'deployments', 'team-a')).toBe(true);
    expect(can('patch', 'apps', 'deployments', 'team-c')).toBe(false);
    expect(can('patch', 'apps', 'replicasets', 'team-a')).toBe(false);
    // Every kind Contrast injects into is listed, and only listed (issue #19 item 6).
    for (const [group, resource] of [
      ['', 'replicationcontrollers'],
      ['batch', 'jobs'],
      ['batch', 'cronjobs'],
    ] as const) {
      expect(can('list', group, resource, 'team-a')).toBe(true);
      expect(can('patch', group, resource, 'team-a')).toBe(false);
      expect(can('list', group, resource, 'team-c')).toBe(false);
    }
    expect(can('list', 'apps', 'deployments')).toBe(false);
    expect(can('delete', '', 'pods', 'team-a')).toBe(false);
    expect(can('get', '', 'secrets', 'team-a')).toBe(false);
    expect(can('list', '', 'namespaces')).toBe(true);
    expect(RbacAuthorizer.allowAll().allows({ verb: 'delete', apiGroup: '', resource: 'pods', namespace: 'a' })).toBe(
      true,
    );
  });
});
