/**
 * Finds and starts the moto server (the real AWS API emulator used by the integration
 * tests). moto 5.2.1 ships with the pyenv-managed python3 of this machine kind, not with
 * Debian's python3, and a clean environment may lack pyenv's shims, so several places are
 * probed. `MOTO_PYTHON` names an interpreter explicitly.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const MOTO_INSTALL_HINT =
  'install it with: python3 -m pip install "moto[server]==5.2.1" (or set MOTO_PYTHON to a python3 that has it)';

function candidatePythons(): string[] {
  const out: string[] = [];
  if (process.env.MOTO_PYTHON) out.push(process.env.MOTO_PYTHON);
  const pyenvRoot = process.env.PYENV_ROOT ?? join(homedir(), '.pyenv');
  const versions = join(pyenvRoot, 'versions');
  if (existsSync(versions)) {
    for (const v of readdirSync(versions).sort().reverse()) out.push(join(versions, v, 'bin', 'python3'));
  }
  out.push(join(pyenvRoot, 'shims', 'python3'), 'python3', '/usr/bin/python3', '/usr/local/bin/python3');
  return out;
}

/** The first python3 that can import moto, or undefined. */
export function findMotoPython(): string | undefined {
  for (const py of candidatePythons()) {
    if (py.includes('/') && !existsSync(py)) continue;
    const r = spawnSync(py, ['-c', 'import moto.server'], { stdio: 'ignore', timeout: 20_000 });
    if (r.status === 0) return py;
  }
  return undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export interface MotoServer {
  endpoint: string;
  stop(): Promise<void>;
}

export async function startMoto(python: string): Promise<MotoServer> {
  const port = await freePort();
  const child: ChildProcess = spawn(python, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto server exited early (code ${child.exitCode}): ${stderr}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1000) });
      if (res.status < 500) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto server did not start on ${endpoint} within 30 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return {
    endpoint,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}
