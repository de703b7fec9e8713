/**
 * The stack's three KMS keys. Each key policy is the whole authorisation story for its key:
 * no statement trusts the account root or IAM identity policies (a CDK v2 key given a `policy`
 * uses exactly that policy; aws/aws-cdk packages/aws-cdk-lib/aws-kms/lib/key.ts), so an
 * administrator cannot grant themselves use through IAM alone: they would have to change the
 * key policy, which alarms (infra/side-door-alarms.ts).
 *
 * - The **recovery key** envelope-encrypts each deployment's seed-share-owner key, and nothing
 *   else. Every CloudTrail `Decrypt` on it carries the owner-key encryption context: it is a
 *   recovery or a drill, never a routine read.
 * - The **bundle secrets key** encrypts the Secrets Manager secrets holding the bundles (whose
 *   owner key stays enveloped under the recovery key). Secrets Manager uses it on the caller's
 *   behalf for every GetSecretValue (each scheduled no-op) and PutSecretValue.
 * - The **operations key** encrypts logs, the alarm topic and the trail: nothing secret.
 *
 * Administrators (named explicitly, the CloudFormation execution role among them) manage the
 * keys and never use them.
 */
import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { CONTEXT_KEYS, OWNER_KEY_PURPOSE } from '../lambda/shared/contract.ts';

/**
 * Administrative actions only: no Encrypt/Decrypt/GenerateDataKey/ReEncrypt/CreateGrant.
 * No `kms:Create*`: it would include CreateGrant, and a grant can hand out Decrypt without
 * the encryption-context conditions of the key policy. `kms:Put*` (PutKeyPolicy) must stay:
 * KMS refuses a policy that does not let its caller (CloudFormation's role) put the next one
 * (KMS API reference, PutKeyPolicy BypassPolicyLockoutSafetyCheck).
 */
export const KEY_ADMIN_ACTIONS = [
  'kms:CreateAlias',
  'kms:Describe*',
  'kms:Enable*',
  'kms:List*',
  'kms:Put*',
  'kms:Update*',
  'kms:Revoke*',
  'kms:Disable*',
  'kms:Get*',
  'kms:Delete*',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
  'kms:RotateKeyOnDemand',
];

/** Secrets Manager's encryption-context value when it validates access to a secret's new key. */
export const KEY_VALIDATION_VERSION_ID = 'RequestToValidateKeyAccess';

/** The condition every use of the owner-key context must satisfy. */
export function ownerKeyContextConditions(deploymentNames: string[]): Record<string, Record<string, unknown>> {
  return {
    StringEquals: {
      [`kms:EncryptionContext:${CONTEXT_KEYS.deployment}`]: deploymentNames,
      [`kms:EncryptionContext:${CONTEXT_KEYS.purpose}`]: OWNER_KEY_PURPOSE,
    },
    // The manifest hash must be part of the context (binds the manifest to the ciphertext).
    Null: { [`kms:EncryptionContext:${CONTEXT_KEYS.bundleSha256}`]: 'false' },
    // No context keys other than ours (so a ciphertext cannot be re-labelled with extras).
    'ForAllValues:StringEquals': {
      'kms:EncryptionContextKeys': [CONTEXT_KEYS.deployment, CONTEXT_KEYS.purpose, CONTEXT_KEYS.bundleSha256],
    },
  };
}

function keyAdministration(admins: iam.IPrincipal[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'KeyAdministration',
    principals: admins,
    actions: KEY_ADMIN_ACTIONS,
    resources: ['*'],
  });
}

function retainedKey(scope: Construct, description: string, policy: iam.PolicyDocument): kms.Key {
  return new kms.Key(scope, 'Key', {
    description,
    enableKeyRotation: true,
    pendingWindow: Duration.days(30),
    removalPolicy: RemovalPolicy.RETAIN,
    policy,
  });
}

export interface RecoveryKeyProps {
  /** Deployment names: the only values accepted for `contrast-autorecover:deployment`. */
  readonly deploymentNames: string[];
  readonly admins: iam.IPrincipal[];
  readonly functionRole: iam.IRole;
  /** The function's Decrypt must come through this KMS interface endpoint (aws:SourceVpce). */
  readonly kmsEndpointId: string;
  readonly enrollerRole: iam.IRole;
  /** Decrypts from outside (an operator's machine), with MFA only. */
  readonly breakGlassRole?: iam.IRole;
}

/** The recovery key: owner-key envelopes only. */
export class RecoveryKey extends Construct {
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: RecoveryKeyProps) {
    super(scope, id);
    const context = ownerKeyContextConditions(props.deploymentNames);
    const statements = [
      keyAdministration(props.admins),
      new iam.PolicyStatement({
        sid: 'FunctionDecryptOwnerKey',
        principals: [props.functionRole],
        actions: ['kms:Decrypt'],
        resources: ['*'],
        // Only through the stack's KMS endpoint: the role's credentials used anywhere else (a
        // Lambda of one's own, a copied session) cannot decrypt. aws:SourceVpce is set only for
        // direct calls through an endpoint (AWS KMS Developer Guide, conditions-aws).
        conditions: { ...context, StringEquals: { ...context.StringEquals, 'aws:SourceVpce': props.kmsEndpointId } },
      }),
      ...(props.breakGlassRole
        ? [
            new iam.PolicyStatement({
              sid: 'BreakGlassDecryptOwnerKey',
              principals: [props.breakGlassRole],
              actions: ['kms:Decrypt'],
              resources: ['*'],
              // MFA here too: a trust policy edited to drop MFA still cannot decrypt.
              conditions: { ...context, Bool: { 'aws:MultiFactorAuthPresent': 'true' } },
            }),
          ]
        : []),
      new iam.PolicyStatement({
        sid: 'EnrollerEncryptOwnerKey',
        principals: [props.enrollerRole],
        actions: ['kms:GenerateDataKey', 'kms:Encrypt'],
        resources: ['*'],
        conditions: context,
      }),
      new iam.PolicyStatement({
        sid: 'EnrollerDescribeKey',
        principals: [props.enrollerRole],
        actions: ['kms:DescribeKey'],
        resources: ['*'],
      }),
    ];
    this.key = retainedKey(
      this,
      'contrast-autorecover: seed-share-owner key envelopes (every Decrypt is a recovery or a drill)',
      new iam.PolicyDocument({ statements }),
    );
  }
}

export interface BundleSecretsKeyProps {
  readonly admins: iam.IPrincipal[];
  /** SecretARN patterns (StringLike) of the bundle secrets. */
  readonly secretArnPatterns: string[];
  /** GetSecretValue: the function (and the break-glass role). */
  readonly readers: iam.IPrincipal[];
  /** PutSecretValue: the enroller (and the function's collateral refresh). */
  readonly writers: iam.IPrincipal[];
  /** CreateSecret with this key: CloudFormation's role. */
  readonly creators: iam.IPrincipal[];
}

/** The bundle secrets key: used only by Secrets Manager, on the caller's behalf. */
export class BundleSecretsKey extends Construct {
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: BundleSecretsKeyProps) {
    super(scope, id);
    // Secrets Manager's calls carry SecretARN and SecretVersionId in the context and arrive via
    // the service (aws-secrets-manager-docs security-encryption.md). aws:SourceVpce is never set
    // on them (the service calls KMS, not the endpoint), so it is not required here.
    const viaSecretsManager = {
      StringEquals: {
        'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com`,
        'kms:CallerAccount': Aws.ACCOUNT_ID,
      },
      StringLike: { 'kms:EncryptionContext:SecretARN': props.secretArnPatterns },
    };
    const statements = [
      keyAdministration(props.admins),
      new iam.PolicyStatement({
        sid: 'SecretsManagerReadBundles',
        principals: props.readers,
        actions: ['kms:Decrypt'],
        resources: ['*'],
        conditions: viaSecretsManager,
      }),
      // Every new version (PutSecretValue, and CreateSecret's first value) is a GenerateDataKey.
      new iam.PolicyStatement({
        sid: 'SecretsManagerWriteBundles',
        principals: [...props.writers, ...props.creators],
        actions: ['kms:GenerateDataKey'],
        resources: ['*'],
        conditions: viaSecretsManager,
      }),
      // Setting a secret's key (CreateSecret/UpdateSecret with KmsKeyId) makes Secrets Manager
      // check access with a Decrypt whose SecretVersionId is RequestToValidateKeyAccess; only
      // that Decrypt is granted to the creator, never a read of a real version.
      new iam.PolicyStatement({
        sid: 'SecretsManagerValidateKeyAccess',
        principals: props.creators,
        actions: ['kms:Decrypt'],
        resources: ['*'],
        conditions: {
          StringEquals: {
            ...viaSecretsManager.StringEquals,
            'kms:EncryptionContext:SecretVersionId': KEY_VALIDATION_VERSION_ID,
          },
          StringLike: viaSecretsManager.StringLike,
        },
      }),
    ];
    this.key = retainedKey(
      this,
      'contrast-autorecover: recovery bundle secrets (Secrets Manager only)',
      new iam.PolicyDocument({ statements }),
    );
  }
}

/** The operations key: logs, the alarm topic and the trail. Nothing secret is under it. */
export function createOpsKey(scope: Construct, admins: iam.IPrincipal[]): kms.Key {
  const ops = new Construct(scope, 'Ops');
  const statements = [
    keyAdministration(admins),
    new iam.PolicyStatement({
      sid: 'CloudWatchLogs',
      principals: [new iam.ServicePrincipal(`logs.${Aws.REGION}.amazonaws.com`)],
      actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      resources: ['*'],
      conditions: {
        ArnLike: {
          'kms:EncryptionContext:aws:logs:arn': `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:*`,
        },
      },
    }),
    // CloudWatch alarms publish to the encrypted alarm topic (EventBridge rules get their
    // statement from the SNS target itself).
    new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsToEncryptedTopic',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
      conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
    }),
  ];
  return retainedKey(
    ops,
    'contrast-autorecover: logs, alarm notifications, trail',
    new iam.PolicyDocument({ statements }),
  );
}
