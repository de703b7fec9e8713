/**
 * EKS IAM authentication token, as aws-iam-authenticator and `aws eks get-token` make it:
 * a SigV4-presigned STS GetCallerIdentity URL whose signed headers include
 * `x-k8s-aws-id: <cluster name>`, encoded as `k8s-aws-v1.` + base64url without padding.
 * EKS accepts a token for 15 minutes; we reuse one for at most 10 and never past the
 * expiry of the credentials that signed it.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type {
  AwsCredentialIdentity,
  AwsCredentialIdentityProvider,
  Checksum,
  HttpRequest,
  SourceData,
} from '@smithy/types';

const TOKEN_PREFIX = 'k8s-aws-v1.';
const CLUSTER_ID_HEADER = 'x-k8s-aws-id';
/** X-Amz-Expires of the presigned URL, what the official tools send. */
const PRESIGN_EXPIRES_SECONDS = 60;
/** EKS honours a token for 15 minutes after signing; refresh well before. */
const TOKEN_REUSE_MS = 10 * 60_000;

export type TokenProvider = () => Promise<string>;

export interface EksTokenOptions {
  clusterName: string;
  region: string;
  credentials: AwsCredentialIdentityProvider;
  /** Injectable clock for tests. */
  now?: () => Date;
}

/** SHA-256 / HMAC-SHA-256 from node:crypto in the shape SignatureV4 expects. */
class NodeSha256 implements Checksum {
  private hash: Hash | Hmac;

  constructor(private readonly secret?: SourceData) {
    this.hash = this.fresh();
  }

  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', toBytes(this.secret));
  }

  update(data: Uint8Array): void {
    this.hash.update(data);
  }

  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }

  reset(): void {
    this.hash = this.fresh();
  }
}

function toBytes(data: SourceData): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

/** RFC 3986 query encoding, the one SigV4 signs. */
function encode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Builds one token (no caching). */
export async function createEksToken(o: EksTokenOptions, credentials?: AwsCredentialIdentity): Promise<string> {
  // The regional STS endpoint of the aws partition (aws-cn and others are not supported).
  const host = `sts.${o.region}.amazonaws.com`;
  const creds = credentials ?? (await o.credentials());
  const signer = new SignatureV4({
    credentials: creds,
    region: o.region,
    service: 'sts',
    sha256: NodeSha256,
    uriEscapePath: true,
  });
  const request: HttpRequest = {
    method: 'GET',
    protocol: 'https:',
    hostname: host,
    path: '/',
    query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
    headers: { host, [CLUSTER_ID_HEADER]: o.clusterName },
  };
  const signed = await signer.presign(request, {
    expiresIn: PRESIGN_EXPIRES_SECONDS,
    signingDate: o.now?.() ?? new Date(),
  });
  const query = Object.entries(signed.query ?? {})
    .flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x] as const) : v == null ? [] : [[k, v] as const]))
    .map(([k, v]) => `${encode(k)}=${encode(v)}`)
    .join('&');
  const url = `https://${host}/?${query}`;
  return TOKEN_PREFIX + Buffer.from(url, 'utf8').toString('base64url');
}

/**
 * A cached token provider: one token shared by concurrent callers, renewed after
 * TOKEN_REUSE_MS or one minute before the signing credentials expire, whichever is first.
 */
export function eksTokenProvider(o: EksTokenOptions): TokenProvider {
  const now = (): number => (o.now?.() ?? new Date()).getTime();
  let cached: { token: string; renewAt: number } | undefined;
  let pending: Promise<string> | undefined;
  return async () => {
    if (cached && now() < cached.renewAt) return cached.token;
    pending ??= (async () => {
      try {
        const creds = await o.credentials();
        const signedAt = now();
        const token = await createEksToken(o, creds);
        let renewAt = signedAt + TOKEN_REUSE_MS;
        if (creds.expiration) renewAt = Math.min(renewAt, creds.expiration.getTime() - 60_000);
        cached = { token, renewAt };
        return token;
      } finally {
        pending = undefined;
      }
    })();
    return pending;
  };
}
