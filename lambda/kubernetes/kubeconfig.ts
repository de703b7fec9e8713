/**
 * The connection to a cluster described by kubeconfig documents (the function reads one from
 * Secrets Manager; the CLI reads --kubeconfig, KUBECONFIG or ~/.kube/config).
 * @kubernetes/client-node's KubeConfig resolves them (contexts, client certificates, tokens,
 * exec plugins); this module is imported only for kubeconfig access (index.ts), never in
 * EKS mode and never by reconcile itself.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { dirname } from 'node:path';
import { InputError } from '../shared/errors.ts';
import type { KubeConnection, TlsMaterial } from './http.ts';

export interface KubeconfigDocument {
  text: string;
  /** Where it was read from: relative file references in it are resolved against its directory. */
  path?: string;
}

export interface KubeconfigAuth {
  kind: 'kubeconfig';
  /** One document, or several merged in order the way kubectl merges KUBECONFIG (the first to set a name wins). */
  kubeconfig: string | KubeconfigDocument[];
  /** Context to use; default the current-context. */
  context?: string;
}

function parse(doc: KubeconfigDocument): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromString(doc.text);
  } catch (err) {
    const where = doc.path ? `kubeconfig ${doc.path}` : 'the kubeconfig document';
    throw new InputError(`${where} cannot be parsed: ${(err as Error).message} — give a valid kubeconfig YAML`, 'config-invalid', { cause: err });
  }
  if (doc.path) kc.makePathsAbsolute(dirname(doc.path));
  return kc;
}

/**
 * kubectl's KUBECONFIG merge (kubernetes/website, concepts/configuration/organize-cluster-
 * access-kubeconfig.md; k8s.io/client-go tools/clientcmd/loader.go): the first file to set a
 * cluster, user or context name wins, and so does the first to set current-context.
 * client-node's mergeConfig differs (it throws on a repeated name), so the lists are merged here.
 */
function merge(configs: KubeConfig[]): KubeConfig {
  const firstByName = <T extends { name: string }>(lists: T[][]): T[] => {
    const seen = new Map<string, T>();
    for (const list of lists) for (const item of list) if (!seen.has(item.name)) seen.set(item.name, item);
    return [...seen.values()];
  };
  const merged = new KubeConfig();
  merged.loadFromOptions({
    clusters: firstByName(configs.map((c) => c.getClusters())),
    users: firstByName(configs.map((c) => c.getUsers())),
    contexts: firstByName(configs.map((c) => c.getContexts())),
    currentContext: configs.map((c) => c.getCurrentContext()).find((name) => !!name) ?? '',
  });
  return merged;
}

export function buildKubeConfig(auth: KubeconfigAuth): KubeConfig {
  const docs = typeof auth.kubeconfig === 'string' ? [{ text: auth.kubeconfig }] : auth.kubeconfig;
  if (docs.length === 0) throw new InputError('no kubeconfig document was given', 'config-invalid');
  const kc = docs.length === 1 ? parse(docs[0]!) : merge(docs.map(parse));
  if (auth.context) {
    if (!kc.getContextObject(auth.context)) {
      throw new InputError(`the kubeconfig has no context "${auth.context}" (it has: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`, 'config-invalid');
    }
    kc.setCurrentContext(auth.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new InputError(`the kubeconfig has no cluster for context "${kc.getCurrentContext()}" — set current-context or name a context`, 'config-invalid');
  }
  return kc;
}

/**
 * Connection for the transport: TLS material once; the Authorization header per request.
 * KubeConfig.applyToHTTPSOptions builds a new Agent on every call, so it runs per request
 * only for users whose credentials change (exec plugins, auth providers); a static token or
 * basic auth is computed once.
 */
export async function kubeconfigConnection(auth: KubeconfigAuth): Promise<KubeConnection> {
  const kc = buildKubeConfig(auth);
  const cluster = kc.getCurrentCluster()!;
  if (cluster.proxyUrl) {
    throw new InputError(`cluster "${cluster.name}" uses proxy-url, which this service does not support — reach the API server directly`, 'config-invalid');
  }
  const resolve = async (): Promise<{ tls: TlsMaterial; headers: Record<string, string> }> => {
    const opts: TlsMaterial & { headers?: Record<string, string | string[] | number>; auth?: string } = {};
    try {
      await kc.applyToHTTPSOptions(opts);
    } catch (err) {
      throw new InputError(`cannot use the Kubernetes credentials of context "${kc.getCurrentContext()}": ${(err as Error).message}`, 'config-invalid', { cause: err });
    }
    const tls: TlsMaterial = {};
    if (opts.ca) tls.ca = opts.ca;
    if (opts.cert) tls.cert = opts.cert;
    if (opts.key) tls.key = opts.key;
    if (opts.servername) tls.servername = opts.servername;
    if (opts.rejectUnauthorized !== undefined) tls.rejectUnauthorized = opts.rejectUnauthorized;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
    if (opts.auth) headers.Authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    return { tls, headers };
  };
  const first = await resolve();
  const user = kc.getCurrentUser();
  const dynamic = !!user && (!!user.exec || !!user.authProvider);
  return {
    server: cluster.server,
    tls: first.tls,
    headers: dynamic ? async () => (await resolve()).headers : () => Promise.resolve(first.headers),
  };
}

/** The namespace the chosen context names, as kubectl would default to it. */
export function contextNamespace(auth: KubeconfigAuth): string | undefined {
  const kc = buildKubeConfig(auth);
  return kc.getContextObject(kc.getCurrentContext())?.namespace || undefined;
}
