/**
 * `contrast-autorecover rehearse`: registration and help only; the run (and its AWS and
 * Kubernetes clients) is imported when the command runs.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { OPERATIONS } from '../../lambda/shared/contract.ts';
import { INCOMPLETE_EXIT_CODE, outcomeTable } from '../outcome-help.ts';

export interface RehearseOptions {
  deployment: string;
  function: string;
  kubeconfig?: string;
  kubeContext?: string;
  yes?: boolean;
  /** Seconds to wait for the recovery. */
  timeout: number;
  /** Seconds to wait for the Decrypt to show in CloudTrail. */
  trailTimeout: number;
  json?: boolean;
}

const seconds = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive whole number of seconds');
  return n;
};

export function registerRehearseCommand(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  program
    .command('rehearse')
    .description('delete the Coordinator pod on a real cluster and follow the event-driven recovery through its stages')
    .requiredOption('--deployment <name>', 'deployment name, as configured in the stack')
    .option('--function <name>', 'the recovery function (stack output FunctionName)', OPERATIONS.functionName)
    .option('--kubeconfig <file>', 'kubeconfig for the cluster (default: KUBECONFIG, then ~/.kube/config)')
    .option('--kube-context <name>', 'kubeconfig context (default: current-context)')
    .option('--yes', 'do not ask; delete the Coordinator pod(s) right away')
    .option('--timeout <seconds>', 'how long to wait for the recovery', seconds, 600)
    .option(
      '--trail-timeout <seconds>',
      'how long to wait for the Decrypt in CloudTrail (it can take minutes to appear)',
      seconds,
      900,
    )
    .option('--json', 'print one JSON summary instead of the stages as they happen')
    .addHelpText(
      'after',
      `
After you type the deployment name, deletes the Coordinator pod(s) of the deployment (label
app.kubernetes.io/name=coordinator in its namespace). The Coordinator restarts without its
keys. Then follows, from the cluster and the function's log records, and prints each stage
with its time since the deletion:
  Coordinator pod deleted, new Coordinator pod, event seen (the exporter's event on the bus),
  function invoked, Recover confirmed, restarts done
and finally links the recovery's audit record to its KMS Decrypt in CloudTrail by request
ID (event history; entries can take several minutes to appear).

Run \`contrast-autorecover doctor\` first. Your identity needs lambda:GetFunctionConfiguration,
logs:FilterLogEvents on the function's log group, cloudtrail:LookupEvents, and in the
cluster: list and delete pods in the Coordinator's namespace.

Exit codes: 0 every stage seen and the Decrypt linked; ${INCOMPLETE_EXIT_CODE} a stage was not seen in time
(the output says which and what to check; a failure the function retries is waited out);
2 usage; 1 unexpected error; or, when the function reports a failure it does not retry,
that outcome's code:
${outcomeTable({ exitCodes: true, filter: (x) => !x.ok && !x.retry })}

Examples:
  contrast-autorecover rehearse --deployment prod --function contrast-autorecover
  contrast-autorecover rehearse --deployment prod --kube-context prod-admin --timeout 300 --json`,
    )
    .action((o: RehearseOptions) => run(async () => (await import('./run.ts')).rehearseCommand(o)));
}
