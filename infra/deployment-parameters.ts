/**
 * The deployments' configuration, one Parameter Store parameter per deployment under a path of
 * this stack's own (lambda/function/deployment-store.ts reads them). The function's environment
 * keeps only the path: Lambda caps all of a function's variables together at 4 KB, which a
 * JSON list of deployments outgrows at about ten, and a standard parameter holds 4 KB for one.
 *
 * Why Parameter Store and not items in a DynamoDB table: CloudFormation writes parameters
 * itself (AWS::SSM::Parameter), so the configuration is part of the stack and changes with it;
 * a table item would need a custom resource (a function of its own). The function only reads
 * the path (GetParametersByPath is authorized against the path, AWS Systems Manager user
 * guide "How Parameter Store authorizes parameter retrieval"), where its lock table, which it
 * writes, would hold its own configuration. Standard parameters cost nothing.
 */
import { Names, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';

export interface DeploymentParametersProps {
  /** Deployment name → its entry, exactly the keys lambda/function/config.ts accepts (JSON, may hold tokens). */
  readonly values: Record<string, string>;
}

/** `/contrast-autorecover/<unique name of the construct>/deployments`: one path per stack and construct. */
export function deploymentsPathOf(scope: Construct): string {
  return `/contrast-autorecover/${Names.uniqueResourceName(scope, { maxLength: 64, separator: '-' })}/deployments`;
}

export class DeploymentParameters extends Construct {
  /** The path the function reads (CONTRAST_DEPLOYMENTS_PATH). */
  readonly path: string;
  /** The path's ARN: the only resource of ssm:GetParametersByPath. */
  readonly pathArn: string;
  readonly parameters: Record<string, ssm.StringParameter> = {};

  constructor(scope: Construct, id: string, props: DeploymentParametersProps) {
    super(scope, id);
    this.path = deploymentsPathOf(scope);
    this.pathArn = Stack.of(this).formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: this.path.slice(1),
    });
    for (const [i, [name, value]] of Object.entries(props.values).entries()) {
      this.parameters[name] = new ssm.StringParameter(this, `Deployment${i}`, {
        parameterName: `${this.path}/${name}`,
        description: `contrast-autorecover: configuration of deployment ${name} (lambda/function/config.ts)`,
        stringValue: value,
        tier: ssm.ParameterTier.STANDARD,
      });
    }
  }

  /** Read every deployment under the path, nothing else (not one parameter elsewhere, no writes). */
  grantRead(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadDeploymentParameters',
        actions: ['ssm:GetParametersByPath'],
        resources: [this.pathArn],
      }),
    );
  }
}
