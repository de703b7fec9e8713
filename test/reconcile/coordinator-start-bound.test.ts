/**
 * Issue #19 item 4: reconcile enables the Coordinator-start bound only for a key a Recover made,
 * with a moment before which the key did not exist (lambda/kubernetes/stale.ts applies it).
 */
import { describe, expect, it } from 'vitest';
import { MAX_CLOCK_SKEW_MS } from '../../lambda/kubernetes/stale.ts';
import { recoveredKeyBound } from '../../lambda/reconcile/reconcile.ts';
import type { MeshCaGeneration, RecoverAttempt } from '../../lambda/reconcile/types.ts';

const HOUR = 3_600_000;
const T = Date.parse('2026-12-07T12:00:00Z');

const generation = (over: Partial<MeshCaGeneration>): MeshCaGeneration => ({
  spkiSha256: 'k',
  createdAt: T,
  cause: 'recover',
  attemptId: 'a1',
  // The Recover's certificate: made 3 s after the intent (NotBefore backdated by an hour).
  certificateNotBefore: T + 3_000 - HOUR,
  firstSeenAt: T + 4_000,
  ...over,
});
const ours: RecoverAttempt = { id: 'a1', at: T, status: 'accepted', force: false };

describe('the Coordinator-start bound in reconcile (issue #19 item 4)', () => {
  it('never for an observed key: a peer may have handed it over', () => {
    expect(recoveredKeyBound(generation({ cause: 'observed', attemptId: undefined }), undefined)).toEqual({});
  });

  it("right after our own Recover: the certificate it made dates the key on the Coordinator's clock", () => {
    expect(recoveredKeyBound(generation({}), ours)).toEqual({ recoveredKeyMadeAfter: new Date(T + 3_000) });
  });

  it('for a later run (or another attempt) only the intent less the skew bound: its first-seen certificate may be a re-issue', () => {
    expect(recoveredKeyBound(generation({}), undefined)).toEqual({
      recoveredKeyMadeAfter: new Date(T - MAX_CLOCK_SKEW_MS),
    });
    expect(recoveredKeyBound(generation({}), { ...ours, id: 'other' })).toEqual({
      recoveredKeyMadeAfter: new Date(T - MAX_CLOCK_SKEW_MS),
    });
  });

  it("someone else's Recover (cause `recovery`): its lower bound less the skew bound, never the upper", () => {
    const manual = { cause: 'recovery' as const, attemptId: undefined };
    expect(recoveredKeyBound(generation(manual), undefined)).toEqual({
      recoveredKeyMadeAfter: new Date(T - MAX_CLOCK_SKEW_MS),
    });
    // Only bounded (replicas): the last sighting of the previous key is the moment it surely did not exist.
    expect(recoveredKeyBound(generation({ ...manual, createdAfter: T - 10 * 60_000 }), undefined)).toEqual({
      recoveredKeyMadeAfter: new Date(T - 10 * 60_000 - MAX_CLOCK_SKEW_MS),
    });
  });
});
