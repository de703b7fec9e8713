import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { classifyCoordinatorError } from '../../lambda/coordinator/answers.ts';

describe('Coordinator answers (docs/protocol.md §5) map to outcomes by code + substring', () => {
  it.each([
    [status.FAILED_PRECONDITION, 'coordinator is in recovery mode', 'unreachable', true],
    [status.FAILED_PRECONDITION, 'getting manifests: no manifest configured', 'no-state', false],
    [status.FAILED_PRECONDITION, 'coordinator is already recovered', 'already-healthy', false],
    [status.FAILED_PRECONDITION, 'recovery: no state to recover from', 'no-state', false],
    [status.FAILED_PRECONDITION, 'no persisted transaction to recover from', 'no-state', false],
    [status.FAILED_PRECONDITION, 'rejecting user recovery because 2 recovered peers are available', 'peers-available', false],
    [status.PERMISSION_DENIED, 'peer not authorized', 'unauthorized', false],
    [status.INVALID_ARGUMENT, 'initializing seed engine: seed too short', 'wrong-seed', false],
    [status.UNKNOWN, 'recovering: latest transition signature is invalid', 'wrong-seed', false],
    [status.INTERNAL, 'x: latest transition signature is invalid', 'wrong-seed', false],
  ] as const)('%s %s → %s', (code, message, outcome, stale) => {
    const c = classifyCoordinatorError(code, message);
    expect(c.outcome).toBe(outcome);
    expect(c.stale).toBe(stale);
  });

  it('needs the code to match too', () => {
    expect(classifyCoordinatorError(status.INTERNAL, 'peer not authorized').outcome).toBe('unreachable');
    expect(classifyCoordinatorError(status.PERMISSION_DENIED, 'something else').outcome).toBe('unreachable');
  });
});
