/**
 * The function's code. From the published package: the bundle `npm run build` prebuilt into
 * dist/function (consumers need neither esbuild nor the TypeScript sources). From this
 * repository's sources (its app, its tests) or with an explicit `entry`: bundled at synth with
 * the same options (infra/function-bundle.mjs), once per content of the sources.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as Esbuild from 'esbuild';
import { AUDIT_FUNCTION_ENTRY, FUNCTION_ENTRY, functionBundleOptions } from './function-bundle.mjs';

export { HANDLER } from './function-bundle.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** Running from the TypeScript sources (infra/*.ts) rather than the package's dist/infra. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
// infra/ → the checkout; dist/infra/ (or dist/chunks/) → the package.
const PROJECT_ROOT = FROM_SOURCE ? path.dirname(HERE) : path.dirname(path.dirname(HERE));
/** dist/function beside dist/infra. */
const PREBUILT = path.resolve(HERE, '..', 'function');

/**
 * Where a source bundle of `entry` lives: node_modules/.cache, keyed by a hash of everything
 * that goes into it (the entry, lambda/, the bundle options, the lockfile), so test processes
 * and repeated synths reuse one bundle until a source changes.
 */
function bundleDir(entry: string): string {
  const hash = createHash('sha256').update(entry);
  // The package ships no lambda/ sources and may have no lockfile: hash what exists.
  const lambdaDir = path.join(PROJECT_ROOT, 'lambda');
  const files = [
    path.join(PROJECT_ROOT, 'package-lock.json'),
    path.join(HERE, 'function-bundle.mjs'),
    entry,
    ...(existsSync(lambdaDir) ? walk(lambdaDir) : []),
  ].filter((f) => existsSync(f));
  for (const f of files) hash.update(f).update(readFileSync(f));
  return path.join(
    PROJECT_ROOT,
    'node_modules',
    '.cache',
    'contrast-autorecover',
    `function-${hash.digest('hex').slice(0, 16)}`,
  );
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) =>
      e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
    );
}

/** Bundles `entry` (default: the handler's source) unless an identical bundle exists; returns its directory. */
export function bundleFromSource(entry = path.join(PROJECT_ROOT, FUNCTION_ENTRY)): string {
  const dir = bundleDir(entry);
  if (existsSync(path.join(dir, 'index.mjs'))) return dir;
  mkdirSync(path.dirname(dir), { recursive: true });
  const staging = mkdtempSync(`${dir}-`);
  // esbuild is a build-time dependency, an optional peer of the package: loaded only when bundling from sources.
  let esbuild: typeof Esbuild;
  try {
    esbuild = createRequire(import.meta.url)('esbuild') as typeof Esbuild;
  } catch {
    throw new Error(
      'contrast-autorecover: the `entry` prop bundles TypeScript at synth with esbuild, which is not installed; add it to your CDK app (npm install --save-dev esbuild@^0.25), or omit `entry` to deploy the prebuilt function',
    );
  }
  esbuild.buildSync(functionBundleOptions({ entry, outdir: staging, projectRoot: PROJECT_ROOT }));
  try {
    renameSync(staging, dir);
  } catch {
    // Another process finished the same bundle first: use it.
    rmSync(staging, { recursive: true, force: true });
  }
  return dir;
}

/** The function's code: the prebuilt bundle, or `entry` (default: the handler's source) bundled now. */
export function functionCode(entry?: string): lambda.Code {
  if (entry === undefined && !FROM_SOURCE) {
    if (!existsSync(path.join(PREBUILT, 'index.mjs')))
      throw new Error(
        `contrast-autorecover: the prebuilt function ${PREBUILT}/index.mjs is missing; reinstall the package (or run npm run build in its checkout)`,
      );
    return lambda.Code.fromAsset(PREBUILT);
  }
  const file = path.resolve(PROJECT_ROOT, entry ?? FUNCTION_ENTRY);
  if (!existsSync(file))
    throw new Error(
      `contrast-autorecover: the function entry ${file} does not exist; pass an existing TypeScript file exporting \`handler\``,
    );
  return lambda.Code.fromAsset(bundleFromSource(file));
}

/** The scheduled audit function's code: dist/audit-function from the package, else bundled from lambda/audit/handler.ts. */
export function auditFunctionCode(): lambda.Code {
  if (!FROM_SOURCE) {
    const dir = path.resolve(HERE, '..', 'audit-function');
    if (!existsSync(path.join(dir, 'index.mjs')))
      throw new Error(
        `contrast-autorecover: the prebuilt audit function ${dir}/index.mjs is missing; reinstall the package (or run npm run build in its checkout)`,
      );
    return lambda.Code.fromAsset(dir);
  }
  return lambda.Code.fromAsset(bundleFromSource(path.join(PROJECT_ROOT, AUDIT_FUNCTION_ENTRY)));
}
