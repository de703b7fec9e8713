/**
 * One audit run, for the CLI (`contrast-autorecover audit`) and the scheduled audit function
 * alike: reads each source — the audit records (CloudWatch Logs) and the CloudTrail event
 * history of the recovery key, the bundle-secrets key and Secrets Manager — one after the
 * other (LookupEvents allows two requests a second), each bounded by its own time limit,
 * then reconciles them (ledger.ts). A source that cannot be read is named with the reason,
 * and the run never says "all accounted for" then.
 */
import type { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { errorMessage } from '../shared/errors.ts';
import { readAuditEntries } from './function-logs.ts';
import { reconcileAudit, type AuditResult, type AuditTargets } from './ledger.ts';
import type { AuditEntry } from './records.ts';
import { LOOKUP_DAYS, lookupAll, type LookupAttribute, type TrailEvent } from './trail.ts';

/** CloudTrail delivers an event within about 5 minutes on average, not guaranteed: the default window ends this long before now. */
export const DELIVERY_MARGIN_MS = 30 * 60_000;
/** Audit records are read this far beyond the window: a record is written after its Decrypt (an interrupted attempt's much later). */
const RECORD_MARGIN_MS = 2 * 3_600_000;
const SECRETS_MANAGER = 'secretsmanager.amazonaws.com';

export interface AuditSources {
  logs: CloudWatchLogsClient;
  cloudtrail: CloudTrailClient;
  /** The recovery function's log group. */
  logGroup: string;
}

export interface AuditRunOptions {
  targets: AuditTargets;
  deployment?: string;
  since: number;
  until: number;
  /** Each source gives up after this long (default 5 minutes). */
  sourceTimeoutMs?: number;
  /** Pause between LookupEvents requests (default: two a second). */
  lookupIntervalMs?: number;
  /** Events per page of each source (tests page through few events). */
  pageSize?: number;
  /** Progress on long windows: one call per page read. */
  progress?: (message: string) => void;
}

export interface UnreadableSource {
  source: string;
  reason: string;
}

export interface AuditReport extends AuditResult {
  since: string;
  until: string;
  unreadable: UnreadableSource[];
  /** True only when every source was read and nothing is unaccounted. */
  allAccounted: boolean;
}

class SourceTimeout extends Error {}

/** `read(signal)` within `ms`; a timeout aborts the request and rejects by name. */
async function bounded<T>(ms: number, read: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new SourceTimeout(`no complete answer within ${Math.round(ms / 1000)} s`));
    }, ms);
  });
  try {
    return await Promise.race([read(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function runAudit(sources: AuditSources, o: AuditRunOptions): Promise<AuditReport> {
  const timeoutMs = o.sourceTimeoutMs ?? 5 * 60_000;
  const unreadable: UnreadableSource[] = [];
  const progress = o.progress ?? (() => undefined);
  const oldest = Date.now() - LOOKUP_DAYS * 86_400_000;

  async function source<T>(name: string, read: (signal: AbortSignal) => Promise<T>): Promise<T | undefined> {
    try {
      return await bounded(timeoutMs, read);
    } catch (err) {
      unreadable.push({ source: name, reason: err instanceof SourceTimeout ? err.message : errorMessage(err) });
      progress(`✘ ${name}: could not be read`);
      return undefined;
    }
  }

  const pages = (name: string) => {
    let n = 0;
    let events = 0;
    return (count: number) => {
      n++;
      events += count;
      if (n % 10 === 0) progress(`  ${name}: ${events} events so far (${n} pages)`);
    };
  };

  progress(`reading audit records from ${sources.logGroup}`);
  const entries: AuditEntry[] | undefined = await source(`CloudWatch Logs ${sources.logGroup}`, (signal) =>
    readAuditEntries(sources.logs, {
      logGroup: sources.logGroup,
      since: o.since - RECORD_MARGIN_MS,
      until: Math.min(o.until + RECORD_MARGIN_MS, Date.now()),
      ...(o.pageSize ? { pageSize: o.pageSize } : {}),
      onPage: pages('audit records'),
      abortSignal: signal,
    }),
  );

  if (o.since < oldest)
    unreadable.push({
      source: 'CloudTrail event history',
      reason: `holds ${LOOKUP_DAYS} days; before ${new Date(oldest).toISOString()} query the trail's S3 files (Athena or CloudTrail Lake)`,
    });
  const trail = async (name: string, attribute: LookupAttribute): Promise<TrailEvent[] | undefined> => {
    progress(`reading CloudTrail: ${name}`);
    return source(`CloudTrail event history (${name})`, (signal) =>
      lookupAll(sources.cloudtrail, {
        attribute,
        start: Math.max(o.since, oldest),
        end: o.until,
        ...(o.lookupIntervalMs !== undefined ? { minIntervalMs: o.lookupIntervalMs } : {}),
        ...(o.pageSize ? { pageSize: o.pageSize } : {}),
        onPage: pages(name),
        abortSignal: signal,
      }),
    );
  };
  const recoveryKey = await trail('recovery key', { key: 'ResourceName', value: o.targets.recoveryKeyArn });
  const bundleKey = await trail('bundle-secrets key', { key: 'ResourceName', value: o.targets.bundleKeyArn });
  const secrets = await trail('Secrets Manager', { key: 'EventSource', value: SECRETS_MANAGER });

  const result = reconcileAudit({
    targets: o.targets,
    ...(o.deployment ? { deployment: o.deployment } : {}),
    since: o.since,
    until: o.until,
    entries: entries ?? [],
    events: [...(recoveryKey ?? []), ...(bundleKey ?? []), ...(secrets ?? [])],
    recordsRead: entries !== undefined,
    secretEventsRead: secrets !== undefined,
  });
  return {
    since: new Date(o.since).toISOString(),
    until: new Date(o.until).toISOString(),
    ...result,
    unreadable,
    allAccounted: unreadable.length === 0 && result.findings.length === 0,
  };
}
