/**
 * cdk-nag (v3) wiring: the AwsSolutions pack runs as a CDK policy-validation plugin, so any
 * unacknowledged finding fails `cdk synth`. Acknowledgements live next to the resources they
 * concern (`Validations.of(construct).acknowledge({ id, reason })`), each with its reason.
 */
import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

export function enableNag(app: IConstruct): AwsSolutionsChecks {
  const pack = new AwsSolutionsChecks(app, { verbose: true });
  Validations.of(app).addPlugins(pack);
  return pack;
}
