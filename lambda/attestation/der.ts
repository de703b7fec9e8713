/**
 * A minimal strict DER reader: enough to walk X.509 certificates, CRLs and the AMD / Intel
 * extensions, which Node's X509Certificate does not expose. Any malformed length throws.
 */
import { AttestationError } from '../shared/errors.ts';

export interface Tlv {
  tag: number;
  /** Offset of the tag byte within the buffer. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset one past the last content byte. */
  end: number;
}

/** Malformed DER in evidence or collateral: the evidence cannot be judged, so it is refused. */
export class DerError extends AttestationError {
  constructor(message: string) {
    super('format', message);
  }
}

export function readTlv(buf: Uint8Array, pos: number, limit = buf.length): Tlv {
  if (pos + 2 > limit) throw new DerError(`DER truncated at offset ${pos}`);
  const tag = buf[pos]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`DER high tag numbers are not supported (offset ${pos})`);
  let len = buf[pos + 1]!;
  let p = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError(`DER length form not allowed at offset ${pos}`);
    if (p + n > limit) throw new DerError(`DER truncated at offset ${pos}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!;
    if (len < 0x80 || (n > 1 && buf[p] === 0)) throw new DerError(`DER length not minimal at offset ${pos}`);
    p += n;
  }
  if (p + len > limit) throw new DerError(`DER content overruns its parent at offset ${pos}`);
  return { tag, start: pos, contentStart: p, end: p + len };
}

/** The children of a constructed TLV. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let p = parent.contentStart;
  while (p < parent.end) {
    const t = readTlv(buf, p, parent.end);
    out.push(t);
    p = t.end;
  }
  return out;
}

export function content(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.contentStart, t.end);
}

export function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag)
    throw new DerError(
      `${what}: expected DER tag 0x${tag.toString(16)}, got ${t ? '0x' + t.tag.toString(16) : 'nothing'}`,
    );
  return t;
}

export function decodeOid(b: Uint8Array): string {
  const parts: number[] = [];
  let v = 0;
  for (let i = 0; i < b.length; i++) {
    v = v * 128 + (b[i]! & 0x7f);
    if (!(b[i]! & 0x80)) {
      if (parts.length === 0) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

/** A non-negative DER INTEGER as a number (refuses values beyond 2^48). */
export function decodeSmallUint(b: Uint8Array, what: string): number {
  if (b.length === 0 || b.length > 7 || b[0]! & 0x80) throw new DerError(`${what}: not a small non-negative INTEGER`);
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v;
}

/** A DER INTEGER's content as canonical unsigned hex (leading zero bytes removed). */
export function integerHex(b: Uint8Array): string {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return Buffer.from(b.subarray(i)).toString('hex');
}
