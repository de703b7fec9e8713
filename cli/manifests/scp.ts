/**
 * `contrast-autorecover scp --stack NAME`: the service control policy of docs/deploy.md §8
 * with the deployed stack's concrete ARNs, ready to paste into AWS Organizations (the
 * construct's `sourceFunctionScp()` holds CloudFormation tokens, which Organizations cannot
 * resolve).
 */
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

export async function scpCommand(
  o: { stack: string },
  read: (stack: string) => Promise<StackOutputs> = readStackOutputs,
): Promise<string> {
  const out = await read(o.stack);
  const doc = sourceFunctionScpDocument({
    recoveryKeyArn: out.require('RecoveryKeyArn', 'names the recovery key'),
    bundleSecretArns: bundleSecretArns(out),
    functionRoleArn: out.require('FunctionRoleArn', 'names the function role'),
    functionArn: out.require('FunctionArn', 'names the function'),
  });
  return `${JSON.stringify(doc, null, 2)}\n`;
}
