/**
 * Reads the three files of a Contrast workspace, and collateral directories, with errors that
 * say which file and what to do. Only regular files of bounded size are read
 * (lambda/shared/files.ts): a FIFO or a link to /dev/zero is refused at once.
 */
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { InputError } from '../lambda/shared/errors.ts';
import { FileRefusedError, readRegularFile } from '../lambda/shared/files.ts';
import type { WorkspaceFiles } from '../lambda/reconcile/enroll.ts';

const WORKSPACE_FILES = {
  manifest: 'manifest.json',
  seedShares: 'seed-shares.json',
  ownerKeyPem: 'seedshare-owner.pem',
} as const;

/** Each workspace file must fit the bundle, which must fit one 64 KiB Secrets Manager secret. */
const MAX_WORKSPACE_FILE_BYTES = 64 * 1024;

async function readOne(dir: string, name: string): Promise<Buffer> {
  try {
    return await readRegularFile(join(dir, name), {
      maxBytes: MAX_WORKSPACE_FILE_BYTES,
      what: name,
      outcome: 'bundle-invalid',
    });
  } catch (err) {
    if (!(err instanceof FileRefusedError)) throw err;
    const hint =
      err.reason === 'missing'
        ? '; --workspace must be the directory where `contrast generate` and `contrast set` ran'
        : '';
    throw new InputError(`${err.message}${hint}`, 'bundle-invalid');
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
const MAX_COLLATERAL_BYTES = 40 * 1024;

/** The KDS/PCS layouts nest a few levels; deeper is not a collateral directory. */
const MAX_COLLATERAL_DEPTH = 8;

/**
 * Reads a collateral directory (recursively, regular files only, symlinks not followed) into
 * the bundle's cache: relative path → base64. Not secret; the verifiers check every document
 * when they use it.
 */
export async function readCollateralDir(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  let total = 0;
  const walk = async (d: string, depth: number): Promise<void> => {
    if (depth > MAX_COLLATERAL_DEPTH)
      throw new InputError(
        `--collateral ${dir}: ${d} nests deeper than ${MAX_COLLATERAL_DEPTH} levels; give a directory of collateral files`,
        'bundle-invalid',
      );
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (err) {
      throw new InputError(
        `--collateral ${dir}: cannot read ${d} (${(err as NodeJS.ErrnoException).code}); give a directory of collateral files`,
        'bundle-invalid',
      );
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p, depth + 1);
      else if (e.isFile()) {
        let body: Buffer;
        try {
          body = await readRegularFile(p, {
            maxBytes: MAX_COLLATERAL_BYTES - total,
            what: `--collateral ${dir}`,
            outcome: 'bundle-invalid',
          });
        } catch (err) {
          if (err instanceof FileRefusedError && err.reason === 'too-large') {
            throw new InputError(
              `--collateral ${dir} holds more than ${MAX_COLLATERAL_BYTES} bytes; the bundle must fit a 64 KiB secret — keep only this platform's VCEK/chain/CRL or TCB Info/QE Identity, and use a collateral mirror for the rest`,
              'bundle-invalid',
            );
          }
          throw err;
        }
        total += body.length;
        out[relative(dir, p)] = body.toString('base64');
      }
    }
  };
  await walk(dir, 0);
  if (Object.keys(out).length === 0)
    throw new InputError(
      `--collateral ${dir} is empty; omit the option or put the collateral files there`,
      'bundle-invalid',
    );
  return out;
}

/** The whole cache (directory and fetched) must leave room in the 64 KiB secret. */
export function checkCollateralSize(record: Record<string, string>): Record<string, string> {
  const bytes = Object.values(record).reduce((n, b64) => n + Math.floor((b64.length * 3) / 4), 0);
  if (bytes > MAX_COLLATERAL_BYTES) {
    throw new InputError(
      `the collateral to cache is ${bytes} bytes, more than ${MAX_COLLATERAL_BYTES}: the bundle must fit a 64 KiB secret — cache only this platform's documents and configure a collateral mirror for the rest`,
      'bundle-invalid',
    );
  }
  return record;
}
