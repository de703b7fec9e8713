/**
 * One Secrets Manager secret per deployment, holding its recovery bundle, encrypted with the
 * bundle secrets key (infra/keys.ts). The resource policy is made of denials only, conditioned
 * on `aws:PrincipalArn` (an ARN string, so a deleted and recreated role of the same name still
 * matches; a policy Principal would be pinned to the old role's unique id):
 *
 * - only the function and the break-glass role may read; the function only through the stack's
 *   Secrets Manager endpoint (`aws:SourceVpce`), the break-glass role only with MFA;
 * - only the enroller (and, with a collateral mirror, the function's refresh) may put versions;
 * - only CloudFormation's role may change the secret or its policy, so nobody else can lift
 *   these denials without a stack deployment (and PutResourcePolicy alarms).
 */
import { Aws, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/** Changes to a secret and its policy: CloudFormation's role only. */
export const SECRET_ADMIN_ACTIONS = [
  'secretsmanager:UpdateSecret',
  'secretsmanager:UpdateSecretVersionStage',
  'secretsmanager:PutResourcePolicy',
  'secretsmanager:DeleteResourcePolicy',
  'secretsmanager:DeleteSecret',
  'secretsmanager:RotateSecret',
  'secretsmanager:CancelRotateSecret',
  'secretsmanager:ReplicateSecretToRegions',
  'secretsmanager:TagResource',
  'secretsmanager:UntagResource',
];

export interface BundleSecretsProps {
  readonly deploymentNames: string[];
  /** Secret names are `<prefix>/<deployment>`. */
  readonly prefix: string;
  readonly key: kms.IKey;
  readonly functionRoleArn: string;
  readonly breakGlassRoleArn?: string;
  readonly enrollerRoleArn: string;
  readonly cloudFormationRoleArn: string;
  /** The function refreshes the collateral cache (collateral mirror configured). */
  readonly functionWrites: boolean;
  /** The function's reads must come through this Secrets Manager endpoint. */
  readonly secretsManagerEndpointId: string;
}

/** SecretARN pattern of `<prefix>/<deployment>`: Secrets Manager appends "-" and six characters. */
export function secretArnPattern(prefix: string, deployment: string): string {
  return `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${prefix}/${deployment}-??????`;
}

export class BundleSecrets extends Construct {
  /** Secret per deployment name. */
  readonly secrets: Record<string, secretsmanager.CfnSecret> = {};
  readonly arns: string[];

  constructor(scope: Construct, id: string, props: BundleSecretsProps) {
    super(scope, id);
    for (const [i, name] of props.deploymentNames.entries()) {
      const secret = new secretsmanager.CfnSecret(this, `Secret${i}`, {
        name: `${props.prefix}/${name}`,
        description: `contrast-autorecover recovery bundle of deployment ${name} (written by contrast-autorecover enroll)`,
        kmsKeyId: props.key.keyArn,
        // Fixed, non-secret placeholder: CloudFormation requires a value. Never change it, or
        // a stack update would overwrite the enrolled bundle. Until enrolled the function
        // reports bundle-invalid for this deployment.
        secretString: JSON.stringify({ enrolled: false }),
      });
      secret.applyRemovalPolicy(RemovalPolicy.RETAIN);
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'The value is a KMS-enveloped recovery bundle written by contrast-autorecover enroll; rotating it means re-enrolling after contrast set, which the drift alarm prompts. A rotation Lambda cannot produce it.',
      });
      new secretsmanager.CfnResourcePolicy(this, `Policy${i}`, {
        secretId: secret.ref,
        blockPublicPolicy: true,
        resourcePolicy: resourcePolicy(props).toJSON(),
      });
      this.secrets[name] = secret;
    }
    this.arns = props.deploymentNames.map((n) => this.secrets[n]!.ref);
  }

  grantRead(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadBundles',
        actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        resources: this.arns,
      }),
    );
  }

  grantPutVersion(grantee: iam.IGrantable, sid: string): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid,
        actions: ['secretsmanager:PutSecretValue', 'secretsmanager:DescribeSecret'],
        resources: this.arns,
      }),
    );
  }
}

function one(arns: string[]): string | string[] {
  return arns.length === 1 ? arns[0]! : arns;
}

function deny(
  sid: string,
  actions: string[],
  conditions: Record<string, Record<string, unknown>>,
): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid,
    effect: iam.Effect.DENY,
    principals: [new iam.AnyPrincipal()],
    actions,
    resources: ['*'],
    conditions,
  });
}

function resourcePolicy(p: BundleSecretsProps): iam.PolicyDocument {
  const readers = [p.functionRoleArn, ...(p.breakGlassRoleArn ? [p.breakGlassRoleArn] : [])];
  const writers = [p.enrollerRoleArn, p.cloudFormationRoleArn, ...(p.functionWrites ? [p.functionRoleArn] : [])];
  const statements = [
    deny('OnlyReadersGetTheBundle', ['secretsmanager:GetSecretValue'], {
      ArnNotEquals: { 'aws:PrincipalArn': one(readers) },
    }),
    // A negated operator is true when the key is absent: a read from outside any endpoint is denied.
    deny('FunctionReadsOnlyThroughItsEndpoint', ['secretsmanager:GetSecretValue'], {
      ArnEquals: { 'aws:PrincipalArn': p.functionRoleArn },
      StringNotEquals: { 'aws:SourceVpce': p.secretsManagerEndpointId },
    }),
    ...(p.breakGlassRoleArn
      ? [
          deny('BreakGlassReadsOnlyWithMfa', ['secretsmanager:GetSecretValue'], {
            ArnEquals: { 'aws:PrincipalArn': p.breakGlassRoleArn },
            BoolIfExists: { 'aws:MultiFactorAuthPresent': 'false' },
          }),
        ]
      : []),
    deny('OnlyWritersPutVersions', ['secretsmanager:PutSecretValue'], {
      ArnNotEquals: { 'aws:PrincipalArn': one(writers) },
    }),
    // The enroller may move version stages back (undo an enrollment); nothing else changes.
    deny('OnlyEnrollerAndDeploymentMoveStages', ['secretsmanager:UpdateSecretVersionStage'], {
      ArnNotEquals: { 'aws:PrincipalArn': [p.enrollerRoleArn, p.cloudFormationRoleArn] },
    }),
    deny(
      'OnlyDeploymentChangesTheSecret',
      SECRET_ADMIN_ACTIONS.filter((a) => a !== 'secretsmanager:UpdateSecretVersionStage'),
      { ArnNotEquals: { 'aws:PrincipalArn': p.cloudFormationRoleArn } },
    ),
  ];
  return new iam.PolicyDocument({ statements });
}
