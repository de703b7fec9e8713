// The function's bundle, one definition for both builders: scripts/build.mjs prebuilds it into
// dist/function for the published package, infra/function-code.ts builds it at synth from the
// TypeScript sources (this repository's app and tests). Plain JavaScript, so build.mjs can load
// it before anything is compiled.
//
// Local esbuild (no Docker), ESM, with code splitting so that modules the handler imports
// dynamically — the Kubernetes side with @kubernetes/client-node, the client-certificate code
// with @peculiar/x509 — land in chunks Node reads only when a reconcile needs them. Everything
// is bundled, the AWS SDK included: the runtime's SDK is whatever Lambda ships that week; ours
// is the version package-lock.json pins and the tests ran.
import path from 'node:path';

/** The handler property for the bundle: file index.mjs, export `handler`. */
export const HANDLER = 'index.handler';

/** The function's source entry, relative to the project root. */
export const FUNCTION_ENTRY = 'lambda/function/handler.ts';

/** The scheduled audit function's source entry (a bundle of its own, dist/audit-function). */
export const AUDIT_FUNCTION_ENTRY = 'lambda/audit/handler.ts';

/** esbuild options that bundle `entry` into `outdir` (absolute paths). */
export function functionBundleOptions({ entry, outdir, projectRoot }) {
  return {
    entryPoints: { index: entry },
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    splitting: true,
    outdir,
    outExtension: { '.js': '.mjs' },
    mainFields: ['module', 'main'],
    minify: true,
    sourcemap: false,
    logLevel: 'error',
    absWorkingDir: projectRoot,
    nodePaths: [path.join(projectRoot, 'node_modules')],
    // grpc-js require()s @grpc/proto-loader (and with it protobufjs, a second protobuf runtime
    // of ~130 KB that Node would parse at every cold start) only inside the functions that build
    // its channelz and ORCA service definitions (@grpc/grpc-js build/src/channelz.js, orca.js):
    // server-side admin services and the weighted_round_robin policy, which only a service
    // config selects — the Coordinator client takes none (lambda/coordinator/client.ts). They
    // could not work in the bundle anyway: they read .proto files from grpc-js' own directory.
    // Left out, such a call would fail by name ("Cannot find module '@grpc/proto-loader'").
    external: ['@grpc/proto-loader'],
    // CommonJS dependencies (grpc-js, …) require() Node built-ins; ESM needs a real require.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  };
}
