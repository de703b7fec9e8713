/**
 * The scheduled audit function (infra/audit-schedule.ts, off by default): the same run as
 * `contrast-autorecover audit` (run.ts) over the last two intervals ending 30 minutes before
 * now — so each window overlaps the previous run's, and an event CloudTrail delivered late is
 * still seen — then, per unaccounted use, a result event carrying its CloudTrail event ID,
 * and the metrics the alarms watch (EMF). A use seen by two runs is reported twice, with the
 * same event ID: consumers deduplicate by it. A bundle of its own: the recovery function's
 * cold start does not change.
 */
import { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { AUDIT_ENV, ENV, EVENTS, METRIC, METRICS_NAMESPACE, SERVICE_NAME } from '../shared/contract.ts';
import { errorMessage } from '../shared/errors.ts';
import type { AuditTargets, Finding } from './ledger.ts';
import { DELIVERY_MARGIN_MS, runAudit, type AuditReport, type AuditSources } from './run.ts';

export interface AuditHandlerDeps {
  env?: Record<string, string | undefined>;
  sources?: Omit<AuditSources, 'logGroup'>;
  events?: EventBridgeClient;
  logger?: Logger;
  metrics?: Metrics;
  now?: () => number;
  lookupIntervalMs?: number;
}

interface AuditConfig {
  targets: AuditTargets;
  logGroup: string;
  intervalMs: number;
  busName: string;
  source: string;
}

function configOf(env: Record<string, string | undefined>): AuditConfig {
  const need = (name: string) => {
    const v = env[name];
    if (!v) throw new Error(`${name} is not set: deploy the stack's audit schedule (infra/audit-schedule.ts)`);
    return v;
  };
  const minutes = Number(need(AUDIT_ENV.intervalMinutes));
  if (!Number.isInteger(minutes) || minutes <= 0) throw new Error(`${AUDIT_ENV.intervalMinutes} must be whole minutes`);
  return {
    targets: JSON.parse(need(AUDIT_ENV.targets)) as AuditTargets,
    logGroup: need(AUDIT_ENV.logGroup),
    intervalMs: minutes * 60_000,
    busName: need(ENV.eventBus),
    source: env[ENV.resultEventSource] ?? EVENTS.resultSource,
  };
}

function findingDetail(f: Finding, report: AuditReport): Record<string, unknown> {
  return {
    kind: f.kind,
    cloudTrailEventId: f.eventId,
    eventTime: f.eventTime,
    eventName: f.eventName,
    principal: f.principal,
    ...(f.deployment ? { deployment: f.deployment } : {}),
    detail: f.detail,
    window: { since: report.since, until: report.until },
  };
}

export function createAuditHandler(deps: AuditHandlerDeps = {}) {
  const env = deps.env ?? process.env;
  const logger = deps.logger ?? new Logger({ serviceName: `${SERVICE_NAME}-audit` });
  const metrics = deps.metrics ?? new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
  let clients: { sources: Omit<AuditSources, 'logGroup'>; events: EventBridgeClient } | undefined;

  return async (): Promise<{ findings: number; unreadable: number; since: string; until: string }> => {
    const config = configOf(env);
    clients ??= {
      sources: deps.sources ?? { logs: new CloudWatchLogsClient({}), cloudtrail: new CloudTrailClient({}) },
      events: deps.events ?? new EventBridgeClient({}),
    };
    const until = (deps.now ?? Date.now)() - DELIVERY_MARGIN_MS;
    const report = await runAudit(
      { ...clients.sources, logGroup: config.logGroup },
      {
        targets: config.targets,
        since: until - 2 * config.intervalMs,
        until,
        // Each of the four sources within a quarter of the function's 15 minutes.
        sourceTimeoutMs: 3 * 60_000,
        ...(deps.lookupIntervalMs !== undefined ? { lookupIntervalMs: deps.lookupIntervalMs } : {}),
      },
    );
    for (const u of report.unreadable) logger.error('audit source could not be read', { ...u });
    for (const f of report.findings) logger.error('unaccounted use', { finding: f });
    logger.info('audit', {
      since: report.since,
      until: report.until,
      lines: report.lines.length,
      findings: report.findings.length,
      unreadable: report.unreadable.length,
      counts: report.counts,
    });
    metrics.addMetric(METRIC.auditUnaccounted, MetricUnit.Count, report.findings.length);
    metrics.addMetric(METRIC.auditSourceUnreadable, MetricUnit.Count, report.unreadable.length);
    metrics.publishStoredMetrics();

    // PutEvents takes ten entries a request.
    for (let i = 0; i < report.findings.length; i += 10) {
      const entries = report.findings.slice(i, i + 10).map((f) => ({
        Source: config.source,
        DetailType: EVENTS.resultDetailTypes.unaccountedUse,
        EventBusName: config.busName,
        Resources: [config.targets.recoveryKeyArn],
        Detail: JSON.stringify(findingDetail(f, report)),
      }));
      try {
        const out = await clients.events.send(new PutEventsCommand({ Entries: entries }));
        if (out.FailedEntryCount) logger.error('result events refused', { failed: out.FailedEntryCount });
      } catch (err) {
        // The alarm (metric above) and the log still stand.
        logger.error('result events could not be put', { error: errorMessage(err) });
      }
    }
    return {
      findings: report.findings.length,
      unreadable: report.unreadable.length,
      since: report.since,
      until: report.until,
    };
  };
}

export const handler = createAuditHandler();
