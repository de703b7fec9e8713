/**
 * Offline verification of raw evidence files (the operator command and the vector tests):
 * runs every stage, records each check, and says whether all passed, one failed, or some
 * could not be evaluated (no collateral, no manifest).
 */
import { AttestationError } from '../shared/errors.ts';
import { CheckLog, type CheckError } from './checks.ts';
import type { CollateralSource } from './collateral/sources.ts';
import { normalizePolicyHashes } from './reference.ts';
import type { SnpProduct, TrustAnchors } from './roots.ts';
import { parseSignerInfo, reportToProto, type SnpAttestation } from './snp/abi.ts';
import { snpReportClaims, validateSnp } from './snp/validate.ts';
import { verifySnp } from './snp/verify.ts';
import { quoteToProto } from './tdx/abi.ts';
import { tdxQuoteClaims, validateTdx } from './tdx/validate.ts';
import { checkTcbStatus, judgeTdxTcb, verifyTdx, type TdxVerifyOptions } from './tdx/verify.ts';
import { pemBlocks } from './x509.ts';
import type { ReferenceInput } from './verifier.ts';

export type Verdict = 'passed' | 'failed' | 'incomplete';

export interface OfflineResult {
  verdict: Verdict;
  checks: CheckLog['results'];
  /** The first failure; a ClaimsError lists every refused claim. */
  error?: CheckError;
}

export interface OfflineOptions {
  trust: TrustAnchors;
  now: Date;
  collateral?: CollateralSource;
  collateralNow?: Date;
  reference?: ReferenceInput;
  acceptedTdxTcbStatuses?: readonly string[];
}

function finish(log: CheckLog, error?: unknown): OfflineResult {
  if (error !== undefined) {
    const e: CheckError =
      error instanceof AttestationError || (error instanceof Error && 'check' in error && 'outcome' in error)
        ? (error as CheckError)
        : new AttestationError('format', (error as Error).message ?? String(error));
    if (!log.results.some((r) => r.status === 'fail' && r.check === e.check)) log.fail(e.check, e.message);
    return { verdict: 'failed', checks: log.results, error: e };
  }
  return {
    verdict: log.results.some((r) => r.status === 'not-evaluated') ? 'incomplete' : 'passed',
    checks: log.results,
  };
}

export interface SnpFiles {
  report: Uint8Array;
  /** VCEK or VLEK certificate (DER or PEM). */
  signer?: Uint8Array;
  /** ASK (or ASVK) then ARK, PEM. */
  chain?: Uint8Array;
  product?: SnpProduct;
}

export async function verifySnpFiles(files: SnpFiles, opts: OfflineOptions): Promise<OfflineResult> {
  const log = new CheckLog();
  try {
    const report = reportToProto(files.report);
    const { signingKey } = parseSignerInfo(report.signerInfo);
    log.pass('snp.format', `version ${report.version}, signed by ${signingKey}`);
    const att: SnpAttestation = { report, raw: files.report };
    if (files.signer) att[signingKey === 'VLEK' ? 'vlek' : 'vcek'] = pemBlocks(files.signer)[0];
    if (files.chain) {
      const c = pemBlocks(files.chain);
      if (c.length !== 2)
        throw new AttestationError(
          'snp.chain',
          `--chain must hold the ASK (or ASVK) then the ARK, found ${c.length} certificates`,
        );
      [att.ask, att.ark] = c;
    }
    const v = await verifySnp(att, {
      trust: opts.trust,
      now: opts.now,
      collateral: opts.collateral,
      product: files.product,
      log,
    });
    if (opts.reference) {
      validateSnp(
        v,
        opts.reference.referenceValues.snp,
        normalizePolicyHashes(opts.reference.coordinatorPolicyHashes),
        log,
      );
    } else {
      const own = snpReportClaims(v);
      own.writeTo(log);
      own.throwIfFailed();
      log.notEvaluated(
        'snp.claims',
        'no manifest given (--manifest FILE): product, measurement, policy, platform info, TCB minimums, HOST_DATA, ID key not checked',
      );
    }
    return finish(log);
  } catch (err) {
    return finish(log, err);
  }
}

export async function verifyTdxFile(quoteBytes: Uint8Array, opts: OfflineOptions): Promise<OfflineResult> {
  const log = new CheckLog();
  try {
    const q = quoteToProto(quoteBytes);
    log.pass('tdx.format', `version ${q.header?.version}`);
    const vopts: TdxVerifyOptions = {
      trust: opts.trust,
      now: opts.now,
      collateral: opts.collateral,
      collateralNow: opts.collateralNow,
      log,
    };
    const v = await verifyTdx(q, vopts);
    // The TCB Info is pinned to the matching entry's MinTCBEvaluationDataNumber (judgeTdxTcb);
    // without a manifest, the newest one is used.
    let evaluationDataNumber = 0;
    if (opts.reference) {
      const ref = validateTdx(
        q,
        v.pckExtensions,
        opts.reference.referenceValues.tdx,
        normalizePolicyHashes(opts.reference.coordinatorPolicyHashes),
        log,
      );
      evaluationDataNumber = ref.MinTCBEvaluationDataNumber;
    } else {
      const own = tdxQuoteClaims(q);
      own.writeTo(log);
      own.throwIfFailed();
      log.notEvaluated(
        'tdx.claims',
        'no manifest given (--manifest FILE): MRTD, RTMRs, MRSEAM, XFAM, TD attributes, MRCONFIGID, PCK options not checked',
      );
    }
    const tcb = await judgeTdxTcb(v, vopts, evaluationDataNumber);
    if (tcb.tcbStatus !== undefined) {
      const accepted = opts.acceptedTdxTcbStatuses ?? ['UpToDate'];
      checkTcbStatus(tcb, accepted);
      log.pass('tdx.tcb-accepted', `${tcb.tcbStatus} is among ${accepted.join(', ')}`);
    }
    return finish(log);
  } catch (err) {
    return finish(log, err);
  }
}
