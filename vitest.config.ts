import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts', 'test/infra/synth-setup.ts'],
    reporters: ['default', './test/support/timing-reporter.ts'],
    pool: 'forks',
    // vitest's default is one fork per core less one: a single fork on a 2-core machine. The
    // suites mostly wait on sockets (moto, the emulators, child processes), so two forks at least.
    maxWorkers: Math.max(2, availableParallelism()),
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Tests never touch real AWS: an endpoint is always set explicitly per client.
    env: {
      AWS_REGION: 'eu-central-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      CDK_DISABLE_CLI_TELEMETRY: 'true',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
  },
});
