#!/usr/bin/env node
// `npm run build` (and `prepare`, so `npm ci` leaves a working CLI and library): compiles with
// esbuild into dist/:
//   dist/cli, dist/infra  our sources bundled (ESM, code-split so `demo`, `doctor` and the
//                         Kubernetes side load only when used); packages stay external and are
//                         loaded from node_modules, so they run on the dependencies the lock pins;
//   dist/function         the Lambda function, prebuilt with every dependency bundled
//                         (infra/function-bundle.mjs), which the published construct deploys;
//   dist/types            declarations of `contrast-autorecover/infra` for TypeScript apps.
// No TypeScript loader at run time.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AUDIT_FUNCTION_ENTRY, FUNCTION_ENTRY, functionBundleOptions } from '../infra/function-bundle.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** What the package ships as compiled JavaScript: entry name → source. */
export const ENTRIES = {
  'cli/main': 'cli/main.ts',
  'infra/index': 'infra/index.ts',
};

/** The parts of dist/; `targets` builds a subset (tests build the library into a temp dir). */
export const TARGETS = ['code', 'function', 'types'];

export async function buildAll({ outdir = path.join(root, 'dist'), quiet = false, targets = TARGETS } = {}) {
  rmSync(outdir, { recursive: true, force: true });
  const logLevel = quiet ? 'error' : 'info';
  const jobs = [];
  if (targets.includes('code')) {
    jobs.push(
      build({
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
        logLevel,
      }),
    );
  }
  if (targets.includes('function')) {
    jobs.push(
      build(
        functionBundleOptions({
          entry: path.join(root, FUNCTION_ENTRY),
          outdir: path.join(outdir, 'function'),
          projectRoot: root,
        }),
      ),
      build(
        functionBundleOptions({
          entry: path.join(root, AUDIT_FUNCTION_ENTRY),
          outdir: path.join(outdir, 'audit-function'),
          projectRoot: root,
        }),
      ),
    );
  }
  await Promise.all(jobs);
  if (targets.includes('types')) buildTypes(path.join(outdir, 'types'));
}

/** Declarations of infra/index.ts, with relative `.ts` specifiers rewritten to `.js` for consumers. */
function buildTypes(outdir) {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(
    process.execPath,
    [
      tsc,
      path.join(root, 'infra', 'index.ts'),
      '--declaration',
      '--emitDeclarationOnly',
      '--outDir',
      outdir,
      '--rootDir',
      root,
      '--allowImportingTsExtensions',
      '--module',
      'NodeNext',
      '--moduleResolution',
      'NodeNext',
      '--target',
      'ES2022',
      '--strict',
      '--skipLibCheck',
      '--types',
      'node',
    ],
    { cwd: root, stdio: 'inherit' },
  );
  copyFileSync(path.join(root, 'infra', 'function-bundle.d.mts'), path.join(outdir, 'infra', 'function-bundle.d.mts'));
  for (const file of walk(outdir)) {
    if (!file.endsWith('.d.ts')) continue;
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.replace(/((?:from|import\()\s*['"]\.{1,2}\/[^'"]+)\.ts(['"])/g, '$1.js$2'));
  }
}

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await buildAll({ quiet: process.argv.includes('--quiet') });
}
