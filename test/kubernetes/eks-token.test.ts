import { readFileSync } from 'node:fs';
import { createHash, createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createEksToken, createKubernetesSide, eksTokenProvider } from '../../lambda/kubernetes/index.ts';
import { BUDGETS } from '../../lambda/shared/budgets.ts';
import { coordinatorTemplate, startKubeApi, type KubeApi } from '../../testing/kube-api/index.ts';

const creds = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  sessionToken: 'session/token+x=',
};
const signingDate = new Date('2025-03-04T05:06:07Z');

function decode(token: string): URL {
  expect(token.startsWith('k8s-aws-v1.')).toBe(true);
  const b64 = token.slice('k8s-aws-v1.'.length);
  expect(b64).toMatch(/^[A-Za-z0-9_-]+$/); // base64url, no padding
  return new URL(Buffer.from(b64, 'base64url').toString('utf8'));
}

const enc = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/** Independent SigV4 check of the presigned URL: the cluster header must be part of what was signed. */
function verifySignature(url: URL, cluster: string, secret: string): boolean {
  const q = [...url.searchParams.entries()]
    .filter(([k]) => k !== 'X-Amz-Signature')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const canonicalQuery = q.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
  const signedHeaders = url.searchParams.get('X-Amz-SignedHeaders')!;
  const canonical = [
    'GET',
    '/',
    canonicalQuery,
    `host:${url.host}\nx-k8s-aws-id:${cluster}\n`,
    signedHeaders,
    createHash('sha256').update('').digest('hex'),
  ].join('\n');
  const date = url.searchParams.get('X-Amz-Date')!;
  const scope = url.searchParams.get('X-Amz-Credential')!.split('/').slice(1).join('/');
  const toSign = ['AWS4-HMAC-SHA256', date, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const [day, region, service] = scope.split('/') as [string, string, string];
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), service), 'aws4_request');
  return hmac(key, toSign).toString('hex') === url.searchParams.get('X-Amz-Signature');
}

describe('EKS IAM token', () => {
  it('is k8s-aws-v1.<base64url presigned GetCallerIdentity> with x-k8s-aws-id signed and a 60 s expiry', async () => {
    const token = await createEksToken({
      clusterName: 'contrast-prod',
      region: 'eu-central-1',
      credentials: () => Promise.resolve(creds),
      now: () => signingDate,
    });
    const url = decode(token);
    expect(url.origin).toBe('https://sts.eu-central-1.amazonaws.com');
    expect(url.pathname).toBe('/');
    const p = url.searchParams;
    expect(p.get('Action')).toBe('GetCallerIdentity');
    expect(p.get('Version')).toBe('2011-06-15');
    expect(p.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(p.get('X-Amz-Expires')).toBe('60');
    expect(p.get('X-Amz-Date')).toBe('20250304T050607Z');
    expect(p.get('X-Amz-Credential')).toBe('AKIDEXAMPLE/20250304/eu-central-1/sts/aws4_request');
    expect(p.get('X-Amz-Security-Token')).toBe(creds.sessionToken);
    expect(p.get('X-Amz-SignedHeaders')).toBe('host;x-k8s-aws-id');
    expect(verifySignature(url, 'contrast-prod', creds.secretAccessKey)).toBe(true);
    expect(verifySignature(url, 'another-cluster', creds.secretAccessKey)).toBe(false);
  });

  it('is cached, shared by concurrent callers, and renewed after 10 minutes or before the credentials expire', async () => {
    let now = signingDate.getTime();
    let calls = 0;
    const provider = eksTokenProvider({
      clusterName: 'c',
      region: 'us-east-1',
      now: () => new Date(now),
      credentials: () => {
        calls++;
        return Promise.resolve({ ...creds, expiration: new Date(signingDate.getTime() + 30 * 60_000) });
      },
    });
    const [a, b] = await Promise.all([provider(), provider()]);
    expect(a).toBe(b);
    expect(calls).toBe(1);
    now += 9 * 60_000;
    expect(await provider()).toBe(a);
    now += 2 * 60_000;
    const c = await provider();
    expect(c).not.toBe(a);
    expect(decode(c).searchParams.get('X-Amz-Date')).toBe('20250304T051707Z');

    // Credentials expiring in 3 minutes: renewed one minute before, not after 10.
    let now2 = signingDate.getTime();
    let calls2 = 0;
    const short = eksTokenProvider({
      clusterName: 'c',
      region: 'us-east-1',
      now: () => new Date(now2),
      credentials: () => {
        calls2++;
        return Promise.resolve({ ...creds, expiration: new Date(now2 + 3 * 60_000) });
      },
    });
    await short();
    now2 += 2 * 60_000 + 1;
    await short();
    expect(calls2).toBe(2);
  });

  describe('against the stand-in', () => {
    let api: KubeApi | undefined;
    afterEach(async () => {
      await api?.close();
      api = undefined;
    });

    it('authenticates an EKS configuration (endpoint + caData + IAM token) over TLS', async () => {
      const seen: string[] = [];
      api = await startKubeApi({
        tokens: (t) => {
          seen.push(t);
          return decode(t).searchParams.get('X-Amz-SignedHeaders') === 'host;x-k8s-aws-id';
        },
      });
      api.store.addPod('contrast', 'coordinator-0', { template: coordinatorTemplate(), ready: true });
      const side = await createKubernetesSide({
        auth: {
          kind: 'eks',
          clusterName: 'contrast-prod',
          endpoint: api.url,
          caData: api.caData,
          region: 'eu-central-1',
          credentials: () => Promise.resolve(creds),
        },
        coordinatorNamespace: 'contrast',
        namespaces: { kind: 'list', names: ['contrast'] },
      });
      try {
        expect((await side.peers.readyPeers('demo')).readyPeers).toEqual(['coordinator-0']);
        await side.peers.readyPeers('demo');
        expect(seen).toHaveLength(2);
        expect(seen[0]).toBe(seen[1]); // cached
      } finally {
        side.close();
      }
    });

    it('refuses a server whose certificate is not the configured CA', async () => {
      api = await startKubeApi({});
      // Another CA (AMD's, from the fixtures): the stand-in's self-signed certificate must not be trusted.
      const otherCa = readFileSync(
        new URL('../fixtures/attestation/snp/roots/ask_ark_milan.pem', import.meta.url),
      ).toString('base64');
      const side = await createKubernetesSide({
        auth: {
          kind: 'eks',
          clusterName: 'c',
          endpoint: api.url,
          caData: otherCa,
          region: 'eu-central-1',
          credentials: () => Promise.resolve(creds),
        },
        coordinatorNamespace: 'contrast',
        namespaces: { kind: 'all' },
        budget: { ...BUDGETS.kubernetes, attempts: 1 },
      });
      try {
        await expect(side.peers.readyPeers('demo')).rejects.toThrow(/self-signed certificate|unable to verify/);
      } finally {
        side.close();
      }
    });
  });
});
