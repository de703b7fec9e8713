/**
 * CloudTrail event history for tests: moto 5.2.1 has trails but no LookupEvents. This
 * stand-in records KMS and Secrets Manager calls as CloudTrail does and answers LookupEvents
 * over AWS JSON 1.1.
 *
 * - Records: `recordKmsCalls` adds a middleware to a KMS client that, after each call, stores
 *   an entry in the shape of the KMS developer guide's CloudTrail examples
 *   (awsdocs/aws-kms-developer-guide doc_source/ct-decrypt.md): eventSource
 *   `kms.amazonaws.com`, `requestParameters.encryptionContext`, `requestID` = the request id
 *   the service answered with, a fresh `eventID`, `readOnly`, the key in `resources`.
 *   Plaintext and ciphertext are never recorded, as in CloudTrail.
 * - LookupEvents (CloudTrail API reference): at most one lookup attribute, of EventId,
 *   EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource or AccessKeyId;
 *   MaxResults 1-50 (default 50); StartTime/EndTime inclusive; newest first; NextToken
 *   pages. `deliveryDelayMs` holds an entry back like CloudTrail's delivery delay.
 */
import { randomUUID } from 'node:crypto';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { awsJsonError, json, startStubServer, type StubServer } from './http.ts';

export interface CloudTrailRecord {
  eventVersion: string;
  userIdentity: { type: string; arn: string; accountId: string; principalId?: string; invokedBy?: string };
  eventTime: string;
  eventSource: string;
  eventName: string;
  awsRegion: string;
  sourceIPAddress: string;
  userAgent: string;
  requestParameters: Record<string, unknown> | null;
  responseElements: null;
  requestID: string;
  eventID: string;
  readOnly: boolean;
  resources?: { accountId: string; type: string; ARN: string }[];
  eventType: 'AwsApiCall';
  managementEvent: true;
  recipientAccountId: string;
  eventCategory: 'Management';
  errorCode?: string;
}

const LOOKUP_KEYS = [
  'EventId',
  'EventName',
  'ReadOnly',
  'Username',
  'ResourceType',
  'ResourceName',
  'EventSource',
  'AccessKeyId',
];
/** X-Amz-Target: `[com.amazonaws.cloudtrail.v20131101.]CloudTrail_20131101.<Operation>` (the SDK sends the short form). */
const TARGET = /^(?:com\.amazonaws\.cloudtrail\.v20131101\.)?CloudTrail_20131101\.(\w+)$/;

interface Stored {
  record: CloudTrailRecord;
  visibleAt: number;
}

export class CloudTrailStub {
  private readonly stored: Stored[] = [];
  private server: StubServer | undefined;
  /** How long a recorded call stays invisible to LookupEvents. */
  deliveryDelayMs = 0;

  constructor(
    readonly region = 'eu-central-1',
    readonly account = '123456789012',
  ) {}

  get endpoint(): string {
    if (!this.server) throw new Error('CloudTrailStub not started');
    return this.server.endpoint;
  }

  get records(): CloudTrailRecord[] {
    return this.stored.map((s) => s.record);
  }

  /** LookupEvents requests received (their JSON bodies). */
  get lookups(): Record<string, unknown>[] {
    return (this.server?.requests ?? []).map((r) => JSON.parse(r.body || '{}') as Record<string, unknown>);
  }

  record(record: CloudTrailRecord): void {
    this.stored.push({ record, visibleAt: Date.now() + this.deliveryDelayMs });
  }

  /** Records every call of this KMS client as CloudTrail would, made by `callerArn`. */
  recordKmsCalls(kms: KMSClient, callerArn: string): void {
    this.#recordCalls(kms, callerArn, 'kms.amazonaws.com', (eventName, input, output) => {
      const key = (output?.KeyId as string | undefined) ?? (input.KeyId as string | undefined);
      return {
        requestParameters: {
          encryptionAlgorithm: 'SYMMETRIC_DEFAULT',
          ...(key ? { keyId: key } : {}),
          ...(input.EncryptionContext ? { encryptionContext: input.EncryptionContext } : {}),
        },
        readOnly: ['Decrypt', 'GenerateDataKey', 'Encrypt', 'DescribeKey', 'GetKeyPolicy'].includes(eventName),
        ...(key?.startsWith('arn:')
          ? { resources: [{ accountId: this.account, type: 'AWS::KMS::Key', ARN: key }] }
          : {}),
      };
    });
  }

  /**
   * Records this Secrets Manager client's calls as CloudTrail does (eventSource
   * `secretsmanager.amazonaws.com`, `requestParameters.secretId`, the answer's request id;
   * never the secret's value).
   */
  recordSecretsManagerCalls(
    secrets: SecretsManagerClient,
    callerArn: string,
    o: { secretsKeyArn?: string } = {},
  ): void {
    this.#recordCalls(secrets, callerArn, 'secretsmanager.amazonaws.com', (eventName, input, output) => {
      // Secrets Manager decrypts the secret's data key with KMS for the caller: a Decrypt event of
      // its own (own request ID) made as the caller, invokedBy Secrets Manager, with the
      // encryption context SecretARN and SecretVersionId (AWS Secrets Manager User Guide, "Secret
      // encryption and decryption"). moto makes no such call, so the stand-in records it.
      if (eventName === 'GetSecretValue' && output && o.secretsKeyArn)
        this.#secretsManagerDecrypt(callerArn, o.secretsKeyArn, output);
      return {
        requestParameters: input.SecretId ? { secretId: input.SecretId } : null,
        readOnly: /^(Get|Describe|List)/.test(eventName),
      };
    });
  }

  #secretsManagerDecrypt(callerArn: string, keyArn: string, output: Record<string, unknown>): void {
    this.record({
      eventVersion: '1.08',
      userIdentity: {
        type: 'AssumedRole',
        arn: callerArn,
        accountId: this.account,
        invokedBy: 'secretsmanager.amazonaws.com',
      },
      eventTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      eventSource: 'kms.amazonaws.com',
      eventName: 'Decrypt',
      awsRegion: this.region,
      sourceIPAddress: 'secretsmanager.amazonaws.com',
      userAgent: 'secretsmanager.amazonaws.com',
      requestParameters: {
        encryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        keyId: keyArn,
        encryptionContext: { SecretARN: String(output.ARN), SecretVersionId: String(output.VersionId) },
      },
      responseElements: null,
      requestID: randomUUID(),
      eventID: randomUUID(),
      readOnly: true,
      resources: [{ accountId: this.account, type: 'AWS::KMS::Key', ARN: keyArn }],
      eventType: 'AwsApiCall',
      managementEvent: true,
      recipientAccountId: this.account,
      eventCategory: 'Management',
    });
  }

  /** One CloudTrail record per call of `client`, with the service's own fields from `fields`. */
  #recordCalls(
    client: KMSClient | SecretsManagerClient,
    callerArn: string,
    eventSource: string,
    fields: (
      eventName: string,
      input: Record<string, unknown>,
      output: Record<string, unknown> | undefined,
    ) => Pick<CloudTrailRecord, 'requestParameters' | 'readOnly' | 'resources'>,
  ): void {
    (client.middlewareStack as KMSClient['middlewareStack']).add(
      (next, context) => async (args) => {
        const input = args.input as Record<string, unknown>;
        let errorCode: string | undefined;
        let requestId: string | undefined;
        let output: Record<string, unknown> | undefined;
        try {
          const out = await next(args);
          output = out.output as unknown as Record<string, unknown>;
          requestId = (output.$metadata as { requestId?: string } | undefined)?.requestId;
          return out;
        } catch (err) {
          errorCode = (err as { name?: string }).name;
          requestId = (err as { $metadata?: { requestId?: string } }).$metadata?.requestId;
          throw err;
        } finally {
          const eventName = context.commandName?.replace(/Command$/, '') ?? 'Unknown';
          this.record({
            eventVersion: '1.08',
            userIdentity: { type: 'AssumedRole', arn: callerArn, accountId: this.account },
            eventTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
            eventSource,
            eventName,
            awsRegion: this.region,
            sourceIPAddress: '10.0.0.10',
            userAgent: 'aws-sdk-js',
            responseElements: null,
            requestID: requestId ?? randomUUID(),
            eventID: randomUUID(),
            eventType: 'AwsApiCall',
            managementEvent: true,
            recipientAccountId: this.account,
            eventCategory: 'Management',
            ...fields(eventName, input, output),
            ...(errorCode ? { errorCode } : {}),
          });
        }
      },
      { step: 'initialize', name: 'cloudTrailRecorder' },
    );
  }

  async start(): Promise<this> {
    this.server = await startStubServer((req) => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const op = TARGET.exec(target)?.[1];
      if (!op) return awsJsonError(400, 'UnknownOperationException', `unknown target ${target}`);
      if (op !== 'LookupEvents')
        return awsJsonError(400, 'UnknownOperationException', `the stand-in answers LookupEvents only, not ${op}`);
      return this.lookupEvents(JSON.parse(req.body || '{}') as LookupInput);
    });
    return this;
  }

  async close(): Promise<void> {
    await this.server?.close();
  }

  private lookupEvents(input: LookupInput) {
    const attrs = input.LookupAttributes ?? [];
    if (attrs.length > 1)
      return awsJsonError(400, 'InvalidLookupAttributesException', 'Only one lookup attribute is allowed.');
    const attr = attrs[0];
    if (attr && !LOOKUP_KEYS.includes(attr.AttributeKey))
      return awsJsonError(400, 'InvalidLookupAttributesException', `Invalid attribute key ${attr.AttributeKey}.`);
    const max = input.MaxResults ?? 50;
    if (!Number.isInteger(max) || max < 1 || max > 50)
      return awsJsonError(400, 'InvalidMaxResultsException', 'MaxResults must be between 1 and 50.');
    // The SDK sends timestamps as epoch seconds.
    const start = input.StartTime !== undefined ? input.StartTime * 1000 : -Infinity;
    const end = input.EndTime !== undefined ? input.EndTime * 1000 : Infinity;
    if (start > end) return awsJsonError(400, 'InvalidTimeRangeException', 'StartTime is after EndTime.');
    const now = Date.now();
    const matching = this.stored
      .filter((s) => s.visibleAt <= now)
      .map((s) => s.record)
      .filter((r) => {
        const t = Date.parse(r.eventTime);
        return t >= start && t <= end && (!attr || attributeOf(r, attr.AttributeKey).includes(attr.AttributeValue));
      })
      .sort((a, b) => Date.parse(b.eventTime) - Date.parse(a.eventTime));
    const from = input.NextToken ? Number(Buffer.from(input.NextToken, 'base64url').toString()) : 0;
    if (!Number.isInteger(from) || from < 0)
      return awsJsonError(400, 'InvalidNextTokenException', 'Invalid NextToken.');
    const page = matching.slice(from, from + max);
    return json(200, {
      Events: page.map((r) => ({
        EventId: r.eventID,
        EventName: r.eventName,
        ReadOnly: String(r.readOnly),
        EventTime: Date.parse(r.eventTime) / 1000,
        EventSource: r.eventSource,
        Username: r.userIdentity.arn.split('/').pop(),
        Resources: (r.resources ?? []).map((x) => ({ ResourceType: x.type, ResourceName: x.ARN })),
        CloudTrailEvent: JSON.stringify(r),
      })),
      ...(from + max < matching.length ? { NextToken: Buffer.from(String(from + max)).toString('base64url') } : {}),
    });
  }
}

interface LookupInput {
  LookupAttributes?: { AttributeKey: string; AttributeValue: string }[];
  StartTime?: number;
  EndTime?: number;
  MaxResults?: number;
  NextToken?: string;
}

function attributeOf(r: CloudTrailRecord, key: string): string[] {
  switch (key) {
    case 'EventId':
      return [r.eventID];
    case 'EventName':
      return [r.eventName];
    case 'ReadOnly':
      return [String(r.readOnly)];
    case 'Username':
      return [r.userIdentity.arn.split('/').pop() ?? ''];
    case 'ResourceType':
      return (r.resources ?? []).map((x) => x.type);
    case 'ResourceName':
      return (r.resources ?? []).map((x) => x.ARN);
    case 'EventSource':
      return [r.eventSource];
    default:
      return [];
  }
}
