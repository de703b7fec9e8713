/** Reconcile results for tests that replace reconcile itself (fan-out, waves, sweeps). */
import type { ReconcileResult } from '../../lambda/reconcile/types.ts';

/** What a reconcile answers for a healthy Coordinator: nothing sent, nothing decrypted. */
export function healthyResult(deployment: string, message = 'healthy'): ReconcileResult {
  return {
    deployment,
    outcome: 'already-healthy',
    message,
    coordinatorState: 'healthy',
    kmsDecrypts: 0,
    recoverSent: false,
    force: false,
    dryRun: false,
    steps: [],
    durationMs: 0,
  };
}
