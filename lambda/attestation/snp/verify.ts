/**
 * SEV-SNP evidence verification (go-sev-guest's `verify`): the ARK → ASK/ASVK → VCEK/VLEK
 * chain to a pinned ARK, the AMD CRL when one is at hand, the report's ECDSA P-384
 * signature, and the signer certificate's product/TCB/hwID extensions against the report.
 */
import { createHash, verify as cryptoVerify } from 'node:crypto';
import { AttestationError } from '../../shared/errors.ts';
import { bytesEqual, concat, hex } from '../bytes.ts';
import { NO_LOG, type CheckSink } from '../checks.ts';
import { missingCollateral, type CollateralKey, type CollateralSource } from '../collateral.ts';
import { content, decodeSmallUint, readTlv } from '../der.ts';
import { Cert, Crl, pemBlocks } from '../x509.ts';
import type { SnpProduct, TrustAnchors } from '../roots.ts';
import { SIGNED_SIZE, decodeTcb, formatTcb, productFromCpuid, vcekHwid, type SnpAttestation, type SnpReport, type TcbParts } from './abi.ts';

const AMD_OID = '1.3.6.1.4.1.3704.1.';

export interface SnpVerifyOptions {
  trust: TrustAnchors;
  now: Date;
  /** Cache/mirror for VCEK, ASK/ARK and CRL when the evidence lacks them. */
  collateral?: CollateralSource;
  /** Product named by the operator (CLI --product); must agree with every other source. */
  product?: SnpProduct;
  log?: CheckSink;
}

export interface VerifiedSnp {
  report: SnpReport;
  product: SnpProduct;
  signingKey: 'VCEK' | 'VLEK';
  leaf: Cert;
  reportedTcb: TcbParts;
}

/** Pinned roots parsed once per process: fingerprint → certificate already self-verified. */
const verifiedRoots = new Map<string, Cert>();

/** Product named by a VCEK/VLEK's product-name extension (e.g. `Milan-B0` → Milan). */
export function productFromCert(leaf: Cert): SnpProduct | undefined {
  const ext = leaf.extensions.get(`${AMD_OID}2`);
  if (!ext) return undefined;
  const t = readTlv(ext, 0);
  const name = Buffer.from(content(ext, t)).toString('latin1').split('-')[0];
  return name === 'Milan' || name === 'Genoa' || name === 'Turin' ? name : undefined;
}

function decideProduct(att: SnpAttestation, opts: SnpVerifyOptions, leafProduct: SnpProduct | undefined): SnpProduct {
  const claims: [string, SnpProduct | undefined][] = [
    ['the evidence', att.product],
    ['--product', opts.product],
    ['the report CPUID', att.report.cpuid ? productFromCpuid(att.report.cpuid) : undefined],
    ['the signer certificate', leafProduct],
  ];
  let product: SnpProduct | undefined;
  for (const [, p] of claims) if (p && !product) product = p;
  for (const [src, p] of claims) {
    if (p && p !== product) {
      throw new AttestationError('snp.product', `product mismatch: ${claims.filter(([, q]) => q).map(([s, q]) => `${s} says ${q}`).join(', ')} (first disagreement: ${src})`);
    }
  }
  if (!product) throw new AttestationError('snp.product', 'cannot tell the SEV-SNP product (Milan/Genoa/Turin): the evidence names none; pass it explicitly (e.g. --product Milan)');
  return product;
}

async function fetchDoc(opts: SnpVerifyOptions, key: CollateralKey, check: string): Promise<Uint8Array> {
  const doc = await opts.collateral?.get(key);
  if (!doc) throw missingCollateral(check, key);
  return doc.body;
}

/** The KDS VCEK query for a TCB (also part of the collateral cache file name). */
export function tcbQuery(t: TcbParts, product: SnpProduct): string {
  const base = `blSPL=${t.bl}&teeSPL=${t.tee}&snpSPL=${t.snp}&ucodeSPL=${t.ucode}`;
  return product === 'Turin' ? `fmcSPL=${t.fmc}&${base}` : base;
}

/** Throws unless `ark` is the pinned, self-signed, currently valid AMD root of `product`. */
export function checkPinnedArk(ark: Cert, product: SnpProduct, trust: TrustAnchors, now: Date): void {
  const pins = trust.amdArk[product];
  if (!pins.includes(ark.fingerprint)) {
    throw new AttestationError('snp.chain', `ARK fingerprint ${ark.fingerprint} is not the pinned AMD root for ${product} (expected ${pins.join(' or ')})`);
  }
  ark.checkValidAt(now, 'snp.chain');
  if (!verifiedRoots.has(ark.fingerprint)) {
    ark.checkSignedBy(ark, 'snp.chain');
    verifiedRoots.set(ark.fingerprint, ark);
  }
}

export async function verifySnp(att: SnpAttestation, opts: SnpVerifyOptions): Promise<VerifiedSnp> {
  const log = opts.log ?? NO_LOG;
  const r = att.report;
  const signingKey = r.signingKey;

  // The signer certificate: carried, or fetched (VCEK only; a VLEK cannot be derived).
  const leafDer = signingKey === 'VLEK' ? att.vlek : att.vcek;
  let leaf = leafDer ? Cert.parse(leafDer, signingKey) : undefined;
  if (!leaf) {
    const early = decideProduct(att, opts, undefined);
    if (signingKey === 'VLEK') throw new AttestationError('snp.chain', 'the report is signed by a VLEK but the evidence carries no VLEK certificate; supply it (--vcek FILE takes a VLEK too)');
    if (r.maskChipKey || r.chipId.every((b) => b === 0)) throw new AttestationError('snp.chain', 'the report masks CHIP_ID and carries no VCEK, so the VCEK cannot be looked up; supply it (--vcek FILE)');
    const t = decodeTcb(r.reportedTcb, early);
    leaf = Cert.parse(await fetchDoc(opts, { kind: 'snp-vcek', product: early, chipId: hex(vcekHwid(r.chipId, early)), tcbQuery: tcbQuery(t, early) }, 'snp.chain'), signingKey);
  }
  const product = decideProduct(att, opts, productFromCert(leaf));
  log.pass('snp.product', product);

  // ASK/ASVK and ARK: carried, or the product's chain from the cache/mirror.
  let askDer = att.ask;
  let arkDer = att.ark;
  if (!askDer || !arkDer) {
    const chain = pemBlocks(await fetchDoc(opts, { kind: 'snp-cert-chain', product, signer: signingKey === 'VLEK' ? 'vlek' : 'vcek' }, 'snp.chain'));
    if (chain.length !== 2) throw new AttestationError('snp.chain', `the ${product} cert_chain must hold the ASK (or ASVK) then the ARK, found ${chain.length} certificates`);
    askDer ??= chain[0];
    arkDer ??= chain[1];
  }
  const ask = Cert.parse(askDer!, signingKey === 'VLEK' ? 'ASVK' : 'ASK');
  const ark = verifiedRoots.get(createHash('sha256').update(arkDer!).digest('hex')) ?? Cert.parse(arkDer!, 'ARK');
  checkPinnedArk(ark, product, opts.trust, opts.now);
  ask.checkSignedBy(ark, 'snp.chain');
  ask.checkValidAt(opts.now, 'snp.chain');
  leaf.checkSignedBy(ask, 'snp.chain');
  leaf.checkValidAt(opts.now, 'snp.chain');
  const curve = leaf.publicKey.asymmetricKeyDetails?.namedCurve;
  if (leaf.publicKey.asymmetricKeyType !== 'ec' || curve !== 'secp384r1') {
    throw new AttestationError('snp.chain', `${signingKey} key must be ECDSA P-384, got ${leaf.publicKey.asymmetricKeyType} ${curve ?? ''}`);
  }
  log.pass('snp.chain', `${signingKey} ← ${ask.what} ← ARK-${product} (pinned ${ark.fingerprint.slice(0, 16)}…)`);

  // Revocation: only when a CRL is at hand (carried in the evidence or in the cache).
  const crlDer = att.crl ?? (await opts.collateral?.get({ kind: 'snp-crl', product }))?.body;
  if (crlDer) {
    const crl = new Crl(crlDer, `AMD ${product} CRL`);
    crl.checkSignedBy(ark, 'snp.crl');
    for (const c of [ask, leaf]) {
      if (crl.revokedSerials.has(c.serial)) throw new AttestationError('snp.crl', `${c.what} serial ${c.serial} is revoked by the AMD ${product} CRL`);
    }
    log.pass('snp.crl', `${ask.what} not revoked (CRL of ${crl.thisUpdate.toISOString()})`);
  } else {
    log.notEvaluated('snp.crl', 'no AMD CRL at hand (neither in the evidence nor in the collateral cache)');
  }

  // The report signature.
  if (r.signatureAlgo !== 1) throw new AttestationError('snp.signature', `SIGNATURE_ALGO must be 1 (ECDSA P-384 SHA-384), got ${r.signatureAlgo}`);
  const ok = cryptoVerify('sha384', r.raw.subarray(0, SIGNED_SIZE), { key: leaf.publicKey, dsaEncoding: 'ieee-p1363' }, concat(r.sigR, r.sigS));
  if (!ok) throw new AttestationError('snp.signature', `the report signature does not verify with the ${signingKey} (serial ${leaf.serial})`);
  log.pass('snp.signature', `ECDSA P-384 by the ${signingKey}`);

  // The signer certificate describes this chip and TCB.
  const reportedTcb = decodeTcb(r.reportedTcb, product);
  checkLeafTcb(leaf, reportedTcb, product);
  log.pass('snp.reported-tcb', formatTcb(reportedTcb));
  if (signingKey === 'VCEK' && !r.maskChipKey && !r.chipId.every((b) => b === 0)) {
    const hwid = leaf.extensions.get(`${AMD_OID}4`);
    const expected = vcekHwid(r.chipId, product);
    if (!hwid || !bytesEqual(hwid, expected)) {
      throw new AttestationError('snp.chip-id', `CHIP_ID ${hex(expected)} differs from the VCEK hwID ${hwid ? hex(hwid) : '(absent)'}`);
    }
    log.pass('snp.chip-id', product === 'Turin' ? 'CHIP_ID (first 8 bytes, Turin) equals the VCEK hwID' : 'CHIP_ID equals the VCEK hwID');
  } else {
    log.notEvaluated('snp.chip-id', signingKey === 'VLEK' ? 'VLEK-signed: CHIP_ID is not bound to the certificate' : 'CHIP_ID masked');
  }
  return { report: r, product, signingKey, leaf, reportedTcb };
}

function checkLeafTcb(leaf: Cert, t: TcbParts, product: SnpProduct): void {
  const parts: [keyof TcbParts, string][] = [
    ['bl', '3.1'],
    ['tee', '3.2'],
    ['snp', '3.3'],
    ['ucode', '3.8'],
  ];
  if (product === 'Turin') parts.push(['fmc', '3.9']);
  for (const [name, oid] of parts) {
    const ext = leaf.extensions.get(`${AMD_OID}${oid}`);
    if (!ext) throw new AttestationError('snp.reported-tcb', `the ${leaf.what} lacks its ${name} SPL extension (${AMD_OID}${oid})`);
    const v = decodeSmallUint(content(ext, readTlv(ext, 0)), `${name} SPL`);
    if (v !== t[name]) throw new AttestationError('snp.reported-tcb', `REPORTED_TCB ${name}=${t[name]} differs from the ${leaf.what}'s ${name} SPL ${v}`);
  }
}
