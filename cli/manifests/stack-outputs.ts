/**
 * The deployed stack's outputs (CloudFormation DescribeStacks), read once by the commands that
 * render something from them (`manifests`, `scp`). The construct's outputs have logical ids
 * prefixed by its path (`RecoveryFunctionName1A2B3C4D` for a construct `Recovery`), so an
 * output is found by its name with or without that prefix and hash — and must be unique.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { BUDGETS } from '../../lambda/shared/budgets.ts';
import { awsClientSettings } from '../../lambda/shared/aws-http.ts';
import { InputError } from '../../lambda/shared/errors.ts';

export interface StackOutputs {
  stackName: string;
  region: string;
  /** The output's value, or undefined when the stack has none of that name. */
  get(name: string): string | undefined;
  /** The output's value; a missing one is `config-invalid`, saying what to do. */
  require(name: string, why: string): string;
}

/** Output keys as CDK writes them: the construct path's ids, the name, an 8-hex-digit hash. */
function matches(key: string, name: string): boolean {
  return key === name || new RegExp(`^[A-Za-z0-9]*${name}[0-9A-F]{8}$`).test(key);
}

export function stackOutputsOf(
  stackName: string,
  region: string,
  outputs: { OutputKey?: string; OutputValue?: string }[],
): StackOutputs {
  const get = (name: string): string | undefined => {
    const found = outputs.filter((o) => o.OutputKey !== undefined && matches(o.OutputKey, name));
    if (found.length > 1)
      throw new InputError(
        `stack ${stackName} has ${found.length} outputs named ${name} (${found.map((o) => o.OutputKey).join(', ')}): one ContrastRecovery per stack`,
        'config-invalid',
      );
    return found[0]?.OutputValue;
  };
  return {
    stackName,
    region,
    get,
    require(name, why) {
      const v = get(name);
      if (v === undefined || v === '')
        throw new InputError(
          `stack ${stackName} has no output ${name}, which ${why}; deploy this version of the stack (cdk deploy) first`,
          'config-invalid',
        );
      return v;
    },
  };
}

/** DescribeStacks with the standard AWS environment (AWS_REGION, AWS_ENDPOINT_URL, credentials). */
export async function readStackOutputs(stackName: string): Promise<StackOutputs> {
  const client = new CloudFormationClient(awsClientSettings(BUDGETS.aws));
  try {
    let region: string;
    try {
      region = await client.config.region();
    } catch {
      throw new InputError(
        'no AWS region is configured: export AWS_REGION (the region of the stack)',
        'config-invalid',
      );
    }
    let out;
    try {
      out = await client.send(new DescribeStacksCommand({ StackName: stackName }));
    } catch (err) {
      const name = (err as { name?: string }).name ?? 'Error';
      const outcome =
        name === 'ValidationError' || name === 'AccessDenied' || name === 'AccessDeniedException'
          ? 'config-invalid'
          : 'unreachable';
      throw new InputError(
        `cannot read stack ${stackName} in ${region} (${name}: ${(err as Error).message}); check --stack, AWS_REGION and that you may cloudformation:DescribeStacks`,
        outcome,
      );
    }
    const stack = out.Stacks?.[0];
    if (!stack) throw new InputError(`stack ${stackName} not found in ${region}`, 'config-invalid');
    return stackOutputsOf(stack.StackName ?? stackName, region, stack.Outputs ?? []);
  } finally {
    client.destroy();
  }
}
