/**
 * The ID-key digest Contrast's guests carry (docs/protocol.md §8.1). Contrast signs each
 * guest's ID block with the constant signature (r, s) = (2, 1) by a key recovered from that
 * signature (edgelesssys/contrast internal/idblock/idblock.go), and its validator trusts the
 * SHA-384 of that key for the ID block built from the *reference* TrustedMeasurement and
 * GuestPolicy (internal/manifest/manifest.go, `TrustedIDKeyHashes` with `RequireIDBlock`).
 * Computed from the report's own fields the check would prove nothing.
 */
import { createHash } from 'node:crypto';
import { p384 } from '@noble/curves/nist.js';
import { view } from '../bytes.ts';

const P = p384.Point;
const n = P.Fn.ORDER;
const p = P.Fp.ORDER;

function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

function bytesToBigint(b: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`);
}

function leBytes(x: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len && x > 0n; i++) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

export interface IdBlockFields {
  measurement: Uint8Array;
  familyId: Uint8Array;
  imageId: Uint8Array;
  guestSvn: number;
  policy: bigint;
}

/**
 * The ID block Contrast builds (idblock.go, `IDBlocksFromLaunchDigest(launchDigest, guestPolicy)`,
 * the version every supported release uses): FAMILY_ID = 01 00…, IMAGE_ID = 02 00…, VERSION 1,
 * GUEST_SVN 2, POLICY = the reference policy encoded as go-sev-guest SnpPolicyToBytes does.
 */
export const CONTRAST_FAMILY_ID = new Uint8Array(16).map((_, i) => (i === 0 ? 1 : 0));
export const CONTRAST_IMAGE_ID = new Uint8Array(16).map((_, i) => (i === 0 ? 2 : 0));
export const CONTRAST_GUEST_SVN = 2;

/** The trusted ID-key digest for a reference measurement and encoded guest policy. */
export function contrastIdKeyDigest(measurement: Uint8Array, policy: bigint): Uint8Array {
  return expectedIdKeyDigest({
    measurement,
    familyId: CONTRAST_FAMILY_ID,
    imageId: CONTRAST_IMAGE_ID,
    guestSvn: CONTRAST_GUEST_SVN,
    policy,
  });
}

const memo = new Map<string, Uint8Array>();

/** SHA-384 of the AMD-format public key recovered for the ID block of these fields. */
export function expectedIdKeyDigest(f: IdBlockFields): Uint8Array {
  const block = new Uint8Array(0x60);
  const v = view(block);
  block.set(f.measurement, 0);
  block.set(f.familyId, 0x30);
  block.set(f.imageId, 0x40);
  v.setUint32(0x50, 1, true);
  v.setUint32(0x54, f.guestSvn, true);
  v.setBigUint64(0x58, f.policy, true);
  const memoKey = Buffer.from(block).toString('hex');
  const cached = memo.get(memoKey);
  if (cached) return cached;

  const z = mod(bytesToBigint(createHash('sha384').update(block).digest()), n);
  const r = 2n;
  const s = 1n;
  // R: the curve points with x = r (y and -y).
  const x = r;
  const y2 = mod(x * x * x + P.CURVE().a * x + P.CURVE().b, p);
  const y = P.Fp.sqrt(y2);
  const rInv = P.Fn.inv(r);
  const keys = [y, mod(-y, p)].map((yy) => {
    const R = P.fromAffine({ x, y: yy });
    // Q = r⁻¹ (s·R − z·G)
    let sum = s === 1n ? R : R.multiply(s);
    if (z !== 0n) sum = sum.add(P.BASE.multiply(z).negate());
    return sum.multiply(rInv).toAffine();
  });
  keys.sort((a, b) => (a.x === b.x ? (a.y < b.y ? -1 : a.y > b.y ? 1 : 0) : a.x < b.x ? -1 : 1));
  const q = keys[0]!;
  const amdKey = new Uint8Array(0x404);
  view(amdKey).setUint32(0, 2, true);
  amdKey.set(leBytes(q.x, 48), 4);
  amdKey.set(leBytes(q.y, 48), 4 + 0x48);
  const digest = new Uint8Array(createHash('sha384').update(amdKey).digest());
  if (memo.size > 256) memo.clear();
  memo.set(memoKey, digest);
  return digest;
}
