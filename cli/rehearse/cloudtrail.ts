/**
 * Links the audit record of a recovery to its CloudTrail entries: the KMS Decrypt (and the
 * Secrets Manager GetSecretValue) whose `requestID` is a request id the function recorded
 * (CloudTrail LookupEvents on event history, by EventName, from the rehearsal's start). A
 * function that records no request ids is linked to its Decrypt by the encryption context
 * instead, and says so. LookupEvents is
 * limited to two requests a second per account and Region; the caller polls slowly.
 */
import { LookupEventsCommand, type CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { sameContext, trailEventOf, type TrailEvent } from '../../lambda/audit/trail.ts';

export interface TrailLink {
  by: 'request-id' | 'encryption-context';
  eventId: string;
  eventTime: string;
  requestId: string;
  principal: string;
  /** The entry's encryption context equals the audit record's. */
  contextMatches: boolean;
  keyArn?: string;
  vpcEndpointId?: string;
}

export async function findTrailEntry(
  client: CloudTrailClient,
  o: { eventName: string; since: number; requestIds: string[]; encryptionContext?: Record<string, string> },
): Promise<TrailLink | undefined> {
  const byContext: TrailEvent[] = [];
  let NextToken: string | undefined;
  do {
    const page = await client.send(
      new LookupEventsCommand({
        LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: o.eventName }],
        StartTime: new Date(o.since - 60_000),
        EndTime: new Date(),
        MaxResults: 50,
        ...(NextToken ? { NextToken } : {}),
      }),
    );
    for (const e of page.Events ?? []) {
      const t = trailEventOf(e);
      if (!t) continue;
      const link = (by: TrailLink['by']): TrailLink => ({
        by,
        eventId: t.eventID ?? e.EventId ?? '?',
        eventTime: t.eventTime ?? e.EventTime?.toISOString() ?? '?',
        requestId: t.requestID ?? '?',
        principal: t.userIdentity?.arn ?? e.Username ?? '?',
        contextMatches: sameContext(t.requestParameters?.encryptionContext, o.encryptionContext),
        ...((t.resources?.[0]?.ARN ?? t.requestParameters?.keyId)
          ? { keyArn: t.resources?.[0]?.ARN ?? t.requestParameters?.keyId }
          : {}),
        ...(t.vpcEndpointId ? { vpcEndpointId: t.vpcEndpointId } : {}),
      });
      if (t.requestID && o.requestIds.includes(t.requestID)) return link('request-id');
      // By context only from the rehearsal's start on (event times have one-second precision).
      const after = t.eventTime !== undefined && Date.parse(t.eventTime) >= o.since - 1_000;
      if (
        o.requestIds.length === 0 &&
        o.encryptionContext &&
        after &&
        !t.errorCode &&
        sameContext(t.requestParameters?.encryptionContext, o.encryptionContext)
      )
        byContext.push(t);
    }
    NextToken = page.NextToken;
  } while (NextToken);
  // Without ids: only an unambiguous match by context counts.
  if (byContext.length === 1) {
    const t = byContext[0]!;
    return {
      by: 'encryption-context',
      eventId: t.eventID ?? '?',
      eventTime: t.eventTime ?? '?',
      requestId: t.requestID ?? '?',
      principal: t.userIdentity?.arn ?? '?',
      contextMatches: true,
      ...(t.resources?.[0]?.ARN ? { keyArn: t.resources[0].ARN } : {}),
    };
  }
  return undefined;
}
