/**
 * The deployed function, as the operator commands see it: its configuration read from AWS
 * (GetFunctionConfiguration, and GetParametersByPath on the deployments' path the environment
 * names, lambda/function/deployment-store.ts) and parsed by the very parser the function runs
 * (lambda/function/config.ts loadConfig), so the commands check what the function will do,
 * not what a flag says.
 */
import { GetFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import {
  findDeployment,
  loadConfig,
  type DeploymentConfig,
  type HandlerConfig,
  type StoredDeployment,
} from '../../lambda/function/config.ts';
import { readDeploymentParameters } from '../../lambda/function/deployment-store.ts';
import { ENV } from '../../lambda/shared/contract.ts';
import { RecoveryError } from '../../lambda/shared/errors.ts';
import { describeAwsError, awsErrorName, type OperatorAws } from './aws.ts';

export interface DeployedFunction {
  name: string;
  arn: string;
  /** The execution role: the principal of the KMS Decrypt and of the EKS access entry. */
  roleArn: string;
  logGroup: string;
  region: string;
  account: string;
  config: HandlerConfig;
  deployment: DeploymentConfig;
}

/** The function cannot be read or its configuration is not usable; `fix` says what to do. */
export class DeployedFunctionError extends RecoveryError {
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super('config-invalid', message);
  }
}

export async function describeDeployedFunction(
  aws: OperatorAws,
  functionName: string,
  deploymentName: string,
): Promise<DeployedFunction> {
  let out;
  try {
    out = await aws.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }));
  } catch (err) {
    throw new DeployedFunctionError(
      `cannot read function ${functionName}: ${describeAwsError(err)}`,
      awsErrorName(err) === 'ResourceNotFoundException'
        ? `pass --function with the stack output FunctionName (and the stack's region in AWS_REGION)`
        : `allow lambda:GetFunctionConfiguration on the function for your role`,
    );
  }
  const env = out.Environment?.Variables ?? {};
  const path = env[ENV.deploymentsPath];
  let stored: StoredDeployment[] | undefined;
  if (path) {
    try {
      stored = await readDeploymentParameters(aws.ssm, path);
    } catch (err) {
      throw new DeployedFunctionError(
        `cannot read the deployments of function ${functionName} under ${path}: ${describeAwsError(err)}`,
        `allow ssm:GetParametersByPath on the parameter path ${path} for your role`,
      );
    }
  }
  let config: HandlerConfig;
  try {
    config = loadConfig(env, stored);
  } catch (err) {
    throw new DeployedFunctionError(
      `function ${functionName} is misconfigured: ${(err as Error).message}`,
      'fix the variable in the stack and redeploy',
    );
  }
  const deployment = findDeployment(config, deploymentName);
  if (!deployment) {
    throw new DeployedFunctionError(
      `function ${functionName} does not look after deployment ${deploymentName} (${path ?? ENV.deployments}: ${config.deployments.map((d) => d.name).join(', ')})`,
      `use one of these names with --deployment, or add ${deploymentName} to the stack's deployments`,
    );
  }
  // arn:aws:lambda:REGION:ACCOUNT:function:NAME
  const arn = out.FunctionArn ?? functionName;
  const [, , , region = '', account = ''] = arn.split(':');
  return {
    name: out.FunctionName ?? functionName,
    arn,
    roleArn: out.Role ?? '',
    logGroup: out.LoggingConfig?.LogGroup ?? `/aws/lambda/${out.FunctionName ?? functionName}`,
    region: region || (await aws.lambda.config.region()),
    account,
    config,
    deployment,
  };
}
