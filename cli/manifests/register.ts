/**
 * Registration of the commands that render from the deployed stack (manifests, scp, output).
 * Their implementations (YAML, CloudFormation client) load only when one of them runs.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { ManifestsOptions } from './command.ts';

const WITH = ['pod-deletion'] as const;

function oneOf<T extends string>(values: readonly T[]) {
  return (v: string): T => {
    if (!(values as readonly string[]).includes(v))
      throw new InvalidArgumentError(`expected one of ${values.join(', ')}`);
    return v as T;
  };
}

export function registerManifestsCommand(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  program
    .command('manifests')
    .description(
      "print ready-to-apply Kubernetes YAML for a deployment, filled with the deployed stack's outputs (pipe it to kubectl apply -f -)",
    )
    .requiredOption('--deployment <name>', 'deployment name (as in the stack)')
    .option(
      '--stack <name>',
      'the deployed CloudFormation stack (DescribeStacks): RBAC, the restart-only admission policy, and the exporter with --exporter',
    )
    .option(
      '--exporter <kind>',
      'also the event exporter with this identity: irsa (EKS) or roles-anywhere',
      oneOf(['irsa', 'roles-anywhere'] as const),
    )
    .option(
      '--signing-helper-image <image>',
      'with --exporter roles-anywhere: image of aws_signing_helper, pinned by digest (registry/…@sha256:…)',
    )
    .option(
      '--with <part>',
      'optional part: pod-deletion (needs allowPodDeletion: true on the stack); repeatable',
      (v: string, prev: string[]) => [...prev, oneOf(WITH)(v)],
      [],
    )
    .option(
      '--cluster-name <name>',
      "cluster name in the exporter's events (default: the EKS cluster, else the stack name)",
    )
    .option(
      '--coordinator-endpoint <kind>',
      "instead, before the stack: the Coordinator's Service for the NLB — aws-load-balancer-controller (EKS) or node-port (self-managed)",
      oneOf(['aws-load-balancer-controller', 'node-port'] as const),
    )
    .option('--coordinator-namespace <ns>', 'with --coordinator-endpoint: namespace of the Coordinator')
    .option(
      '--node-port <port>',
      'with --coordinator-endpoint node-port: the node port the NLB targets',
      (v: string) => Number(v),
      31313,
    )
    .addHelpText(
      'after',
      `
Prints YAML on stdout; nothing is applied. The exporter's Namespace comes first, so one
\`kubectl apply -f -\` creates everything in order.

Examples:
  contrast-autorecover manifests --deployment prod --coordinator-endpoint aws-load-balancer-controller \\
    --coordinator-namespace prod | kubectl apply -f -
  contrast-autorecover manifests --deployment prod --stack ContrastAutorecover --exporter irsa | kubectl apply -f -
  contrast-autorecover manifests --deployment prod --stack ContrastAutorecover --exporter roles-anywhere \\
    --signing-helper-image registry.example/aws-signing-helper@sha256:… --with pod-deletion | kubectl apply -f -`,
    )
    .action((o: ManifestsOptions) =>
      run(async () => {
        process.stdout.write(await (await import('./command.ts')).manifestsCommand(o));
        return 0;
      }),
    );
}

/** `output --stack NAME KEY`: one output of the deployed stack, for a shell step (`--function "$(contrast-autorecover output …)"`). */
export function registerOutputCommand(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  program
    .command('output')
    .description(
      "print one output of the deployed stack (FunctionName, RecoveryKeyArn, EnrollerRoleArn, …), with or without the construct's prefix",
    )
    .requiredOption('--stack <name>', 'the deployed CloudFormation stack (DescribeStacks)')
    .argument('<name>', 'the output, e.g. FunctionName')
    .action((name: string, o: { stack: string }) =>
      run(async () => {
        const { readStackOutputs } = await import('./stack-outputs.ts');
        const out = (await readStackOutputs(o.stack)).require(name, 'was asked for');
        process.stdout.write(`${out}\n`);
        return 0;
      }),
    );
}

export function registerScpCommand(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  program
    .command('scp')
    .description(
      "print the service control policy that confines the function role's credentials to the function, with the deployed stack's ARNs",
    )
    .requiredOption('--stack <name>', 'the deployed CloudFormation stack (DescribeStacks)')
    .addHelpText(
      'after',
      `
Prints JSON on stdout for AWS Organizations (docs/deploy.md §8); nothing is attached.

Example:
  contrast-autorecover scp --stack ContrastAutorecover > contrast-autorecover-scp.json`,
    )
    .action((o: { stack: string }) =>
      run(async () => {
        process.stdout.write(await (await import('./scp.ts')).scpCommand(o));
        return 0;
      }),
    );
}
