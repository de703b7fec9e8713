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

/**
 * The generation of the key the Coordinator serves now, and whether the record must change.
 * `ours` is this reconcile's accepted Recover. Otherwise a known key keeps its record; a new
 * key is our Recover's when an unfinished attempt was recorded shortly before it was created
 * (a crash between Recover and the restarts), else a rotation this service did not cause.
 */
export function currentGeneration(
  record: RecoveryRecord,
  cert: MeshCaCertificate,
  now: number,
  marginMs: number,
  ours?: RecoverAttempt,
): { generation: MeshCaGeneration; changed: boolean } {
  const known = record.meshCa;
  if (ours) {
    if (known?.spkiSha256 === cert.spkiSha256 && known.attemptId === ours.id)
      return { generation: known, changed: false };
    return {
      generation: {
        spkiSha256: cert.spkiSha256,
        createdAt: ours.at,
        cause: 'recover',
        attemptId: ours.id,
        certificateNotBefore: cert.notBefore,
        firstSeenAt: now,
      },
      changed: true,
    };
  }
  const fromCertificate = keyCreatedFromCertificate(cert);
  if (known?.spkiSha256 === cert.spkiSha256) {
    // Replicas hold certificates of different ages over one key: the oldest dates the key.
    if (known.cause === 'observed' && fromCertificate < known.createdAt) {
      return {
        generation: { ...known, createdAt: fromCertificate, certificateNotBefore: cert.notBefore },
        changed: true,
      };
    }
    return { generation: known, changed: false };
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
  if (adopted) {
    return {
      generation: {
        spkiSha256: cert.spkiSha256,
        createdAt: adopted.at,
        cause: 'recover',
        attemptId: adopted.id,
        certificateNotBefore: cert.notBefore,
        firstSeenAt: now,
      },
      changed: true,
    };
  }
  return {
    generation: {
      spkiSha256: cert.spkiSha256,
      createdAt: fromCertificate,
      cause: 'observed',
      certificateNotBefore: cert.notBefore,
      firstSeenAt: now,
    },
    changed: true,
  };
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
