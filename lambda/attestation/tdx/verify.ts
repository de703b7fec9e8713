/**
 * TDX quote verification, as go-tdx-guest's verify.TdxQuoteContext runs it with the options
 * Contrast sets (edgelesssys/contrast internal/manifest/manifest.go `TDXValidateOpts`:
 * CheckRevocations and GetCollateral; edgelesssys/go-tdx-guest verify/verify.go): the PCK
 * chain to the pinned Intel SGX Root CA, the QE report signature by the PCK, the QE
 * report-data binding of the attestation key, the quote signature, revocation (Intel SGX Root
 * CA CRL and PCK CRL, both required) in `verifyTdx`; then, once the reference entry is known
 * (its MinTCBEvaluationDataNumber pins the TCB Info), the TCB status from TCB Info and QE
 * Identity in `judgeTdxTcb`.
 * Collateral is taken from the first source with a current copy (the bundle's cache, then the
 * mirror); when none has one it is reported unavailable (`unreachable`, retried), never as
 * refused evidence.
 */
import { createHash, verify as cryptoVerify } from 'node:crypto';
import { AttestationError, type RecoveryError } from '../../shared/errors.ts';
import { bytesEqual, hex, isZero } from '../bytes.ts';
import { NO_LOG, type CheckSink } from '../checks.ts';
import {
  CollateralUnavailableError,
  StaleCollateralError,
  collateralCandidates,
  collateralFile,
  describeCollateral,
  missingCollateral,
  type CollateralDocument,
  type CollateralKey,
  type CollateralSource,
} from '../collateral/sources.ts';
import type { TrustAnchors } from '../roots.ts';
import { Cert, p256KeyFromRaw, pemBlocks } from '../x509.ts';
import { INTEL_QE_VENDOR_ID, enclaveReportToAbiBytes, quoteParts, signedComponent, type Quote } from './abi.ts';
import {
  combineQeStatus,
  parseQeIdentity,
  parseTcbInfo,
  qeIdentityStatus,
  tdxTcbStatus,
  type QeIdentity,
  type TcbInfo,
} from './pcs.ts';
import { parsePckExtensions, type PckExtensions } from './pck.ts';
import { checkNotRevoked, checkTdxCrl, commonName, parseTdxCrl, pckCaOf } from './revocation.ts';

export interface TdxVerifyOptions {
  trust: TrustAnchors;
  now: Date;
  collateral?: CollateralSource;
  /** Clock for collateral windows when it differs from `now` (tests of archived collateral). */
  collateralNow?: Date;
  log?: CheckSink;
}

export interface VerifiedTdx {
  quote: Quote;
  pck: Cert;
  pckExtensions: PckExtensions;
  /** Set when a required CRL could not be had: revocation is unchecked and the evidence must not pass. */
  revocationMissing?: CollateralUnavailableError;
}

const verifiedRoots = new Set<string>();

export async function verifyTdx(q: Quote, opts: TdxVerifyOptions): Promise<VerifiedTdx> {
  const log = opts.log ?? NO_LOG;
  const { header, signedData, qe, qeReport, qeAuthData, pckChain } = quoteParts(q);
  const qeVendorId = hex(header.qeVendorId);
  if (qeVendorId !== INTEL_QE_VENDOR_ID)
    throw new AttestationError('tdx.format', `QE vendor ID: expected ${INTEL_QE_VENDOR_ID} (Intel), got ${qeVendorId}`);

  // PCK → intermediate → pinned root.
  const certs = pemBlocks(pckChain.pckCertChain);
  if (certs.length !== 3)
    throw new AttestationError(
      'tdx.chain',
      `the quote's PCK chain must hold PCK, intermediate and root certificates, found ${certs.length}`,
    );
  const pck = Cert.parse(certs[0]!, 'PCK certificate');
  const inter = Cert.parse(certs[1]!, 'PCK intermediate CA');
  const root = Cert.parse(certs[2]!, 'Intel SGX Root CA');
  if (!opts.trust.intelRoot.includes(root.fingerprint)) {
    throw new AttestationError(
      'tdx.chain',
      `root fingerprint ${root.fingerprint} is not the pinned Intel SGX Root CA (${opts.trust.intelRoot.join(' or ')})`,
    );
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
  if (
    !cryptoVerify(
      'sha256',
      enclaveReportToAbiBytes(qeReport),
      { key: pck.publicKey, dsaEncoding: 'ieee-p1363' },
      qe.qeReportSignature,
    )
  ) {
    throw new AttestationError(
      'tdx.qe-report-signature',
      'the QE report signature does not verify with the PCK certificate',
    );
  }
  log.pass('tdx.qe-report-signature', 'ECDSA P-256 by the PCK');
  const binding = createHash('sha256').update(signedData.ecdsaAttestationKey).update(qeAuthData.data).digest();
  if (!bytesEqual(qeReport.reportData.subarray(0, 32), binding) || !isZero(qeReport.reportData.subarray(32))) {
    throw new AttestationError(
      'tdx.qe-binding',
      `QE report data: expected SHA-256(attestation key || QE auth data) = ${hex(binding)} then zeros, got ${hex(qeReport.reportData)}`,
    );
  }
  log.pass('tdx.qe-binding', 'QE report data binds the attestation key');

  // The quote signature by the attestation key.
  let ok = false;
  try {
    ok = cryptoVerify(
      'sha256',
      signedComponent(q),
      { key: p256KeyFromRaw(signedData.ecdsaAttestationKey), dsaEncoding: 'ieee-p1363' },
      signedData.signature,
    );
  } catch {
    ok = false;
  }
  if (!ok) throw new AttestationError('tdx.signature', 'the quote signature does not verify with its attestation key');
  log.pass('tdx.signature', 'ECDSA P-256 by the attestation key');

  const pckExtensions = parsePckExtensions(pck);
  const result: VerifiedTdx = { quote: q, pck, pckExtensions };

  // Collateral (the cache or mirror; the evidence carries none we trust unverified): the first
  // current copy of the two CRLs here, of TCB Info and QE Identity in `judgeTdxTcb`.
  const ca = pckCaOf(interCn);
  const pckCrlKey: CollateralKey | undefined = ca && { kind: 'tdx-pck-crl', ca };
  const rootCrlKey: CollateralKey = { kind: 'tdx-root-crl' };
  const cnow = opts.collateralNow ?? opts.now;

  // Revocation (required): the root CRL must not list the intermediate, the intermediate's
  // PCK CRL must not list the PCK.
  const revocationGaps: string[] = [];
  const rootCheck = 'tdx.intermediate-revocation';
  const rootCrl = await firstCurrent(opts.collateral, rootCrlKey, rootCheck, (doc) => {
    const { crl, id } = parseTdxCrl(doc.body, 'the Intel SGX Root CA CRL', rootCheck);
    checkTdxCrl(crl, id, root, cnow, rootCheck);
    return crl;
  });
  if (rootCrl instanceof CollateralUnavailableError) {
    revocationGaps.push(rootCrl.message);
    log.notEvaluated(rootCheck, rootCrl.message);
  } else {
    checkNotRevoked(rootCrl, inter, rootCheck);
    log.pass(
      rootCheck,
      `${interName} serial ${inter.serial} not revoked (Intel SGX Root CA CRL of ${rootCrl.thisUpdate.toISOString()})`,
    );
  }
  const pckCheck = 'tdx.pck-revocation';
  if (!pckCrlKey) {
    const reason = `the intermediate ${JSON.stringify(interName)} is neither the Intel SGX PCK Platform CA nor the Processor CA, so its PCK CRL cannot be named`;
    revocationGaps.push(reason);
    log.notEvaluated(pckCheck, `revocation not checked: ${reason}`);
  } else {
    const pckCrl = await firstCurrent(opts.collateral, pckCrlKey, pckCheck, (doc) => {
      const { crl, id } = parseTdxCrl(doc.body, `the Intel PCK CRL of the ${interName}`, pckCheck);
      checkTdxCrl(crl, id, inter, cnow, pckCheck);
      return crl;
    });
    if (pckCrl instanceof CollateralUnavailableError) {
      revocationGaps.push(pckCrl.message);
      log.notEvaluated(pckCheck, pckCrl.message);
    } else {
      checkNotRevoked(pckCrl, pck, pckCheck);
      log.pass(
        pckCheck,
        `PCK serial ${pck.serial} not revoked (${interName} CRL of ${pckCrl.thisUpdate.toISOString()})`,
      );
    }
  }
  if (revocationGaps.length) {
    result.revocationMissing = new CollateralUnavailableError(
      rootCrl instanceof CollateralUnavailableError ? rootCheck : pckCheck,
      `revocation of the PCK chain cannot be checked, so the evidence is not accepted yet: ${revocationGaps.join('; ')}; it is retried — refresh the collateral (configure a collateral mirror, or \`enroll --collateral DIR\` with current CRLs)`,
    );
  }

  return result;
}

/** The TCB status of a verified quote, judged against one TCB Info (see `judgeTdxTcb`). */
export interface TdxTcb {
  /** Undefined when the TCB Info or QE Identity was not at hand (status not evaluated). */
  tcbStatus?: string;
  tcbMissing?: RecoveryError & { check: string };
  /** The tcbEvaluationDataNumber of the TCB Info used, when it has one. */
  tcbEvaluationDataNumber?: number;
}

/**
 * The TCB status from TCB Info and QE Identity, as go-tdx-guest (edgelesssys fork, the one
 * Contrast pins) obtains them in `obtainCollateral`: the TCB Info is requested *for*
 * `evaluationDataNumber` when it is > 0 (`getTcbInfo`, `tcbEvaluationDataNumber=N`; Contrast
 * sets it from MinTCBEvaluationDataNumber in internal/manifest `TDXValidateOpts`) and the
 * status is judged against that TCB Info, not the newest; one below N is refused by name
 * (`parseTcbInfo`). QE Identity and CRLs stay current. A pinned TCB Info still expires: a copy
 * past its nextUpdate moves on to the next source, and none current is `unreachable`.
 */
export async function judgeTdxTcb(v: VerifiedTdx, opts: TdxVerifyOptions, evaluationDataNumber = 0): Promise<TdxTcb> {
  const log = opts.log ?? NO_LOG;
  const cnow = opts.collateralNow ?? opts.now;
  const { body, qeReport } = quoteParts(v.quote);
  const tcbKey: CollateralKey = {
    kind: 'tdx-tcb-info',
    fmspc: v.pckExtensions.fmspc,
    ...(evaluationDataNumber > 0 ? { evaluationDataNumber } : {}),
  };
  const qeKey: CollateralKey = { kind: 'tdx-qe-identity' };
  const info = await firstCurrent<TcbInfo>(opts.collateral, tcbKey, 'tdx.tcb-info', (doc) =>
    parseTcbInfo(doc, opts.trust, cnow, evaluationDataNumber),
  );
  const qeId = await firstCurrent<QeIdentity>(opts.collateral, qeKey, 'tdx.qe-identity', (doc) =>
    parseQeIdentity(doc, opts.trust, cnow),
  );
  const missing =
    info instanceof CollateralUnavailableError ? info : qeId instanceof CollateralUnavailableError ? qeId : undefined;
  if (missing) {
    const tcbMissing = missing.nothingAtHand
      ? missingCollateral('tdx.tcb-status', missing === info ? tcbKey : qeKey)
      : missing;
    log.notEvaluated('tdx.tcb-status', tcbMissing.message);
    return { tcbMissing };
  }
  const tcbInfo = info as TcbInfo;
  const qeIdentity = qeId as QeIdentity;
  const n = tcbInfo.tcbEvaluationDataNumber;
  log.pass(
    'tdx.tcb-info',
    `FMSPC ${tcbInfo.fmspc}, issued ${tcbInfo.issueDate}${n !== undefined ? `, evaluation data number ${n}` : ''}`,
  );
  if (evaluationDataNumber > 0)
    log.pass(
      'tdx.tcb-evaluation-data-number',
      `TCB Info requested at ${evaluationDataNumber} (MinTCBEvaluationDataNumber), has ${n}`,
    );
  log.pass('tdx.qe-identity', `issued ${qeIdentity.issueDate}`);
  const platform = tdxTcbStatus(tcbInfo, v.pckExtensions, body);
  const qeStatus = qeIdentityStatus(qeIdentity, qeReport);
  const tcbStatus = combineQeStatus(platform.status, qeStatus);
  log.pass('tdx.tcb-status', `${tcbStatus} (${platform.detail}; QE ${qeStatus})`);
  return { tcbStatus, ...(n !== undefined ? { tcbEvaluationDataNumber: n } : {}) };
}

/** No source has the document at all (not merely a stale copy or an unreachable mirror). */
type Unavailable = CollateralUnavailableError & { nothingAtHand?: boolean };

/**
 * The first copy of `key` the sources give that `use` accepts. A copy that is not current
 * (StaleCollateralError) or a mirror out of reach moves on to the next source; any other
 * refusal (a bad signature, a wrong issuer) is thrown. None usable: CollateralUnavailableError.
 */
async function firstCurrent<T>(
  source: CollateralSource | undefined,
  key: CollateralKey,
  check: string,
  use: (doc: CollateralDocument) => T,
): Promise<T | Unavailable> {
  const notes: string[] = [];
  for await (const got of collateralCandidates(source, key)) {
    if (got instanceof CollateralUnavailableError) {
      notes.push(got.message);
      continue;
    }
    try {
      return use(got);
    } catch (err) {
      if (!(err instanceof StaleCollateralError)) throw err;
      notes.push(err.message);
    }
  }
  const err: Unavailable = new CollateralUnavailableError(
    check,
    notes.length
      ? `no current ${describeCollateral(key)}: ${notes.join('; ')}`
      : `${describeCollateral(key)} is not at hand (file ${collateralFile(key)}); supply it with \`enroll --collateral DIR\` or configure a collateral mirror`,
  );
  if (notes.length === 0) err.nothingAtHand = true;
  return err;
}

/**
 * Refuses a TCB status the deployment does not accept: go-tdx-guest accepts only UpToDate,
 * the default; accepting more is a documented deviation that every audit record names.
 */
export function checkTcbStatus(v: TdxTcb, accepted: readonly string[]): string {
  if (v.tcbStatus === undefined)
    throw v.tcbMissing ?? new AttestationError('tdx.tcb-status', 'TCB status not evaluated');
  if (!accepted.includes(v.tcbStatus)) {
    throw new AttestationError('tdx.tcb-status', `TCB status: expected ${accepted.join(' or ')}, got ${v.tcbStatus}`);
  }
  return v.tcbStatus;
}
