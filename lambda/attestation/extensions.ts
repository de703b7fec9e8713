/**
 * The one X.509 extension walker of the project: every certificate (AMD VCEK/VLEK, Intel PCK,
 * the Coordinator's aTLS certificate) has its extensions read here, in order, with duplicates
 * kept so callers can count them. `extensionMap` then refuses a certificate that carries any
 * extension twice: RFC 5280 §4.2 forbids it, Go's crypto/x509 (which Contrast and
 * go-sev-guest / go-tdx-guest parse with) refuses such certificates, and a map would silently
 * keep only one of the two values.
 */
import { AttestationError } from '../shared/errors.ts';
import { children, content, decodeOid, expectTag, readTlv } from './der.ts';

export interface CertExtension {
  oid: string;
  critical: boolean;
  /** The contents of extnValue (the bytes inside the OCTET STRING). */
  value: Uint8Array;
}

/** Every extension of a DER certificate, in order, duplicates kept. Throws DerError when malformed. */
export function certificateExtensions(der: Uint8Array): CertExtension[] {
  const top = readTlv(der, 0);
  if (top.end !== der.length) throw new Error('trailing bytes after the certificate');
  const tbs = children(der, expectTag(top, 0x30, 'certificate'))[0];
  const out: CertExtension[] = [];
  for (const field of children(der, expectTag(tbs, 0x30, 'tbsCertificate'))) {
    if (field.tag !== 0xa3) continue; // [3] extensions
    for (const ext of children(der, expectTag(children(der, field)[0], 0x30, 'extensions'))) {
      const parts = children(der, expectTag(ext, 0x30, 'extension'));
      if (parts.length < 2 || parts.length > 3) throw new Error(`an extension has ${parts.length} fields`);
      const critical =
        parts.length === 3 ? content(der, expectTag(parts[1], 0x01, 'extension critical flag'))[0] === 0xff : false;
      out.push({
        oid: decodeOid(content(der, expectTag(parts[0], 0x06, 'extension OID'))),
        critical,
        value: content(der, expectTag(parts[parts.length - 1], 0x04, 'extension value')),
      });
    }
  }
  return out;
}

/** OID → value; refuses an extension that appears twice, naming it and the certificate. */
export function extensionMap(
  extensions: readonly CertExtension[],
  what: string,
  check = 'format',
): Map<string, Uint8Array> {
  const map = new Map<string, Uint8Array>();
  for (const e of extensions) {
    if (map.has(e.oid))
      throw new AttestationError(
        check,
        `${what} carries extension ${e.oid} more than once; a certificate may carry each extension once (RFC 5280 §4.2)`,
      );
    map.set(e.oid, e.value);
  }
  return map;
}
