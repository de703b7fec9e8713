/**
 * The connection to a cluster described by kubeconfig documents (the function reads one from
 * Secrets Manager; the CLI reads --kubeconfig, KUBECONFIG or ~/.kube/config).
 * kubeconfig-fields.ts checks their fields first (and, for the CLI, reads the files they name);
 * @kubernetes/client-node's KubeConfig then resolves what is left (contexts, certificates,
 * tokens, the CLI's exec plugins); this module is imported only for kubeconfig access (index.ts), never in
 * EKS mode and never by reconcile itself.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { InputError } from '../shared/errors.ts';
import type { KubeConnection, TlsMaterial } from './http.ts';
import {
  checkEmbeddedOnly,
  embedReferencedFiles,
  parseKubeconfig,
  resolveFileReferences,
  type KubeconfigPolicy,
  type RawKubeconfig,
} from './kubeconfig-fields.ts';

export type { KubeconfigPolicy } from './kubeconfig-fields.ts';

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
  /**
   * Which fields are honoured (kubeconfig-fields.ts). Default `embedded-only`, the function's:
   * embedded credentials over verified TLS, no plugin, no file. The CLI passes `kubectl`.
   */
  policy?: KubeconfigPolicy;
}

/**
 * kubectl's KUBECONFIG merge (kubernetes/website, concepts/configuration/organize-cluster-
 * access-kubeconfig.md; k8s.io/client-go tools/clientcmd/loader.go): the first file to set a
 * cluster, user or context name wins, and so does the first to set current-context.
 * client-node's mergeConfig differs (it throws on a repeated name), so the lists are merged here.
 */
function merge(docs: RawKubeconfig[]): RawKubeconfig {
  const firstByName = (lists: Record<string, unknown>[][]) => {
    const seen = new Map<unknown, Record<string, unknown>>();
    for (const list of lists) for (const item of list) if (!seen.has(item.name)) seen.set(item.name, item);
    return [...seen.values()];
  };
  return {
    clusters: firstByName(docs.map((d) => d.clusters)),
    users: firstByName(docs.map((d) => d.users)),
    contexts: firstByName(docs.map((d) => d.contexts)),
    currentContext: docs.map((d) => d.currentContext).find((name) => !!name),
  };
}

/**
 * The KubeConfig of the chosen context. Every field is checked (and, for the CLI, every file
 * read) by kubeconfig-fields.ts before client-node is handed the document: it then holds no
 * file reference and, in the function, no plugin.
 */
export async function buildKubeConfig(auth: KubeconfigAuth): Promise<KubeConfig> {
  const policy = auth.policy ?? 'embedded-only';
  const docs = typeof auth.kubeconfig === 'string' ? [{ text: auth.kubeconfig }] : auth.kubeconfig;
  if (docs.length === 0) throw new InputError('no kubeconfig document was given', 'config-invalid');
  const where = (doc: KubeconfigDocument) => (doc.path ? `kubeconfig ${doc.path}` : 'the kubeconfig document');
  const parsed = docs.map((doc) => {
    const { raw, top } = parseKubeconfig(doc.text, where(doc));
    if (policy === 'embedded-only') checkEmbeddedOnly(top, raw, where(doc));
    else resolveFileReferences(raw, doc.path);
    return raw;
  });
  const raw = parsed.length === 1 ? parsed[0]! : merge(parsed);
  const contextName = auth.context ?? raw.currentContext;
  if (auth.context && !raw.contexts.some((c) => c.name === auth.context)) {
    throw new InputError(
      `the kubeconfig has no context "${auth.context}" (it has: ${raw.contexts.map((c) => String(c.name)).join(', ') || 'none'})`,
      'config-invalid',
    );
  }
  const context = raw.contexts.find((c) => c.name === contextName)?.context as
    { cluster?: unknown; user?: unknown } | undefined;
  if (policy === 'kubectl') {
    await embedReferencedFiles(
      raw,
      context?.cluster as string | undefined,
      context?.user as string | undefined,
      docs.length === 1 ? where(docs[0]!) : 'the merged kubeconfig',
    );
  }
  const kc = new KubeConfig();
  try {
    kc.loadFromString(
      JSON.stringify({
        clusters: raw.clusters,
        users: raw.users,
        contexts: raw.contexts,
        'current-context': contextName ?? '',
      }),
    );
  } catch (err) {
    throw new InputError(
      `the kubeconfig cannot be used: ${(err as Error).message} — give a valid kubeconfig`,
      'config-invalid',
      { cause: err },
    );
  }
  if (!kc.getCurrentCluster()) {
    throw new InputError(
      `the kubeconfig has no cluster for context "${kc.getCurrentContext()}" — set current-context or name a context`,
      'config-invalid',
    );
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
  const kc = await buildKubeConfig(auth);
  const cluster = kc.getCurrentCluster()!;
  if (cluster.proxyUrl) {
    throw new InputError(
      `cluster "${cluster.name}" uses proxy-url, which this service does not support — reach the API server directly`,
      'config-invalid',
    );
  }
  const resolve = async (): Promise<{ tls: TlsMaterial; headers: Record<string, string> }> => {
    const opts: TlsMaterial & { headers?: Record<string, string | string[] | number>; auth?: string } = {};
    try {
      await kc.applyToHTTPSOptions(opts);
    } catch (err) {
      throw new InputError(
        `cannot use the Kubernetes credentials of context "${kc.getCurrentContext()}": ${(err as Error).message}`,
        'config-invalid',
        { cause: err },
      );
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
export async function contextNamespace(auth: KubeconfigAuth): Promise<string | undefined> {
  const kc = await buildKubeConfig(auth);
  return kc.getContextObject(kc.getCurrentContext())?.namespace || undefined;
}
