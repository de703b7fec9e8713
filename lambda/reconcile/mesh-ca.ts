/**
 * Mesh CA generations: which key the Coordinator's mesh CA uses, when it was created, and
 * whether this service made it. A generation is named by the SHA-256 of the key's
 * SubjectPublicKeyInfo, never by a certificate: Contrast mints a new certificate on every
 * `ca.New` — also when a peer recovery hands the same key over — so fingerprints and NotBefore
 * change where the key, and with it every workload certificate, stays valid
 * (edgelesssys/contrast internal/ca/ca.go; coordinator/internal/meshapi/meshapi.go passes
 * the mesh CA private key to a recovering peer).
 */
import { createHash, X509Certificate } from 'node:crypto';
import { MAX_CLOCK_SKEW_MS } from '../kubernetes/stale.ts';
import type { MeshCaGeneration, RecoverAttempt, RecoveryRecord } from './types.ts';

/** Contrast's ca.New sets NotBefore one hour before it creates the certificates (internal/ca/ca.go). */
const CONTRAST_NOT_BEFORE_BACKDATE_MS = 3_600_000;

/**
 * How long after our intent a new key found without a recorded answer still counts as our
 * Recover's (a kill between Recover and its bookkeeping): the longest a function runs.
 */
export const ADOPT_WINDOW_MS = 15 * 60_000;

export interface MeshCaCertificate {
  spkiSha256: string;
  /** NotBefore, epoch ms (X.509: whole seconds). */
  notBefore: number;
}

export function meshCaCertificate(pem: string): MeshCaCertificate | undefined {
  if (!pem.includes('BEGIN CERTIFICATE')) return undefined;
  try {
    const cert = new X509Certificate(pem);
    const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
    return { spkiSha256: createHash('sha256').update(spki).digest('hex'), notBefore: Date.parse(cert.validFrom) };
  } catch {
    return undefined;
  }
}

/** The key's creation as the certificate tells it: NotBefore + 1 h (a lower bound, second precision). */
export function keyCreatedFromCertificate(cert: MeshCaCertificate): number {
  return cert.notBefore + CONTRAST_NOT_BEFORE_BACKDATE_MS;
}

/** Attempts whose Recover may have gone through without the answer being recorded. */
const MAYBE_SENT = new Set<RecoverAttempt['status']>(['pending', 'interrupted', 'unknown', 'accepted']);

/** What a reconcile knows besides the certificate when it looks at a key. */
export interface KeySighting {
  /** The manifest history's identity served with the key (coordinator/manifest.ts, historyIdentity). */
  history?: string;
  /** The deployment's Coordinator pods, when the Kubernetes side could tell (peers.ts). */
  coordinators?: {
    pods: number;
    /** startedAt (epoch ms) of their running containers. */
    containersStartedAt: number[];
  };
  /**
   * A probe window saw only this key after replicas had served two: take it as the one key
   * left, even if it is one the record had replaced.
   */
  oneKeyAfterTwo?: boolean;
}

export type GenerationChange = {
  generation: MeshCaGeneration;
  /** The classification changed (a write is due besides `lastSeenAt`). */
  changed: boolean;
  /** The key the record held before, now replaced (kept to recognise its return). */
  replaced?: { spkiSha256: string; lastSeenAt: number };
  /** The served key is one the record had replaced: replicas serve two keys at once; the record keeps its key. */
  twoKeys?: true;
};

/**
 * The generation of the key the Coordinator serves now, and whether the record must change.
 * `ours` is this reconcile's accepted Recover. Otherwise a known key keeps its record; a new
 * key is our Recover's when an unfinished attempt was recorded shortly before it was created
 * (a crash between Recover and the restarts), else classified by `classifyNewKey`.
 */
export function currentGeneration(
  record: RecoveryRecord,
  cert: MeshCaCertificate,
  now: number,
  marginMs: number,
  ours?: RecoverAttempt,
  seen: KeySighting = {},
): GenerationChange {
  const known = record.meshCa;
  const history = seen.history !== undefined ? { history: seen.history } : {};
  const replaced =
    known && known.spkiSha256 !== cert.spkiSha256
      ? { replaced: { spkiSha256: known.spkiSha256, lastSeenAt: known.lastSeenAt ?? known.firstSeenAt } }
      : {};
  /** A key first seen now, made by this attempt's Recover: dated by its intent. */
  const madeByRecover = (attempt: RecoverAttempt): MeshCaGeneration => ({
    spkiSha256: cert.spkiSha256,
    createdAt: attempt.at,
    cause: 'recover',
    attemptId: attempt.id,
    certificateNotBefore: cert.notBefore,
    firstSeenAt: now,
    lastSeenAt: now,
    ...history,
  });
  if (ours) {
    if (known?.spkiSha256 === cert.spkiSha256 && known.attemptId === ours.id)
      return { generation: { ...known, lastSeenAt: now }, changed: false };
    return { generation: madeByRecover(ours), changed: true, ...replaced };
  }
  // A rotation never returns to a key it replaced (every new key is random, a peer hands over
  // the current one): a replaced key served again means two keys at once (docs/operate.md).
  if (known && !seen.oneKeyAfterTwo && record.supersededKeys?.some((k) => k.spkiSha256 === cert.spkiSha256))
    return { generation: known, changed: false, twoKeys: true };
  const fromCertificate = keyCreatedFromCertificate(cert);
  if (known?.spkiSha256 === cert.spkiSha256) {
    const generation = { ...known, lastSeenAt: now, ...(known.history === undefined ? history : {}) };
    // Replicas hold certificates of different ages over one key: the oldest dates the key
    // (an upper bound on its creation), unless our own intent dates it.
    if (known.cause !== 'recover' && fromCertificate < known.createdAt)
      return {
        generation: { ...generation, createdAt: fromCertificate, certificateNotBefore: cert.notBefore },
        changed: true,
      };
    return { generation, changed: generation.history !== known.history };
  }
  // A new key first seen after an unfinished attempt is that attempt's. The intent was recorded
  // right after a probe found the Coordinator stale (it served no key then), and this key is
  // first seen now, after the intent: so it was made after the intent, whatever the
  // Coordinator's clock says. Its certificate only has to agree within the skew bound
  // (MAX_CLOCK_SKEW_MS; a Coordinator clock 5 s behind dates the key before our intent).
  const adopted = [...record.attempts]
    .reverse()
    .find(
      (a) =>
        MAYBE_SENT.has(a.status) &&
        a.id !== known?.attemptId &&
        now >= a.at &&
        fromCertificate >= a.at - Math.max(marginMs + 1_000, MAX_CLOCK_SKEW_MS) &&
        fromCertificate <= a.at + ADOPT_WINDOW_MS + MAX_CLOCK_SKEW_MS,
    );
  if (adopted) return { generation: madeByRecover(adopted), changed: true, ...replaced };
  return {
    generation: {
      spkiSha256: cert.spkiSha256,
      ...classifyNewKey(record.meshCa, fromCertificate, now, seen),
      certificateNotBefore: cert.notBefore,
      firstSeenAt: now,
      lastSeenAt: now,
      ...history,
    },
    changed: true,
    ...replaced,
  };
}

/**
 * A key this service did not make: whose it is and when it was made (docs/operate.md, "Whose
 * rotation").
 * - Dating. NotBefore + 1 h is when `ca.New` minted the certificate. Where no peer can have
 *   handed the key over (one Coordinator replica) that is the key's creation. Otherwise a peer
 *   recovery may have re-issued an older key's certificate (meshapi.go hands the private key
 *   over; ca.go mints anew), so NotBefore + 1 h — and the first sight — only bound it from
 *   above, and the previous key's last sighting bounds it from below; a key first seen with
 *   no earlier record has no lower bound (a baseline). Pods in between are `unknown-age`: the
 *   rule errs towards leaving a pod that may hold an old certificate, listed with its reason,
 *   never towards restarting one that may be fresh.
 * - Cause. The history unchanged (stateguard.go: only UpdateState appends a transition), or a
 *   Coordinator container started after the previous key was last seen (a restart loses the
 *   key, so only a Recover can have made this one — whatever the history did meanwhile): a
 *   recovery, restarted as after ours. The history changed with no Coordinator restart: a
 *   `contrast set`, reported unless the deployment opts in.
 */
function classifyNewKey(
  previous: MeshCaGeneration | undefined,
  fromCertificate: number,
  now: number,
  seen: KeySighting,
): Pick<MeshCaGeneration, 'cause' | 'createdAt' | 'createdAfter'> {
  const single = seen.coordinators !== undefined && seen.coordinators.pods <= 1;
  const upper = Math.min(fromCertificate, now);
  if (!previous)
    return single
      ? { cause: 'observed', createdAt: fromCertificate }
      : { cause: 'baseline', createdAt: upper, createdAfter: 0 };
  const previousSeen = previous.lastSeenAt ?? previous.firstSeenAt;
  // Identities of different kinds (a Coordinator upgraded past the state guard) never match;
  // the upgrade restarted the Coordinator, which the second rule sees.
  const sameHistory = previous.history !== undefined && previous.history === seen.history;
  const restarted = seen.coordinators?.containersStartedAt.some((t) => t > previousSeen) ?? false;
  const cause = sameHistory || restarted ? 'recovery' : 'observed';
  if (single) return { cause, createdAt: fromCertificate };
  return { cause, createdAt: upper, createdAfter: Math.min(previousSeen, upper) };
}

/** The one in-memory record (a reconcile given no durable store, the CLI, tests): the same rules, nothing durable. */
export function memoryRecordStore(initial: RecoveryRecord = { attempts: [] }) {
  let record = structuredClone(initial);
  return {
    get record(): RecoveryRecord {
      return record;
    },
    read: () => Promise.resolve(structuredClone(record)),
    update: (change: (r: RecoveryRecord) => RecoveryRecord) => {
      record = change(structuredClone(record));
      return Promise.resolve(structuredClone(record));
    },
  };
}
