/**
 * A fleet of healthy Coordinator emulators in a process of its own, so that the Coordinators'
 * side of each aTLS handshake (a fresh key and certificate per connection) runs beside the
 * function, as it does on other machines, not in its event loop. Started by startFleet();
 * reads {count, manifest, seed, salt} (base64) from stdin, prints the addresses as one JSON
 * line, and stops when stdin closes.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CoordinatorEmulator } from '../testing/coordinator-emulator.ts';

export interface Fleet {
  addresses: string[];
  pid: number | undefined;
  stop(): Promise<void>;
}

export async function startFleet(
  count: number,
  material: { manifest: Buffer; seed: Buffer; salt: Buffer },
): Promise<Fleet> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin.write(
    `${JSON.stringify({ count, manifest: material.manifest.toString('base64'), seed: material.seed.toString('base64'), salt: material.salt.toString('base64') })}\n`,
  );
  const addresses = await new Promise<string[]>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('@@FLEET '));
      if (line) resolve(JSON.parse(line.slice(8)) as string[]);
    });
    child.once('exit', (code) => reject(new Error(`the emulator fleet exited (${code}) before it served`)));
  });
  return {
    addresses,
    pid: child.pid,
    stop: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

async function serve(): Promise<void> {
  const ended = new Promise((resolve) => process.stdin.once('end', resolve));
  const input = await new Promise<string>((resolve) => {
    let text = '';
    process.stdin.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('\n')) resolve(text);
    });
  });
  const o = JSON.parse(input) as { count: number; manifest: string; seed: string; salt: string };
  const material = {
    manifest: Buffer.from(o.manifest, 'base64'),
    seed: Buffer.from(o.seed, 'base64'),
    salt: Buffer.from(o.salt, 'base64'),
  };
  const fleet: CoordinatorEmulator[] = [];
  for (let i = 0; i < o.count; i++) fleet.push(await CoordinatorEmulator.start({ state: 'healthy', ...material }));
  process.stdout.write(`@@FLEET ${JSON.stringify(fleet.map((e) => e.address))}\n`);
  await ended;
  await Promise.all(fleet.map((e) => e.stop()));
  process.exit(0);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await serve();
