/** AWS SDK settings for tests against the shared moto server. */
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';

export const motoEndpoint: string = inject('motoEndpoint');
export const motoAvailable = motoEndpoint !== '';
export const SKIP_REASON = 'skipped: moto not installed';

export const TEST_REGION = 'eu-central-1';

export function awsClientConfig() {
  return {
    region: TEST_REGION,
    endpoint: motoEndpoint,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 1,
  };
}

/** A name unique to this test run, so tests sharing the moto server never collide. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}
