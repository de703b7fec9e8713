/**
 * `audit`: the stack's names from its outputs, one audit run (lambda/audit/run.ts, shared with
 * the scheduled audit function), then the report — lines on stdout (or one JSON document),
 * progress on stderr — and the exit code.
 */
import { InputError } from '../../lambda/shared/errors.ts';
import type { AuditTargets } from '../../lambda/audit/ledger.ts';
import { DELIVERY_MARGIN_MS, runAudit, type AuditReport } from '../../lambda/audit/run.ts';
import { LOOKUP_DAYS } from '../../lambda/audit/trail.ts';
import { readStackOutputs, type StackOutputs } from '../manifests/stack-outputs.ts';
import { OperatorAws, type AwsSettings } from '../operations/aws.ts';
import { INCOMPLETE_EXIT_CODE } from '../outcome-help.ts';
import { UsageError } from '../usage.ts';
import { UNACCOUNTED_EXIT_CODE, type AuditOptions } from './command.ts';

export interface AuditDeps {
  aws?: AwsSettings;
  /** The stack's outputs (tests); default DescribeStacks of --stack. */
  outputs?: StackOutputs;
  write?: (text: string) => void;
  progress?: (line: string) => void;
  lookupIntervalMs?: number;
  /** Events per page (tests: paging over few events). */
  pageSize?: number;
  now?: number;
}

const DEFAULT_SPAN_MS = 7 * 86_400_000;

/** What the audit looks at and where the records are, from the stack's outputs. */
export function auditTargetsOf(outputs: StackOutputs): { targets: AuditTargets; logGroup: string } {
  const why = 'the audit reads';
  let names: { name: string }[];
  try {
    names = JSON.parse(outputs.require('Deployments', why)) as { name: string }[];
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`stack ${outputs.stackName}'s output Deployments is not JSON`, 'config-invalid');
  }
  const breakGlass = outputs.get('BreakGlassRoleArn');
  return {
    targets: {
      functionRoleArn: outputs.require('FunctionRoleArn', why),
      recoveryKeyArn: outputs.require('RecoveryKeyArn', why),
      bundleKeyArn: outputs.require('BundleSecretsKeyArn', why),
      ...(breakGlass ? { breakGlassRoleArn: breakGlass } : {}),
      deployments: names.map((d, i) => ({ name: d.name, secretArn: outputs.require(`BundleSecret${i}Arn`, why) })),
    },
    logGroup: outputs.get('FunctionLogGroupName') ?? `/aws/lambda/${outputs.require('FunctionName', why)}`,
  };
}

export async function auditCommand(o: AuditOptions, deps: AuditDeps = {}): Promise<number> {
  const write = deps.write ?? ((t: string) => process.stdout.write(t));
  const progress = deps.progress ?? ((l: string) => process.stderr.write(`${l}\n`));
  const now = deps.now ?? Date.now();
  const until = o.until ?? now - DELIVERY_MARGIN_MS;
  const since = o.since ?? until - DEFAULT_SPAN_MS;
  if (since >= until) throw new UsageError('--since must be before --until');
  if (since < now - LOOKUP_DAYS * 86_400_000)
    throw new UsageError(
      `--since is more than ${LOOKUP_DAYS} days ago: CloudTrail event history holds ${LOOKUP_DAYS} days; for older ranges query the trail's S3 files with Athena or CloudTrail Lake (docs/operate.md "Audit trail")`,
    );
  const outputs = deps.outputs ?? (await readStackOutputs(o.stack));
  const { targets, logGroup } = auditTargetsOf(outputs);
  if (o.deployment && !targets.deployments.some((d) => d.name === o.deployment))
    throw new UsageError(
      `stack ${outputs.stackName} has no deployment ${o.deployment} (it has: ${targets.deployments.map((d) => d.name).join(', ')})`,
    );
  const aws = new OperatorAws(deps.aws);
  try {
    await aws.requireRegion();
    if (o.until === undefined)
      progress(
        `window ends ${new Date(until).toISOString()}, 30 minutes before now: CloudTrail delivers events about 5 minutes late on average, without a guarantee (--until to change)`,
      );
    const report = await runAudit(
      { logs: aws.logs, cloudtrail: aws.cloudtrail, logGroup },
      {
        targets,
        ...(o.deployment ? { deployment: o.deployment } : {}),
        since,
        until,
        sourceTimeoutMs: o.sourceTimeout * 1000,
        ...(deps.lookupIntervalMs !== undefined ? { lookupIntervalMs: deps.lookupIntervalMs } : {}),
        ...(deps.pageSize ? { pageSize: deps.pageSize } : {}),
        progress,
      },
    );
    write(o.json ? `${JSON.stringify({ stack: outputs.stackName, ...report }, null, 2)}\n` : renderReport(report));
    if (report.findings.length) return UNACCOUNTED_EXIT_CODE;
    if (report.unreadable.length) return INCOMPLETE_EXIT_CODE;
    return 0;
  } finally {
    aws.destroy();
  }
}

/** The report for a terminal: one line per use, then what nothing accounts for. */
export function renderReport(r: AuditReport): string {
  const out: string[] = [`audit ${r.since} – ${r.until}`];
  if (!r.lines.length) out.push('no recovery, dry run or drill in this window');
  for (const l of r.lines) {
    const decrypt = l.decrypt
      ? `Decrypt ${l.decrypt.eventId} (by ${l.decrypt.by === 'request-id' ? `request ID ${l.decrypt.requestId}` : 'encryption context and time'})`
      : 'no Decrypt';
    out.push(
      `${l.time}  ${l.deployment}  ${l.kind}  ${l.outcome}  trigger ${l.trigger}  caller ${l.caller}  ${decrypt}  Recover ${l.recover}  restarts ${l.restarts}${l.note ? `  — ${l.note}` : ''}`,
    );
  }
  if (r.findings.length) {
    out.push('', `UNACCOUNTED USE (${r.findings.length}):`);
    for (const f of r.findings)
      out.push(
        `✘ ${f.eventTime}  ${f.kind}  ${f.eventName} by ${f.principal}  event ${f.eventId}${f.deployment ? `  ${f.deployment}` : ''} — ${f.detail}`,
      );
  }
  if (r.unreadable.length) {
    out.push('', 'SOURCES NOT READ (nothing can be called accounted for):');
    for (const u of r.unreadable) out.push(`✘ ${u.source}: ${u.reason}`);
  }
  const c = r.counts;
  out.push(
    '',
    `${c.auditRecords} audit records, ${c.ownerKeyDecrypts} owner-key Decrypts, ${c.bundleReadsByFunction} bundle reads by the function (${c.bundleReadsExplained} by audited request ID), ${c.bundleKeyDecrypts} bundle-key Decrypts`,
    r.allAccounted
      ? 'every use accounted for'
      : r.findings.length
        ? `${r.findings.length} unaccounted use(s)`
        : 'not every source could be read: nothing is claimed',
  );
  return `${out.join('\n')}\n`;
}
