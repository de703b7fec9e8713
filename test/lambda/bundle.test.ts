/**
 * The deployed bundle (esbuild, like the function's packaging): the insecure testing verifier
 * is not in it at all, and @kubernetes/client-node is not evaluated at import — it sits in a
 * lazily imported chunk, loaded only when reconcile has Kubernetes work.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleEntry, handlerEntrySource } from '../../bench/cold-start.ts';

describe('handler bundle', () => {
  it('leaves out the testing verifier and keeps @kubernetes/client-node lazy', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'handler-bundle-'));
    try {
      const b = await bundleEntry(handlerEntrySource(false), dir, 'handler');
      expect(b.allInputs.some((i) => i.endsWith('lambda/attestation/testing.ts'))).toBe(false);
      expect(b.allInputs.some((i) => i.endsWith('lambda/attestation/production.ts'))).toBe(true);
      expect(b.allInputs.some((i) => i.includes('@kubernetes/client-node'))).toBe(true);
      expect(b.entryInputs.some((i) => i.includes('@kubernetes/client-node'))).toBe(false);
      expect(b.entryInputs.some((i) => i.endsWith('lambda/kubernetes/index.ts'))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
