/** Small byte helpers shared by the SNP and TDX parsers (no secrets pass through here). */

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

export function isZero(b: Uint8Array): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

export function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Reverses a little-endian integer into big-endian of `len` bytes (dropping high zeros). */
export function leToBe(le: Uint8Array, len: number): Uint8Array | undefined {
  for (let i = len; i < le.length; i++) if (le[i] !== 0) return undefined;
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = le[len - 1 - i]!;
  return out;
}

/** Writes little-endian ABI fields, in order, into one buffer of the layout's size (the abi serialisers). */
export class AbiWriter {
  readonly bytes: Uint8Array;
  private readonly v: DataView;
  private at = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.v = view(this.bytes);
  }

  u16(x: number, what: string): this {
    if (x > 0xffff) throw new Error(`${what} ${x} does not fit 16 bits`);
    this.v.setUint16(this.at, x, true);
    this.at += 2;
    return this;
  }

  u32(x: number): this {
    this.v.setUint32(this.at, x, true);
    this.at += 4;
    return this;
  }

  /** A fixed-size field: an absent (empty) one is zeros, a present one must be exactly `len` bytes. */
  fixed(src: Uint8Array | undefined, len: number, what: string): this {
    if (src && src.length > 0) {
      if (src.length !== len) throw new Error(`${what} must be ${len} bytes, got ${src.length}`);
      this.bytes.set(src, this.at);
    }
    this.at += len;
    return this;
  }

  /** Variable-length bytes, as they are. */
  raw(src: Uint8Array): this {
    this.bytes.set(src, this.at);
    this.at += src.length;
    return this;
  }
}
