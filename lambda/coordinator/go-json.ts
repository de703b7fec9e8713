/**
 * JSON as Go's encoding/json decodes it into Contrast's structs, so the project reads a
 * manifest exactly as the Contrast CLI and Coordinator do:
 *  - object keys bind to struct fields by exact name, else case-insensitively with Go's
 *    folding (ASCII upper case; other characters upper(lower(c)), single code points only);
 *  - numbers keep their text, so a uint64 keeps all its digits and an integer field refuses
 *    `1.0` and `1e2` as Go's strconv.ParseUint/ParseInt do;
 *  - `null` leaves a string, bool, number or struct field at its zero value and sets a
 *    pointer or slice to nil.
 * Where Go is silent the project refuses by name instead (see reference-values.ts): an unknown
 * key, a key that binds twice (Go keeps the last), a fixed-size array with extra elements
 * (Go drops them). Source: golang/go src/encoding/json/decode.go and fold.go.
 */
import { InputError } from '../shared/errors.ts';

export class JsonNumber {
  constructor(readonly raw: string) {}
}

export class JsonObject {
  /** Members in document order, keys as written (duplicates kept for the caller to judge). */
  constructor(readonly entries: readonly (readonly [string, JsonValue])[]) {}
}

export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;

/** A manifest is a few levels deep; far deeper input is refused rather than recursed into. */
const MAX_DEPTH = 64;

/** Strict RFC 8259 parser (what Go accepts: no comments, trailing commas, NaN or leading zeros). */
export function parseJson(text: string, source: string): JsonValue {
  let i = 0;
  let depth = 0;
  const fail = (what: string): never => {
    const line = text.slice(0, i).split('\n').length;
    throw new InputError(`${source} is not valid JSON: ${what} at line ${line} (offset ${i})`, 'bundle-invalid');
  };
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const str = (): string => {
    i++; // opening quote
    let out = '';
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text[i]!;
      if (c === '"') {
        i++;
        return out;
      }
      if (c < ' ') fail('control character in a string');
      if (c !== '\\') {
        out += c;
        i++;
        continue;
      }
      const e = text[i + 1];
      const simple: Record<string, string> = {
        '"': '"',
        '\\': '\\',
        '/': '/',
        b: '\b',
        f: '\f',
        n: '\n',
        r: '\r',
        t: '\t',
      };
      if (e !== undefined && simple[e] !== undefined) {
        out += simple[e];
        i += 2;
      } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
        out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
        i += 6;
      } else fail('invalid escape in a string');
    }
  };
  const value = (): JsonValue => {
    ws();
    const c = text[i];
    if ((c === '{' || c === '[') && ++depth > MAX_DEPTH) fail(`nested deeper than ${MAX_DEPTH} levels`);
    const v = composite(c);
    if (c === '{' || c === '[') depth--;
    return v;
  };
  const composite = (c: string | undefined): JsonValue => {
    if (c === '{') {
      i++;
      const entries: [string, JsonValue][] = [];
      ws();
      if (text[i] === '}') {
        i++;
        return new JsonObject(entries);
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a string key');
        const key = str();
        ws();
        if (text[i++] !== ':') fail('expected ":"');
        entries.push([key, value()]);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return new JsonObject(entries);
        } else fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const items: JsonValue[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return items;
      }
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return items;
        } else fail('expected "," or "]"');
      }
    }
    if (c === '"') return str();
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) fail('unexpected character');
    i += m![0].length;
    return new JsonNumber(m![0]);
  };
  const v = value();
  ws();
  if (i !== text.length) fail('unexpected text after the JSON value');
  return v;
}

/** Go's key folding (encoding/json fold.go): equal folds bind to the same field. */
function foldKey(key: string): string {
  let out = '';
  for (const ch of key) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x80) {
      out += ch >= 'a' && ch <= 'z' ? ch.toUpperCase() : ch;
      continue;
    }
    // Go maps single runes (simple case mapping); JS may expand (ß → SS): keep such runes as they are.
    const lower = ch.toLowerCase();
    const up = [...lower].length === 1 ? lower.toUpperCase() : ch;
    out += [...up].length === 1 ? up : ch;
  }
  return out;
}

export function describeJson(v: JsonValue): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return 'a boolean';
  if (typeof v === 'string') return 'a string';
  if (v instanceof JsonNumber) return `the number ${v.raw}`;
  if (Array.isArray(v)) return 'a list';
  return 'an object';
}

export interface BoundObject {
  /** Field name → value, for the fields present. */
  fields: Map<string, JsonValue>;
  /** Field name → the key as written (for messages). */
  spelled: Map<string, string>;
  /** Keys that bind to no field, as written. */
  unknown: string[];
  /** Fields bound by two or more keys (Go would keep the last one silently). */
  duplicates: { field: string; keys: string[] }[];
}

/** Binds an object's keys to `fieldNames` as Go does (exact name first, else folded). */
export function bindFields(obj: JsonObject, fieldNames: readonly string[]): BoundObject {
  const byFold = new Map(fieldNames.map((f) => [foldKey(f), f]));
  const exact = new Set(fieldNames);
  const fields = new Map<string, JsonValue>();
  const spelled = new Map<string, string>();
  const seen = new Map<string, string[]>();
  const unknown: string[] = [];
  for (const [key, v] of obj.entries) {
    const field = exact.has(key) ? key : byFold.get(foldKey(key));
    if (!field) {
      unknown.push(key);
      continue;
    }
    seen.set(field, [...(seen.get(field) ?? []), key]);
    fields.set(field, v);
    spelled.set(field, key);
  }
  const duplicates = [...seen].filter(([, keys]) => keys.length > 1).map(([field, keys]) => ({ field, keys }));
  return { fields, spelled, unknown, duplicates };
}

/** Converts plain JS values (tests, fixtures built in code) into the parser's tree. */
export function fromPlain(v: unknown): JsonValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return new JsonNumber(String(v));
  if (v instanceof JsonNumber || v instanceof JsonObject) return v;
  if (Array.isArray(v)) return v.map(fromPlain);
  if (typeof v === 'object')
    return new JsonObject(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, fromPlain(x)] as const));
  throw new InputError(`cannot represent ${typeof v} as JSON`, 'bundle-invalid');
}

/** A decoded number as Go's strconv would read it into an unsigned integer of `bits`. */
export function goUint(n: JsonNumber, bits: 8 | 16 | 32 | 64): bigint | undefined {
  if (!/^\d+$/.test(n.raw)) return undefined;
  const v = BigInt(n.raw);
  return v < 1n << BigInt(bits) ? v : undefined;
}

/** As Go's strconv.ParseInt into an `int` (64-bit). */
export function goInt(n: JsonNumber): bigint | undefined {
  if (!/^-?\d+$/.test(n.raw)) return undefined;
  const v = BigInt(n.raw);
  return v >= -(1n << 63n) && v < 1n << 63n ? v : undefined;
}

/** As Go's strconv.ParseFloat(…, 64). */
export function goFloat(n: JsonNumber): number {
  return Number(n.raw);
}
