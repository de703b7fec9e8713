/**
 * Maps every Coordinator answer of docs/protocol.md §5 to an outcome, by gRPC code plus a
 * message substring (never the whole text: wording changes between releases).
 */
import { status } from '@grpc/grpc-js';
import type { Outcome } from '../shared/outcomes.ts';

interface Rule {
  codes: status[];
  substrings: string[];
  outcome: Outcome;
  advice: string;
}

const RULES: Rule[] = [
  {
    codes: [status.FAILED_PRECONDITION],
    substrings: ['coordinator is in recovery mode'],
    outcome: 'unreachable',
    advice: 'the Coordinator is stale and needs Recover',
  },
  {
    codes: [status.FAILED_PRECONDITION],
    substrings: ['no manifest configured'],
    outcome: 'no-state',
    advice: 'no manifest was ever set on this Coordinator; run `contrast set` first',
  },
  {
    codes: [status.FAILED_PRECONDITION],
    substrings: ['coordinator is already recovered'],
    outcome: 'already-healthy',
    advice: 'someone else recovered it; nothing to do',
  },
  {
    codes: [status.FAILED_PRECONDITION],
    substrings: ['no state to recover from', 'no persisted transaction to recover from'],
    outcome: 'no-state',
    advice: 'the Coordinator has no persisted history (contrast-store ConfigMaps); set a manifest with `contrast set` instead',
  },
  {
    codes: [status.FAILED_PRECONDITION],
    substrings: ['rejecting user recovery because'],
    outcome: 'peers-available',
    advice: 'a Ready peer Coordinator will recover it and keep the mesh CA; wait for it',
  },
  {
    codes: [status.PERMISSION_DENIED],
    substrings: ['peer not authorized'],
    outcome: 'unauthorized',
    advice: "the owner key is not in the manifest's SeedshareOwnerPubKeys; re-enroll with the workspace's seedshare-owner.pem",
  },
  {
    codes: [status.INVALID_ARGUMENT],
    substrings: ['initializing seed engine'],
    outcome: 'wrong-seed',
    advice: 'the seed or salt has the wrong length; re-enroll from the workspace of the first `contrast set`',
  },
  {
    codes: [status.UNKNOWN, status.INTERNAL],
    substrings: ['latest transition signature is invalid'],
    outcome: 'wrong-seed',
    advice: "the seed does not match the Coordinator's history; re-enroll with the seed-shares.json of this deployment",
  },
];

export interface Classification {
  outcome: Outcome;
  advice: string;
  /** True when this is the stale answer of GetManifests. */
  stale: boolean;
}

export function classifyCoordinatorError(code: status, details: string): Classification {
  const text = details.toLowerCase();
  for (const rule of RULES) {
    if (rule.codes.includes(code) && rule.substrings.some((s) => text.includes(s))) {
      return { outcome: rule.outcome, advice: rule.advice, stale: rule.substrings[0] === 'coordinator is in recovery mode' };
    }
  }
  return {
    outcome: 'unreachable',
    advice: 'unexpected answer; it is retried — if it persists, check the Coordinator logs and the Contrast version',
    stale: false,
  };
}
