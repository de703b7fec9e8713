/**
 * Every Coordinator answer the project acts on, classified in this one place (docs/protocol.md
 * §5; docs/compatibility.md for the releases): the outcome of an RPC error, and the state a
 * GetManifests answer reveals to the probe. Matched by gRPC code plus a message substring,
 * never the whole text, because wording and wrapping change between releases:
 *  - edgelesssys/contrast coordinator/internal/authority/userapi.go (early generation):
 *    "no persisted transaction to recover from", "recovery failed: …" (a wrong seed, as
 *    InvalidArgument), "the coordinator was recovered concurrently";
 *  - coordinator/internal/userapi/userapi.go (later generations): "no state to recover from",
 *    "rejecting user recovery because N recovered peers are available", and Recover errors
 *    wrapped in plain Go errors ("resetting state: …"), which a grpc-go that unwraps keeps at
 *    the inner code and an older one sends as Unknown — so both codes are accepted;
 *  - GetManifests: "coordinator is in recovery mode" (stale), "no manifest configured"
 *    (earliest releases: "no manifests set").
 */
import { status } from '@grpc/grpc-js';
import type { Outcome } from '../shared/outcomes.ts';

interface Rule {
  codes: status[];
  substrings: string[];
  outcome: Outcome;
  advice: string;
  /** What this answer says about the Coordinator when the probe's GetManifests gets it. */
  probeState?: 'stale' | 'no-manifest';
}

const RULES: Rule[] = [
  {
    codes: [status.FAILED_PRECONDITION],
    substrings: ['coordinator is in recovery mode'],
    outcome: 'unreachable',
    advice: 'the Coordinator is stale and needs Recover',
    probeState: 'stale',
  },
  {
    codes: [status.FAILED_PRECONDITION],
    substrings: ['no manifest configured', 'no manifests set'],
    outcome: 'no-state',
    advice: 'no manifest was ever set on this Coordinator; run `contrast set` first',
    probeState: 'no-manifest',
  },
  {
    codes: [status.FAILED_PRECONDITION],
    substrings: ['coordinator is already recovered', 'the coordinator was recovered concurrently'],
    outcome: 'already-healthy',
    advice: 'someone else recovered it; nothing to do',
  },
  {
    codes: [status.FAILED_PRECONDITION],
    substrings: ['no state to recover from', 'no persisted transaction to recover from'],
    outcome: 'no-state',
    advice:
      'the Coordinator has no persisted history (contrast-store ConfigMaps); set a manifest with `contrast set` instead',
  },
  {
    codes: [status.FAILED_PRECONDITION],
    substrings: ['rejecting user recovery because'],
    outcome: 'peers-available',
    advice: 'a Ready peer Coordinator will recover it and keep the mesh CA; wait for it',
  },
  {
    codes: [status.PERMISSION_DENIED, status.UNKNOWN],
    substrings: ['peer not authorized'],
    outcome: 'unauthorized',
    advice:
      "the owner key is not in the manifest's SeedshareOwnerPubKeys; re-enroll with the workspace's seedshare-owner.pem",
  },
  {
    codes: [status.INVALID_ARGUMENT, status.UNKNOWN],
    substrings: ['initializing seed engine'],
    outcome: 'wrong-seed',
    advice: 'the seed or salt has the wrong length; re-enroll from the workspace of the first `contrast set`',
  },
  {
    codes: [status.UNKNOWN, status.INTERNAL, status.INVALID_ARGUMENT],
    substrings: ['latest transition signature is invalid'],
    outcome: 'wrong-seed',
    advice: "the seed does not match the Coordinator's history; re-enroll with the seed-shares.json of this deployment",
  },
  {
    // The early generation verifies the history with the new seed before anything else.
    codes: [status.INVALID_ARGUMENT],
    substrings: ['recovery failed'],
    outcome: 'wrong-seed',
    advice: "the seed does not match the Coordinator's history; re-enroll with the seed-shares.json of this deployment",
  },
];

export interface Classification {
  outcome: Outcome;
  advice: string;
  /** What the answer reveals about the Coordinator to the probe; undefined: nothing (an error). */
  probeState: 'stale' | 'no-manifest' | undefined;
  /** True when this is the stale answer of GetManifests. */
  stale: boolean;
  /** True when a rule above matched: a refusal Contrast sends before it changes anything. */
  recognised: boolean;
}

export function classifyCoordinatorError(code: status, details: string): Classification {
  const text = details.toLowerCase();
  for (const rule of RULES) {
    if (rule.codes.includes(code) && rule.substrings.some((s) => text.includes(s))) {
      return {
        outcome: rule.outcome,
        advice: rule.advice,
        probeState: rule.probeState,
        stale: rule.probeState === 'stale',
        recognised: true,
      };
    }
  }
  return {
    outcome: 'unreachable',
    advice: 'unexpected answer; it is retried — if it persists, check the Coordinator logs and the Contrast version',
    probeState: undefined,
    stale: false,
    recognised: false,
  };
}

/** The probe's reading of a GetManifests refusal: stale, never configured, or neither. */
export function probeStateOf(code: status, details: string): 'stale' | 'no-manifest' | undefined {
  return classifyCoordinatorError(code, details).probeState;
}
