/**
 * When a cached collateral document stops being usable, read from its bytes alone: the
 * `nextUpdate` of Intel TCB Info / QE Identity (and the notAfter of their issuer chain, which
 * the verifier also checks), a CRL's nextUpdate, a certificate's notAfter. Nothing here
 * verifies a signature: these dates only schedule a refresh, and every refreshed document is
 * verified before it replaces the cached one (see verify.ts).
 */
import { InputError } from '../../shared/errors.ts';
import {
  ISSUER_CHAIN_SUFFIX,
  collateralFile,
  describeCollateral,
  type CollateralDocument,
  type CollateralKey,
} from './sources.ts';
import { parseTdxCrl } from '../tdx/revocation.ts';
import { Cert, Crl, pemBlocks } from '../x509.ts';

export interface ExpiryPart {
  /** What the date belongs to, e.g. `TCB Info nextUpdate` or `TCB Info signing certificate notAfter`. */
  what: string;
  at: Date;
}

export interface CollateralExpiry {
  /** The earliest date after which the document is refused; undefined: it never expires (a CRL without nextUpdate). */
  expiresAt: Date | undefined;
  /** The part that sets `expiresAt`. */
  limitedBy: string;
  /** When the document was issued (TCB Info / QE Identity issueDate, CRL thisUpdate, certificate notBefore). */
  issuedAt: Date | undefined;
  /** Intel's tcbEvaluationDataNumber, when the document has one (a newer document never has a lower one). */
  evaluationDataNumber?: number;
  parts: ExpiryPart[];
}

export type PcsMember = 'tcbInfo' | 'enclaveIdentity';

export interface PcsWindow {
  issueDate: Date;
  nextUpdate: Date;
  evaluationDataNumber?: number;
}

function pcsName(member: PcsMember): string {
  return member === 'tcbInfo' ? 'TCB Info' : 'QE Identity';
}

function isoDate(v: unknown, what: string): Date {
  const d = typeof v === 'string' ? new Date(v) : new Date(NaN);
  if (Number.isNaN(d.getTime()))
    throw new InputError(`${what} is not an ISO date (${JSON.stringify(v)})`, 'bundle-invalid');
  return d;
}

/** issueDate / nextUpdate / tcbEvaluationDataNumber of an Intel PCS JSON document (signature not checked). */
function pcsWindow(body: Uint8Array, member: PcsMember): PcsWindow {
  const name = pcsName(member);
  let inner: unknown;
  try {
    inner = (JSON.parse(Buffer.from(body).toString('utf8')) as Record<string, unknown>)[member];
  } catch (err) {
    throw new InputError(`the ${name} is not JSON (${(err as Error).message})`, 'bundle-invalid');
  }
  if (typeof inner !== 'object' || inner === null)
    throw new InputError(`the ${name} has no "${member}" object`, 'bundle-invalid');
  const o = inner as Record<string, unknown>;
  const n = o.tcbEvaluationDataNumber;
  return {
    issueDate: isoDate(o.issueDate, `the ${name} issueDate`),
    nextUpdate: isoDate(o.nextUpdate, `the ${name} nextUpdate`),
    ...(typeof n === 'number' && Number.isInteger(n) ? { evaluationDataNumber: n } : {}),
  };
}

export function tcbInfoNextUpdate(body: Uint8Array): Date {
  return pcsWindow(body, 'tcbInfo').nextUpdate;
}

export function qeIdentityNextUpdate(body: Uint8Array): Date {
  return pcsWindow(body, 'enclaveIdentity').nextUpdate;
}

/** thisUpdate / nextUpdate of a CRL (DER or PEM); nextUpdate is optional in X.509. */
export function crlWindow(bytes: Uint8Array, what = 'CRL'): { thisUpdate: Date; nextUpdate: Date | undefined } {
  const crl = new Crl(bytes, what);
  return { thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate };
}

export function crlNextUpdate(bytes: Uint8Array): Date | undefined {
  return crlWindow(bytes).nextUpdate;
}

/** notBefore / notAfter of every certificate in `bytes` (one DER certificate or a PEM bundle), in order. */
function certificateWindows(
  bytes: Uint8Array,
  what = 'certificate',
): { what: string; notBefore: Date; notAfter: Date }[] {
  return pemBlocks(bytes).map((der, i, all) => {
    const c = Cert.parse(der, all.length > 1 ? `${what} #${i + 1}` : what);
    return { what: c.what, notBefore: c.notBefore, notAfter: c.notAfter };
  });
}

/** notAfter of a single certificate (DER or PEM). */
export function certificateNotAfter(bytes: Uint8Array): Date {
  const w = certificateWindows(bytes);
  if (w.length !== 1) throw new InputError(`expected one certificate, found ${w.length}`, 'bundle-invalid');
  return w[0]!.notAfter;
}

function summarize(
  parts: ExpiryPart[],
  issuedAt: Date | undefined,
  extra: Partial<CollateralExpiry> = {},
): CollateralExpiry {
  let first: ExpiryPart | undefined;
  for (const p of parts) if (!first || p.at < first.at) first = p;
  return { expiresAt: first?.at, limitedBy: first?.what ?? 'nothing (no expiry date)', issuedAt, parts, ...extra };
}

function issuerChainParts(doc: CollateralDocument, name: string): ExpiryPart[] {
  if (!doc.issuerChain) return [];
  const labels = [`${name} signing certificate`, 'Intel SGX Root CA'];
  return certificateWindows(doc.issuerChain).map((w, i) => ({
    what: `${labels[i] ?? w.what} notAfter`,
    at: w.notAfter,
  }));
}

/**
 * The expiry of one cached document. Throws InputError naming the document when its bytes do
 * not parse (a refresh replaces such a document like an expired one).
 */
export function collateralExpiry(key: CollateralKey, doc: CollateralDocument): CollateralExpiry {
  try {
    switch (key.kind) {
      case 'tdx-tcb-info':
      case 'tdx-qe-identity': {
        const member: PcsMember = key.kind === 'tdx-tcb-info' ? 'tcbInfo' : 'enclaveIdentity';
        const name = pcsName(member);
        const w = pcsWindow(doc.body, member);
        // The verifier also refuses the document once its signing certificate expires.
        const parts = [{ what: `${name} nextUpdate`, at: w.nextUpdate }, ...issuerChainParts(doc, name)];
        return summarize(
          parts,
          w.issueDate,
          w.evaluationDataNumber !== undefined ? { evaluationDataNumber: w.evaluationDataNumber } : {},
        );
      }
      case 'snp-crl': {
        const w = crlWindow(doc.body, `AMD ${key.product} CRL`);
        return summarize(w.nextUpdate ? [{ what: 'CRL nextUpdate', at: w.nextUpdate }] : [], w.thisUpdate);
      }
      case 'tdx-pck-crl':
      case 'tdx-root-crl': {
        const name = key.kind === 'tdx-pck-crl' ? 'PCK CRL' : 'Root CA CRL';
        const { crl } = parseTdxCrl(doc.body, describeCollateral(key), 'collateral');
        // The collateral verifier also refuses a PCK CRL once its issuer chain expires.
        const parts = [
          ...(crl.nextUpdate ? [{ what: `${name} nextUpdate`, at: crl.nextUpdate }] : []),
          ...issuerChainParts(doc, name),
        ];
        return summarize(parts, crl.thisUpdate);
      }
      case 'snp-vcek': {
        const [w] = certificateWindows(doc.body, 'VCEK');
        if (!w) throw new InputError('no certificate', 'bundle-invalid');
        return summarize([{ what: 'VCEK notAfter', at: w.notAfter }], w.notBefore);
      }
      case 'snp-cert-chain': {
        const labels = key.signer === 'vlek' ? ['ASVK', 'ARK'] : ['ASK', 'ARK'];
        const ws = certificateWindows(doc.body, 'AMD certificate');
        if (ws.length === 0) throw new InputError('no certificate', 'bundle-invalid');
        const issued = ws.reduce<Date | undefined>((a, w) => (!a || w.notBefore > a ? w.notBefore : a), undefined);
        return summarize(
          ws.map((w, i) => ({ what: `${labels[i] ?? w.what} notAfter`, at: w.notAfter })),
          issued,
        );
      }
    }
  } catch (err) {
    throw new InputError(
      `cached collateral ${collateralFile(key)} (${describeCollateral(key)}) cannot be read: ${(err as Error).message}; ` +
        `replace it (refresh from a mirror, or re-run \`enroll --collateral DIR\`)`,
      'bundle-invalid',
      { cause: err },
    );
  }
}

/** True when the document is expired at `now` or expires within `windowMs` of it. */
export function expiresWithin(expiry: Pick<CollateralExpiry, 'expiresAt'>, now: Date, windowMs: number): boolean {
  return expiry.expiresAt !== undefined && expiry.expiresAt.getTime() - now.getTime() <= windowMs;
}

/** Whether a bundle-cache entry name is the issuer chain stored next to a document. */
export function isIssuerChainFile(file: string): boolean {
  return file.endsWith(ISSUER_CHAIN_SUFFIX);
}
