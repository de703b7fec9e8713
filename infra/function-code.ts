/**
 * The function's code. From the published package: the bundle `npm run build` prebuilt into
 * dist/function (consumers need neither esbuild nor the TypeScript sources). From this
 * repository's sources (its app, its tests) or with an explicit `entry`: bundled at synth with
 * the same options (infra/function-bundle.mjs), once per process and entry.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as Esbuild from 'esbuild';
import { FUNCTION_ENTRY, functionBundleOptions } from './function-bundle.mjs';

export { HANDLER } from './function-bundle.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** Running from the TypeScript sources (infra/*.ts) rather than the package's dist/infra. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
// infra/ → the checkout; dist/infra/ (or dist/chunks/) → the package.
const PROJECT_ROOT = FROM_SOURCE ? path.dirname(HERE) : path.dirname(path.dirname(HERE));
/** dist/function beside dist/infra. */
const PREBUILT = path.resolve(HERE, '..', 'function');

const bundled = new Map<string, string>();

function bundle(entry: string): string {
  let dir = bundled.get(entry);
  if (!dir) {
    dir = mkdtempSync(path.join(os.tmpdir(), 'contrast-autorecover-function-'));
    // esbuild is a build-time dependency: loaded only when bundling from sources.
    const esbuild = createRequire(import.meta.url)('esbuild') as typeof Esbuild;
    esbuild.buildSync(functionBundleOptions({ entry, outdir: dir, projectRoot: PROJECT_ROOT }));
    bundled.set(entry, dir);
  }
  return dir;
}

/** The function's code: the prebuilt bundle, or `entry` (default: the handler's source) bundled now. */
export function functionCode(entry?: string): lambda.Code {
  if (entry === undefined && !FROM_SOURCE) {
    if (!existsSync(path.join(PREBUILT, 'index.mjs'))) throw new Error(`contrast-autorecover: the prebuilt function ${PREBUILT}/index.mjs is missing; reinstall the package (or run npm run build in its checkout)`);
    return lambda.Code.fromAsset(PREBUILT);
  }
  const file = path.resolve(PROJECT_ROOT, entry ?? FUNCTION_ENTRY);
  if (!existsSync(file)) throw new Error(`contrast-autorecover: the function entry ${file} does not exist; pass an existing TypeScript file exporting \`handler\``);
  return lambda.Code.fromAsset(bundle(file));
}
