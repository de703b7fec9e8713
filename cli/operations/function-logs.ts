/**
 * Reads the function's records from its CloudWatch Logs group since the rehearsal began
 * (FilterLogEvents, paged, deduplicated by event id). The JSON filter pattern keeps the
 * answer small; records are checked again here, so a log group without JSON lines or a
 * service that ignores the pattern gives the same result.
 */
import { FilterLogEventsCommand, type CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { OPERATIONS } from '../../lambda/shared/contract.ts';
import { parseFunctionRecord, type FunctionRecord } from './records.ts';

const PATTERN = `{ ($.message = "${OPERATIONS.logMessages.triggerAccepted}") || ($.message = "${OPERATIONS.logMessages.audit}") }`;

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
    let nextToken: string | undefined;
    do {
      const page = await this.client.send(
        new FilterLogEventsCommand({
          logGroupName: this.logGroup,
          startTime: this.since,
          filterPattern: PATTERN,
          ...(nextToken ? { nextToken } : {}),
        }),
      );
      for (const e of page.events ?? []) {
        const id = e.eventId ?? `${e.logStreamName} ${e.timestamp} ${e.message}`;
        if (this.seen.has(id)) continue;
        this.seen.add(id);
        const r = e.message ? parseFunctionRecord(e.message, e.timestamp ?? Date.now()) : undefined;
        if (r) out.push(r);
      }
      nextToken = page.nextToken;
    } while (nextToken);
    return out.sort((a, b) => a.at - b.at);
  }
}
