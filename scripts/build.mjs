#!/usr/bin/env node
// `npm run build` (and `prepare`, so `npm ci` leaves a working CLI): compiles the CLI to plain
// JavaScript in dist/ with esbuild. Our sources are bundled (ESM, code-split so `demo`,
// `doctor` and the Kubernetes side load only when used); packages stay external and are
// loaded from node_modules, so the CLI runs on the dependencies package-lock.json pins.
// No TypeScript loader at run time.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** What the package ships as compiled JavaScript: entry name → source. */
export const ENTRIES = {
  'cli/main': 'cli/main.ts',
};

export async function buildAll({ outdir = path.join(root, 'dist'), quiet = false } = {}) {
  rmSync(outdir, { recursive: true, force: true });
  await build({
    absWorkingDir: root,
    entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([k, v]) => [k, path.join(root, v)])),
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    chunkNames: 'chunks/[name]-[hash]',
    logLevel: quiet ? 'error' : 'info',
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await buildAll({ quiet: process.argv.includes('--quiet') });
}
