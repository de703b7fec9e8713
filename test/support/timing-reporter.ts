/**
 * Prints every test file's time at the end of a run, slowest first, so the next slow suite is
 * visible in CI's log (import + collect + tests, as each file's fork spent it).
 */
import path from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

export default class TimingReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const rows = modules
      .map((m) => {
        const d = m.diagnostic();
        return {
          file: path.relative(process.cwd(), m.moduleId),
          ms: d.collectDuration + d.setupDuration + d.duration,
          tests: d.duration,
        };
      })
      .sort((a, b) => b.ms - a.ms);
    if (rows.length === 0) return;
    const total = rows.reduce((s, r) => s + r.ms, 0);
    const lines = rows.map(
      (r) => `  ${(r.ms / 1000).toFixed(1).padStart(6)} s  ${r.file}  (tests ${(r.tests / 1000).toFixed(1)} s)`,
    );
    process.stdout.write(
      `\nper-file time, slowest first (sum ${(total / 1000).toFixed(1)} s across forks):\n${lines.join('\n')}\n`,
    );
  }
}
