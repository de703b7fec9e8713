/**
 * The function's code: the handler bundled by local esbuild (no Docker), ESM, with code
 * splitting so that modules the handler imports dynamically — the Kubernetes side with
 * @kubernetes/client-node, the client-certificate code with @peculiar/x509 — land in
 * chunks that Node reads and parses only when a reconcile needs them. A scheduled no-op
 * therefore starts without them (NodejsFunction emits one file and cannot split).
 */
import { buildSync } from 'esbuild';
import path from 'node:path';
import { AssetHashType, DockerImage } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';

/** The handler property for the bundle: file index.mjs, export `handler`. */
export const HANDLER = 'index.handler';

export function splitBundleCode(entry: string, projectRoot: string): lambda.Code {
  return lambda.Code.fromAsset(path.dirname(entry), {
    // Hash the bundle, not the source tree: the bundle is what runs.
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Never used: local bundling always succeeds or throws. CDK requires an image.
      image: DockerImage.fromRegistry('public.ecr.aws/sam/build-nodejs22.x'),
      local: {
        tryBundle(outputDir: string): boolean {
          buildSync({
            entryPoints: { index: entry },
            bundle: true,
            platform: 'node',
            target: 'node22',
            format: 'esm',
            splitting: true,
            outdir: outputDir,
            outExtension: { '.js': '.mjs' },
            mainFields: ['module', 'main'],
            minify: true,
            sourcemap: false,
            logLevel: 'error',
            absWorkingDir: projectRoot,
            nodePaths: [path.join(projectRoot, 'node_modules')],
            // Bundle everything, the AWS SDK included: the runtime's SDK v3 is whatever Lambda
            // ships that week; ours is the version pinned in package-lock.json and tested.
            external: [],
            // CommonJS dependencies (grpc-js, …) require() Node built-ins; ESM needs a real require.
            banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
          });
          return true;
        },
      },
    },
  });
}
