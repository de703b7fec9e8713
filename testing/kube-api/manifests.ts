/** Loads the RBAC manifests of infra/k8s/ so tests and benchmarks run under exactly those rules. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { DEFAULTS } from '../../lambda/shared/contract.ts';
import { packageRoot } from '../package-root.ts';
import { RbacAuthorizer } from './rbac.ts';

export const RBAC_GROUP = DEFAULTS.kubernetesGroup;
export const RBAC_FILE = path.join(packageRoot(), 'infra', 'k8s', 'rbac.yaml');
export const POD_DELETION_RBAC_FILE = path.join(packageRoot(), 'infra', 'k8s', 'rbac-pod-deletion.yaml');

export function loadManifest(file: string): unknown[] {
  return loadAllYaml(readFileSync(file, 'utf8')) as unknown[];
}

/**
 * The authorizer for the service's group: the RoleBindings of the manifests copied into
 * `namespaces` (as an operator does per namespace), plus the optional pod-deletion file.
 */
export function manifestRbac(namespaces: string[], o: { podDeletion?: boolean } = {}): RbacAuthorizer {
  const docs = [...loadManifest(RBAC_FILE), ...(o.podDeletion ? loadManifest(POD_DELETION_RBAC_FILE) : [])];
  return RbacAuthorizer.fromManifests(docs, RBAC_GROUP, {
    'contrast-autorecover': namespaces,
    'contrast-autorecover-pod-deletion': namespaces,
  });
}
