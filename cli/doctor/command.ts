/**
 * `contrast-autorecover doctor`: registration and help only. The checks and their AWS and
 * Kubernetes clients are imported when the command runs, never by other commands.
 */
import type { Command } from 'commander';
import { DEFAULTS, OPERATIONS } from '../../lambda/shared/contract.ts';
import { INCOMPLETE_EXIT_CODE, outcomeTable } from '../outcome-help.ts';

export interface DoctorOptions {
  deployment: string;
  function: string;
  kubeconfig?: string;
  kubeContext?: string;
  kubeGroup: string;
  kubeUser?: string;
  kmsKeyId?: string;
  exporterNamespace: string;
  json?: boolean;
}

export function registerDoctorCommand(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  program
    .command('doctor')
    .description(
      'read-only preflight of a deployed stack and its cluster: prints a checklist with the fix for each miss',
    )
    .requiredOption('--deployment <name>', 'deployment name, as configured in the stack')
    .option('--function <name>', 'the recovery function (stack output FunctionName)', OPERATIONS.functionName)
    .option('--kubeconfig <file>', 'kubeconfig for the cluster (default: KUBECONFIG, then ~/.kube/config)')
    .option('--kube-context <name>', 'kubeconfig context (default: current-context)')
    .option(
      '--kube-group <group>',
      "Kubernetes group of the function's identity (self-managed clusters; EKS reads the access entry)",
      DEFAULTS.kubernetesGroup,
    )
    .option('--kube-user <user>', "Kubernetes user name of the function's kubeconfig identity (self-managed clusters)")
    .option(
      '--kms-key-id <key>',
      "the recovery key (stack output RecoveryKeyArn); default: the key the function's audit record of the status call names",
    )
    .option('--exporter-namespace <ns>', 'namespace of the in-cluster event exporter', OPERATIONS.exporterNamespace)
    .option('--json', 'print the checklist as JSON')
    .addHelpText(
      'after',
      `
Checks, in order (each prints what it found and, when it misses, the fix):
  function           the function exists and its configuration names the deployment
  auth-mode          EKS: authentication mode API or API_AND_CONFIG_MAP; endpoint and CA match
  access-entry       EKS: the function role's access entry maps it to the RBAC group
  kubeconfig-secret  self-managed: the kubeconfig secret exists with a current version
  rbac               SubjectAccessReview for every verb the peer check and restarts need
  coordinator        reachable and attested, asked through the function (status: no Decrypt)
  bundle             the secret exists and the function loads and parses it
  key-policy         who may Decrypt with the recovery key, who administers it
  exporter           the exporter's ConfigMap sends this deployment to the function's bus
  trail              a logging multi-region or organization trail keeps KMS Decrypt events

Read-only: no Decrypt, no Recover, no secret value read; the status call is audited by the
function. Your identity needs lambda:GetFunctionConfiguration and lambda:InvokeFunction,
logs:FilterLogEvents on the function's log group, eks:DescribeCluster/DescribeAccessEntry,
secretsmanager:DescribeSecret, kms:DescribeKey/GetKeyPolicy, cloudtrail:Describe*/Get*,
and in the cluster: create subjectaccessreviews, list configmaps in the exporter's namespace.

The coordinator check reports the function's status outcome:
${outcomeTable()}

Exit codes: 0 no check failed (warnings allowed); ${INCOMPLETE_EXIT_CODE} a check failed; 2 usage; 1 unexpected error.

Examples:
  contrast-autorecover doctor --deployment prod --function contrast-autorecover
  contrast-autorecover doctor --deployment prod --kube-context prod-admin \\
    --kms-key-id arn:aws:kms:eu-central-1:111122223333:key/1234abcd-... --json`,
    )
    .action((o: DoctorOptions) => run(async () => (await import('./run.ts')).doctorCommand(o)));
}
