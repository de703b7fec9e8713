/**
 * How the function reaches its cluster. EKS (Hybrid Nodes): the cluster's authentication
 * mode must let access entries work (API or API_AND_CONFIG_MAP; CONFIG_MAP refuses them and
 * the change is one-way: EKS user guide "setting-up-access-entries", UpdateAccessConfig API
 * reference), the function role needs an access entry mapping it to the RBAC group, and the
 * endpoint and CA the function was given must be the cluster's. Self-managed: the kubeconfig
 * secret must exist with a current version (its content, a credential, is not read here).
 */
import { DescribeAccessEntryCommand, DescribeClusterCommand } from '@aws-sdk/client-eks';
import { DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import { ENV } from '../../lambda/shared/contract.ts';
import { awsErrorName, describeAwsError, type OperatorAws } from '../operations/aws.ts';
import { result, type CheckResult } from './checks.ts';
import type { DeployedFunction } from '../operations/deployed-function.ts';

/** The function's Kubernetes identity, as SubjectAccessReviews ask about it. */
export interface KubeIdentity {
  user?: string;
  groups: string[];
  /** Where the identity comes from, for messages. */
  source: string;
}

const ACCESS_ENTRY_MODES = ['API', 'API_AND_CONFIG_MAP'];

function authModeFix(cluster: string): string {
  return `aws eks update-cluster-config --name ${cluster} --access-config authenticationMode=API_AND_CONFIG_MAP (one-way: CONFIG_MAP → API_AND_CONFIG_MAP → API)`;
}

async function eksChecks(
  fn: DeployedFunction,
  aws: OperatorAws,
  group: string,
): Promise<{ checks: CheckResult[]; identity: KubeIdentity }> {
  const cluster = fn.config.kube.clusterName!;
  const checks: CheckResult[] = [];
  const fallback: KubeIdentity = {
    groups: [group, 'system:authenticated'],
    source: `group ${group} (no access entry read)`,
  };

  try {
    const c = (await aws.eks.send(new DescribeClusterCommand({ name: cluster }))).cluster;
    const mode = c?.accessConfig?.authenticationMode ?? 'CONFIG_MAP';
    const problems: string[] = [];
    if (c?.endpoint && fn.config.kube.endpoint && c.endpoint !== fn.config.kube.endpoint)
      problems.push(
        `the function's ${ENV.eksEndpoint} ${fn.config.kube.endpoint} is not the cluster's endpoint ${c.endpoint}`,
      );
    if (c?.certificateAuthority?.data && fn.config.kube.caData && c.certificateAuthority.data !== fn.config.kube.caData)
      problems.push(`the function's ${ENV.eksCaData} is not the cluster's certificate authority`);
    if (!ACCESS_ENTRY_MODES.includes(mode)) {
      checks.push(
        result(
          'auth-mode',
          'cluster authentication mode',
          'fail',
          [`cluster ${cluster}: ${mode}; access entries need API or API_AND_CONFIG_MAP`, ...problems],
          authModeFix(cluster),
        ),
      );
    } else if (problems.length > 0) {
      checks.push(
        result(
          'auth-mode',
          'cluster authentication mode',
          'fail',
          [`cluster ${cluster}: ${mode}`, ...problems],
          'deploy the stack with the endpoint and certificateAuthority.data of `aws eks describe-cluster`',
        ),
      );
    } else {
      checks.push(
        result('auth-mode', 'cluster authentication mode', 'pass', [
          `cluster ${cluster}: ${mode}; endpoint and CA match the function's`,
        ]),
      );
    }
  } catch (err) {
    checks.push(
      result(
        'auth-mode',
        'cluster authentication mode',
        'fail',
        [`cannot describe cluster ${cluster}: ${describeAwsError(err)}`],
        `check ${ENV.eksClusterName} and the region; allow eks:DescribeCluster for your role`,
      ),
    );
  }

  const create = `aws eks create-access-entry --cluster-name ${cluster} --principal-arn ${fn.roleArn} --kubernetes-groups ${group}`;
  try {
    const e = (await aws.eks.send(new DescribeAccessEntryCommand({ clusterName: cluster, principalArn: fn.roleArn })))
      .accessEntry;
    const groups = e?.kubernetesGroups ?? [];
    // Lambda's role session is named after the function: EKS fills {{SessionName}} with it.
    const user = e?.username?.replace('{{SessionName}}', fn.name);
    const identity: KubeIdentity = {
      ...(user ? { user } : {}),
      groups: [...groups, 'system:authenticated'],
      source: `access entry of ${fn.roleArn}`,
    };
    if (!groups.includes(group)) {
      checks.push(
        result(
          'access-entry',
          'access entry of the function role',
          'fail',
          [`${fn.roleArn} maps to groups [${groups.join(', ')}], not ${group} (the group infra/k8s/rbac.yaml binds)`],
          `aws eks update-access-entry --cluster-name ${cluster} --principal-arn ${fn.roleArn} --kubernetes-groups ${group}`,
        ),
      );
    } else {
      checks.push(
        result('access-entry', 'access entry of the function role', 'pass', [
          `${fn.roleArn} → user ${user ?? '(default)'}, groups [${groups.join(', ')}]`,
        ]),
      );
    }
    return { checks, identity };
  } catch (err) {
    const name = awsErrorName(err);
    const fix =
      name === 'ResourceNotFoundException'
        ? `${create} (the stack creates it unless its access entry is turned off)`
        : name === 'InvalidRequestException'
          ? authModeFix(cluster)
          : 'allow eks:DescribeAccessEntry for your role';
    checks.push(
      result(
        'access-entry',
        'access entry of the function role',
        'fail',
        [`no usable access entry for ${fn.roleArn} in ${cluster}: ${describeAwsError(err)}`],
        fix,
      ),
    );
    return { checks, identity: fallback };
  }
}

async function kubeconfigCheck(
  fn: DeployedFunction,
  aws: OperatorAws,
  group: string,
  user: string | undefined,
): Promise<{ checks: CheckResult[]; identity: KubeIdentity }> {
  const id = fn.config.kube.kubeconfigSecretId!;
  const identity: KubeIdentity = {
    ...(user ? { user } : {}),
    groups: [group, 'system:authenticated'],
    source: `group ${group}${user ? ` and user ${user}` : ''} (self-managed: the kubeconfig's identity must be in it)`,
  };
  try {
    const s = await aws.secrets.send(new DescribeSecretCommand({ SecretId: id }));
    const current = Object.values(s.VersionIdsToStages ?? {}).some((stages) => stages.includes('AWSCURRENT'));
    if (s.DeletedDate)
      return {
        identity,
        checks: [
          result(
            'kubeconfig-secret',
            'kubeconfig secret',
            'fail',
            [`${id} is scheduled for deletion (${s.DeletedDate.toISOString()})`],
            `aws secretsmanager restore-secret --secret-id ${id}`,
          ),
        ],
      };
    if (!current)
      return {
        identity,
        checks: [
          result(
            'kubeconfig-secret',
            'kubeconfig secret',
            'fail',
            [`${id} has no current version`],
            `aws secretsmanager put-secret-value --secret-id ${id} --secret-string file://kubeconfig.yaml`,
          ),
        ],
      };
    return {
      identity,
      checks: [
        result('kubeconfig-secret', 'kubeconfig secret', 'pass', [
          `${id} exists with a current version (content not read: it is a credential)`,
        ]),
      ],
    };
  } catch (err) {
    const fix =
      awsErrorName(err) === 'ResourceNotFoundException'
        ? `create it: aws secretsmanager create-secret --name ${id} --secret-string file://kubeconfig.yaml`
        : 'allow secretsmanager:DescribeSecret for your role';
    return {
      identity,
      checks: [
        result(
          'kubeconfig-secret',
          'kubeconfig secret',
          'fail',
          [`cannot describe ${id} (${ENV.kubeconfigSecretId}): ${describeAwsError(err)}`],
          fix,
        ),
      ],
    };
  }
}

export async function clusterAccessChecks(
  fn: DeployedFunction,
  aws: OperatorAws,
  o: { group: string; user?: string },
): Promise<{ checks: CheckResult[]; identity?: KubeIdentity }> {
  switch (fn.config.kube.auth) {
    case 'eks':
      return eksChecks(fn, aws, o.group);
    case 'kubeconfig':
      return kubeconfigCheck(fn, aws, o.group, o.user);
    default:
      return {
        checks: [
          result(
            'cluster-access',
            'cluster access',
            'warn',
            [
              `${ENV.kubeAuth}=none: the function restarts no workloads after a recovery; they keep certificates of the lost mesh CA`,
            ],
            'configure EKS access (Hybrid Nodes) or a kubeconfig secret (self-managed) in the stack',
          ),
        ],
      };
  }
}
