import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { classifyCoordinatorError, probeStateOf } from '../../lambda/coordinator/answers.ts';

describe('Coordinator answers (docs/protocol.md §5, every supported release) map to outcomes by code + substring', () => {
  it.each([
    [status.FAILED_PRECONDITION, 'coordinator is in recovery mode', 'unreachable', true],
    [status.FAILED_PRECONDITION, 'getting manifests: no manifest configured', 'no-state', false],
    [status.FAILED_PRECONDITION, 'no manifests set', 'no-state', false],
    [status.FAILED_PRECONDITION, 'coordinator is already recovered', 'already-healthy', false],
    [status.FAILED_PRECONDITION, 'the coordinator was recovered concurrently', 'already-healthy', false],
    [status.FAILED_PRECONDITION, 'recovery: no state to recover from', 'no-state', false],
    [status.FAILED_PRECONDITION, 'no persisted transaction to recover from', 'no-state', false],
    [
      status.FAILED_PRECONDITION,
      'rejecting user recovery because 2 recovered peers are available',
      'peers-available',
      false,
    ],
    [
      status.PERMISSION_DENIED,
      'peer not authorized to recover existing state: peer not authorized',
      'unauthorized',
      false,
    ],
    // Later generations wrap the authorizer's status in plain Go errors; an older grpc-go sends those as Unknown.
    [
      status.UNKNOWN,
      'resetting state: authorizing seed source: rpc error: code = PermissionDenied desc = peer not authorized',
      'unauthorized',
      false,
    ],
    [status.INVALID_ARGUMENT, 'initializing seed engine: seed too short', 'wrong-seed', false],
    [
      status.UNKNOWN,
      'resetting state: authorizing seed source: rpc error: code = InvalidArgument desc = initializing seed engine: x',
      'wrong-seed',
      false,
    ],
    [status.UNKNOWN, 'recovering: latest transition signature is invalid', 'wrong-seed', false],
    [
      status.INTERNAL,
      'Reading latest transition with new seedengine: latest transition signature is invalid',
      'wrong-seed',
      false,
    ],
    // The early generation verifies the history with the seed first.
    [status.INVALID_ARGUMENT, 'recovery failed: verifying history: x', 'wrong-seed', false],
  ] as const)('%s %s → %s', (code, message, outcome, stale) => {
    const c = classifyCoordinatorError(code, message);
    expect(c.outcome).toBe(outcome);
    expect(c.stale).toBe(stale);
  });

  it('needs the code to match too', () => {
    expect(classifyCoordinatorError(status.INTERNAL, 'peer not authorized').outcome).toBe('unreachable');
    expect(classifyCoordinatorError(status.PERMISSION_DENIED, 'something else').outcome).toBe('unreachable');
    expect(classifyCoordinatorError(status.UNKNOWN, 'coordinator is in recovery mode').outcome).toBe('unreachable');
    expect(classifyCoordinatorError(status.INTERNAL, 'recovery failed').outcome).toBe('unreachable');
  });

  it("classifies the probe's GetManifests refusals (stale, never configured) in the same place", () => {
    expect(probeStateOf(status.FAILED_PRECONDITION, 'coordinator is in recovery mode')).toBe('stale');
    expect(probeStateOf(status.FAILED_PRECONDITION, 'Coordinator Is In Recovery Mode')).toBe('stale');
    expect(probeStateOf(status.FAILED_PRECONDITION, 'no manifest configured')).toBe('no-manifest');
    expect(probeStateOf(status.FAILED_PRECONDITION, 'no manifests set')).toBe('no-manifest');
    expect(probeStateOf(status.INTERNAL, 'coordinator is in recovery mode')).toBeUndefined();
    expect(probeStateOf(status.FAILED_PRECONDITION, 'coordinator is already recovered')).toBeUndefined();
  });
});
