/** Reads the three files of a Contrast workspace with errors that say which file and what to do. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { InputError } from '../lambda/shared/errors.ts';
import type { WorkspaceFiles } from '../lambda/reconcile/enroll.ts';

export const WORKSPACE_FILES = { manifest: 'manifest.json', seedShares: 'seed-shares.json', ownerKeyPem: 'seedshare-owner.pem' } as const;

async function readOne(dir: string, name: string): Promise<Buffer> {
  try {
    return await readFile(join(dir, name));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'is missing' : code === 'EACCES' ? 'is not readable (permission denied)' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code})`;
    throw new InputError(`${join(dir, name)} ${why}; --workspace must be the directory where \`contrast generate\` and \`contrast set\` ran`);
  }
}

export async function readWorkspace(dir: string): Promise<WorkspaceFiles> {
  const [manifest, seedShares, ownerKeyPem] = await Promise.all([
    readOne(dir, WORKSPACE_FILES.manifest),
    readOne(dir, WORKSPACE_FILES.seedShares),
    readOne(dir, WORKSPACE_FILES.ownerKeyPem),
  ]);
  return { manifest, seedShares, ownerKeyPem };
}

/** Secrets Manager holds at most 64 KiB per secret; collateral shares that with the rest of the bundle. */
export const MAX_COLLATERAL_BYTES = 40 * 1024;

/**
 * Reads a collateral directory (recursively) into the bundle's cache: relative path →
 * base64. Not secret; the verifiers check every document when they use it.
 */
export async function readCollateralDir(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (err) {
      throw new InputError(`--collateral ${dir}: cannot read ${d} (${(err as NodeJS.ErrnoException).code}); give a directory of collateral files`);
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        total += (await stat(p)).size;
        if (total > MAX_COLLATERAL_BYTES) {
          throw new InputError(`--collateral ${dir} holds more than ${MAX_COLLATERAL_BYTES} bytes; the bundle must fit a 64 KiB secret — keep only this platform's VCEK/chain/CRL or TCB Info/QE Identity, and use a collateral mirror for the rest`);
        }
        out[relative(dir, p)] = (await readFile(p)).toString('base64');
      }
    }
  };
  await walk(dir);
  if (Object.keys(out).length === 0) throw new InputError(`--collateral ${dir} is empty; omit the option or put the collateral files there`);
  return out;
}

/** The whole cache (directory and fetched) must leave room in the 64 KiB secret. */
export function checkCollateralSize(record: Record<string, string>): Record<string, string> {
  const bytes = Object.values(record).reduce((n, b64) => n + Math.floor((b64.length * 3) / 4), 0);
  if (bytes > MAX_COLLATERAL_BYTES) {
    throw new InputError(`the collateral to cache is ${bytes} bytes, more than ${MAX_COLLATERAL_BYTES}: the bundle must fit a 64 KiB secret — cache only this platform's documents and configure a collateral mirror for the rest`);
  }
  return record;
}
