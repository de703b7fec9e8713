/**
 * The deployed bundle (esbuild with the function's options, infra/function-bundle.mjs): the
 * insecure testing verifier is not in it at all; what a scheduled no-op does not need is not
 * evaluated at import — @kubernetes/client-node and the Kubernetes side, the tracer with the
 * X-Ray SDK (loaded only when tracing is on) sit in lazily imported chunks; grpc-js's
 * @grpc/proto-loader, with protobufjs, a second protobuf runtime, is not bundled at all; and
 * of zod only its light entry point and the English messages are.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleEntry, handlerEntrySource, type BundleInfo } from '../../bench/bundle.ts';

const has = (inputs: string[], part: string) => inputs.some((i) => i.includes(part));

describe('handler bundle', () => {
  let dir: string;
  let b: BundleInfo;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'handler-bundle-'));
    b = await bundleEntry(handlerEntrySource(false), dir, 'handler');
  }, 60_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('leaves out the testing verifier and keeps the production one', () => {
    expect(b.allInputs.some((i) => i.endsWith('testing/attestation/insecure-verifier.ts'))).toBe(false);
    expect(b.bundledInputs.some((i) => i.endsWith('lambda/attestation/production.ts'))).toBe(true);
  });

  it.each([
    ['@kubernetes/client-node', 'node_modules/@kubernetes/client-node/'],
    ['the Kubernetes side', 'lambda/kubernetes/index.ts'],
    ["Powertools' tracer", 'node_modules/@aws-lambda-powertools/tracer/'],
    ['the X-Ray SDK', 'node_modules/aws-xray-sdk-core/'],
    ['its async-hook context (cls-hooked)', 'node_modules/cls-hooked/'],
    ['the client certificate code (@peculiar/x509)', 'node_modules/@peculiar/x509/'],
  ])('keeps %s lazy: bundled, not evaluated at import', (_what, part) => {
    expect(has(b.bundledInputs, part)).toBe(true);
    expect(has(b.entryInputs, part)).toBe(false);
  });

  it('does not bundle @grpc/proto-loader or protobufjs; grpc-js itself is in the startup chunk', () => {
    expect(has(b.allInputs, 'node_modules/@grpc/proto-loader/')).toBe(false);
    expect(has(b.allInputs, 'node_modules/protobufjs/')).toBe(false);
    expect(has(b.entryInputs, 'node_modules/@grpc/grpc-js/')).toBe(true);
  });

  it("bundles zod's light entry point with the English messages only, not zod's full API or other locales", () => {
    expect(has(b.entryInputs, 'node_modules/zod/v4/mini/')).toBe(true);
    expect(has(b.allInputs, 'node_modules/zod/v4/classic/')).toBe(false);
    const locales = b.bundledInputs
      .filter((i) => i.includes('node_modules/zod/v4/locales/'))
      .map((i) => i.replace(/.*\/locales\//, ''));
    expect(locales.filter((l) => !l.startsWith('index.'))).toEqual(['en.js']);
  });
});
