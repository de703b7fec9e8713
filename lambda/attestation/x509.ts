/**
 * Certificates and CRLs for both chains. Node's X509Certificate checks signatures (RSA-PSS
 * and ECDSA through OpenSSL, so no hand-rolled crypto); our DER reader extracts what Node
 * does not expose: extensions, validity as dates, serial numbers, CRL entries.
 */
import {
  X509Certificate,
  createHash,
  createPublicKey,
  constants,
  verify as cryptoVerify,
  type KeyObject,
} from 'node:crypto';
import { AttestationError } from '../shared/errors.ts';
import { children, content, decodeOid, expectTag, integerHex, readTlv, type Tlv } from './der.ts';
import { certificateExtensions, extensionMap, type CertExtension } from './extensions.ts';

const OID_RSA_PSS = '1.2.840.113549.1.1.10';
const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const OID_ECDSA_SHA384 = '1.2.840.10045.4.3.3';

function parseTime(buf: Uint8Array, t: Tlv, what: string): Date {
  const s = Buffer.from(content(buf, t)).toString('latin1');
  let m: RegExpMatchArray | null;
  if (t.tag === 0x17 && (m = s.match(/^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/))) {
    const yy = Number(m[1]);
    return new Date(
      Date.UTC(
        yy < 50 ? 2000 + yy : 1900 + yy,
        Number(m[2]) - 1,
        Number(m[3]),
        Number(m[4]),
        Number(m[5]),
        Number(m[6]),
      ),
    );
  }
  if (t.tag === 0x18 && (m = s.match(/^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/))) {
    return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  }
  throw new AttestationError('format', `${what}: unsupported time encoding ${JSON.stringify(s)}`);
}

/**
 * PEM blocks of a given label, or the input itself when it already is DER. Strict on
 * purpose: only base64 and line breaks inside a block, only line breaks or NULs between
 * blocks, so no altered byte of a PEM file can leave its meaning unchanged.
 */
export function pemBlocks(data: Uint8Array | string, label = 'CERTIFICATE'): Uint8Array[] {
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('latin1');
  if (!text.includes('-----BEGIN')) return typeof data === 'string' ? [] : [data];
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\r\\n]*)-----END ${label}-----`, 'g');
  const out: Uint8Array[] = [];
  for (const m of text.matchAll(re)) {
    const b64 = m[1]!.replace(/[\r\n]+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0)
      throw new AttestationError('format', `malformed PEM ${label} block`);
    const der = Buffer.from(b64, 'base64');
    // Refuse non-canonical base64 (set padding bits): the decoder would silently drop them, so
    // two different texts would stand for the same certificate. One text, one meaning.
    if (der.toString('base64') !== b64)
      throw new AttestationError('format', `malformed PEM ${label} block: non-canonical base64 (padding bits set)`);
    out.push(new Uint8Array(der));
  }
  if (!/^[\r\n\0]*$/.test(text.replace(re, '')))
    throw new AttestationError('format', `unexpected text outside the PEM ${label} blocks`);
  return out;
}

export class Cert {
  readonly der: Uint8Array;
  readonly node: X509Certificate;
  readonly what: string;
  readonly fingerprint: string;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly sigAlg: string;
  readonly issuerDer: Uint8Array;
  readonly subjectDer: Uint8Array;
  /** extension OID → contents of extnValue (the bytes inside the OCTET STRING); no OID twice. */
  readonly extensions: ReadonlyMap<string, Uint8Array>;
  private keyCache: KeyObject | undefined;

  private constructor(der: Uint8Array, what: string) {
    this.der = der;
    this.what = what;
    let extensions: CertExtension[];
    try {
      this.node = new X509Certificate(der);
      const top = readTlv(der, 0);
      if (top.end !== der.length) throw new Error('trailing bytes after the certificate');
      const [tbs, alg] = children(der, expectTag(top, 0x30, 'certificate'));
      const algOid = children(der, expectTag(alg, 0x30, 'signatureAlgorithm'))[0];
      this.sigAlg = decodeOid(content(der, expectTag(algOid, 0x06, 'signature OID')));
      const f = children(der, expectTag(tbs, 0x30, 'tbsCertificate'));
      let i = f[0]?.tag === 0xa0 ? 1 : 0;
      this.serial = integerHex(content(der, expectTag(f[i++], 0x02, 'serial')));
      i++; // signature algorithm inside TBS
      const issuer = expectTag(f[i++], 0x30, 'issuer');
      this.issuerDer = der.subarray(issuer.start, issuer.end);
      const [nb, na] = children(der, expectTag(f[i++], 0x30, 'validity'));
      this.notBefore = parseTime(der, nb!, what);
      this.notAfter = parseTime(der, na!, what);
      const subject = expectTag(f[i++], 0x30, 'subject');
      this.subjectDer = der.subarray(subject.start, subject.end);
      extensions = certificateExtensions(der);
    } catch (err) {
      if (err instanceof AttestationError) throw err;
      throw new AttestationError('format', `${what} is not a valid X.509 certificate: ${(err as Error).message}`);
    }
    this.extensions = extensionMap(extensions, what);
    this.fingerprint = createHash('sha256').update(der).digest('hex');
  }

  static parse(data: Uint8Array, what: string): Cert {
    const blocks = pemBlocks(data);
    if (blocks.length !== 1)
      throw new AttestationError('format', `${what}: expected one certificate, found ${blocks.length}`);
    return new Cert(blocks[0]!, what);
  }

  get publicKey(): KeyObject {
    return (this.keyCache ??= this.node.publicKey);
  }

  /** Throws unless `now` lies inside the validity window. */
  checkValidAt(now: Date, check: string): void {
    if (now < this.notBefore || now > this.notAfter) {
      throw new AttestationError(
        check,
        `${this.what} is not valid at ${now.toISOString()}: valid ${this.notBefore.toISOString()}..${this.notAfter.toISOString()}`,
      );
    }
  }

  /** Throws unless this certificate names `issuer` as issuer and carries its signature. */
  checkSignedBy(issuer: Cert, check: string): void {
    if (Buffer.compare(this.issuerDer, issuer.subjectDer) !== 0 || !this.node.verify(issuer.publicKey)) {
      throw new AttestationError(
        check,
        `${this.what} is not signed by ${issuer.what} (subject ${issuer.node.subject.replace(/\n/g, ', ')})`,
      );
    }
  }
}

/** A parsed CRL whose signature has not been checked yet (see checkSignedBy). */
export class Crl {
  readonly der: Uint8Array;
  readonly what: string;
  readonly tbs: Uint8Array;
  readonly sigAlg: string;
  readonly signature: Uint8Array;
  readonly issuerDer: Uint8Array;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  readonly revokedSerials = new Set<string>();

  constructor(data: Uint8Array, what: string) {
    this.what = what;
    const blocks = pemBlocks(data, 'X509 CRL');
    const der = blocks[0];
    if (blocks.length !== 1 || !der) throw new AttestationError('format', `${what}: expected one CRL`);
    this.der = der;
    try {
      const top = expectTag(readTlv(der, 0), 0x30, 'CRL');
      const [tbs, alg, sig] = children(der, top);
      this.tbs = der.subarray(tbs!.start, tbs!.end);
      this.sigAlg = decodeOid(
        content(der, expectTag(children(der, expectTag(alg, 0x30, 'CRL algorithm'))[0], 0x06, 'CRL OID')),
      );
      const sigBits = content(der, expectTag(sig, 0x03, 'CRL signature'));
      this.signature = sigBits.subarray(1);
      const f = children(der, expectTag(tbs, 0x30, 'tbsCertList'));
      let i = f[0]?.tag === 0x02 ? 1 : 0;
      i++;
      const issuer = expectTag(f[i++], 0x30, 'CRL issuer');
      this.issuerDer = der.subarray(issuer.start, issuer.end);
      this.thisUpdate = parseTime(der, f[i++]!, what);
      if (f[i] && (f[i]!.tag === 0x17 || f[i]!.tag === 0x18)) this.nextUpdate = parseTime(der, f[i++]!, what);
      if (f[i]?.tag === 0x30) {
        for (const entry of children(der, f[i]!)) {
          const serial = children(der, entry)[0];
          this.revokedSerials.add(integerHex(content(der, expectTag(serial, 0x02, 'revoked serial'))));
        }
      }
    } catch (err) {
      if (err instanceof AttestationError) throw err;
      throw new AttestationError('format', `${what} is not a valid CRL: ${(err as Error).message}`);
    }
  }

  checkSignedBy(issuer: Cert, check: string): void {
    let ok = false;
    try {
      if (this.sigAlg === OID_RSA_PSS) {
        ok = cryptoVerify(
          'sha384',
          this.tbs,
          { key: issuer.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 },
          this.signature,
        );
      } else if (this.sigAlg === OID_ECDSA_SHA256 || this.sigAlg === OID_ECDSA_SHA384) {
        ok = cryptoVerify(
          this.sigAlg === OID_ECDSA_SHA256 ? 'sha256' : 'sha384',
          this.tbs,
          issuer.publicKey,
          this.signature,
        );
      }
    } catch {
      ok = false;
    }
    if (!ok || Buffer.compare(this.issuerDer, issuer.subjectDer) !== 0) {
      throw new AttestationError(check, `${this.what} is not signed by ${issuer.what}`);
    }
  }
}

/** Public key from raw uncompressed coordinates (TDX attestation key: X||Y, 32 bytes each). */
export function p256KeyFromRaw(xy: Uint8Array): KeyObject {
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');
  return createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: b64(xy.subarray(0, 32)), y: b64(xy.subarray(32, 64)) },
    format: 'jwk',
  });
}
