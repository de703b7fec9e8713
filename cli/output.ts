/** How the CLI talks: step-by-step progress for humans on stderr, one JSON document for machines on stdout. */
import type { ProgressEvent } from '../lambda/reconcile/reconcile.ts';
import type { ReconcileResult } from '../lambda/reconcile/types.ts';
import { OUTCOMES } from '../lambda/shared/outcomes.ts';

const STEP_LABELS: Record<ProgressEvent['step'], string> = {
  'load-bundle': 'load the recovery bundle from Secrets Manager',
  probe: 'probe the Coordinator over aTLS (verify its attestation)',
  peers: 'look for Ready peer Coordinators',
  decrypt: 'decrypt the seed-share owner key with KMS',
  recover: 'send Recover over a new attested connection',
  confirm: 'confirm the manifest (GetManifests)',
  restarts: 'restart Contrast workloads',
  report: 'report',
};

export function progressPrinter(
  enabled: boolean,
  write: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
) {
  return (e: ProgressEvent): void => {
    if (!enabled) return;
    if (e.status === 'start') return;
    const mark = e.status === 'done' ? '✔' : '✘';
    const ms = e.ms !== undefined ? ` (${Math.round(e.ms)} ms)` : '';
    write(`${mark} ${STEP_LABELS[e.step]}${ms}${e.detail ? `: ${e.detail}` : ''}`);
  };
}

export function printResult(result: ReconcileResult, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const lines = [
    `outcome: ${result.outcome} — ${OUTCOMES[result.outcome].summary}`,
    `  ${result.message}`,
    `  deployment ${result.deployment}, Coordinator ${result.coordinatorState}, ${Math.round(result.durationMs)} ms`,
  ];
  if (result.evidence) {
    const e = result.evidence;
    lines.push(
      `  evidence: ${e.kind}${e.platform ? ` (${e.platform})` : ''}${e.measurement ? `, measurement ${e.measurement}` : ''}${e.tcb ? `, TCB ${e.tcb}` : ''}`,
    );
  }
  if (result.manifestHash)
    lines.push(
      `  enrolled manifest ${result.manifestHash}${result.drift ? `, Coordinator serves ${result.latestManifestHash} (drift: re-enroll)` : ''}`,
    );
  if (result.kmsEncryptionContext) lines.push(`  KMS Decrypt context: ${JSON.stringify(result.kmsEncryptionContext)}`);
  if (result.force) lines.push('  Force=true was sent (operator override)');
  if (result.meshCa) {
    const cause = {
      recover: "made by this tool's Recover",
      recovery: "someone else's Recover",
      observed: 'a manifest update (contrast set)',
      baseline: 'first seen here, age unknown',
    }[result.meshCa.cause];
    const created = result.meshCa.createdAfter
      ? `between ${result.meshCa.createdAfter} and ${result.meshCa.createdAt}`
      : result.meshCa.cause === 'baseline'
        ? `by ${result.meshCa.createdAt}`
        : result.meshCa.createdAt;
    lines.push(`  mesh CA key ${result.meshCa.spkiSha256.slice(0, 16)}… created ${created} (${cause})`);
  }
  if (result.restarts) {
    for (const r of result.restarts.results)
      lines.push(`  ${r.status.padEnd(20)} ${r.kind}/${r.namespace}/${r.name}${r.reason ? ` — ${r.reason}` : ''}`);
    // Every Contrast pod with its status and reason (issue #19 item 8).
    for (const p of result.restarts.pods ?? [])
      lines.push(
        `    pod ${p.status.padEnd(15)} ${p.namespace}/${p.name} (${p.workload}) — ${p.reason}${p.action ? `; ${p.action}` : ''}`,
      );
    if (result.staleWorkloads)
      lines.push(`  ${result.staleWorkloads} workload(s) still hold certificates of a lost mesh CA`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
