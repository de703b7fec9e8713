/**
 * The recovery key: the KMS key that envelope-encrypts each deployment's seed-share-owner key
 * and that Secrets Manager uses for the secrets holding the recovery bundles.
 *
 * The key policy is the whole authorisation story (no statement trusts IAM identity policies
 * for cryptographic use, so an account administrator cannot grant themselves Decrypt through
 * IAM alone; changing the key policy is a CloudTrail-audited PutKeyPolicy):
 *
 * - `KeyAdministration`: the administrators may manage the key, never use it.
 * - `FunctionDecryptOwnerKey` / `BreakGlassDecryptOwnerKey`: kms:Decrypt only with the
 *   encryption context the function uses — `contrast-autorecover:deployment` one of the
 *   configured deployments, `contrast-autorecover:purpose` = `seedshare-owner-key`, and a
 *   `contrast-autorecover:bundle-sha256` present (binds the manifest to the ciphertext).
 * - `EnrollerEncryptOwnerKey`: kms:GenerateDataKey / kms:Encrypt for the enroller role, bound
 *   to the same context.
 * - `SecretsManagerDecrypt`: kms:Decrypt that Secrets Manager performs on the reader's behalf,
 *   only via secretsmanager.<region> and only for the stack's secrets (SecretARN context).
 * - `SecretsManagerEncrypt`: kms:GenerateDataKey via Secrets Manager for the same secrets (the
 *   enroller's PutSecretValue, and CloudFormation creating the secrets' non-secret placeholder).
 */
import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { CONTEXT_KEYS, OWNER_KEY_PURPOSE } from '../lambda/shared/contract.ts';

/** Encryption context keys the function sends with every kms:Decrypt of an owner key. */

/**
 * Administrative actions only: no Encrypt/Decrypt/GenerateDataKey/ReEncrypt/CreateGrant.
 * No `kms:Create*`: it would include CreateGrant, and a grant can hand out Decrypt without
 * the encryption-context conditions of the key policy.
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

export interface RecoveryKeyProps {
  /** Deployment names: the only values accepted for `contrast-autorecover:deployment`. */
  readonly deploymentNames: string[];
  /** Role of the recovery function (Decrypt with context; Decrypt via Secrets Manager). */
  readonly functionRole: iam.IRole;
  /** Role used by `contrast-autorecover enroll` (GenerateDataKey/Encrypt with context). */
  readonly enrollerRole: iam.IRole;
  /** Optional break-glass role (same decrypt rights as the function). */
  readonly breakGlassRole?: iam.IRole;
  /** SecretARN patterns (StringLike) of the secrets encrypted with this key. */
  readonly secretArnPatterns: string[];
  /** Principals that administer the key (default: the account, i.e. IAM decides who). */
  readonly admins?: iam.IPrincipal[];
}

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

export class RecoveryKey extends Construct {
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: RecoveryKeyProps) {
    super(scope, id);
    // CDK v2 uses a given key policy exactly as written (no implicit root kms:* statement).

    const viaSecretsManager = `secretsmanager.${Aws.REGION}.amazonaws.com`;
    const readers: iam.IPrincipal[] = [props.functionRole];
    if (props.breakGlassRole) readers.push(props.breakGlassRole);

    const policy = new iam.PolicyDocument({
      statements: [
        new iam.PolicyStatement({
          sid: 'KeyAdministration',
          principals: props.admins ?? [new iam.AccountRootPrincipal()],
          actions: KEY_ADMIN_ACTIONS,
          resources: ['*'],
        }),
        new iam.PolicyStatement({
          sid: 'FunctionDecryptOwnerKey',
          principals: [props.functionRole],
          actions: ['kms:Decrypt'],
          resources: ['*'],
          conditions: ownerKeyContextConditions(props.deploymentNames),
        }),
        ...(props.breakGlassRole
          ? [
              new iam.PolicyStatement({
                sid: 'BreakGlassDecryptOwnerKey',
                principals: [props.breakGlassRole],
                actions: ['kms:Decrypt'],
                resources: ['*'],
                conditions: ownerKeyContextConditions(props.deploymentNames),
              }),
            ]
          : []),
        new iam.PolicyStatement({
          sid: 'EnrollerEncryptOwnerKey',
          principals: [props.enrollerRole],
          actions: ['kms:GenerateDataKey', 'kms:Encrypt'],
          resources: ['*'],
          conditions: ownerKeyContextConditions(props.deploymentNames),
        }),
        new iam.PolicyStatement({
          sid: 'EnrollerDescribeKey',
          principals: [props.enrollerRole],
          actions: ['kms:DescribeKey'],
          resources: ['*'],
        }),
        new iam.PolicyStatement({
          sid: 'SecretsManagerDecrypt',
          principals: readers,
          actions: ['kms:Decrypt'],
          resources: ['*'],
          conditions: {
            StringEquals: { 'kms:ViaService': viaSecretsManager, 'kms:CallerAccount': Aws.ACCOUNT_ID },
            StringLike: { 'kms:EncryptionContext:SecretARN': props.secretArnPatterns },
          },
        }),
        new iam.PolicyStatement({
          sid: 'SecretsManagerEncrypt',
          // The enroller's PutSecretValue, and CloudFormation (an account identity) creating the
          // secret with its fixed, non-secret placeholder. Encrypting under the SecretARN
          // context cannot produce an owner-key envelope (that needs the contrast context).
          principals: [props.enrollerRole, new iam.AccountRootPrincipal()],
          actions: ['kms:GenerateDataKey'],
          resources: ['*'],
          conditions: {
            StringEquals: { 'kms:ViaService': viaSecretsManager, 'kms:CallerAccount': Aws.ACCOUNT_ID },
            StringLike: { 'kms:EncryptionContext:SecretARN': props.secretArnPatterns },
          },
        }),
      ],
    });

    this.key = new kms.Key(this, 'Key', {
      description: 'contrast-autorecover: seed-share-owner keys and recovery bundle secrets',
      enableKeyRotation: true,
      pendingWindow: Duration.days(30),
      removalPolicy: RemovalPolicy.RETAIN,
      policy,
    });
  }
}
