import { webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import * as x509 from '../../lambda/shared/peculiar.ts';
import { MAX_CLOCK_SKEW_MS } from '../../lambda/kubernetes/stale.ts';
import {
  ADOPT_WINDOW_MS,
  currentGeneration,
  keyCreatedFromCertificate,
  meshCaCertificate,
  type MeshCaCertificate,
} from '../../lambda/reconcile/mesh-ca.ts';
import type { RecoverAttempt, RecoveryRecord } from '../../lambda/reconcile/types.ts';

const HOUR = 3_600_000;
const MARGIN = 2_000;
const alg = { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };

async function meshCaPem(keys: webcrypto.CryptoKeyPair, notBefore: Date): Promise<string> {
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=system:coordinator:intermediate',
    notBefore,
    notAfter: new Date(notBefore.getTime() + 10 * HOUR),
    signingAlgorithm: alg,
    keys,
  });
  return cert.toString('pem');
}

const attempt = (id: string, at: number, status: RecoverAttempt['status']): RecoverAttempt => ({
  id,
  at,
  status,
  force: false,
});

describe('mesh CA generations', () => {
  it('name the key (SPKI SHA-256), not the certificate: a new certificate over the same key is the same generation', async () => {
    const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const other = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const a = meshCaCertificate(await meshCaPem(keys, new Date('2025-01-01T00:00:00Z')))!;
    const b = meshCaCertificate(await meshCaPem(keys, new Date('2025-01-01T05:00:00Z')))!;
    const c = meshCaCertificate(await meshCaPem(other, new Date('2025-01-01T00:00:00Z')))!;
    expect(a.spkiSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(b.spkiSha256).toBe(a.spkiSha256);
    expect(c.spkiSha256).not.toBe(a.spkiSha256);
    // Contrast backdates NotBefore by an hour: the key is that much younger.
    expect(keyCreatedFromCertificate(a)).toBe(Date.parse('2025-01-01T01:00:00Z'));
    expect(meshCaCertificate('no certificate')).toBeUndefined();
  });

  const T = Date.parse('2025-06-01T12:00:00Z');
  const cert = (spki: string, keyCreated: number): MeshCaCertificate => ({
    spkiSha256: spki,
    notBefore: keyCreated - HOUR,
  });
  const empty: RecoveryRecord = { attempts: [] };
  /** One Coordinator replica: no peer can have handed a key over, so its certificate dates it. */
  const single = { coordinators: { pods: 1, containersStartedAt: [] } };

  it('our own Recover dates the key by its intent', () => {
    const ours = attempt('x', T, 'accepted');
    const { generation, changed } = currentGeneration(empty, cert('k', T + 80), T + 100, MARGIN, ours);
    expect(changed).toBe(true);
    expect(generation).toMatchObject({ spkiSha256: 'k', createdAt: T, cause: 'recover', attemptId: 'x' });
  });

  it('a known key keeps its record; the oldest certificate of an observed key dates it', () => {
    const known: RecoveryRecord = {
      attempts: [],
      meshCa: {
        spkiSha256: 'k',
        createdAt: T,
        cause: 'recover',
        attemptId: 'x',
        certificateNotBefore: T - HOUR,
        firstSeenAt: T,
        restartsCompleteAt: T + 5,
      },
    };
    // A peer-recovered replica's newer certificate over the same key changes nothing.
    expect(currentGeneration(known, cert('k', T + 2 * HOUR), T + 3 * HOUR, MARGIN)).toEqual({
      generation: { ...known.meshCa, lastSeenAt: T + 3 * HOUR },
      changed: false,
    });
    const observed: RecoveryRecord = {
      attempts: [],
      meshCa: { ...known.meshCa!, cause: 'observed', attemptId: undefined },
    };
    const older = currentGeneration(observed, cert('k', T - 10 * 60_000), T + HOUR, MARGIN);
    expect(older.changed).toBe(true);
    expect(older.generation.createdAt).toBe(T - 10 * 60_000);
    expect(older.generation.restartsCompleteAt).toBe(T + 5);
  });

  it.each([
    ['pending (killed after the intent)', 'pending', true],
    ['interrupted', 'interrupted', true],
    ['unknown (answer lost)', 'unknown', true],
    ['accepted (confirm lost)', 'accepted', true],
    ['refused', 'refused', false],
    ['not sent', 'not-sent', false],
  ] as const)('a new key after an unfinished attempt that is %s is adopted: %s', (_name, status, adopted) => {
    const record: RecoveryRecord = { attempts: [attempt('a', T, status)] };
    const { generation } = currentGeneration(record, cert('k', T + 30), T + HOUR, MARGIN, undefined, single);
    expect(generation.cause).toBe(adopted ? 'recover' : 'observed');
    expect(generation.createdAt).toBe(adopted ? T : T + 30);
  });

  it('adopts only a key created after the intent (with the margin) and within the window', () => {
    const record: RecoveryRecord = { attempts: [attempt('a', T, 'interrupted')] };
    expect(currentGeneration(record, cert('k', T - MARGIN - 1_000), T + HOUR, MARGIN).generation.cause).toBe('recover');
    // A Coordinator clock behind ours, within the skew bound: still ours (issue 21 item 6: 5 s behind).
    expect(currentGeneration(record, cert('k', T - 5_000), T + HOUR, MARGIN).generation.cause).toBe('recover');
    expect(currentGeneration(record, cert('k', T - MAX_CLOCK_SKEW_MS), T + HOUR, MARGIN).generation.cause).toBe(
      'recover',
    );
    expect(
      currentGeneration(record, cert('k', T - MAX_CLOCK_SKEW_MS - 1_000), T + HOUR, MARGIN, undefined, single)
        .generation.cause,
    ).toBe('observed');
    expect(
      currentGeneration(
        record,
        cert('k', T + ADOPT_WINDOW_MS + MAX_CLOCK_SKEW_MS + 1_000),
        T + HOUR,
        MARGIN,
        undefined,
        single,
      ).generation.cause,
    ).toBe('observed');
    // Seen before the intent was recorded (by our clock): not the intent's.
    expect(currentGeneration(record, cert('k', T + 30), T - 1, MARGIN, undefined, single).generation.cause).toBe(
      'observed',
    );
    // An attempt that already made the recorded key is not adopted twice.
    const used: RecoveryRecord = {
      ...record,
      meshCa: {
        spkiSha256: 'old',
        createdAt: T,
        cause: 'recover',
        attemptId: 'a',
        certificateNotBefore: T - HOUR,
        firstSeenAt: T,
      },
    };
    expect(currentGeneration(used, cert('k', T + 30), T + HOUR, MARGIN, undefined, single).generation).toMatchObject({
      cause: 'observed',
      createdAt: T + 30,
    });
  });
});

describe('whose key (issue 19): history, Coordinator restarts, first sight, two keys', () => {
  const T = Date.parse('2025-06-01T12:00:00Z');
  const cert = (spki: string, keyCreated: number): MeshCaCertificate => ({
    spkiSha256: spki,
    notBefore: keyCreated - HOUR,
  });
  const K1 = {
    spkiSha256: 'k1',
    createdAt: T - 5 * HOUR,
    cause: 'recover' as const,
    attemptId: 'x',
    certificateNotBefore: T - 6 * HOUR,
    firstSeenAt: T - 5 * HOUR,
    lastSeenAt: T,
    history: 'transition:aa',
    restartsCompleteAt: T - 4 * HOUR,
  };
  const withK1: RecoveryRecord = { attempts: [attempt('x', T - 5 * HOUR, 'accepted')], meshCa: K1 };
  const one = (started: number[] = [T - 6 * HOUR]) => ({ coordinators: { pods: 1, containersStartedAt: started } });
  const three = (started: number[] = [T - 6 * HOUR]) => ({ coordinators: { pods: 3, containersStartedAt: started } });

  it('a new key under an unchanged history is a recovery (a Recover keeps the history); a changed one a `contrast set`', () => {
    const now = T + HOUR;
    const same = currentGeneration(withK1, cert('k2', T + 30 * 60_000), now, MARGIN, undefined, {
      history: 'transition:aa',
      ...one(),
    });
    expect(same.generation).toMatchObject({ spkiSha256: 'k2', cause: 'recovery', createdAt: T + 30 * 60_000 });
    expect(same.generation.createdAfter).toBeUndefined();
    expect(same.replaced).toEqual({ spkiSha256: 'k1', lastSeenAt: T });
    const set = currentGeneration(withK1, cert('k2', T + 30 * 60_000), now, MARGIN, undefined, {
      history: 'transition:bb',
      ...one(),
    });
    expect(set.generation.cause).toBe('observed');
    // The fallback identity (an earlier release) of another kind never matches a transition hash.
    const kinds = currentGeneration(withK1, cert('k2', T + 30 * 60_000), now, MARGIN, undefined, {
      history: 'manifest-list:aa',
      ...one(),
    });
    expect(kinds.generation.cause).toBe('observed');
  });

  it('a Coordinator container started after the previous key was last seen makes it a recovery, whatever the history', () => {
    const now = T + HOUR;
    const restarted = currentGeneration(withK1, cert('k2', T + 30 * 60_000), now, MARGIN, undefined, {
      history: 'transition:bb',
      ...one([T + 1_000]),
    });
    expect(restarted.generation.cause).toBe('recovery');
    // Started before the last sighting: the key was still there after it; a `contrast set`.
    const before = currentGeneration(withK1, cert('k2', T + 30 * 60_000), now, MARGIN, undefined, {
      history: 'transition:bb',
      ...one([T - 1_000]),
    });
    expect(before.generation.cause).toBe('observed');
  });

  it('first sight is dated by its certificate only with one Coordinator replica; otherwise it is a baseline', () => {
    const now = T + 3 * HOUR;
    const single = currentGeneration({ attempts: [] }, cert('k', T), now, MARGIN, undefined, one());
    expect(single.generation).toMatchObject({ cause: 'observed', createdAt: T });
    expect(single.generation.createdAfter).toBeUndefined();
    for (const seen of [three(), {}]) {
      const baseline = currentGeneration({ attempts: [] }, cert('k', T), now, MARGIN, undefined, seen);
      expect(baseline.generation).toMatchObject({ cause: 'baseline', createdAt: T, createdAfter: 0 });
    }
    // A certificate from the future (a Coordinator clock ahead) never dates it after its first sight.
    expect(currentGeneration({ attempts: [] }, cert('k', now + HOUR), now, MARGIN).generation.createdAt).toBe(now);
  });

  it("a later key seen through a re-issued certificate is bounded by the previous key's last sighting and NotBefore + 1 h", () => {
    const reissued = T + 2 * HOUR;
    const g = currentGeneration(withK1, cert('k2', reissued), T + 3 * HOUR, MARGIN, undefined, {
      history: 'transition:aa',
      ...three(),
    }).generation;
    expect(g).toMatchObject({ cause: 'recovery', createdAfter: T, createdAt: reissued, lastSeenAt: T + 3 * HOUR });
    // An older certificate of the same key seen later tightens the upper bound only.
    const tighter = currentGeneration({ ...withK1, meshCa: g }, cert('k2', T + HOUR), T + 4 * HOUR, MARGIN);
    expect(tighter).toMatchObject({ changed: true, generation: { createdAt: T + HOUR, createdAfter: T } });
  });

  it('a key the record replaced, served again, is two keys at once: the record keeps its key', () => {
    const k2 = currentGeneration(withK1, cert('k2', T + 30 * 60_000), T + HOUR, MARGIN, undefined, {
      history: 'transition:aa',
      ...three(),
    });
    const record: RecoveryRecord = { ...withK1, meshCa: k2.generation, supersededKeys: [k2.replaced!] };
    const back = currentGeneration(record, cert('k1', T - 5 * HOUR), T + 2 * HOUR, MARGIN, undefined, three());
    expect(back).toEqual({ generation: k2.generation, changed: false, twoKeys: true });
    // Once a probe window saw only it, it is the one key left.
    const left = currentGeneration(record, cert('k1', T - 5 * HOUR), T + 2 * HOUR, MARGIN, undefined, {
      ...three(),
      oneKeyAfterTwo: true,
    });
    expect(left.twoKeys).toBeUndefined();
    expect(left.generation.spkiSha256).toBe('k1');
  });
});
