/**
 * TDX claims as Contrast's TDX validator judges them (edgelesssys/contrast
 * internal/attestation/tdx/validator.go, with the options of internal/manifest/manifest.go
 * `TDXValidateOpts`), through go-tdx-guest `validate.TdxQuote` (edgelesssys/go-tdx-guest
 * validate/validate.go, the fork Contrast pins). Every claim is judged; all failures are
 * reported together.
 */
import { hex } from '../bytes.ts';
import { ClaimSet, NO_LOG, judgeReferences, type CheckSink } from '../checks.ts';
import type { TdxReference } from '../reference.ts';
import { headerSvns, quoteParts, type Quote } from './abi.ts';
import { SGX_TYPE_SCALABLE_WITH_INTEGRITY, type PckExtensions } from './pck.ts';

/** go-tdx-guest: XFAM bits 0 and 1 must be set; only the bits of 0x0006DBE7 may be. */
const XFAM_FIXED1 = 0x3n;
const XFAM_FIXED0 = 0x0006dbe7n;
/** go-tdx-guest: TD attributes may set only DEBUG (0), SEPT_VE_DISABLE (28), PKS (30), PERFMON (63). */
const TD_ATTRIBUTES_FIXED0 = 0x1n | (1n << 28n) | (1n << 30n) | (1n << 63n);
/** XFAM bits 11 (CET_U) and 12 (CET_S), which Contrast's newer validator leaves out (validateXfamIgnoringCET). */
const XFAM_CET = (1n << 11n) | (1n << 12n);

function u64le(b: Uint8Array): bigint {
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
}
const leHex = (v: bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return hex(b);
};

/** The quote's own form that go-tdx-guest checks whatever the reference (fixed XFAM and TD-attribute bits). */
export function tdxQuoteClaims(q: Quote): ClaimSet {
  const c = new ClaimSet();
  const { body } = quoteParts(q);
  const xfam = u64le(body.xfam);
  c.judge(
    'tdx.xfam.fixed',
    (xfam & XFAM_FIXED1) === XFAM_FIXED1 && (xfam & ~XFAM_FIXED0) === 0n,
    `XFAM with bits 0 and 1 set and no bit outside ${leHex(XFAM_FIXED0)}`,
    `XFAM ${hex(body.xfam)}`,
    hex(body.xfam),
  );
  const attrs = u64le(body.tdAttributes);
  c.judge(
    'tdx.td-attributes.fixed',
    (attrs & ~TD_ATTRIBUTES_FIXED0) === 0n,
    `TD attributes with no bit outside DEBUG, SEPT_VE_DISABLE, PKS, PERFMON`,
    `TD attributes ${hex(body.tdAttributes)}`,
    hex(body.tdAttributes),
  );
  return c;
}

/** The claims one reference entry makes about the quote and its PCK certificate. */
export function tdxReferenceClaims(
  q: Quote,
  pck: PckExtensions,
  ref: TdxReference,
  policyHashes: readonly string[],
): ClaimSet {
  const { header, body: b } = quoteParts(q);
  const c = new ClaimSet();
  c.judge('tdx.mrtd', hex(b.mrTd) === ref.MrTd, `MRTD ${ref.MrTd}`, hex(b.mrTd));
  for (let i = 0; i < 4; i++)
    c.judge(`tdx.rtmr${i}`, hex(b.rtmrs[i]!) === ref.Rtmrs[i], `RTMR${i} ${ref.Rtmrs[i]}`, hex(b.rtmrs[i]!));
  c.judge('tdx.mrseam', hex(b.mrSeam) === ref.MrSeam, `MRSEAM ${ref.MrSeam}`, hex(b.mrSeam));
  c.judge(
    'tdx.td-attributes',
    hex(b.tdAttributes) === ref.TdAttributes,
    `TD attributes ${ref.TdAttributes}`,
    hex(b.tdAttributes),
  );
  if (ref.xfamIgnoresCet) {
    const mask = ~XFAM_CET & 0xffffffffffffffffn;
    c.judge(
      'tdx.xfam',
      (u64le(b.xfam) & mask) === (u64le(Buffer.from(ref.Xfam, 'hex')) & mask),
      `XFAM ${ref.Xfam} (bits 11 and 12, CET, not compared)`,
      hex(b.xfam),
    );
  } else {
    c.judge('tdx.xfam', hex(b.xfam) === ref.Xfam, `XFAM ${ref.Xfam}`, hex(b.xfam));
  }
  // As `contrast recover` judges it: the sdk/CLI client (C sdk/common.go, cli/cmd/common.go
  // `ValidatorsFromManifest` up to the APEIP releases) sets go-tdx-guest's MrConfigID option to
  // the Coordinator policy hash followed by 16 zero bytes, and exactByteMatch compares all 48.
  // Only the newest sdk hands the check to the Coordinator's validator, which reads [0:32]
  // (Report.HostData); the manifest cannot tell those releases apart, so the client's 48-byte
  // rule applies to every shape (Contrast's runtime always writes the 16 zero bytes).
  const policy = hex(b.mrConfigId.subarray(0, 32));
  const tail = b.mrConfigId.subarray(32);
  c.judge(
    'tdx.mrconfigid',
    policyHashes.includes(policy) && tail.every((x) => x === 0),
    `MRCONFIGID = a Coordinator policy hash of the manifest (${policyHashes.join(', ') || 'none listed'}) followed by 16 zero bytes`,
    hex(b.mrConfigId),
  );

  // Older shapes: minimum SVNs (go-tdx-guest minVersionCheck; header SVNs are little-endian u16).
  if (ref.MinimumTeeTcbSvn !== undefined) {
    const want = Buffer.from(ref.MinimumTeeTcbSvn, 'hex');
    c.judge(
      'tdx.svn.tee-tcb',
      [...b.teeTcbSvn].every((v, i) => v >= want[i]!),
      `TEE_TCB_SVN at least ${ref.MinimumTeeTcbSvn} in every byte`,
      hex(b.teeTcbSvn),
    );
  }
  const { qeSvn, pceSvn } = headerSvns(header);
  if (ref.MinimumQeSvn !== undefined)
    c.judge('tdx.svn.qe', qeSvn >= ref.MinimumQeSvn, `QE SVN at least ${ref.MinimumQeSvn}`, `QE SVN ${qeSvn}`);
  if (ref.MinimumPceSvn !== undefined)
    c.judge('tdx.svn.pce', pceSvn >= ref.MinimumPceSvn, `PCE SVN at least ${ref.MinimumPceSvn}`, `PCE SVN ${pceSvn}`);

  // PCK platform options (go-tdx-guest validatePck; Contrast sets each only when true).
  if (ref.MemoryIntegrity)
    c.judge(
      'tdx.pck.memory-integrity',
      pck.sgxType === SGX_TYPE_SCALABLE_WITH_INTEGRITY,
      `SGX Type ${SGX_TYPE_SCALABLE_WITH_INTEGRITY} (scalable with integrity)`,
      `SGX Type ${pck.sgxType}`,
    );
  if (ref.SMTDisabled)
    c.judge(
      'tdx.pck.smt-disabled',
      !pck.configuration.smtEnabled,
      'a PCK whose platform has SMT disabled',
      `SMTEnabled ${pck.configuration.smtEnabled}`,
    );
  if (ref.StaticPlatform)
    c.judge(
      'tdx.pck.static-platform',
      !pck.configuration.dynamicPlatform,
      'a PCK of a static platform',
      `DynamicPlatform ${pck.configuration.dynamicPlatform}`,
    );
  // AllowedPIIDs: Contrast's own check after go-tdx-guest.
  if (ref.AllowedPIIDs.length > 0) {
    c.judge(
      'tdx.allowed-piids',
      pck.piid !== undefined && ref.AllowedPIIDs.includes(pck.piid),
      `PIID one of the ${ref.AllowedPIIDs.length} AllowedPIIDs`,
      pck.piid ? `PIID ${pck.piid}` : 'no PIID in the PCK certificate',
      'listed',
    );
  }
  return c;
}

/**
 * Any reference entry must accept the quote; otherwise every failed claim is thrown (ClaimsError).
 * Only a version 4 quote can be judged against a manifest: every Contrast release reads the
 * evidence as `tdx.QuoteV4` (C internal/attestation/tdx/validator.go `Validate`), and
 * go-tdx-guest's `validate.TdxQuote` refuses any other type as "unsupported quote type"
 * (ETDX validate/validate.go). A v5 quote (e.g. a file given to `attestation verify`) is refused.
 */
export function validateTdx(
  q: Quote,
  pck: PckExtensions,
  refs: readonly TdxReference[],
  policyHashes: readonly string[],
  log: CheckSink = NO_LOG,
): TdxReference {
  const base = tdxQuoteClaims(q);
  base.judge(
    'tdx.quote-version',
    q.$typeName === 'tdx.QuoteV4',
    'a version 4 quote (validate.TdxQuote refuses other quote types as unsupported)',
    `version ${q.header?.version ?? 'unknown'}`,
  );
  return judgeReferences('tdx', refs, base, (ref) => tdxReferenceClaims(q, pck, ref, policyHashes), log);
}
