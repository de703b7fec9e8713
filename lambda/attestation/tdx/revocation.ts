/**
 * Revocation for the TDX PCK chain: the Intel PCK CRL (signed by the PCK Platform or
 * Processor CA, revokes PCK certificates) and the Intel SGX Root CA CRL (signed by the root,
 * revokes the intermediates). Used by the verifier (issuers from the quote's chain) and by
 * collateral/verify.ts (issuers from the document's PCS issuer chain, root pinned).
 *
 * Parsed CRLs and verified (CRL, issuer) pairs are cached per process, keyed by the SHA-256
 * of the CRL bytes, so a cached CRL costs one hash per verification, not a signature.
 */
import { createHash } from 'node:crypto';
import { AttestationError } from '../../shared/errors.ts';
import { StaleCollateralError } from '../collateral/sources.ts';
import { Crl, type Cert } from '../x509.ts';

export type PckCa = 'platform' | 'processor';

/** CN of a certificate's subject, or undefined. */
export function commonName(c: Cert): string | undefined {
  return c.node.subject
    .split('\n')
    .find((l) => l.startsWith('CN='))
    ?.slice(3);
}

/** Which PCK CA an intermediate is, from its subject CN ("Intel SGX PCK Platform CA" / "… Processor CA"). */
export function pckCaOf(inter: Cert | string | undefined): PckCa | undefined {
  const cn = typeof inter === 'string' || inter === undefined ? inter : commonName(inter);
  const m = /^Intel SGX PCK (Platform|Processor) CA\b/.exec(cn ?? '');
  return m ? (m[1] === 'Platform' ? 'platform' : 'processor') : undefined;
}

/** CRL bytes as DER or PEM; hex text (as PCCS v3 serves `rootcacrl`) is decoded. */
function crlBytes(body: Uint8Array): Uint8Array {
  if (body.length >= 2 && body.length <= 1 << 20) {
    const text = Buffer.from(body).toString('latin1').trim();
    if (text.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(text)) return new Uint8Array(Buffer.from(text, 'hex'));
  }
  return body;
}

const MAX_CACHED = 32;
const parsed = new Map<string, Crl>();
const verifiedPairs = new Set<string>();

/** Parses (or takes from the cache) a TDX CRL; throws AttestationError(`check`) when malformed. */
export function parseTdxCrl(body: Uint8Array, what: string, check: string): { crl: Crl; id: string } {
  const id = createHash('sha256').update(body).digest('hex');
  let crl = parsed.get(id);
  if (!crl) {
    try {
      crl = new Crl(crlBytes(body), what);
    } catch (err) {
      throw new AttestationError(check, `${what} cannot be read: ${(err as Error).message}`, { cause: err });
    }
    if (parsed.size >= MAX_CACHED) {
      parsed.clear();
      verifiedPairs.clear();
    }
    parsed.set(id, crl);
  }
  return { crl, id };
}

/**
 * Throws AttestationError(`check`) unless the CRL names `issuer` as issuer, carries its
 * signature, and is current at `now` (thisUpdate ≤ now ≤ nextUpdate).
 */
export function checkTdxCrl(crl: Crl, id: string, issuer: Cert, now: Date, check: string): void {
  if (Buffer.compare(crl.issuerDer, issuer.subjectDer) !== 0) {
    throw new AttestationError(
      check,
      `${crl.what} is issued by another CA than the ${issuer.what} (${issuer.node.subject.replace(/\n/g, ', ')})`,
    );
  }
  const pair = `${id}:${issuer.fingerprint}`;
  if (!verifiedPairs.has(pair)) {
    crl.checkSignedBy(issuer, check);
    verifiedPairs.add(pair);
  }
  if (crl.thisUpdate > now || (crl.nextUpdate && crl.nextUpdate < now)) {
    throw new StaleCollateralError(
      check,
      `${crl.what} is not current at ${now.toISOString()} (thisUpdate ${crl.thisUpdate.toISOString()}, nextUpdate ${crl.nextUpdate?.toISOString() ?? 'none'}); ` +
        'refresh it (`enroll --collateral DIR` with a current CRL, or let the collateral mirror refresh it)',
    );
  }
}

/** Throws AttestationError(`check`) when `cert` is listed in `crl`. */
export function checkNotRevoked(crl: Crl, cert: Cert, check: string): void {
  if (crl.revokedSerials.has(cert.serial)) {
    throw new AttestationError(
      check,
      `${cert.what} serial ${cert.serial} is revoked by ${crl.what} (thisUpdate ${crl.thisUpdate.toISOString()})`,
    );
  }
}
