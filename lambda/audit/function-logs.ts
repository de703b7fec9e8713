/**
 * Reads the function's records from its CloudWatch Logs group (FilterLogEvents, paged,
 * deduplicated by event id): `FunctionLogs` follows a rehearsal from its start, and
 * `readAuditEntries` reads every audit record of a window for `audit`. The JSON filter
 * pattern keeps the answer small; records are checked again here, so a log group without JSON
 * lines or a service that ignores the pattern gives the same result.
 */
import {
  FilterLogEventsCommand,
  type CloudWatchLogsClient,
  type FilteredLogEvent,
} from '@aws-sdk/client-cloudwatch-logs';
import { OPERATIONS } from '../shared/contract.ts';
import { parseAuditEntry, parseFunctionRecord, type AuditEntry, type FunctionRecord } from './records.ts';

const PATTERN = `{ ($.message = "${OPERATIONS.logMessages.triggerAccepted}") || ($.message = "${OPERATIONS.logMessages.audit}") }`;
const AUDIT_PATTERN = `{ $.message = "${OPERATIONS.logMessages.audit}" }`;

/** Every event of the window, page by page (`onPage` after each: progress on long windows). */
async function filterAll(
  client: CloudWatchLogsClient,
  o: {
    logGroup: string;
    since: number;
    until?: number;
    pattern: string;
    /** Events per page (default: as many as the service sends, up to 10,000). */
    pageSize?: number;
    onPage?: (events: number) => void;
    abortSignal?: AbortSignal;
  },
  each: (e: FilteredLogEvent) => void,
): Promise<void> {
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new FilterLogEventsCommand({
        logGroupName: o.logGroup,
        startTime: o.since,
        ...(o.until !== undefined ? { endTime: o.until } : {}),
        filterPattern: o.pattern,
        ...(o.pageSize ? { limit: o.pageSize } : {}),
        ...(nextToken ? { nextToken } : {}),
      }),
      o.abortSignal ? { abortSignal: o.abortSignal } : {},
    );
    for (const e of page.events ?? []) each(e);
    o.onPage?.(page.events?.length ?? 0);
    nextToken = page.nextToken;
  } while (nextToken);
}

export class FunctionLogs {
  private readonly seen = new Set<string>();

  constructor(
    private readonly client: CloudWatchLogsClient,
    private readonly logGroup: string,
    private readonly since: number,
  ) {}

  /** Records not returned before, oldest first. */
  async poll(): Promise<FunctionRecord[]> {
    const out: FunctionRecord[] = [];
    await filterAll(this.client, { logGroup: this.logGroup, since: this.since, pattern: PATTERN }, (e) => {
      const id = e.eventId ?? `${e.logStreamName} ${e.timestamp} ${e.message}`;
      if (this.seen.has(id)) return;
      this.seen.add(id);
      const r = e.message ? parseFunctionRecord(e.message, e.timestamp ?? Date.now()) : undefined;
      if (r) out.push(r);
    });
    return out.sort((a, b) => a.at - b.at);
  }
}

/** Every audit record logged in [since, until] (ms), oldest first. */
export async function readAuditEntries(
  client: CloudWatchLogsClient,
  o: {
    logGroup: string;
    since: number;
    until: number;
    pageSize?: number;
    onPage?: (events: number) => void;
    abortSignal?: AbortSignal;
  },
): Promise<AuditEntry[]> {
  const seen = new Set<string>();
  const out: AuditEntry[] = [];
  await filterAll(client, { ...o, pattern: AUDIT_PATTERN }, (e) => {
    const id = e.eventId ?? `${e.logStreamName} ${e.timestamp} ${e.message}`;
    if (seen.has(id)) return;
    seen.add(id);
    const r = e.message ? parseAuditEntry(e.message, e.timestamp ?? Date.now()) : undefined;
    if (r) out.push(r);
  });
  return out.sort((a, b) => a.at - b.at);
}
