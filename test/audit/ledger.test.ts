/**
 * The reconciliation's rules one by one, on CloudTrail records in the shape of the KMS and
 * Secrets Manager developer guides' examples: who may read a bundle, Secrets Manager's own
 * Decrypt matched to its read, a secret-policy change, and a log group that could not be read.
 */
import { describe, expect, it } from 'vitest';
import { reconcileAudit, type AuditInput } from '../../lambda/audit/ledger.ts';
import type { TrailEvent } from '../../lambda/audit/trail.ts';

const A = '111122223333';
const targets = {
  functionRoleArn: `arn:aws:iam::${A}:role/service/fn-role`,
  recoveryKeyArn: `arn:aws:kms:eu-central-1:${A}:key/rk`,
  bundleKeyArn: `arn:aws:kms:eu-central-1:${A}:key/bk`,
  deployments: [
    { name: 'prod', secretArn: `arn:aws:secretsmanager:eu-central-1:${A}:secret:contrast-autorecover/prod-AbCdEf` },
  ],
};
const T0 = Date.parse('2026-12-01T10:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
let n = 0;
function ev(e: Partial<TrailEvent> & { by: string }): TrailEvent {
  const { by, ...rest } = e;
  n++;
  return {
    eventID: `ev-${n}`,
    requestID: `rq-${n}`,
    eventTime: at(n),
    userIdentity: { type: 'AssumedRole', arn: `arn:aws:sts::${A}:assumed-role/${by}/session` },
    ...rest,
  };
}
const input = (events: TrailEvent[], extra: Partial<AuditInput> = {}): AuditInput => ({
  targets,
  since: T0,
  until: T0 + 3_600_000,
  entries: [],
  events,
  recordsRead: true,
  secretEventsRead: true,
  ...extra,
});

describe('reconcileAudit', () => {
  it("matches Secrets Manager's own Decrypt to the function's read of that secret; a read without records is counted per day", () => {
    const read = ev({
      by: 'fn-role',
      eventSource: 'secretsmanager.amazonaws.com',
      eventName: 'GetSecretValue',
      requestParameters: { secretId: 'contrast-autorecover/prod' },
    });
    const smDecrypt = ev({
      by: 'fn-role',
      eventSource: 'kms.amazonaws.com',
      eventName: 'Decrypt',
      userIdentity: {
        arn: `arn:aws:sts::${A}:assumed-role/fn-role/session`,
        invokedBy: 'secretsmanager.amazonaws.com',
      },
      requestParameters: {
        keyId: targets.bundleKeyArn,
        encryptionContext: { SecretARN: targets.deployments[0]!.secretArn },
      },
    });
    const r = reconcileAudit(input([read, smDecrypt]));
    // The Decrypt is explained by the read; the read itself by no record.
    expect(r.findings.map((f) => [f.kind, f.eventId])).toEqual([['function-reads-unexplained', read.eventID]]);
    const audited = reconcileAudit(
      input([read, smDecrypt], {
        entries: [
          {
            type: 'audit-entry',
            kind: 'routine',
            at: T0 + 5_000,
            requestId: 'lambda-1',
            deployment: 'prod',
            outcome: 'already-healthy',
            message: '',
            steps: [],
            durationMs: 100,
            kmsRequestIds: [],
            secretsRequestIds: [read.requestID!],
          },
        ],
      }),
    );
    expect(audited.findings).toEqual([]);
    expect(audited.counts).toMatchObject({ bundleReadsByFunction: 1, bundleReadsExplained: 1, bundleKeyDecrypts: 1 });
  });

  it('a read by another principal, a bundle-key Decrypt by another principal, and a secret-policy change are unaccounted', () => {
    const r = reconcileAudit(
      input([
        ev({
          by: 'admin',
          eventSource: 'secretsmanager.amazonaws.com',
          eventName: 'GetSecretValue',
          requestParameters: { secretId: targets.deployments[0]!.secretArn },
        }),
        ev({
          by: 'admin',
          eventSource: 'kms.amazonaws.com',
          eventName: 'Decrypt',
          requestParameters: { keyId: targets.bundleKeyArn },
        }),
        ev({
          by: 'admin',
          eventSource: 'secretsmanager.amazonaws.com',
          eventName: 'PutResourcePolicy',
          requestParameters: { secretId: targets.deployments[0]!.secretArn },
        }),
        // Another secret: none of the audit's business.
        ev({
          by: 'admin',
          eventSource: 'secretsmanager.amazonaws.com',
          eventName: 'GetSecretValue',
          requestParameters: { secretId: 'other/secret' },
        }),
      ]),
    );
    expect(r.findings.map((f) => f.kind)).toEqual([
      'bundle-read-by-other-principal',
      'bundle-key-decrypt-by-other-principal',
      'policy-change',
    ]);
    expect(r.findings.every((f) => f.principal === `arn:aws:iam::${A}:role/admin`)).toBe(true);
  });

  it("without the audit records, the function's Decrypts are not called unaudited (the unread source is reported instead); others' still are", () => {
    const mine = ev({
      by: 'fn-role',
      eventSource: 'kms.amazonaws.com',
      eventName: 'Decrypt',
      requestParameters: { keyId: targets.recoveryKeyArn },
    });
    const theirs = ev({
      by: 'admin',
      eventSource: 'kms.amazonaws.com',
      eventName: 'Decrypt',
      requestParameters: { keyId: targets.recoveryKeyArn },
    });
    expect(reconcileAudit(input([mine, theirs])).findings.map((f) => f.eventId)).toEqual([
      mine.eventID,
      theirs.eventID,
    ]);
    expect(reconcileAudit(input([mine, theirs], { recordsRead: false })).findings.map((f) => f.eventId)).toEqual([
      theirs.eventID,
    ]);
  });
});
