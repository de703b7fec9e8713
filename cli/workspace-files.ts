/** Reads the three files of a Contrast workspace with errors that say which file and what to do. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../lambda/errors.ts';
import type { WorkspaceFiles } from '../lambda/enroll.ts';

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
