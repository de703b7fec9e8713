/**
 * TDX quote verification: the PCK chain to the pinned Intel SGX Root CA, the QE report
 * signature by the PCK, the QE report-data binding of the attestation key, the quote
 * signature, and (with collateral) the TCB status from TCB Info and QE Identity.
 */
import { createHash, verify as cryptoVerify } from 'node:crypto';
import { AttestationError } from '../../errors.ts';
import { bytesEqual, hex, isZero } from '../bytes.ts';
import { NO_LOG, type CheckSink } from '../checks.ts';
import { missingCollateral, type CollateralKey, type CollateralSource } from '../collateral.ts';
import type { TrustAnchors } from '../roots.ts';
import { Cert, p256KeyFromRaw, pemBlocks } from '../x509.ts';
import { INTEL_QE_VENDOR_ID, type TdxQuote } from './abi.ts';
import { combineQeStatus, parseQeIdentity, parseTcbInfo, qeIdentityStatus, tdxTcbStatus } from './collateral.ts';
import { parsePckExtensions, type PckExtensions } from './pck.ts';

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
  log.pass('tdx.chain', `PCK ← ${inter.node.subject.split('\n').find((l) => l.startsWith('CN='))?.slice(3) ?? 'intermediate'} ← Intel SGX Root CA (pinned)`);

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

  // TCB status from collateral (the cache or mirror; the evidence carries none we trust unverified).
  const tcbKey: CollateralKey = { kind: 'tdx-tcb-info', fmspc: pckExtensions.fmspc };
  const qeKey: CollateralKey = { kind: 'tdx-qe-identity' };
  const [tcbDoc, qeDoc] = await Promise.all([opts.collateral?.get(tcbKey), opts.collateral?.get(qeKey)]);
  if (!tcbDoc || !qeDoc) {
    result.tcbMissing = missingCollateral('tdx.tcb-status', tcbDoc ? qeKey : tcbKey);
    log.notEvaluated('tdx.tcb-status', result.tcbMissing.message);
    return result;
  }
  const cnow = opts.collateralNow ?? opts.now;
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
