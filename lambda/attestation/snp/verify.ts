/**
 * SEV-SNP evidence verification (go-sev-guest `verify.SnpAttestationContext` with the options
 * Contrast sets, edgelesssys/contrast internal/manifest/manifest.go): the ARK → ASK/ASVK →
 * VCEK/VLEK chain to a pinned ARK, revocation (`CheckRevocations = true`: a fresh AMD CRL is
 * required), the report's ECDSA P-384 signature, and the signer certificate's product, TCB
 * and hwID extensions, which validate.ts compares with the report.
 */
import { createHash, verify as cryptoVerify } from 'node:crypto';
import { AttestationError } from '../../shared/errors.ts';
import { hex } from '../bytes.ts';
import { NO_LOG, type CheckSink } from '../checks.ts';
import {
  CollateralUnavailableError,
  collateralCandidates,
  collateralFile,
  describeCollateral,
  missingCollateral,
  type CollateralKey,
  type CollateralSource,
} from '../collateral/sources.ts';
import { content, decodeSmallUint, readTlv } from '../der.ts';
import { Cert, Crl, pemBlocks } from '../x509.ts';
import type { SnpProduct, TrustAnchors } from '../roots.ts';
import type { Report } from '../../gen/sevsnp/sevsnp_pb.ts';
import {
  cpuidProduct,
  decodeTcb,
  parseSignerInfo,
  reportSignature,
  signedComponent,
  vcekHwid,
  type SnpAttestation,
  type TcbParts,
} from './abi.ts';

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
  report: Report;
  product: SnpProduct;
  signingKey: 'VCEK' | 'VLEK';
  leaf: Cert;
  reportedTcb: TcbParts;
  /** The TCB the VCEK/VLEK certifies (its SPL extensions), as a TCB_VERSION. */
  certTcb: bigint;
  /** The VCEK's hwID extension (absent on a VLEK). */
  hwid?: Uint8Array;
  /** Set when no fresh AMD CRL could be had: revocation is unchecked and the evidence must not pass. */
  crlMissing?: CollateralUnavailableError;
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
    ['the report CPUID', cpuidProduct(att.report)],
    ['the signer certificate', leafProduct],
  ];
  let product: SnpProduct | undefined;
  for (const [, p] of claims) if (p && !product) product = p;
  for (const [src, p] of claims) {
    if (p && p !== product) {
      throw new AttestationError(
        'snp.product',
        `product mismatch: ${claims
          .filter(([, q]) => q)
          .map(([s, q]) => `${s} says ${q}`)
          .join(', ')} (first disagreement: ${src})`,
      );
    }
  }
  if (!product)
    throw new AttestationError(
      'snp.product',
      'cannot tell the SEV-SNP product (Milan/Genoa/Turin): the evidence names none; pass it explicitly (e.g. --product Milan)',
    );
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
    throw new AttestationError(
      'snp.chain',
      `ARK fingerprint ${ark.fingerprint} is not the pinned AMD root for ${product} (expected ${pins.join(' or ')})`,
    );
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
  const { signingKey, maskChipKey } = parseSignerInfo(r.signerInfo);

  // The signer certificate: carried, or fetched (VCEK only; a VLEK cannot be derived).
  const leafDer = signingKey === 'VLEK' ? att.vlek : att.vcek;
  let leaf = leafDer ? Cert.parse(leafDer, signingKey) : undefined;
  if (!leaf) {
    const early = decideProduct(att, opts, undefined);
    if (signingKey === 'VLEK')
      throw new AttestationError(
        'snp.chain',
        'the report is signed by a VLEK but the evidence carries no VLEK certificate; supply it (--vcek FILE takes a VLEK too)',
      );
    if (maskChipKey || r.chipId.every((b) => b === 0))
      throw new AttestationError(
        'snp.chain',
        'the report masks CHIP_ID and carries no VCEK, so the VCEK cannot be looked up; supply it (--vcek FILE)',
      );
    const t = decodeTcb(r.reportedTcb, early);
    leaf = Cert.parse(
      await fetchDoc(
        opts,
        { kind: 'snp-vcek', product: early, chipId: hex(vcekHwid(r.chipId, early)), tcbQuery: tcbQuery(t, early) },
        'snp.chain',
      ),
      signingKey,
    );
  }
  const product = decideProduct(att, opts, productFromCert(leaf));
  log.pass('snp.product', product);

  // ASK/ASVK and ARK: carried, or the product's chain from the cache/mirror.
  let askDer = att.ask;
  let arkDer = att.ark;
  if (!askDer || !arkDer) {
    const chain = pemBlocks(
      await fetchDoc(
        opts,
        { kind: 'snp-cert-chain', product, signer: signingKey === 'VLEK' ? 'vlek' : 'vcek' },
        'snp.chain',
      ),
    );
    if (chain.length !== 2)
      throw new AttestationError(
        'snp.chain',
        `the ${product} cert_chain must hold the ASK (or ASVK) then the ARK, found ${chain.length} certificates`,
      );
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
    throw new AttestationError(
      'snp.chain',
      `${signingKey} key must be ECDSA P-384, got ${leaf.publicKey.asymmetricKeyType} ${curve ?? ''}`,
    );
  }
  log.pass('snp.chain', `${signingKey} ← ${ask.what} ← ARK-${product} (pinned ${ark.fingerprint.slice(0, 16)}…)`);

  // Revocation: Contrast sets CheckRevocations, so a fresh CRL is required (crlMissing otherwise).
  const crlMissing = await checkRevocation(att, opts, product, signingKey, ask, ark, log);

  // The report signature.
  if (r.signatureAlgo !== 1)
    throw new AttestationError(
      'snp.signature',
      `SIGNATURE_ALGO must be 1 (ECDSA P-384 SHA-384), got ${r.signatureAlgo}`,
    );
  const ok = cryptoVerify(
    'sha384',
    signedComponent(att.raw),
    { key: leaf.publicKey, dsaEncoding: 'ieee-p1363' },
    reportSignature(r),
  );
  if (!ok)
    throw new AttestationError(
      'snp.signature',
      `the report signature does not verify with the ${signingKey} (serial ${leaf.serial})`,
    );
  log.pass('snp.signature', `ECDSA P-384 by the ${signingKey}`);

  // What the signer certificate certifies; validate.ts compares it with the report.
  const reportedTcb = decodeTcb(r.reportedTcb, product);
  return {
    report: r,
    product,
    signingKey,
    leaf,
    reportedTcb,
    certTcb: certTcb(leaf, product),
    ...(signingKey === 'VCEK' ? { hwid: leaf.extensions.get(`${AMD_OID}4`) } : {}),
    ...(crlMissing ? { crlMissing } : {}),
  };
}

/**
 * The AMD product CRL, as go-sev-guest's GetCrlAndCheckRoot uses it with Contrast's options:
 * the CRL the evidence carries (Contrast hands it over from the certificate's extras) while
 * it is current, else one from the collateral sources (the bundle's cache, then the mirror).
 * It must be signed by the ARK and must not list the ASK (ASVK); go-sev-guest never looks the
 * VCEK up (AMD supersedes VCEKs by TCB instead of revoking them), and neither do we.
 * Stricter than go-sev-guest, which takes a freshly fetched CRL without checking its
 * nextUpdate: here an expired CRL is never a pass (docs/compatibility.md).
 */
async function checkRevocation(
  att: SnpAttestation,
  opts: SnpVerifyOptions,
  product: SnpProduct,
  signingKey: 'VCEK' | 'VLEK',
  ask: Cert,
  ark: Cert,
  log: CheckSink,
): Promise<CollateralUnavailableError | undefined> {
  const key: CollateralKey = {
    kind: 'snp-crl',
    product,
    ...(signingKey === 'VLEK' ? { signer: 'vlek' as const } : {}),
  };
  const what = describeCollateral(key);
  const notes: string[] = [];
  const fresh = (crl: Crl) => crl.thisUpdate <= opts.now && crl.nextUpdate !== undefined && opts.now < crl.nextUpdate;
  const use = (crl: Crl, from: string) => {
    crl.checkSignedBy(ark, 'snp.crl');
    if (crl.revokedSerials.has(ask.serial)) {
      throw new AttestationError(
        'snp.crl',
        `${ask.what} serial ${ask.serial} is revoked by ${what} (thisUpdate ${crl.thisUpdate.toISOString()}): AMD revoked this chip's signing chain`,
      );
    }
    log.pass(
      'snp.crl',
      `${ask.what} not revoked (${what} from ${from}, thisUpdate ${crl.thisUpdate.toISOString()}, next update ${crl.nextUpdate!.toISOString()})`,
    );
  };
  const stale = (crl: Crl, from: string) =>
    `the copy from ${from} is not current at ${opts.now.toISOString()} (thisUpdate ${crl.thisUpdate.toISOString()}, nextUpdate ${crl.nextUpdate?.toISOString() ?? 'none'})`;
  if (att.crl) {
    const crl = new Crl(att.crl, what);
    if (fresh(crl)) {
      use(crl, 'the evidence');
      return undefined;
    }
    notes.push(stale(crl, 'the evidence'));
  }
  let n = 0;
  for await (const got of collateralCandidates(opts.collateral, key)) {
    n++;
    if (got instanceof CollateralUnavailableError) {
      notes.push(got.message);
      continue;
    }
    const crl = new Crl(got.body, what);
    if (fresh(crl)) {
      use(crl, `collateral source ${n}`);
      return undefined;
    }
    notes.push(stale(crl, `collateral source ${n}`));
  }
  if (notes.length === 0)
    notes.push(`neither the evidence nor a collateral source has it (file ${collateralFile(key)})`);
  const missing = new CollateralUnavailableError(
    'snp.crl',
    `no current ${what}, so revocation cannot be checked and the evidence is not accepted yet: ${notes.join('; ')}; ` +
      'it is retried — refresh the collateral (configure a collateral mirror, or `enroll --collateral DIR` with a current CRL)',
  );
  log.notEvaluated('snp.crl', missing.message);
  return missing;
}

/** The TCB a VCEK/VLEK certifies, composed from its SPL extensions as go-sev-guest's kds package reads them. */
function certTcb(leaf: Cert, product: SnpProduct): bigint {
  const spl = (oid: string, required: boolean): bigint => {
    const ext = leaf.extensions.get(`${AMD_OID}${oid}`);
    if (!ext) {
      if (required)
        throw new AttestationError('snp.tcb.vcek', `the ${leaf.what} lacks its SPL extension ${AMD_OID}${oid}`);
      return 0n;
    }
    const v = decodeSmallUint(content(ext, readTlv(ext, 0)), `SPL ${oid}`);
    if (v > 0xff)
      throw new AttestationError('snp.tcb.vcek', `the ${leaf.what}'s SPL ${oid} is ${v}, more than one byte`);
    return BigInt(v);
  };
  if (product === 'Turin')
    return (
      spl('3.9', true) |
      (spl('3.1', true) << 8n) |
      (spl('3.2', true) << 16n) |
      (spl('3.3', true) << 24n) |
      (spl('3.8', true) << 56n)
    );
  // Milan/Genoa: BL, TEE, the reserved SPL4..7 (when present), SNP, microcode.
  return (
    spl('3.1', true) |
    (spl('3.2', true) << 8n) |
    (spl('3.4', false) << 16n) |
    (spl('3.5', false) << 24n) |
    (spl('3.6', false) << 32n) |
    (spl('3.7', false) << 40n) |
    (spl('3.3', true) << 48n) |
    (spl('3.8', true) << 56n)
  );
}
