/**
 * One bash session for a whole journey, as an operator's terminal: variables a block exports
 * are there for the next one. Each block runs with `set -euo pipefail` (a failing command, a
 * failing stage of a pipe or an unset variable ends it, where an operator would see the
 * error and stop) and stdin from /dev/null; a failure ends the session. After each block the
 * session's exported environment is read back, for the effect checks and the equivalents.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface BlockRun {
  /** The block's exit status (0: every command succeeded). */
  code: number;
  stdout: string;
  stderr: string;
  /** The exported environment after the block. */
  env: Record<string, string>;
  ms: number;
  timedOut: boolean;
}

export class ShellSession {
  private stdout = '';
  private stderr = '';
  private exited: number | undefined;
  private readonly sentinel = `__journey_${randomBytes(8).toString('hex')}__`;
  private count = 0;
  private onData: (() => void) | undefined;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly dir: string,
  ) {
    child.stdout.on('data', (d: Buffer) => {
      this.stdout += d.toString();
      this.onData?.();
    });
    child.stderr.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      this.onData?.();
    });
    child.on('exit', (code, signal) => {
      this.exited = code ?? (signal ? 128 : 1);
      this.onData?.();
    });
  }

  /** Starts bash in `cwd` with exactly `env` (no profile, no rc files). `dir` holds the block files. */
  static start(o: { cwd: string; env: Record<string, string>; dir: string }): ShellSession {
    const child = spawn('bash', ['--noprofile', '--norc'], { cwd: o.cwd, env: o.env, stdio: ['pipe', 'pipe', 'pipe'] });
    return new ShellSession(child, o.dir);
  }

  get alive(): boolean {
    return this.exited === undefined;
  }

  /** Runs a block's text; `extraEnv` is exported for this block only. */
  async run(text: string, o: { timeoutMs: number; extraEnv?: Record<string, string> }): Promise<BlockRun> {
    if (!this.alive) throw new Error('the shell session has ended');
    const n = ++this.count;
    const file = join(this.dir, `block-${String(n).padStart(2, '0')}.sh`);
    const envFile = `${file}.env`;
    await writeFile(file, `${text}\n`);
    const exports = Object.entries(o.extraEnv ?? {}).map(([k, v]) => `export ${k}=${shellQuote(v)}`);
    const unsets = Object.keys(o.extraEnv ?? {}).map((k) => `unset ${k}`);
    const done = `${this.sentinel}${n}`;
    const script = [
      ...exports,
      'set -euo pipefail',
      `source ${shellQuote(file)} </dev/null`,
      'set +euo pipefail',
      ...unsets,
      `env -0 > ${shellQuote(envFile)}`,
      `printf '\\n%s\\n' ${done}`,
      `printf '\\n%s\\n' ${done} >&2`,
      '',
    ].join('\n');
    const outStart = this.stdout.length;
    const errStart = this.stderr.length;
    const t0 = performance.now();
    this.child.stdin.write(script);
    const finished = await new Promise<'done' | 'exit' | 'timeout'>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), o.timeoutMs);
      const check = () => {
        if (this.stdout.includes(`${done}\n`, outStart) && this.stderr.includes(`${done}\n`, errStart)) {
          clearTimeout(timer);
          resolve('done');
        } else if (this.exited !== undefined) {
          clearTimeout(timer);
          resolve('exit');
        }
      };
      this.onData = check;
      check();
    });
    this.onData = undefined;
    const ms = Math.round(performance.now() - t0);
    const cut = (s: string, start: number) => {
      const i = s.indexOf(`\n${done}\n`, start);
      return (i >= 0 ? s.slice(start, i) : s.slice(start)).replace(new RegExp(`\\n?${done}\\n`), '');
    };
    const stdout = cut(this.stdout, outStart);
    const stderr = cut(this.stderr, errStart);
    if (finished === 'timeout') {
      this.kill();
      return {
        code: 124,
        stdout,
        stderr: `${stderr}\n(journey: the block did not finish within ${o.timeoutMs / 1000} s)`,
        env: {},
        ms,
        timedOut: true,
      };
    }
    if (finished === 'exit') return { code: this.exited || 1, stdout, stderr, env: {}, ms, timedOut: false };
    const raw = await readFile(envFile, 'utf8');
    const env: Record<string, string> = {};
    for (const entry of raw.split('\0')) {
      const i = entry.indexOf('=');
      if (i > 0) env[entry.slice(0, i)] = entry.slice(i + 1);
    }
    return { code: 0, stdout, stderr, env, ms, timedOut: false };
  }

  kill(): void {
    if (this.alive) this.child.kill('SIGKILL');
  }

  async close(): Promise<void> {
    if (!this.alive) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end('exit 0\n');
    const t = setTimeout(() => this.kill(), 5_000);
    await gone;
    clearTimeout(t);
  }
}

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
