/**
 * `contrast-autorecover audit`: registration and help only; the run (and its AWS clients) is
 * imported when the command runs.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { INCOMPLETE_EXIT_CODE } from '../outcome-help.ts';

/** Exit code of `audit` when it found a use nobody accounts for. */
export const UNACCOUNTED_EXIT_CODE = 4;

export interface AuditOptions {
  stack: string;
  deployment?: string;
  /** Epoch ms. */
  since?: number;
  until?: number;
  json?: boolean;
  /** Seconds each source may take. */
  sourceTimeout: number;
}

/** An ISO 8601 time, or an age before now: `90m`, `36h`, `7d`. */
export function timeArg(value: string, now = Date.now()): number {
  const rel = /^(\d+)([mhd])$/.exec(value);
  if (rel) return now - Number(rel[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 'm' | 'h' | 'd'];
  const t = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(t))
    throw new InvalidArgumentError('expected an ISO 8601 time (2026-12-01T00:00:00Z) or an age such as 90m, 36h, 7d');
  return t;
}

const seconds = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive whole number of seconds');
  return n;
};

export function registerAuditCommand(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  program
    .command('audit')
    .description(
      'account for every use of the owner keys: recoveries, dry runs and drills from the audit records, each with its CloudTrail Decrypt, then every use nothing accounts for',
    )
    .requiredOption(
      '--stack <name>',
      'the deployed CloudFormation stack (DescribeStacks): function, keys, secrets, roles',
    )
    .option('--deployment <name>', 'only this deployment (key and policy changes are listed for every deployment)')
    .option('--since <time>', 'start: ISO 8601 or an age (90m, 36h, 7d); at most 90 days back (default: 7d)', (v) =>
      timeArg(v),
    )
    .option('--until <time>', 'end: ISO 8601 or an age (default: 30m, see below)', (v) => timeArg(v))
    .option('--json', 'print one JSON report instead of lines')
    .option(
      '--source-timeout <seconds>',
      'how long each source (log group, each CloudTrail lookup) may take',
      seconds,
      300,
    )
    .addHelpText(
      'after',
      `
Reads the function's audit records (CloudWatch Logs FilterLogEvents on its log group) and
CloudTrail event history (LookupEvents: the recovery key, the bundle-secrets key, Secrets
Manager), and prints:
  one line per recovery, dry run, drill and interrupted attempt: time, deployment, kind,
  outcome, trigger, caller (as the function saw it), the owner-key Decrypt's CloudTrail
  event ID (matched by request ID, else by encryption context and time), Recover's answer,
  the restarts;
  then every unaccounted use: an owner-key Decrypt without an audit record, a bundle read or
  bundle-key Decrypt by any principal but the function role, the function role's bundle
  reads beyond what its audit records explain (per day), a break-glass use, a key-policy,
  grant or secret-policy change — each with its CloudTrail event ID.
Progress goes to stderr; nothing printed holds key material (CloudTrail records none).

Window: CloudTrail delivers events about 5 minutes after the call on average, without a
guarantee, so --until defaults to 30 minutes before now (the output says so). Event history
holds 90 days of management events; for older ranges, and for the Lambda Invoke data events
that name who invoked the function, query the trail's S3 files with Athena or CloudTrail Lake
(docs/operate.md). LookupEvents allows two requests a second: a long window takes a while.

Your identity needs cloudformation:DescribeStacks on the stack, logs:FilterLogEvents on the
function's log group and cloudtrail:LookupEvents.

Exit codes: 0 every use accounted for (and every source read); ${UNACCOUNTED_EXIT_CODE} unaccounted use found;
${INCOMPLETE_EXIT_CODE} a source could not be read (never "all accounted for" then); 2 usage; 21 the stack's
outputs or the region are missing; 1 unexpected error.

Examples:
  contrast-autorecover audit --stack ContrastAutorecover
  contrast-autorecover audit --stack ContrastAutorecover --deployment prod --since 30d --json`,
    )
    .action(async (o: AuditOptions) => {
      await run(async () => (await import('./run.ts')).auditCommand(o));
    });
}
