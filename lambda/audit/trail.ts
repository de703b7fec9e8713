/**
 * CloudTrail event history (LookupEvents), as the audit and `rehearse` read it. LookupEvents
 * holds the last 90 days of management events of one Region, takes one lookup attribute per
 * request, answers at most 50 events a page, and is limited to two requests a second per
 * account and Region (AWS CloudTrail API Reference, LookupEvents): the reader pages with
 * NextToken and waits `minIntervalMs` between requests. Data events (Lambda `Invoke`) are
 * not in event history: they are only in the trail's S3 files (Athena, CloudTrail Lake).
 *
 * Each entry's `CloudTrailEvent` is the record as the trail writes it (AWS CloudTrail User
 * Guide, "CloudTrail record contents"): `requestID` is the ID the service answered the call
 * with, `userIdentity` the caller (for an assumed role, `sessionContext.sessionIssuer.arn`
 * names the role; `invokedBy` the service acting for it), `requestParameters` what was asked
 * — for KMS `keyId` and `encryptionContext` (never plaintext or ciphertext), for Secrets
 * Manager `secretId` (never the value).
 */
import { LookupEventsCommand, type CloudTrailClient } from '@aws-sdk/client-cloudtrail';

/** One CloudTrail record, as far as the audit reads it. */
export interface TrailEvent {
  eventID?: string;
  eventTime?: string;
  eventSource?: string;
  eventName?: string;
  requestID?: string;
  userIdentity?: {
    type?: string;
    arn?: string;
    invokedBy?: string;
    sessionContext?: { sessionIssuer?: { arn?: string } };
  };
  requestParameters?: {
    encryptionContext?: Record<string, string>;
    keyId?: string;
    secretId?: string;
  } | null;
  resources?: { ARN?: string }[];
  vpcEndpointId?: string;
  errorCode?: string;
  sourceIPAddress?: string;
}

export const LOOKUP_DAYS = 90;
/** LookupEvents: two requests a second per account and Region. */
export const LOOKUP_INTERVAL_MS = 500;

export type LookupAttribute = { key: 'EventName' | 'ResourceName' | 'EventSource'; value: string };

/** The record of an event-history entry; undefined when it is not JSON. */
export function trailEventOf(e: {
  CloudTrailEvent?: string;
  EventId?: string;
  EventTime?: Date;
}): TrailEvent | undefined {
  let t: TrailEvent;
  try {
    t = JSON.parse(e.CloudTrailEvent ?? '{}') as TrailEvent;
  } catch {
    return undefined;
  }
  return {
    ...t,
    ...(t.eventID === undefined && e.EventId ? { eventID: e.EventId } : {}),
    ...(t.eventTime === undefined && e.EventTime ? { eventTime: e.EventTime.toISOString() } : {}),
  };
}

export function sameContext(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  if (!a || !b) return false;
  const ka = Object.keys(a).sort();
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

/**
 * The IAM role behind a caller: the session issuer, else the role of an assumed-role ARN
 * (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION` → `arn:aws:iam::ACCOUNT:role/NAME`; the
 * role's path is not in that ARN, so roles compare by account and name), else the ARN.
 */
export function principalOf(t: TrailEvent): string {
  const issuer = t.userIdentity?.sessionContext?.sessionIssuer?.arn;
  if (issuer) return issuer;
  const arn = t.userIdentity?.arn ?? '?';
  const m = /^arn:([^:]+):sts::(\d+):assumed-role\/([^/]+)\/.*$/.exec(arn);
  return m ? `arn:${m[1]}:iam::${m[2]}:role/${m[3]}` : arn;
}

/** Whether two role ARNs name one role (by partition, account and name; paths aside). */
export function sameRole(a: string, b: string): boolean {
  const norm = (arn: string) => {
    const m = /^arn:([^:]+):iam::(\d+):role\/(?:.*\/)?([^/]+)$/.exec(arn);
    return m ? `${m[1]}:${m[2]}:${m[3]}` : arn;
  };
  return norm(a) === norm(b);
}

/** Every event of [start, end] with this attribute, newest first, paged and paced. */
export async function lookupAll(
  client: CloudTrailClient,
  o: {
    attribute: LookupAttribute;
    start: number;
    end: number;
    minIntervalMs?: number;
    /** Events per page, 1-50 (default 50, the most LookupEvents answers). */
    pageSize?: number;
    onPage?: (events: number) => void;
    abortSignal?: AbortSignal;
  },
): Promise<TrailEvent[]> {
  const out: TrailEvent[] = [];
  const interval = o.minIntervalMs ?? LOOKUP_INTERVAL_MS;
  let NextToken: string | undefined;
  let last = 0;
  do {
    const wait = last + interval - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    last = Date.now();
    const page = await client.send(
      new LookupEventsCommand({
        LookupAttributes: [{ AttributeKey: o.attribute.key, AttributeValue: o.attribute.value }],
        StartTime: new Date(o.start),
        EndTime: new Date(o.end),
        MaxResults: o.pageSize ?? 50,
        ...(NextToken ? { NextToken } : {}),
      }),
      o.abortSignal ? { abortSignal: o.abortSignal } : {},
    );
    for (const e of page.Events ?? []) {
      const t = trailEventOf(e);
      if (t) out.push(t);
    }
    o.onPage?.(page.Events?.length ?? 0);
    NextToken = page.NextToken;
  } while (NextToken);
  return out;
}
