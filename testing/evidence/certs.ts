/**
 * Builds X.509 certificates and CRLs for the test chains with node:crypto signatures:
 * RSA-PSS SHA-384 (AMD style) or ECDSA SHA-256 (Intel style).
 */
import { constants, sign, type KeyObject } from 'node:crypto';
import { bitString, bool, explicit, int, octets, oid, seq, set, utcTime, utf8 } from './der.ts';

export type SigAlg = 'rsa-pss-sha384' | 'ecdsa-sha256' | 'ecdsa-sha384';

const SHA384 = '2.16.840.1.101.3.4.2.2';

export function algorithmId(alg: SigAlg): Uint8Array {
  if (alg === 'rsa-pss-sha384') {
    const hash = seq(oid(SHA384));
    return seq(
      oid('1.2.840.113549.1.1.10'),
      seq(explicit(0, hash), explicit(1, seq(oid('1.2.840.113549.1.1.8'), hash)), explicit(2, int(48))),
    );
  }
  return seq(oid(alg === 'ecdsa-sha256' ? '1.2.840.10045.4.3.2' : '1.2.840.10045.4.3.3'));
}

export function signWith(alg: SigAlg, key: KeyObject, data: Uint8Array): Uint8Array {
  if (alg === 'rsa-pss-sha384')
    return new Uint8Array(sign('sha384', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }));
  return new Uint8Array(sign(alg === 'ecdsa-sha256' ? 'sha256' : 'sha384', data, key));
}

export function name(cn: string, org = 'Test'): Uint8Array {
  return seq(set(seq(oid('2.5.4.10'), utf8(org))), set(seq(oid('2.5.4.3'), utf8(cn))));
}

export interface Extension {
  oid: string;
  critical?: boolean;
  /** The DER inside extnValue. */
  value: Uint8Array;
}

export const basicConstraintsCa = (): Extension => ({ oid: '2.5.29.19', critical: true, value: seq(bool(true)) });

export interface CertSpec {
  serial: number | bigint;
  issuer: Uint8Array;
  subject: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  publicKey: KeyObject;
  signingKey: KeyObject;
  alg: SigAlg;
  extensions?: Extension[];
}

export function buildCert(s: CertSpec): Uint8Array {
  const spki = new Uint8Array(s.publicKey.export({ type: 'spki', format: 'der' }));
  const exts = s.extensions?.length
    ? [
        explicit(
          3,
          seq(...s.extensions.map((e) => seq(oid(e.oid), ...(e.critical ? [bool(true)] : []), octets(e.value)))),
        ),
      ]
    : [];
  const tbs = seq(
    explicit(0, int(2)),
    int(s.serial),
    algorithmId(s.alg),
    s.issuer,
    seq(utcTime(s.notBefore), utcTime(s.notAfter)),
    s.subject,
    spki,
    ...exts,
  );
  return seq(tbs, algorithmId(s.alg), bitString(signWith(s.alg, s.signingKey, tbs)));
}

export function buildCrl(
  issuer: Uint8Array,
  key: KeyObject,
  alg: SigAlg,
  revoked: (number | bigint)[],
  thisUpdate: Date,
  nextUpdate: Date,
): Uint8Array {
  const entries = revoked.length ? [seq(...revoked.map((r) => seq(int(r), utcTime(thisUpdate))))] : [];
  const tbs = seq(int(1), algorithmId(alg), issuer, utcTime(thisUpdate), utcTime(nextUpdate), ...entries);
  return seq(tbs, algorithmId(alg), bitString(signWith(alg, key, tbs)));
}

export function toPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}
