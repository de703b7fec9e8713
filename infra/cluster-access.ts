/**
 * How the function authenticates to its cluster, per topology:
 * - EKS Hybrid Nodes: its IAM role, mapped to the Kubernetes group `contrast-autorecover` by an
 *   EKS access entry (needs authentication mode API or API_AND_CONFIG_MAP; see docs/deploy.md);
 *   the token is a presigned STS URL, so no STS call and no STS endpoint.
 * - self-managed: a kubeconfig in Secrets Manager, read through the stack's endpoint.
 * The group's rights are the RBAC and admission policy in infra/k8s/.
 */
import { Aws } from 'aws-cdk-lib';
import * as eks from 'aws-cdk-lib/aws-eks';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { DEFAULTS, ENV } from '../lambda/shared/contract.ts';
import type { ClusterProps } from './props.ts';

export interface ClusterAccess {
  /** The function's KUBE_AUTH and related variables (lambda/function/config.ts). */
  readonly environment: Record<string, string>;
  readonly accessEntry?: eks.CfnAccessEntry;
}

export function grantClusterAccess(scope: Construct, cluster: ClusterProps, role: iam.Role): ClusterAccess {
  if (cluster.kind === 'eks-hybrid-nodes') {
    const environment = {
      [ENV.kubeAuth]: 'eks',
      [ENV.eksClusterName]: cluster.clusterName,
      [ENV.eksEndpoint]: cluster.endpoint,
      [ENV.eksCaData]: cluster.certificateAuthorityData,
    };
    if (cluster.createAccessEntry === false) return { environment };
    const accessEntry = new eks.CfnAccessEntry(scope, 'AccessEntry', {
      clusterName: cluster.clusterName,
      principalArn: role.roleArn,
      type: 'STANDARD',
      kubernetesGroups: [DEFAULTS.kubernetesGroup],
    });
    return { environment, accessEntry };
  }
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'ReadKubeconfig',
      actions: ['secretsmanager:GetSecretValue'],
      resources: [cluster.kubeconfigSecretArn],
    }),
  );
  if (cluster.kubeconfigSecretKeyArn) {
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'DecryptKubeconfig',
        actions: ['kms:Decrypt'],
        resources: [cluster.kubeconfigSecretKeyArn],
        conditions: {
          StringEquals: {
            'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com`,
            'kms:EncryptionContext:SecretARN': cluster.kubeconfigSecretArn,
          },
        },
      }),
    );
  }
  return { environment: { [ENV.kubeAuth]: 'kubeconfig', [ENV.kubeconfigSecretId]: cluster.kubeconfigSecretArn } };
}
