/**
 * TDX quote verification: the PCK chain to the pinned Intel SGX Root CA, the QE report
 * signature by the PCK, the QE report-data binding of the attestation key, the quote
 * signature, revocation (Intel SGX Root CA CRL and PCK CRL, when at hand), and (with
 * collateral) the TCB status from TCB Info and QE Identity.
 */
import { createHash, verify as cryptoVerify } from 'node:crypto';
import { AttestationError } from '../../shared/errors.ts';
import { bytesEqual, hex, isZero } from '../bytes.ts';
import { NO_LOG, type CheckSink } from '../checks.ts';
import { missingCollateral, type CollateralKey, type CollateralSource } from '../collateral.ts';
import type { TrustAnchors } from '../roots.ts';
import { Cert, p256KeyFromRaw, pemBlocks } from '../x509.ts';
import { INTEL_QE_VENDOR_ID, type TdxQuote } from './abi.ts';
import { combineQeStatus, parseQeIdentity, parseTcbInfo, qeIdentityStatus, tdxTcbStatus } from './collateral.ts';
import { parsePckExtensions, type PckExtensions } from './pck.ts';
import { checkNotRevoked, checkTdxCrl, commonName, crlNotAtHand, parseTdxCrl, pckCaOf } from './revocation.ts';

export interface TdxVerifyOptions {
  trust: TrustAnchors;
  now: Date;
  collateral?: CollateralSource;
  /** Clock for collateral windows when it differs from `now` (tests of archived collateral). */
  collateralNow?: Date;
  log?: CheckSink;
}

export interface VerifiedTdx {
  quote: TdxQuote;
  pck: Cert;
  pckExtensions: PckExtensions;
  /** Undefined when no collateral was at hand (status not evaluated). */
  tcbStatus?: string;
  tcbMissing?: AttestationError;
}

const verifiedRoots = new Set<string>();


export async function verifyTdx(q: TdxQuote, opts: TdxVerifyOptions): Promise<VerifiedTdx> {
  const log = opts.log ?? NO_LOG;
  if (q.qeVendorId !== INTEL_QE_VENDOR_ID) throw new AttestationError('tdx.format', `QE vendor ID: expected ${INTEL_QE_VENDOR_ID} (Intel), got ${q.qeVendorId}`);

  // PCK → intermediate → pinned root.
  const certs = pemBlocks(q.pckChainPem);
  if (certs.length !== 3) throw new AttestationError('tdx.chain', `the quote's PCK chain must hold PCK, intermediate and root certificates, found ${certs.length}`);
  const pck = Cert.parse(certs[0]!, 'PCK certificate');
  const inter = Cert.parse(certs[1]!, 'PCK intermediate CA');
  const root = Cert.parse(certs[2]!, 'Intel SGX Root CA');
  if (!opts.trust.intelRoot.includes(root.fingerprint)) {
    throw new AttestationError('tdx.chain', `root fingerprint ${root.fingerprint} is not the pinned Intel SGX Root CA (${opts.trust.intelRoot.join(' or ')})`);
  }
  if (!verifiedRoots.has(root.fingerprint)) {
    root.checkSignedBy(root, 'tdx.chain');
    verifiedRoots.add(root.fingerprint);
  }
  inter.checkSignedBy(root, 'tdx.chain');
  pck.checkSignedBy(inter, 'tdx.chain');
  for (const c of [root, inter, pck]) c.checkValidAt(opts.now, 'tdx.chain');
  const interCn = commonName(inter);
  const interName = interCn ?? 'intermediate';
  log.pass('tdx.chain', `PCK ← ${interName} ← Intel SGX Root CA (pinned)`);

  // QE report signed by the PCK, binding the attestation key.
  if (!cryptoVerify('sha256', q.qeReport.raw, { key: pck.publicKey, dsaEncoding: 'ieee-p1363' }, q.qeReportSignature)) {
    throw new AttestationError('tdx.qe-report-signature', 'the QE report signature does not verify with the PCK certificate');
  }
  log.pass('tdx.qe-report-signature', 'ECDSA P-256 by the PCK');
  const binding = createHash('sha256').update(q.attestationKey).update(q.qeAuthData).digest();
  if (!bytesEqual(q.qeReport.reportData.subarray(0, 32), binding) || !isZero(q.qeReport.reportData.subarray(32))) {
    throw new AttestationError('tdx.qe-binding', `QE report data: expected SHA-256(attestation key || QE auth data) = ${hex(binding)} then zeros, got ${hex(q.qeReport.reportData)}`);
  }
  log.pass('tdx.qe-binding', 'QE report data binds the attestation key');

  // The quote signature by the attestation key.
  let ok = false;
  try {
    ok = cryptoVerify('sha256', q.signed, { key: p256KeyFromRaw(q.attestationKey), dsaEncoding: 'ieee-p1363' }, q.signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new AttestationError('tdx.signature', 'the quote signature does not verify with its attestation key');
  log.pass('tdx.signature', 'ECDSA P-256 by the attestation key');

  const pckExtensions = parsePckExtensions(pck);
  const result: VerifiedTdx = { quote: q, pck, pckExtensions };

  // Collateral (the cache or mirror; the evidence carries none we trust unverified), fetched
  // together: TCB Info, QE Identity and the two CRLs.
  const tcbKey: CollateralKey = { kind: 'tdx-tcb-info', fmspc: pckExtensions.fmspc };
  const qeKey: CollateralKey = { kind: 'tdx-qe-identity' };
  const ca = pckCaOf(interCn);
  const pckCrlKey: CollateralKey | undefined = ca && { kind: 'tdx-pck-crl', ca };
  const rootCrlKey: CollateralKey = { kind: 'tdx-root-crl' };
  const src = opts.collateral;
  const [tcbDoc, qeDoc, pckCrlDoc, rootCrlDoc] = src ? await Promise.all([src.get(tcbKey), src.get(qeKey), pckCrlKey && src.get(pckCrlKey), src.get(rootCrlKey)]) : [];
  const cnow = opts.collateralNow ?? opts.now;

  // Revocation, only when a CRL is at hand (like the AMD CRL for SEV-SNP): the root CRL
  // must not list the intermediate, the intermediate's PCK CRL must not list the PCK.
  if (rootCrlDoc) {
    const check = 'tdx.intermediate-revocation';
    const { crl, id } = parseTdxCrl(rootCrlDoc.body, 'the Intel SGX Root CA CRL', check);
    checkTdxCrl(crl, id, root, cnow, check);
    checkNotRevoked(crl, inter, check);
    log.pass(check, `${interName} serial ${inter.serial} not revoked (Intel SGX Root CA CRL of ${crl.thisUpdate.toISOString()})`);
  } else {
    log.notEvaluated('tdx.intermediate-revocation', crlNotAtHand(rootCrlKey));
  }
  if (!pckCrlKey) {
    log.notEvaluated('tdx.pck-revocation', `revocation not checked: the intermediate ${JSON.stringify(interName)} is neither the Intel SGX PCK Platform CA nor the Processor CA, so its PCK CRL cannot be named`);
  } else if (pckCrlDoc) {
    const check = 'tdx.pck-revocation';
    const { crl, id } = parseTdxCrl(pckCrlDoc.body, `the Intel PCK CRL of the ${interName}`, check);
    checkTdxCrl(crl, id, inter, cnow, check);
    checkNotRevoked(crl, pck, check);
    log.pass(check, `PCK serial ${pck.serial} not revoked (${interName} CRL of ${crl.thisUpdate.toISOString()})`);
  } else {
    log.notEvaluated('tdx.pck-revocation', crlNotAtHand(pckCrlKey));
  }

  // TCB status from TCB Info and QE Identity.
  if (!tcbDoc || !qeDoc) {
    result.tcbMissing = missingCollateral('tdx.tcb-status', tcbDoc ? qeKey : tcbKey);
    log.notEvaluated('tdx.tcb-status', result.tcbMissing.message);
    return result;
  }
  const info = parseTcbInfo(tcbDoc, opts.trust, cnow);
  log.pass('tdx.tcb-info', `FMSPC ${info.fmspc}, issued ${info.issueDate}`);
  const qeId = parseQeIdentity(qeDoc, opts.trust, cnow);
  log.pass('tdx.qe-identity', `issued ${qeId.issueDate}`);
  const platform = tdxTcbStatus(info, pckExtensions, q.body);
  const qeStatus = qeIdentityStatus(qeId, q.qeReport);
  result.tcbStatus = combineQeStatus(platform.status, qeStatus);
  log.pass('tdx.tcb-status', `${result.tcbStatus} (${platform.detail}; QE ${qeStatus})`);
  return result;
}

/** Refuses a TCB status the deployment does not accept (UpToDate unless configured). */
export function checkTcbStatus(v: VerifiedTdx, accepted: readonly string[]): string {
  if (v.tcbStatus === undefined) throw v.tcbMissing ?? new AttestationError('tdx.tcb-status', 'TCB status not evaluated');
  if (!accepted.includes(v.tcbStatus)) {
    throw new AttestationError('tdx.tcb-status', `TCB status: expected ${accepted.join(' or ')}, got ${v.tcbStatus}`);
  }
  return v.tcbStatus;
}
