/**
 * `contrast-autorecover scp --stack NAME`: the service control policy of docs/deploy.md §8
 * with the deployed stack's concrete ARNs, ready to paste into AWS Organizations (the
 * construct's `sourceFunctionScp()` holds CloudFormation tokens, which Organizations cannot
 * resolve).
 */
import type { Command } from 'commander';
import { sourceFunctionScpDocument } from '../../lambda/shared/scp.ts';
import { readStackOutputs, type StackOutputs } from './stack-outputs.ts';

/** BundleSecret0Arn, BundleSecret1Arn, …: one per deployment, in order, until the first gap. */
function bundleSecretArns(out: StackOutputs): string[] {
  const arns: string[] = [];
  for (let i = 0; ; i++) {
    const arn = out.get(`BundleSecret${i}Arn`);
    if (arn === undefined) break;
    arns.push(arn);
  }
  if (arns.length === 0) out.require('BundleSecret0Arn', 'names the first bundle secret');
  return arns;
}

export async function scpCommand(o: { stack: string }, read: (stack: string) => Promise<StackOutputs> = readStackOutputs): Promise<string> {
  const out = await read(o.stack);
  const doc = sourceFunctionScpDocument({
    recoveryKeyArn: out.require('RecoveryKeyArn', 'names the recovery key'),
    bundleSecretArns: bundleSecretArns(out),
    functionRoleArn: out.require('FunctionRoleArn', 'names the function role'),
    functionArn: out.require('FunctionArn', 'names the function'),
  });
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** `output --stack NAME KEY`: one output of the deployed stack, for a shell step (`--function "$(contrast-autorecover output …)"`). */
export function registerOutputCommand(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  program
    .command('output')
    .description('print one output of the deployed stack (FunctionName, RecoveryKeyArn, EnrollerRoleArn, …), with or without the construct\'s prefix')
    .requiredOption('--stack <name>', 'the deployed CloudFormation stack (DescribeStacks)')
    .argument('<name>', 'the output, e.g. FunctionName')
    .action((name: string, o: { stack: string }) =>
      run(async () => {
        const out = await (await readStackOutputs(o.stack)).require(name, 'was asked for');
        process.stdout.write(`${out}\n`);
        return 0;
      }),
    );
}

export function registerScpCommand(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  program
    .command('scp')
    .description('print the service control policy that confines the function role\'s credentials to the function, with the deployed stack\'s ARNs')
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
        process.stdout.write(await scpCommand(o));
        return 0;
      }),
    );
}
