/**
 * The AWS request IDs of one reconcile's KMS and Secrets Manager calls, for its audit record:
 * CloudTrail records each call with the same ID in `requestID` (the ID the service returns
 * in `x-amzn-RequestId`; AWS CloudTrail User Guide, "CloudTrail record contents"), so an
 * auditor ties one recovery to its CloudTrail entries by ID, not by time.
 *
 * One middleware per client records every attempt (retries are separate CloudTrail entries)
 * into the log of the reconcile it runs for (AsyncLocalStorage), so concurrent reconciles in
 * one container never mix their IDs. An attempt that got no answer has no ID; it is recorded
 * with its error, since it may still have reached the service.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export type AwsService = 'kms' | 'secretsmanager';

export interface AwsRequestRecord {
  service: AwsService;
  operation: string;
  requestId?: string;
  /** The error's name when the attempt failed (TimeoutError: maybe reached the service). */
  error?: string;
}

/** At most this many records per reconcile (retries included): enough for any real run. */
const MAX_RECORDS = 32;

const current = new AsyncLocalStorage<AwsRequestRecord[]>();
const instrumented = new WeakSet<object>();

interface MiddlewareClient {
  middlewareStack: { add(middleware: unknown, options: Record<string, unknown>): void };
}

/** Records the request IDs of the client's calls (once per client object). */
export function recordRequestIds<C extends MiddlewareClient>(client: C, service: AwsService): C {
  if (instrumented.has(client)) return client;
  instrumented.add(client);
  const middleware =
    (next: (args: unknown) => Promise<{ output: unknown }>, context: { commandName?: string }) =>
    async (args: unknown) => {
      const log = current.getStore();
      if (!log) return next(args);
      const operation = (context.commandName ?? 'unknown').replace(/Command$/, '');
      try {
        const out = await next(args);
        push(log, { service, operation, requestId: metadataOf(out.output)?.requestId });
        return out;
      } catch (err) {
        push(log, {
          service,
          operation,
          requestId: metadataOf(err)?.requestId,
          error: (err as { name?: string })?.name ?? 'Error',
        });
        throw err;
      }
    };
  // In the deserialize step, inside the retry middleware: every attempt passes here.
  client.middlewareStack.add(middleware, {
    step: 'deserialize',
    priority: 'high',
    name: 'contrastAutorecoverRequestIds',
  });
  return client;
}

function metadataOf(value: unknown): { requestId?: string } | undefined {
  return (value as { $metadata?: { requestId?: string } } | undefined)?.$metadata;
}

function push(log: AwsRequestRecord[], record: AwsRequestRecord): void {
  if (log.length >= MAX_RECORDS) return;
  if (record.requestId === undefined) delete record.requestId;
  log.push(record);
}

/** Runs fn with a fresh request log; the log fills while fn's calls run. */
export function collectRequestIds<T>(fn: () => Promise<T>): { log: AwsRequestRecord[]; done: Promise<T> } {
  const log: AwsRequestRecord[] = [];
  return { log, done: current.run(log, fn) };
}

/** The records of one service, without the service field (the audit record groups by service). */
export function requestsOf(log: readonly AwsRequestRecord[], service: AwsService): Omit<AwsRequestRecord, 'service'>[] {
  return log.filter((r) => r.service === service).map(({ service: _s, ...rest }) => rest);
}
