/**
 * Builds the connection to the Kubernetes API from configuration: either EKS (endpoint, CA
 * and an IAM token) or a kubeconfig document (read from Secrets Manager by the caller).
 * @kubernetes/client-node's KubeConfig resolves the kubeconfig (contexts, client
 * certificates, tokens, exec plugins); this module is loaded lazily with the rest of
 * lambda/kubernetes/, never by reconcile itself.
 */
import { KubeConfig, type User } from '@kubernetes/client-node';
import { STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { InputError } from '../shared/errors.ts';
import { eksTokenProvider, type TokenProvider } from './eks-token.ts';
import type { KubeConnection, TlsMaterial } from './http.ts';

export interface EksAuth {
  kind: 'eks';
  /** EKS cluster name: signed into the token as `x-k8s-aws-id`. */
  clusterName: string;
  /** API server endpoint, `https://….eks.amazonaws.com` (DescribeCluster `endpoint`). */
  endpoint: string;
  /** Cluster CA: base64 of the PEM, as DescribeCluster `certificateAuthority.data` returns it. */
  caData: string;
  region: string;
  /** Credentials that sign the token; default the SDK's chain (the Lambda role). */
  credentials?: AwsCredentialIdentityProvider;
  /** Replaces the IAM token entirely (tests, or a token from elsewhere). */
  tokenProvider?: TokenProvider;
}

export interface KubeconfigAuth {
  kind: 'kubeconfig';
  /** The kubeconfig YAML document. */
  kubeconfig: string;
  /** Context to use; default the document's current-context. */
  context?: string;
}

export type KubeAuth = EksAuth | KubeconfigAuth;

type Authenticator = Parameters<KubeConfig['addAuthenticator']>[0];

const EKS_USER = 'contrast-autorecover-eks-iam';

/** Applies the IAM token to requests of the EKS user only. */
class EksAuthenticator implements Authenticator {
  constructor(private readonly token: TokenProvider) {}

  isAuthProvider(user: User): boolean {
    return user.name === EKS_USER;
  }

  async applyAuthentication(_user: User, opts: { headers?: unknown }): Promise<void> {
    const headers = (opts.headers ??= {}) as Record<string, string>;
    headers.Authorization = `Bearer ${await this.token()}`;
  }
}

export function buildKubeConfig(auth: KubeAuth): KubeConfig {
  const kc = new KubeConfig();
  if (auth.kind === 'kubeconfig') {
    try {
      kc.loadFromString(auth.kubeconfig);
    } catch (err) {
      throw new InputError(`the kubeconfig document cannot be parsed: ${(err as Error).message} — store a valid kubeconfig YAML in the secret`, 'bundle-invalid', { cause: err });
    }
    if (auth.context) kc.setCurrentContext(auth.context);
    if (!kc.getCurrentCluster()) {
      throw new InputError(`the kubeconfig has no cluster for context "${kc.getCurrentContext()}" — set current-context or the context setting`);
    }
    return kc;
  }
  if (!/^https?:\/\//.test(auth.endpoint)) throw new InputError(`EKS endpoint "${auth.endpoint}" is not a URL — use the cluster's DescribeCluster endpoint`);
  const provider =
    auth.tokenProvider ??
    eksTokenProvider({ clusterName: auth.clusterName, region: auth.region, credentials: auth.credentials ?? new STSClient({ region: auth.region }).config.credentials });
  kc.loadFromOptions({
    clusters: [{ name: auth.clusterName, server: auth.endpoint, caData: auth.caData, skipTLSVerify: false }],
    users: [{ name: EKS_USER }],
    contexts: [{ name: auth.clusterName, cluster: auth.clusterName, user: EKS_USER }],
    currentContext: auth.clusterName,
  });
  kc.addAuthenticator(new EksAuthenticator(provider));
  return kc;
}

/**
 * Connection for the transport: TLS material once; the Authorization header per request.
 * KubeConfig.applyToHTTPSOptions builds a new Agent on every call, so it runs per request
 * only for users whose credentials change (exec plugins, auth providers, the EKS token);
 * a static token or basic auth is computed once.
 */
export async function connectionFrom(kc: KubeConfig): Promise<KubeConnection> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new InputError('no current Kubernetes cluster in the configuration');
  if (cluster.proxyUrl) throw new InputError(`cluster "${cluster.name}" uses proxy-url, which this service does not support — reach the API server directly (VPC endpoint)`);
  const resolve = async (): Promise<{ tls: TlsMaterial; headers: Record<string, string> }> => {
    const opts: TlsMaterial & { headers?: Record<string, string | string[] | number>; auth?: string } = {};
    try {
      await kc.applyToHTTPSOptions(opts);
    } catch (err) {
      throw new InputError(`cannot use the Kubernetes credentials of context "${kc.getCurrentContext()}": ${(err as Error).message}`, 'bundle-invalid', { cause: err });
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
  const dynamic = !!user && (user.name === EKS_USER || !!user.exec || !!user.authProvider);
  return {
    server: cluster.server,
    tls: first.tls,
    headers: dynamic ? async () => (await resolve()).headers : () => Promise.resolve(first.headers),
  };
}
