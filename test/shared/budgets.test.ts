/**
 * The time budgets: what each reconcile step needs, the lease minimum derived from them, and
 * the figures README and docs/operate.md state (they must follow lambda/shared/budgets.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  awsCallMs,
  BUDGETS,
  budgetsWith,
  kubernetesCallMs,
  KUBERNETES_LIMITS,
  KUBERNETES_RETRY,
  MIN_LEASE_SECONDS,
  minLeaseSeconds,
  recoverMs,
  stepBudgetsOf,
  stepNeedMs,
} from '../../lambda/shared/budgets.ts';
import { REPO_ROOT } from '../support/cli.ts';

const s = stepBudgetsOf(BUDGETS);

describe('time budgets', () => {
  it('bound every AWS call by timeouts and attempts (a timeout is an error, not a warning)', () => {
    // Attempts plus the SDK's longest backoff between them (throttling base, Retry-After extra).
    expect(awsCallMs({ connectionTimeoutMs: 1, requestTimeoutMs: 1_000, maxAttempts: 1 })).toBe(1_000);
    expect(awsCallMs({ connectionTimeoutMs: 1, requestTimeoutMs: 1_000, maxAttempts: 3 })).toBe(
      3_000 + (1_000 + 5_000) + (2_000 + 5_000),
    );
  });

  it('give no Decrypt without time for the Recover intent and the Recover after it, except in a dry run', () => {
    // The bundle's read right before the Decrypt (a kept copy is never decrypted from), the Decrypt, the intent's write.
    expect(stepNeedMs('decrypt', s)).toBe(3 * s.awsCallMs + recoverMs(s));
    expect(stepNeedMs('decrypt', s, { dryRun: true })).toBe(2 * s.awsCallMs);
    // The bundle: the version check, then the read when the version changed (keys/warm-bundles.ts).
    expect(stepNeedMs('load-bundle', s)).toBe(2 * s.awsCallMs);
    // Recover, the write of how it ended, and the confirming GetManifests.
    expect(stepNeedMs('recover', s)).toBe(s.handshakeTimeoutMs + s.rpcTimeoutMs + s.awsCallMs + s.rpcTimeoutMs);
    expect(stepNeedMs('confirm', s)).toBe(0); // covered by Recover's: a sent Recover is always confirmed
  });

  it('derive the lease minimum from the handshake, RPC, Decrypt and record-write budgets', () => {
    const longer = stepBudgetsOf(
      budgetsWith({ coordinator: { rpcTimeoutMs: BUDGETS.coordinator.rpcTimeoutMs + 10_000 } }),
    );
    expect(minLeaseSeconds(longer)).toBe(MIN_LEASE_SECONDS + 30); // probe, Recover and confirm: three RPCs
    expect(MIN_LEASE_SECONDS * 1000).toBeGreaterThanOrEqual(
      stepNeedMs('load-bundle', s) +
        stepNeedMs('probe', s) +
        stepNeedMs('peers', s) +
        stepNeedMs('decrypt', s) +
        BUDGETS.leaseMarginMs,
    );
    // The peer check counts every attempt of its request and the longest wait between them.
    expect(stepNeedMs('peers', s)).toBe(kubernetesCallMs());
    expect(kubernetesCallMs({ requestTimeoutMs: 1_000, attempts: 3 })).toBe(
      3 * 1_000 + 2 * Math.max(KUBERNETES_RETRY.backoffMaxMs, KUBERNETES_RETRY.retryAfterMaxMs),
    );
  });

  it('are stated in README and docs/operate.md as budgets.ts has them', () => {
    const docs =
      readFileSync(join(REPO_ROOT, 'docs', 'operate.md'), 'utf8') + readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    for (const figure of [
      `at least ${MIN_LEASE_SECONDS} s`,
      `at most ${awsCallMs() / 1000} s`,
      `${BUDGETS.aws.requestTimeoutMs / 1000} s per attempt`,
      `${BUDGETS.coordinator.handshakeTimeoutMs / 1000} s`,
      `${BUDGETS.coordinator.rpcTimeoutMs / 1000} s`,
      `the Decrypt ${stepNeedMs('decrypt', s) / 1000} s`,
      `the Recover ${stepNeedMs('recover', s) / 1000} s`,
      `the probe ${stepNeedMs('probe', s) / 1000} s`,
      `at most ${kubernetesCallMs() / 1000} s`,
      `${KUBERNETES_LIMITS.responseBytes / (1024 * 1024)} MiB`,
      `${KUBERNETES_LIMITS.listItems.toLocaleString('en')} items`,
      `${KUBERNETES_LIMITS.listPages} pages`,
      `pages of ${KUBERNETES_LIMITS.pageSize}`,
      `more than ${KUBERNETES_LIMITS.listRestarts} times`,
    ]) {
      expect(docs.replace(/\s+/g, ' ')).toContain(figure.replace(/\s+/g, ' '));
    }
  });
});
