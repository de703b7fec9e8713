/** A tiny DER encoder for building test certificates, CRLs and AMD/Intel extensions. */

function lenBytes(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  while (n > 0) {
    out.unshift(n & 0xff);
    n >>>= 8;
  }
  return [0x80 | out.length, ...out];
}

export function tlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(content);
  return new Uint8Array(Buffer.concat([Buffer.from([tag, ...lenBytes(body.length)]), body]));
}

export const seq = (...c: Uint8Array[]) => tlv(0x30, ...c);
export const set = (...c: Uint8Array[]) => tlv(0x31, ...c);
export const octets = (b: Uint8Array) => tlv(0x04, b);
export const bitString = (b: Uint8Array) => tlv(0x03, new Uint8Array([0]), b);
export const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
export const ia5 = (s: string) => tlv(0x16, Buffer.from(s, 'latin1'));
export const explicit = (n: number, ...c: Uint8Array[]) => tlv(0xa0 + n, ...c);
export const bool = (v: boolean) => tlv(0x01, new Uint8Array([v ? 0xff : 0]));
export const enumerated = (n: number) => tlv(0x0a, new Uint8Array([n]));

export function int(v: number | bigint | Uint8Array): Uint8Array {
  let bytes: number[];
  if (v instanceof Uint8Array) bytes = [...v];
  else {
    let x = BigInt(v);
    bytes = [];
    do {
      bytes.unshift(Number(x & 0xffn));
      x >>= 8n;
    } while (x > 0n);
  }
  while (bytes.length > 1 && bytes[0] === 0 && !(bytes[1]! & 0x80)) bytes.shift();
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return tlv(0x02, new Uint8Array(bytes));
}

export function oid(s: string): Uint8Array {
  const parts = s.split('.').map(Number);
  const out: number[] = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    let x = Math.floor(p / 128);
    while (x > 0) {
      chunk.unshift((x & 0x7f) | 0x80);
      x = Math.floor(x / 128);
    }
    out.push(...chunk);
  }
  return tlv(0x06, new Uint8Array(out));
}

export function utcTime(d: Date): Uint8Array {
  const p = (n: number) => String(n).padStart(2, '0');
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return tlv(0x17, Buffer.from(s, 'latin1'));
}
