/**
 * Bundles as the function is deployed (infra/function-bundle.mjs: esbuild, ESM, minified,
 * code-split so that dynamic imports stay lazy, @grpc/proto-loader left out), and runs one
 * invocation of such a bundle in a fresh Node process — a cold start. Used by the cold-start
 * and restart-to-recovered figures and by test/function/bundle-size.test.ts.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type BuildOptions, type Metafile } from 'esbuild';
import { FUNCTION_ENTRY, functionBundleOptions } from '../infra/function-bundle.mjs';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface BundleInfo {
  entry: string;
  metafile: Metafile;
  /** Input files that end up in the entry chunk or the chunks it imports statically (evaluated at import). */
  entryInputs: string[];
  /** All input files esbuild read, tree-shaken ones included. */
  allInputs: string[];
  /** Input files with code in some chunk (lazy chunks included). */
  bundledInputs: string[];
  /** Bytes of the chunks evaluated at import. */
  entryBytes: number;
}

/** Bundles `source` (TypeScript/JavaScript text) as the function's entry into `outdir`. */
export async function bundleEntry(source: string, outdir: string, name: string): Promise<BundleInfo> {
  const entryFile = join(outdir, `${name}.src.ts`);
  await writeFile(entryFile, source);
  const options = functionBundleOptions({ entry: entryFile, outdir, projectRoot: root }) as BuildOptions;
  const result = await build({
    ...options,
    entryPoints: { [name]: entryFile },
    metafile: true,
    logLevel: 'silent',
    // Unminified for readable CPU profiles (COLD_START_NODE_ARGS=--cpu-prof).
    minify: !process.env.COLD_START_NO_MINIFY,
  });
  const entry = join(outdir, `${name}.mjs`);
  const outputs = result.metafile.outputs;
  const key = Object.keys(outputs).find((k) => resolve(root, k) === entry)!;
  // The entry chunk plus the chunks it imports statically are evaluated at import time.
  const eager = new Set<string>();
  const visit = (k: string) => {
    if (eager.has(k)) return;
    eager.add(k);
    for (const imp of outputs[k]?.imports ?? [])
      if (imp.kind === 'import-statement' && outputs[imp.path]) visit(imp.path);
  };
  visit(key);
  return {
    entry,
    metafile: result.metafile,
    entryInputs: [...eager].flatMap((k) =>
      Object.entries(outputs[k]?.inputs ?? {})
        .filter(([, v]) => v.bytesInOutput > 0)
        .map(([i]) => i),
    ),
    allInputs: Object.keys(result.metafile.inputs),
    bundledInputs: [
      ...new Set(
        Object.values(outputs).flatMap((o) =>
          Object.entries(o.inputs)
            .filter(([, v]) => v.bytesInOutput > 0)
            .map(([k]) => k),
        ),
      ),
    ],
    entryBytes: [...eager].reduce((n, k) => n + (outputs[k]?.bytes ?? 0), 0),
  };
}

/**
 * The function's entry. With `testingVerifier`, the production verifier is swapped for the
 * insecure testing one, in code, because the emulator's evidence is synthetic: the testing
 * verifier is a few lines, and the production verifier's modules stay in the bundle (the
 * runtime imports them), so the import measured is the production handler's.
 */
export const handlerEntrySource = (testingVerifier: boolean) =>
  testingVerifier
    ? `import { createHandler } from ${JSON.stringify(join(root, FUNCTION_ENTRY))};
import { createInsecureTestingVerifier } from ${JSON.stringify(join(root, 'testing/attestation/insecure-verifier.ts'))};
export const handler = createHandler({ verifierFactory: () => createInsecureTestingVerifier() });
`
    : `export { handler } from ${JSON.stringify(join(root, FUNCTION_ENTRY))};\n`;

/** What one cold invocation took, measured in the child (ms since its process started) and by the parent. */
export interface ColdRun {
  /** Spawn → the child's exit, measured by the parent. */
  wallMs: number;
  /** Process start → the first line of the runner script (Node's own start). */
  bootMs: number;
  /** import() of the bundle. */
  importMs: number;
  /** The handler call. */
  invokeMs: number;
  response: {
    outcome: string;
    results?: {
      deployment: string;
      outcome: string;
      steps?: { step: string; ms: number }[];
      durationMs?: number;
      message?: string;
    }[];
  };
}

/** A fresh `node` imports the bundle and calls its handler once with `event`, as Lambda's runtime would. */
export function runCold(
  bundle: string,
  env: NodeJS.ProcessEnv,
  event: unknown,
  remainingMs = 300_000,
): Promise<ColdRun> {
  const script = `
const boot = performance.now();
const { handler } = await import(${JSON.stringify(pathToFileURL(bundle).href)});
const imported = performance.now();
const started = Date.now();
const ctx = { awsRequestId: crypto.randomUUID(), functionName: 'contrast-autorecover', getRemainingTimeInMillis: () => ${remainingMs} - (Date.now() - started) };
let response;
try { response = await handler(${JSON.stringify(event)}, ctx); } catch (err) { response = { outcome: 'threw: ' + err.message }; }
const done = performance.now();
process.stdout.write('\\n@@RESULT ' + JSON.stringify({ bootMs: boot, importMs: imported - boot, invokeMs: done - imported, response }) + '\\n');
process.exit(0);`;
  return new Promise((resolveRun, reject) => {
    const t0 = performance.now();
    const args = [
      ...(process.env.COLD_START_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      '--input-type=module',
      '-e',
      script,
    ];
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const wallMs = performance.now() - t0;
      const line = out.split('\n').find((l) => l.startsWith('@@RESULT '));
      if (code !== 0 || !line)
        return reject(
          new Error(`cold run of ${bundle} failed (exit ${code}): ${err.slice(-2000)} ${out.slice(-2000)}`),
        );
      resolveRun({ wallMs, ...(JSON.parse(line.slice(9)) as Omit<ColdRun, 'wallMs'>) });
    });
  });
}
