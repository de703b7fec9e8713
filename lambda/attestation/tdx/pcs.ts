/**
 * Intel PCS collateral for TDX: TCB Info and QE Identity, each verified like evidence
 * (ECDSA P-256 signature over the exact JSON bytes, issuer chain to the pinned Intel SGX
 * Root CA, validity windows at the evaluation time), and Intel's TCB-level algorithm,
 * including tdxModuleIdentities.
 */
import { verify as cryptoVerify } from 'node:crypto';
import * as z from '../../shared/zod.ts';
import { AttestationError } from '../../shared/errors.ts';
import { hex } from '../bytes.ts';
import { StaleCollateralError, type CollateralDocument } from '../collateral/sources.ts';
import type { TrustAnchors } from '../roots.ts';
import { Cert, pemBlocks } from '../x509.ts';
import type { EnclaveReport } from '../../gen/tdx/tdx_pb.ts';
import type { TdQuoteBody } from './abi.ts';
import type { PckExtensions } from './pck.ts';

const hexStr = z.pipe(
  z.string().check(z.regex(/^([0-9a-fA-F]{2})*$/)),
  z.transform((s) => s.toLowerCase()),
);
const nonNegative = z.int().check(z.gte(0));
const svnList = z.array(z.looseObject({ svn: z.int().check(z.gte(0), z.lte(255)) })).check(z.length(16));
const TcbLevelSchema = z.object({
  tcb: z.object({ sgxtcbcomponents: svnList, pcesvn: nonNegative, tdxtcbcomponents: svnList }),
  tcbStatus: z.string(),
});
const isvTcbLevels = z.array(z.object({ tcb: z.object({ isvsvn: nonNegative }), tcbStatus: z.string() }));
const ModuleSchema = z.object({ mrsigner: hexStr, attributes: hexStr, attributesMask: hexStr });
const ModuleIdentitySchema = z.extend(ModuleSchema, {
  id: z.string(),
  tcbLevels: isvTcbLevels,
});
export const TcbInfoSchema = z.object({
  id: z.literal('TDX'),
  version: z.int(),
  issueDate: z.string(),
  nextUpdate: z.string(),
  fmspc: hexStr,
  pceId: hexStr,
  tdxModule: ModuleSchema,
  tdxModuleIdentities: z.optional(z.array(ModuleIdentitySchema)),
  /** Intel's TCB evaluation data number (Contrast's MinTCBEvaluationDataNumber is compared with it). */
  tcbEvaluationDataNumber: z.optional(z.int()),
  tcbLevels: z.array(TcbLevelSchema).check(z.minLength(1)),
});
export const QeIdentitySchema = z.object({
  id: z.literal('TD_QE'),
  issueDate: z.string(),
  nextUpdate: z.string(),
  miscselect: hexStr,
  miscselectMask: hexStr,
  attributes: hexStr,
  attributesMask: hexStr,
  mrsigner: hexStr,
  isvprodid: z.int(),
  tcbLevels: isvTcbLevels.check(z.minLength(1)),
});
export type TcbInfo = z.infer<typeof TcbInfoSchema>;
export type QeIdentity = z.infer<typeof QeIdentitySchema>;

/** The exact text of the JSON value under `key` (the signature covers these bytes). */
export function rawJsonMember(text: string, key: string): string {
  const m = new RegExp(`^\\s*\\{\\s*"${key}"\\s*:\\s*`).exec(text);
  if (!m) throw new Error(`no leading "${key}" member`);
  const start = m[0].length;
  if (text[start] !== '{') throw new Error(`"${key}" is not an object`);
  let depth = 0;
  let inStr = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inStr) {
      if (c === '\\') i++;
      else if (c === '"') inStr = false;
    } else if (c === '"') inStr = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return text.slice(start, i + 1);
    }
  }
  throw new Error(`unterminated "${key}" object`);
}

/**
 * Verifies one signed PCS JSON document: issuer chain (signing cert → pinned root), both
 * valid at `now`; the signature; the document's issueDate..nextUpdate window.
 */
function verifySignedJson(
  doc: CollateralDocument,
  key: 'tcbInfo' | 'enclaveIdentity',
  trust: TrustAnchors,
  now: Date,
  check: string,
): unknown {
  const what = key === 'tcbInfo' ? 'TCB Info' : 'QE Identity';
  if (!doc.issuerChain)
    throw new AttestationError(
      check,
      `the ${what} has no issuer chain; supply it next to the document (.issuer-chain.pem)`,
    );
  const certs = pemBlocks(doc.issuerChain);
  if (certs.length !== 2)
    throw new AttestationError(
      check,
      `the ${what} issuer chain must hold the signing certificate and the root, found ${certs.length}`,
    );
  const signer = Cert.parse(certs[0]!, `${what} signing certificate`);
  const root = Cert.parse(certs[1]!, 'Intel SGX Root CA');
  if (!trust.intelRoot.includes(root.fingerprint))
    throw new AttestationError(
      check,
      `the ${what} issuer root ${root.fingerprint} is not the pinned Intel SGX Root CA (${trust.intelRoot.join(' or ')})`,
    );
  root.checkSignedBy(root, check);
  signer.checkSignedBy(root, check);
  try {
    root.checkValidAt(now, check);
    signer.checkValidAt(now, check);
  } catch (err) {
    throw new StaleCollateralError(check, `the ${what} issuer chain is not valid: ${(err as Error).message}`);
  }
  const text = Buffer.from(doc.body).toString('utf8');
  let parsed: { signature?: unknown; [k: string]: unknown };
  let member: string;
  try {
    parsed = JSON.parse(text) as typeof parsed;
    member = rawJsonMember(text, key);
  } catch (err) {
    throw new AttestationError(check, `the ${what} is not the expected JSON: ${(err as Error).message}`);
  }
  const sig =
    typeof parsed.signature === 'string' && /^[0-9a-fA-F]{128}$/.test(parsed.signature)
      ? Buffer.from(parsed.signature, 'hex')
      : undefined;
  if (
    !sig ||
    !cryptoVerify('sha256', Buffer.from(member, 'utf8'), { key: signer.publicKey, dsaEncoding: 'ieee-p1363' }, sig)
  ) {
    throw new AttestationError(check, `the ${what} signature does not verify with its signing certificate`);
  }
  const body = parsed[key] as { issueDate?: string; nextUpdate?: string };
  const issued = new Date(body.issueDate ?? '');
  const next = new Date(body.nextUpdate ?? '');
  if (!(issued <= now) || !(now <= next)) {
    throw new StaleCollateralError(
      check,
      `the ${what} is not current at ${now.toISOString()}: issued ${body.issueDate}, next update ${body.nextUpdate}; refresh the collateral (run enroll --collateral DIR or let the mirror refresh it)`,
    );
  }
  return body;
}

/**
 * A verified TCB Info. `evaluationDataNumber` > 0 is the number it was requested for (the
 * manifest's MinTCBEvaluationDataNumber): as go-tdx-guest's `getTcbInfo` (edgelesssys fork,
 * verify/verify.go) refuses a PCS answer whose tcbEvaluationDataNumber is below the requested
 * one — a non-compliant PCS or a man in the middle — a lower (or missing) number is refused
 * by name. A higher one is taken, as upstream takes it.
 */
export function parseTcbInfo(
  doc: CollateralDocument,
  trust: TrustAnchors,
  now: Date,
  evaluationDataNumber = 0,
): TcbInfo {
  const body = verifySignedJson(doc, 'tcbInfo', trust, now, 'tdx.tcb-info');
  const r = TcbInfoSchema.safeParse(body);
  if (!r.success)
    throw new AttestationError(
      'tdx.tcb-info',
      `the TCB Info is malformed: ${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message}`,
    );
  const have = r.data.tcbEvaluationDataNumber;
  if (evaluationDataNumber > 0 && (have === undefined || have < evaluationDataNumber))
    throw new AttestationError(
      'tdx.tcb-evaluation-data-number',
      `the TCB Info for FMSPC ${r.data.fmspc} was requested at tcbEvaluationDataNumber ${evaluationDataNumber} (the manifest's MinTCBEvaluationDataNumber) but has ${have ?? 'none'}: an outdated TCB Info, refused as go-tdx-guest's getTcbInfo refuses it; the cache or mirror serves the wrong document — re-enroll with the TCB Info Intel PCS serves for that number`,
    );
  return r.data;
}

export function parseQeIdentity(doc: CollateralDocument, trust: TrustAnchors, now: Date): QeIdentity {
  const body = verifySignedJson(doc, 'enclaveIdentity', trust, now, 'tdx.qe-identity');
  const r = QeIdentitySchema.safeParse(body);
  if (!r.success)
    throw new AttestationError(
      'tdx.qe-identity',
      `the QE Identity is malformed: ${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message}`,
    );
  return r.data;
}

function masked(value: Uint8Array, maskHex: string): string {
  const mask = Buffer.from(maskHex, 'hex');
  if (mask.length !== value.length) return 'size-mismatch';
  return hex(value.map((b, i) => b & mask[i]!));
}

/** Combines the platform TCB status with the TDX module's (Intel QVL's convergence rule). */
function converge(platform: string, module: string | undefined): string {
  if (module === undefined || module === 'UpToDate') return platform;
  if (module === 'Revoked') return 'Revoked';
  if (module === 'OutOfDate') {
    if (
      platform === 'ConfigurationNeeded' ||
      platform === 'ConfigurationAndSWHardeningNeeded' ||
      platform === 'OutOfDateConfigurationNeeded'
    )
      return 'OutOfDateConfigurationNeeded';
    return platform === 'Revoked' ? 'Revoked' : 'OutOfDate';
  }
  return module;
}

/**
 * Intel's TCB-level algorithm for a TD: the first TCB level whose SGX components and PCESVN
 * the PCK meets and whose TDX components TEE_TCB_SVN meets (skipping the module's own
 * components 0 and 1 when TEE_TCB_SVN[1] > 0: the tdxModuleIdentities decide those).
 */
export function tdxTcbStatus(info: TcbInfo, pck: PckExtensions, body: TdQuoteBody): { status: string; detail: string } {
  if (info.fmspc !== pck.fmspc)
    throw new AttestationError(
      'tdx.tcb-info',
      `TCB Info is for FMSPC ${info.fmspc}, the PCK certificate says ${pck.fmspc}`,
    );
  if (info.pceId !== pck.pceId)
    throw new AttestationError(
      'tdx.tcb-info',
      `TCB Info is for PCE ID ${info.pceId}, the PCK certificate says ${pck.pceId}`,
    );
  const svn = body.teeTcbSvn;
  const moduleVersion = svn[1]!;
  let moduleStatus: string | undefined;
  let mod: z.infer<typeof ModuleSchema> = info.tdxModule;
  if (moduleVersion > 0 && info.tdxModuleIdentities) {
    const id = `TDX_${moduleVersion.toString(16).toUpperCase().padStart(2, '0')}`;
    const ident = info.tdxModuleIdentities.find((m) => m.id.toUpperCase() === id);
    if (!ident)
      throw new AttestationError(
        'tdx.tcb-status',
        `TEE_TCB_SVN names TDX module ${id}, which the TCB Info does not list (TCB status Unrecognized)`,
      );
    mod = ident;
    const level = ident.tcbLevels.find((l) => l.tcb.isvsvn <= svn[0]!);
    if (!level)
      throw new AttestationError(
        'tdx.tcb-status',
        `TDX module ${id} SVN ${svn[0]} is below every TCB level of its identity (TCB status Unrecognized)`,
      );
    moduleStatus = level.tcbStatus;
  }
  if (hex(body.mrSignerSeam) !== mod.mrsigner)
    throw new AttestationError(
      'tdx.tcb-status',
      `MRSIGNERSEAM: expected ${mod.mrsigner} (TCB Info), got ${hex(body.mrSignerSeam)}`,
    );
  if (masked(body.seamAttributes, mod.attributesMask) !== mod.attributes)
    throw new AttestationError(
      'tdx.tcb-status',
      `SEAMATTRIBUTES ${hex(body.seamAttributes)} under mask ${mod.attributesMask}: expected ${mod.attributes}`,
    );
  const start = moduleVersion > 0 ? 2 : 0;
  for (const level of info.tcbLevels) {
    const t = level.tcb;
    if (!t.sgxtcbcomponents.every((c, i) => pck.cpuSvnComponents[i]! >= c.svn)) continue;
    if (pck.pceSvn < t.pcesvn) continue;
    if (!t.tdxtcbcomponents.every((c, i) => i < start || svn[i]! >= c.svn)) continue;
    const status = converge(level.tcbStatus, moduleStatus);
    return {
      status,
      detail: `platform ${level.tcbStatus}${moduleStatus ? `, module TDX_${moduleVersion.toString(16).padStart(2, '0')} ${moduleStatus}` : ''}`,
    };
  }
  throw new AttestationError(
    'tdx.tcb-status',
    `no TCB level of FMSPC ${info.fmspc} matches this platform (TCB status Unrecognized)`,
  );
}

/** QE Identity: MRSIGNER, ISVPRODID, masked MISCSELECT/ATTRIBUTES, and the QE's TCB status. */
export function qeIdentityStatus(id: QeIdentity, qe: EnclaveReport): string {
  if (hex(qe.mrSigner) !== id.mrsigner)
    throw new AttestationError('tdx.qe-identity', `QE MRSIGNER: expected ${id.mrsigner}, got ${hex(qe.mrSigner)}`);
  if (qe.isvProdId !== id.isvprodid)
    throw new AttestationError('tdx.qe-identity', `QE ISVPRODID: expected ${id.isvprodid}, got ${qe.isvProdId}`);
  const misc = new Uint8Array(4);
  new DataView(misc.buffer).setUint32(0, qe.miscSelect, true);
  if (masked(misc, id.miscselectMask) !== id.miscselect)
    throw new AttestationError(
      'tdx.qe-identity',
      `QE MISCSELECT ${hex(misc)} under mask ${id.miscselectMask}: expected ${id.miscselect}`,
    );
  if (masked(qe.attributes, id.attributesMask) !== id.attributes)
    throw new AttestationError(
      'tdx.qe-identity',
      `QE ATTRIBUTES ${hex(qe.attributes)} under mask ${id.attributesMask}: expected ${id.attributes}`,
    );
  const level = id.tcbLevels.find((l) => l.tcb.isvsvn <= qe.isvSvn);
  if (!level)
    throw new AttestationError('tdx.qe-identity', `QE ISVSVN ${qe.isvSvn} is below every QE Identity TCB level`);
  return level.tcbStatus;
}

/** Final status of quote + QE: an out-of-date or revoked QE lowers the platform's status. */
export function combineQeStatus(tcb: string, qe: string): string {
  if (qe === 'UpToDate') return tcb;
  if (qe === 'Revoked') return 'Revoked';
  if (qe === 'OutOfDate')
    return tcb === 'UpToDate' || tcb === 'SWHardeningNeeded'
      ? 'OutOfDate'
      : tcb.startsWith('Configuration')
        ? 'OutOfDateConfigurationNeeded'
        : tcb;
  return qe;
}
