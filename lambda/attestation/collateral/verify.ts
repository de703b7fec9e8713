/**
 * Verification of one fetched collateral document, before it may enter the bundle's cache:
 * the same checks the SNP/TDX verifiers run on it when verifying evidence (signature, issuer
 * chain to a PINNED root, validity at `now`), plus that the document is the one its key
 * names (FMSPC, product, chip, TCB), so a mirror cannot file one document under another
 * key. Trust anchors are a code parameter: production uses `pinnedCollateralVerifier()`
 * (PINNED_ROOTS); only tests build a verifier with other anchors. No setting adds a root.
 */
import { AttestationError } from '../../shared/errors.ts';
import {
  ChainedCollateral,
  collateralFile,
  describeCollateral,
  type CollateralDocument,
  type CollateralKey,
  type CollateralSource,
} from './sources.ts';
import { content, decodeSmallUint, readTlv } from '../der.ts';
import { PINNED_ROOTS, type SnpProduct, type TrustAnchors } from '../roots.ts';
import { checkPinnedArk, productFromCert } from '../snp/verify.ts';
import { parseQeIdentity, parseTcbInfo } from '../tdx/pcs.ts';
import { checkTdxCrl, parseTdxCrl, pckCaOf } from '../tdx/revocation.ts';
import { Cert, Crl, pemBlocks } from '../x509.ts';

export interface CollateralVerifyContext {
  /**
   * Where the issuers of a document come from (the AMD cert_chain for a VCEK or a CRL):
   * documents accepted earlier in the same run, the bundle's cache, the mirror. Bytes only:
   * whatever it returns is verified to the pinned root again.
   */
  lookup?: CollateralSource;
}

/** Throws AttestationError (check `collateral`) naming the document and the failed check. */
export type CollateralVerify = (
  key: CollateralKey,
  doc: CollateralDocument,
  context?: CollateralVerifyContext,
) => Promise<void>;

const AMD_OID = '1.3.6.1.4.1.3704.1.';
const SPL_OIDS: Record<string, string> = { blSPL: '3.1', teeSPL: '3.2', snpSPL: '3.3', ucodeSPL: '3.8', fmcSPL: '3.9' };

function fail(key: CollateralKey, reason: string, cause?: unknown): AttestationError {
  return new AttestationError(
    'collateral',
    `${describeCollateral(key)} (${collateralFile(key)}) is refused: ${reason}`,
    cause === undefined ? undefined : { cause },
  );
}

/** ASK/ASVK then ARK, the ARK pinned for `product`, both valid at `now`. Returns the ARK. */
function verifyAmdChain(
  body: Uint8Array,
  product: SnpProduct,
  signer: 'vcek' | 'vlek',
  trust: TrustAnchors,
  now: Date,
): { ask: Cert; ark: Cert } {
  const chain = pemBlocks(body);
  if (chain.length !== 2)
    throw new AttestationError(
      'snp.chain',
      `the ${product} cert_chain must hold the ${signer === 'vlek' ? 'ASVK' : 'ASK'} then the ARK, found ${chain.length} certificates`,
    );
  const ask = Cert.parse(chain[0]!, signer === 'vlek' ? 'ASVK' : 'ASK');
  const ark = Cert.parse(chain[1]!, 'ARK');
  checkPinnedArk(ark, product, trust, now);
  ask.checkSignedBy(ark, 'snp.chain');
  ask.checkValidAt(now, 'snp.chain');
  return { ask, ark };
}

async function issuerChain(
  key: CollateralKey,
  product: SnpProduct,
  signers: readonly ('vcek' | 'vlek')[],
  ctx: CollateralVerifyContext | undefined,
  trust: TrustAnchors,
  now: Date,
) {
  for (const signer of signers) {
    const doc = await ctx?.lookup?.get({ kind: 'snp-cert-chain', product, signer });
    if (doc) return verifyAmdChain(doc.body, product, signer, trust, now);
  }
  const chainKey: CollateralKey = { kind: 'snp-cert-chain', product, signer: signers[0]! };
  throw fail(
    key,
    `${describeCollateral(chainKey)} (${collateralFile(chainKey)}) is needed to verify it and no source has it; fetch or cache it too`,
  );
}

function checkVcekMatchesKey(key: Extract<CollateralKey, { kind: 'snp-vcek' }>, vcek: Cert): void {
  const product = productFromCert(vcek);
  if (product !== key.product)
    throw fail(key, `the certificate is for product ${product ?? '(none)'}, not ${key.product}`);
  const hwid = vcek.extensions.get(`${AMD_OID}4`);
  if (!hwid || Buffer.from(hwid).toString('hex') !== key.chipId.toLowerCase())
    throw fail(key, `its hwID ${hwid ? Buffer.from(hwid).toString('hex') : '(absent)'} is not chip ${key.chipId}`);
  for (const pair of key.tcbQuery.split('&')) {
    const [name, value] = pair.split('=');
    const oid = SPL_OIDS[name ?? ''];
    if (!oid) throw fail(key, `unknown TCB query part ${pair}`);
    const ext = vcek.extensions.get(`${AMD_OID}${oid}`);
    const got = ext ? decodeSmallUint(content(ext, readTlv(ext, 0)), name!) : undefined;
    if (got !== Number(value)) throw fail(key, `its ${name} is ${got ?? '(absent)'}, the key asks for ${value}`);
  }
  const curve = vcek.publicKey.asymmetricKeyDetails?.namedCurve;
  if (vcek.publicKey.asymmetricKeyType !== 'ec' || curve !== 'secp384r1')
    throw fail(key, `the VCEK key must be ECDSA P-384, got ${vcek.publicKey.asymmetricKeyType} ${curve ?? ''}`);
}

/** Throws unless `root` is the pinned, self-signed Intel SGX Root CA, valid at `now`. */
function checkPinnedIntelRoot(root: Cert, trust: TrustAnchors, now: Date, check: string): void {
  if (!trust.intelRoot.includes(root.fingerprint))
    throw new AttestationError(
      check,
      `root ${root.fingerprint} is not the pinned Intel SGX Root CA (${trust.intelRoot.join(' or ')})`,
    );
  root.checkSignedBy(root, check);
  root.checkValidAt(now, check);
}

/**
 * The PCK CRL's issuer chain (PCK Platform/Processor CA, then the Intel SGX Root CA, as PCS
 * sends it in `SGX-PCK-CRL-Issuer-Chain`): from the document, else from a source that has
 * the same key with its chain (the bundle's cache). Verified to the pinned root at `now`.
 */
async function pckCrlIssuer(
  key: Extract<CollateralKey, { kind: 'tdx-pck-crl' }>,
  doc: CollateralDocument,
  ctx: CollateralVerifyContext | undefined,
  trust: TrustAnchors,
  now: Date,
): Promise<Cert> {
  const chainBytes = doc.issuerChain ?? (await ctx?.lookup?.get(key))?.issuerChain;
  if (!chainBytes)
    throw fail(
      key,
      `its issuer chain (PCK ${key.ca} CA and Intel SGX Root CA) is needed to verify it: PCS sends it in the SGX-PCK-CRL-Issuer-Chain header; store it as ${collateralFile(key)}.issuer-chain.pem`,
    );
  const certs = pemBlocks(chainBytes);
  if (certs.length !== 2)
    throw fail(
      key,
      `its issuer chain must hold the PCK ${key.ca} CA then the Intel SGX Root CA, found ${certs.length} certificates`,
    );
  const ca = Cert.parse(certs[0]!, `Intel SGX PCK ${key.ca === 'platform' ? 'Platform' : 'Processor'} CA`);
  const root = Cert.parse(certs[1]!, 'Intel SGX Root CA');
  checkPinnedIntelRoot(root, trust, now, 'tdx.chain');
  ca.checkSignedBy(root, 'tdx.chain');
  ca.checkValidAt(now, 'tdx.chain');
  if (pckCaOf(ca) !== key.ca)
    throw fail(key, `its issuer chain names ${ca.node.subject.replace(/\n/g, ', ')}, not the PCK ${key.ca} CA`);
  return ca;
}

/**
 * The pinned Intel SGX Root CA certificate, for the root CRL: from the document's issuer
 * chain, else from the issuer chain of any Intel PCS document a source has (QE Identity,
 * PCK CRLs). Only a certificate with a pinned fingerprint is taken.
 */
async function intelRoot(
  key: CollateralKey,
  doc: CollateralDocument,
  ctx: CollateralVerifyContext | undefined,
  trust: TrustAnchors,
  now: Date,
): Promise<Cert> {
  const others: CollateralKey[] = [
    { kind: 'tdx-qe-identity' },
    { kind: 'tdx-pck-crl', ca: 'platform' },
    { kind: 'tdx-pck-crl', ca: 'processor' },
  ];
  for (let i = -1; i < others.length; i++) {
    const chain = i < 0 ? doc.issuerChain : (await ctx?.lookup?.get(others[i]!))?.issuerChain;
    for (const der of chain ? pemBlocks(chain) : []) {
      const c = Cert.parse(der, 'Intel SGX Root CA');
      if (trust.intelRoot.includes(c.fingerprint)) {
        checkPinnedIntelRoot(c, trust, now, 'tdx.chain');
        return c;
      }
    }
  }
  throw fail(
    key,
    'the Intel SGX Root CA certificate is needed to verify it and no issuer chain at hand holds it; fetch or cache the QE Identity (with its issuer chain) too',
  );
}

/** The checks for one document at `now` against `trust`. */
async function verifyCollateralDocument(
  key: CollateralKey,
  doc: CollateralDocument,
  trust: TrustAnchors,
  now: Date,
  ctx?: CollateralVerifyContext,
): Promise<void> {
  try {
    switch (key.kind) {
      case 'tdx-tcb-info': {
        // A pinned key (`tcbEvaluationDataNumber=N`) takes no TCB Info below N (go-tdx-guest getTcbInfo).
        const info = parseTcbInfo(doc, trust, now, key.evaluationDataNumber);
        if (info.fmspc !== key.fmspc.toLowerCase()) throw fail(key, `it is the TCB Info of FMSPC ${info.fmspc}`);
        return;
      }
      case 'tdx-qe-identity':
        parseQeIdentity(doc, trust, now);
        return;
      case 'snp-cert-chain':
        verifyAmdChain(doc.body, key.product, key.signer, trust, now);
        return;
      case 'snp-crl': {
        // Either chain carries the product's ARK, which signs the CRL.
        const { ark } = await issuerChain(key, key.product, ['vcek', 'vlek'], ctx, trust, now);
        const crl = new Crl(doc.body, `AMD ${key.product} CRL`);
        crl.checkSignedBy(ark, 'snp.crl');
        // A CRL past its nextUpdate (or not yet issued) is no fresher than none.
        if (crl.thisUpdate > now || (crl.nextUpdate && crl.nextUpdate < now)) {
          throw fail(
            key,
            `it is not current at ${now.toISOString()} (thisUpdate ${crl.thisUpdate.toISOString()}, nextUpdate ${crl.nextUpdate?.toISOString() ?? 'none'})`,
          );
        }
        return;
      }
      case 'tdx-pck-crl': {
        const ca = await pckCrlIssuer(key, doc, ctx, trust, now);
        const { crl, id } = parseTdxCrl(doc.body, describeCollateral(key), 'tdx.pck-revocation');
        checkTdxCrl(crl, id, ca, now, 'tdx.pck-revocation');
        return;
      }
      case 'tdx-root-crl': {
        const root = await intelRoot(key, doc, ctx, trust, now);
        const { crl, id } = parseTdxCrl(doc.body, describeCollateral(key), 'tdx.intermediate-revocation');
        checkTdxCrl(crl, id, root, now, 'tdx.intermediate-revocation');
        return;
      }
      case 'snp-vcek': {
        const { ask } = await issuerChain(key, key.product, ['vcek'], ctx, trust, now);
        const vcek = Cert.parse(doc.body, 'VCEK');
        vcek.checkSignedBy(ask, 'snp.chain');
        vcek.checkValidAt(now, 'snp.chain');
        checkVcekMatchesKey(key, vcek);
        return;
      }
    }
  } catch (err) {
    if (err instanceof AttestationError && err.check === 'collateral') throw err;
    throw fail(key, (err as Error).message, err);
  }
}

/**
 * A CollateralVerify with the given anchors. Takes TrustAnchors, which only code can build;
 * production code calls `pinnedCollateralVerifier` instead.
 */
export function collateralVerifier(trust: TrustAnchors, now: () => Date = () => new Date()): CollateralVerify {
  return (key, doc, ctx) => verifyCollateralDocument(key, doc, trust, now(), ctx);
}

/** The production verifier of fetched collateral: the AMD and Intel roots pinned in roots.ts. */
export function pinnedCollateralVerifier(now: () => Date = () => new Date()): CollateralVerify {
  return collateralVerifier(PINNED_ROOTS, now);
}

/** Order in which a run verifies documents: issuers (cert chains) before what they sign. */
export function verificationOrder(key: CollateralKey): number {
  // The QE Identity and PCK CRLs carry the Intel root the root CRL is verified with.
  return {
    'snp-cert-chain': 0,
    'snp-crl': 1,
    'snp-vcek': 2,
    'tdx-tcb-info': 3,
    'tdx-qe-identity': 4,
    'tdx-pck-crl': 5,
    'tdx-root-crl': 6,
  }[key.kind];
}

/** A lookup preferring documents already accepted in this run over the other sources. */
export function lookupWith(accepted: CollateralSource, ...rest: (CollateralSource | undefined)[]): CollateralSource {
  return new ChainedCollateral([accepted, ...rest.filter((s): s is CollateralSource => s !== undefined)]);
}
