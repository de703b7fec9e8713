/**
 * The connection to an EKS cluster's API: its endpoint and CA (DescribeCluster's `endpoint`
 * and `certificateAuthority.data`) and an IAM token per request (eks-token.ts). Nothing here
 * loads @kubernetes/client-node or an STS client: the token is a presigned URL, signed with
 * credentials the caller passes (the function's or the CLI's default credentials chain,
 * resolved by the AWS clients it already has).
 */
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { InputError } from '../shared/errors.ts';
import { eksTokenProvider } from './eks-token.ts';
import type { KubeConnection } from './http.ts';

export interface EksAuth {
  kind: 'eks';
  /** EKS cluster name: signed into the token as `x-k8s-aws-id`. */
  clusterName: string;
  /** API server endpoint, `https://….eks.amazonaws.com` (DescribeCluster `endpoint`). */
  endpoint: string;
  /** Cluster CA: base64 of the PEM, as DescribeCluster `certificateAuthority.data` returns it. */
  caData: string;
  region: string;
  /** Credentials that sign the token (e.g. an SDK client's `config.credentials`). */
  credentials?: AwsCredentialIdentityProvider;
}

export function eksConnection(auth: EksAuth): KubeConnection {
  if (!/^https:\/\/[^/\s]+/.test(auth.endpoint)) {
    throw new InputError(
      `EKS endpoint "${auth.endpoint}" is not an https:// URL — use the cluster's DescribeCluster endpoint`,
      'config-invalid',
    );
  }
  const ca = Buffer.from(auth.caData, 'base64').toString('utf8');
  if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
    throw new InputError(
      `the CA data of EKS cluster ${auth.clusterName} is not a base64 PEM certificate — use DescribeCluster's certificateAuthority.data`,
      'config-invalid',
    );
  }
  if (!auth.credentials)
    throw new InputError(`no AWS credentials to sign the EKS token for cluster ${auth.clusterName}`, 'config-invalid');
  const provider = eksTokenProvider({
    clusterName: auth.clusterName,
    region: auth.region,
    credentials: auth.credentials,
  });
  return { server: auth.endpoint, tls: { ca }, headers: async () => ({ Authorization: `Bearer ${await provider()}` }) };
}
