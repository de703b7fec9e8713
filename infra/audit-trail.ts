/**
 * The trail the side-door alarms and the audit depend on: multi-region with global service
 * events, so IAM and STS calls (logged in us-east-1) are seen too; management events include
 * every kms:Decrypt with its encryption context; Invoke data events name who invoked the
 * function. With an existing organization trail, nothing is created here.
 */
import { Aws, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as cloudtrail from 'aws-cdk-lib/aws-cloudtrail';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export class AuditTrail extends Construct {
  readonly trail: cloudtrail.Trail;

  readonly bucket: s3.Bucket;

  constructor(
    scope: Construct,
    id: string,
    props: { key: kms.Key; fn: lambda.IFunction; auditors?: iam.IPrincipal[] },
  ) {
    super(scope, id);
    const accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket receives the server access logs of the trail bucket; logging it into itself would loop.',
    });
    const bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      serverAccessLogsBucket: accessLogs,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    props.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudTrailEncryptLogs',
        principals: [new iam.ServicePrincipal('cloudtrail.amazonaws.com')],
        actions: ['kms:GenerateDataKey*', 'kms:DescribeKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );
    this.trail = new cloudtrail.Trail(this, 'Trail', {
      bucket,
      encryptionKey: props.key,
      enableFileValidation: true,
      includeGlobalServiceEvents: true,
      isMultiRegionTrail: true,
      managementEvents: cloudtrail.ReadWriteType.ALL,
    });
    this.bucket = bucket;
    // Readers of the log files. CloudTrail encrypts each file (SSE-KMS) with the encryption
    // context aws:cloudtrail:arn = the trail's ARN, and S3 decrypts on the reader's behalf, so
    // the reader needs kms:Decrypt under that context (AWS CloudTrail User Guide, "Configure AWS
    // KMS key policies for CloudTrail", granting decrypt permissions) — nothing else under the key.
    const auditors = props.auditors ?? [];
    if (auditors.length) {
      props.key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AuditorsDecryptTrailLogFiles',
          principals: auditors,
          actions: ['kms:Decrypt'],
          resources: ['*'],
          conditions: {
            StringLike: {
              'kms:EncryptionContext:aws:cloudtrail:arn': `arn:${Aws.PARTITION}:cloudtrail:*:${Aws.ACCOUNT_ID}:trail/*`,
            },
          },
        }),
      );
      for (const a of auditors) bucket.grantRead(a);
    }
    this.trail.addLambdaEventSelector([props.fn], {
      readWriteType: cloudtrail.ReadWriteType.ALL,
      includeManagementEvents: true,
    });
  }
}
