/**
 * `pause` and `resume`: the operator's switch, set by invoking the deployed function directly
 * (lambda/function/pause-switch.ts), so each change has CloudTrail's Lambda `Invoke` data event
 * (the authenticated caller) and the function's audit record (what and why). `status
 * --via-function` shows the switches: paused, by whom, since when, why.
 */
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import type { OperatorState } from '../lambda/shared/operator-answers.ts';
import { OPERATIONS } from '../lambda/shared/contract.ts';
import { exitCodeFor } from '../lambda/shared/outcomes.ts';
import { printResult } from './output.ts';
import { UsageError } from './usage.ts';

interface PauseOptions {
  deployment: string;
  function: string;
  reason?: string;
  json?: boolean;
}

/** Lines for the operator about the switches and the collateral cache (status, resume). */
export function operatorLines(o: OperatorState | undefined, now: Date = new Date()): string[] {
  if (!o) return [];
  const lines = o.paused.length
    ? o.paused.map(
        (p) =>
          `  PAUSED (${p.scope === 'all' ? 'pause#* — every deployment' : `pause#${o.deployment}`}) by ${p.by ?? 'unknown'} since ${p.since ?? 'unknown'}${p.reason ? `: ${p.reason}` : ''}${p.requestId ? ` (request ${p.requestId})` : ''}`,
      )
    : ['  automatic recovery: on (not paused)'];
  const c = o.collateral;
  if (c?.none)
    lines.push('  collateral: none cached in the bundle (the function needs a mirror or evidence that carries it)');
  else if (c?.expiresAt) {
    const days = Math.floor((Date.parse(c.expiresAt) - now.getTime()) / 86_400_000);
    lines.push(
      `  collateral: cached, expires ${c.expiresAt} (${days < 0 ? 'EXPIRED' : `in ${days} day(s)`}; ${c.limitedBy} of ${c.file})`,
    );
  }
  for (const u of c?.unreadable ?? []) lines.push(`  collateral: cannot read the expiry of ${u}`);
  return lines;
}

async function switchCommand(action: 'pause' | 'resume', o: PauseOptions): Promise<number> {
  if (!o.reason?.trim()) throw new UsageError(`${action} needs --reason "…": it goes into the function's audit record`);
  const { invokeViaFunction } = await import('./via-function.ts');
  const r = await invokeViaFunction({
    functionName: o.function,
    action,
    deployment: o.deployment,
    force: false,
    reason: o.reason,
  });
  if (o.json) {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  } else if (action === 'pause') {
    const was = r.pauseSwitch?.before
      ? ` (it was already paused by ${r.pauseSwitch.before.by ?? 'unknown'} since ${r.pauseSwitch.before.since ?? 'unknown'})`
      : '';
    process.stdout.write(
      `paused automatic recovery of ${o.deployment}${was}\n  ${r.message}\n  request ${r.requestId ?? '?'}: its Invoke event in CloudTrail names you; the function's audit record has the reason\n`,
    );
  } else {
    const was = r.pauseSwitch?.before
      ? `resumed automatic recovery of ${o.deployment} (paused by ${r.pauseSwitch.before.by ?? 'unknown'} since ${r.pauseSwitch.before.since ?? 'unknown'})`
      : `${o.deployment} was not paused by its own switch; nothing to resume`;
    process.stdout.write(`${was}\n`);
    printResult(r, false);
    process.stdout.write(`${operatorLines(r.operator).join('\n')}\n`);
  }
  // The switch is what was asked (the status after a resume is information); a function that did not switch is its outcome.
  return r.pauseSwitch ? 0 : exitCodeFor(r.outcome);
}

export function registerPauseCommands(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  for (const action of ['pause', 'resume'] as const) {
    program
      .command(action)
      .description(
        action === 'pause'
          ? 'switch automatic recovery of a deployment off, through the deployed function (audited; CloudTrail names you)'
          : "switch automatic recovery on again, through the deployed function (audited), and show the Coordinator's status",
      )
      .requiredOption('--deployment <name>', 'deployment name')
      .option('--function <name>', 'the deployed function (stack output FunctionName)', OPERATIONS.functionName)
      .requiredOption('--reason <text>', 'why (goes into the audit record)')
      .option('--json', "print the function's answer as JSON")
      .addHelpText(
        'after',
        `
Needs lambda:InvokeFunction on the function (grantInvoke). The function writes the switch
(pause#<deployment> in its lock table) with who asked, since when and why; \`status
--via-function\` shows it. A global pause#* stays an administrator's item; status shows it too.

Example:
  contrast-autorecover ${action} --deployment prod --function contrast-autorecover --reason "${action === 'pause' ? 'node maintenance, CHG-1234' : 'maintenance done'}"`,
      )
      .action((o: PauseOptions) =>
        run(() => switchCommand(action, { ...o, reason: o.reason ?? `${action} by ${userInfo().username}` })),
      );
  }
}
