/**
 * The CLI's way to the cluster, from the places kubectl looks: `--kubeconfig FILE`, else the
 * files in KUBECONFIG (merged as kubectl merges them), else ~/.kube/config; or an EKS cluster
 * by name (`--eks-cluster`: DescribeCluster for endpoint and CA, a token signed with the CLI's
 * AWS credentials). With it, `recover` checks peers and restarts exactly what the function
 * would; `--no-kubernetes` says on purpose that it should not.
 */
import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { KubeconfigDocument, KubernetesSettings } from '../lambda/kubernetes/index.ts';
import type { KubernetesSide } from '../lambda/kubernetes/types.ts';
import { InputError } from '../lambda/shared/errors.ts';
import { UsageError } from './usage.ts';

export interface KubeCliOptions {
  kubeconfig?: string;
  kubeContext?: string;
  eksCluster?: string;
  /** false with --no-kubernetes. */
  kubernetes?: boolean;
  namespace?: string[];
  allNamespaces?: boolean;
  /** Namespaces by label, as a deployment's `namespaceLabelSelector` in the function's configuration. */
  namespaceSelector?: string;
  coordinatorNamespace?: string;
  allowPodDeletion?: boolean;
}

export type KubeAccess =
  | { kind: 'settings'; settings: KubernetesSettings; source: string }
  /** --no-kubernetes */
  | { kind: 'disabled' }
  /** Nothing configured anywhere. */
  | { kind: 'none' };

/** A kubeconfig is small; anything bigger (or not a regular file) is a mistake, said so early. */
const MAX_KUBECONFIG_BYTES = 1024 * 1024;

export const NO_ACCESS_HINT =
  'give --kubeconfig FILE, set KUBECONFIG, use ~/.kube/config, or --eks-cluster NAME; or pass --no-kubernetes to go without (no peer check, no restarts)';

/** Reads a kubeconfig: a regular file (symlinks followed) of bounded size, never a FIFO or device. */
export async function readKubeconfig(path: string): Promise<KubeconfigDocument> {
  let handle;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat below refuses it anyway.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(
      `kubeconfig ${path} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`} — ${NO_ACCESS_HINT}`,
      'config-invalid',
    );
  }
  try {
    const st = await handle.stat();
    if (!st.isFile())
      throw new InputError(
        `kubeconfig ${path} is not a regular file — give the kubeconfig YAML file`,
        'config-invalid',
      );
    if (st.size > MAX_KUBECONFIG_BYTES)
      throw new InputError(
        `kubeconfig ${path} is ${st.size} bytes, more than ${MAX_KUBECONFIG_BYTES}: not a kubeconfig`,
        'config-invalid',
      );
    const buf = Buffer.alloc(st.size);
    const { bytesRead } = await handle.read(buf, 0, st.size, 0);
    return { text: buf.subarray(0, bytesRead).toString('utf8'), path };
  } finally {
    await handle.close();
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** The kubeconfig files kubectl would use, in order; empty when there are none. */
export async function kubeconfigPaths(
  opts: Pick<KubeCliOptions, 'kubeconfig'>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ paths: string[]; source: string }> {
  if (opts.kubeconfig) return { paths: [opts.kubeconfig], source: `--kubeconfig ${opts.kubeconfig}` };
  const list = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  if (list.length > 0) return { paths: list, source: `KUBECONFIG=${env.KUBECONFIG}` };
  const home = join(env.HOME ?? homedir(), '.kube', 'config');
  return (await exists(home)) ? { paths: [home], source: home } : { paths: [], source: '' };
}

/** Endpoint and CA of an EKS cluster, signed in with the CLI's own AWS credentials. */
async function eksSettings(name: string, secrets: SecretsManagerClient): Promise<KubernetesSettings['auth']> {
  const { EKSClient, DescribeClusterCommand } = await import('@aws-sdk/client-eks');
  const region = await secrets.config.region();
  const credentials = secrets.config.credentials;
  let cluster;
  try {
    cluster = (await new EKSClient({ region, credentials, maxAttempts: 3 }).send(new DescribeClusterCommand({ name })))
      .cluster;
  } catch (err) {
    const e = err as { name?: string; message?: string };
    if (e.name === 'ResourceNotFoundException')
      throw new InputError(
        `EKS cluster ${name} does not exist in ${region} — check --eks-cluster and AWS_REGION`,
        'config-invalid',
      );
    throw new InputError(
      `cannot describe EKS cluster ${name}: ${e.name ?? 'error'}: ${e.message ?? ''} — the CLI's role needs eks:DescribeCluster`,
      'config-invalid',
      { cause: err },
    );
  }
  if (!cluster?.endpoint || !cluster.certificateAuthority?.data)
    throw new InputError(
      `EKS cluster ${name} has no endpoint yet (status ${cluster?.status ?? 'unknown'})`,
      'config-invalid',
    );
  return {
    kind: 'eks',
    clusterName: name,
    endpoint: cluster.endpoint,
    caData: cluster.certificateAuthority.data,
    region,
    credentials,
  };
}

export async function resolveKubeAccess(
  opts: KubeCliOptions,
  secrets: SecretsManagerClient,
  env: NodeJS.ProcessEnv = process.env,
): Promise<KubeAccess> {
  if (opts.namespaceSelector !== undefined) {
    // Any non-blank selector, as a deployment's namespaceLabelSelector (lambda/function/config.ts): the API server judges its syntax.
    if (opts.namespaceSelector.trim() === '')
      throw new UsageError(
        '--namespace-selector needs a namespace label selector, e.g. contrast.edgeless.systems/restart=enabled',
      );
    if (opts.namespace?.length || opts.allNamespaces)
      throw new UsageError(
        '--namespace-selector excludes --namespace and --all-namespaces: name the namespaces one way',
      );
  }
  if (opts.kubernetes === false) return { kind: 'disabled' };
  let auth: KubernetesSettings['auth'];
  let source: string;
  let contextNs: string | undefined;
  if (opts.eksCluster) {
    auth = await eksSettings(opts.eksCluster, secrets);
    source = `EKS cluster ${opts.eksCluster}`;
  } else {
    const found = await kubeconfigPaths(opts, env);
    if (found.paths.length === 0) return { kind: 'none' };
    const documents = await Promise.all(found.paths.map(readKubeconfig));
    // kubectl's kubeconfig: referenced files read only as bounded regular files, exec plugins run (the operator's own).
    auth = {
      kind: 'kubeconfig',
      kubeconfig: documents,
      policy: 'kubectl',
      ...(opts.kubeContext ? { context: opts.kubeContext } : {}),
    };
    contextNs = await (await import('../lambda/kubernetes/kubeconfig.ts')).contextNamespace(auth);
    source = found.source;
  }
  // Contrast deploys the Coordinator next to its workloads: the context's namespace, as kubectl.
  const coordinatorNamespace = opts.coordinatorNamespace ?? contextNs ?? 'default';
  const namespaces: KubernetesSettings['namespaces'] = opts.namespaceSelector
    ? { kind: 'selector', labelSelector: opts.namespaceSelector }
    : opts.allNamespaces
      ? { kind: 'all' }
      : { kind: 'list', names: opts.namespace?.length ? opts.namespace : [coordinatorNamespace] };
  return {
    kind: 'settings',
    source,
    settings: { auth, coordinatorNamespace, namespaces, allowPodDeletion: opts.allowPodDeletion === true },
  };
}

/** The Kubernetes side, built on first use and closed by the caller. */
export function lazySide(settings: KubernetesSettings): { get: () => Promise<KubernetesSide>; close: () => void } {
  let side: Promise<KubernetesSide> | undefined;
  return {
    get: () => (side ??= import('../lambda/kubernetes/index.ts').then((m) => m.createKubernetesSide(settings))),
    close: () =>
      void side?.then(
        (s) => s.close?.(),
        () => undefined,
      ),
  };
}
