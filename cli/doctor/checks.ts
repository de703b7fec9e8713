/** The doctor's checklist: one result per check, with the fix for each miss. */

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  /** Stable id (`--json`, tests): function, auth-mode, access-entry, kubeconfig-secret, rbac, coordinator, bundle, key-policy, exporter, trail. */
  id: string;
  title: string;
  status: CheckStatus;
  /** What was found, one fact per line. */
  details: string[];
  /** What to do, for `fail` and `warn`. */
  fix?: string;
}

export function result(id: string, title: string, status: CheckStatus, details: string[], fix?: string): CheckResult {
  return { id, title, status, details, ...(fix ? { fix } : {}) };
}

/** fail beats warn beats pass; skip only when everything was skipped. */
export function worst(statuses: CheckStatus[]): CheckStatus {
  for (const s of ['fail', 'warn', 'pass'] as const) if (statuses.includes(s)) return s;
  return 'skip';
}

const MARK: Record<CheckStatus, string> = { pass: '✔', warn: '!', fail: '✘', skip: '-' };

export function formatChecklist(checks: CheckResult[]): string {
  const width = Math.max(...checks.map((c) => c.title.length));
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${MARK[c.status]} ${c.title.padEnd(width)}  ${c.details[0] ?? ''}`);
    for (const d of c.details.slice(1)) lines.push(`  ${' '.repeat(width)}  ${d}`);
    if (c.fix && c.status !== 'pass') lines.push(`  ${' '.repeat(width)}  fix: ${c.fix}`);
  }
  return lines.join('\n');
}
