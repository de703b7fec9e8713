/** Help text pieces generated from lambda/shared/outcomes.ts, so they cannot drift from it. */
import { OUTCOMES, OUTCOME_NAMES } from '../lambda/shared/outcomes.ts';

/** Exit code of a command whose checks or stages are not all complete (doctor, rehearse). */
export const INCOMPLETE_EXIT_CODE = 3;

/** `  outcome  [exit]  summary` lines for the outcomes that pass `filter` (default: all). */
export function outcomeTable(
  o: { exitCodes?: boolean; filter?: (outcome: { ok: boolean; retry: boolean }) => boolean } = {},
): string {
  const names = OUTCOME_NAMES.filter((n) => (o.filter ?? (() => true))(OUTCOMES[n]));
  const width = Math.max(...names.map((n) => n.length));
  return names
    .map(
      (n) =>
        `  ${n.padEnd(width)}  ${o.exitCodes ? `${String(OUTCOMES[n].exitCode).padStart(2)}  ` : ''}${OUTCOMES[n].summary}`,
    )
    .join('\n');
}
