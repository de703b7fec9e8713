/**
 * SEV-SNP claims as Contrast's validator judges them: go-sev-guest `validate.SnpAttestation`
 * (google/go-sev-guest validate/validate.go) with the options Contrast builds per reference
 * entry (edgelesssys/contrast internal/manifest/manifest.go `SNPValidateOpts`), then Contrast's
 * own checks (internal/attestation/snp/validator.go: AllowedChipIDs; validators.go: HOST_DATA
 * is a Coordinator policy hash). Every claim is judged; all failures are reported together.
 */
import { bytesEqual, hex } from '../bytes.ts';
import { ClaimSet, NO_LOG, judgeReferences, type CheckSink } from '../checks.ts';
import type { SnpReference } from '../reference.ts';
import {
  PLATFORM_INFO_BITS,
  POLICY_BITS,
  POLICY_FIRST_MBZ,
  POLICY_RESERVED_ONE,
  decodeTcb,
  formatTcb,
  snpPolicyToU64,
  tcbFromParts,
  tcbLE,
  vcekHwid,
} from './abi.ts';
import { contrastIdKeyDigest } from './idkey.ts';
import type { VerifiedSnp } from './verify.ts';

const bit = (v: bigint, i: number) => ((v >> BigInt(i)) & 1n) === 1n;
const set = (on: boolean) => (on ? 'set' : 'clear');
const x = (v: bigint) => `0x${v.toString(16)}`;

/**
 * Guest policy bits by how go-sev-guest's validatePolicy reads the reference boolean:
 * "allowed" bits are refused when set in the report but not allowed; "required" bits are
 * refused when the reference requires them and the report lacks them.
 */
const POLICY_ALLOWED = ['SMT', 'MigrateMA', 'Debug', 'CXLAllowed'] as const;
const POLICY_REQUIRED = ['SingleSocket', 'MemAES256XTS', 'RAPLDis', 'CipherTextHidingDRAM', 'PageSwapDisable'] as const;
/** validatePlatformInfo, likewise. */
const PLATFORM_ALLOWED = ['SMTEnabled', 'TSMEEnabled', 'TIOEnabled'] as const;
const PLATFORM_REQUIRED = ['ECCEnabled', 'RAPLDisabled', 'CiphertextHidingDRAMEnabled', 'AliasCheckComplete'] as const;

/**
 * The claims of validate.SnpAttestation that need no reference values, with the options every
 * Contrast release sets (PermitProvisionalFirmware): the signer certificate's TCB equals
 * REPORTED_TCB and does not exceed CURRENT_TCB, COMMITTED ≤ CURRENT (TCB, build and API
 * version: provisional firmware is permitted), and a VCEK's hwID is the report's CHIP_ID.
 */
export function snpReportClaims(v: VerifiedSnp): ClaimSet {
  const r = v.report;
  const c = new ClaimSet();
  const fmt = (t: bigint) => `${x(t)} (${formatTcb(decodeTcb(t, v.product))})`;
  c.judge(
    'snp.tcb.vcek',
    v.certTcb === r.reportedTcb,
    `REPORTED_TCB equal to the ${v.signingKey}'s TCB ${fmt(v.certTcb)}`,
    `REPORTED_TCB ${fmt(r.reportedTcb)}`,
    fmt(r.reportedTcb),
  );
  c.judge(
    'snp.tcb.vcek-current',
    tcbLE(v.certTcb, r.currentTcb),
    `CURRENT_TCB at least the ${v.signingKey}'s TCB ${fmt(v.certTcb)} in every part`,
    `CURRENT_TCB ${fmt(r.currentTcb)}`,
    fmt(r.currentTcb),
  );
  c.judge(
    'snp.tcb.committed',
    tcbLE(r.committedTcb, r.currentTcb),
    `COMMITTED_TCB ≤ CURRENT_TCB ${fmt(r.currentTcb)} in every part (provisional firmware permitted)`,
    `COMMITTED_TCB ${fmt(r.committedTcb)}`,
    fmt(r.committedTcb),
  );
  const ver = (major: number, minor: number) => (major << 8) | minor;
  c.judge(
    'snp.firmware.committed',
    r.committedBuild <= r.currentBuild &&
      ver(r.committedMajor, r.committedMinor) <= ver(r.currentMajor, r.currentMinor),
    `committed firmware ≤ current ${r.currentMajor}.${r.currentMinor} build ${r.currentBuild}`,
    `committed ${r.committedMajor}.${r.committedMinor} build ${r.committedBuild}`,
    `committed ${r.committedMajor}.${r.committedMinor} build ${r.committedBuild} ≤ current ${r.currentMajor}.${r.currentMinor} build ${r.currentBuild}`,
  );
  // MaskChipId may zero CHIP_ID; go-sev-guest then skips the comparison (VLEKs carry no hwID).
  if (v.signingKey === 'VCEK' && !r.chipId.every((b) => b === 0)) {
    const expected = vcekHwid(r.chipId, v.product);
    c.judge(
      'snp.chip-id',
      v.hwid !== undefined && bytesEqual(v.hwid, expected),
      `CHIP_ID ${hex(expected)} to equal the VCEK hwID`,
      `hwID ${v.hwid ? hex(v.hwid) : '(absent)'}`,
      v.product === 'Turin' ? 'CHIP_ID (first 8 bytes, Turin) equals the VCEK hwID' : 'CHIP_ID equals the VCEK hwID',
    );
  }
  return c;
}

/** The claims one reference entry makes about the report. */
export function snpReferenceClaims(v: VerifiedSnp, ref: SnpReference, policyHashes: readonly string[]): ClaimSet {
  const r = v.report;
  const c = new ClaimSet();
  // Each entry carries its own product, trust roots and VCEK (verify options): another product never matches.
  if (ref.ProductName !== v.product) {
    c.fail('snp.product', `evidence from ${ref.ProductName}`, `${v.product} evidence`);
    return c;
  }

  // validatePolicy: ParseSnpPolicy first (bit 17 one, bits 26..63 zero), then ABI and bits.
  const policy = r.policy;
  const policyOk = bit(policy, POLICY_RESERVED_ONE) && policy >> BigInt(POLICY_FIRST_MBZ) === 0n;
  c.judge(
    'snp.policy.reserved',
    policyOk,
    `bit 17 set and bits ${POLICY_FIRST_MBZ}..63 clear`,
    `guest policy ${x(policy)}`,
    x(policy),
  );
  const gp = ref.GuestPolicy;
  const abi = Number(policy & 0xffffn);
  const abiText = (major: number, minor: number) => `${major}.${minor}`;
  c.judge(
    'snp.policy.abi',
    ((gp.ABIMajor << 8) | gp.ABIMinor) <= abi,
    `ABI at least ${abiText(gp.ABIMajor, gp.ABIMinor)}`,
    `ABI ${abiText(abi >> 8, abi & 0xff)}`,
  );
  for (const name of POLICY_ALLOWED) {
    const on = bit(policy, POLICY_BITS[name]);
    c.judge(
      `snp.policy.${name}`,
      gp[name] || !on,
      `${name} (bit ${POLICY_BITS[name]}) clear: the reference does not allow it`,
      set(on),
      `${set(on)}${gp[name] ? ' (allowed)' : ''}`,
    );
  }
  for (const name of POLICY_REQUIRED) {
    const on = bit(policy, POLICY_BITS[name]);
    c.judge(
      `snp.policy.${name}`,
      !gp[name] || on,
      `${name} (bit ${POLICY_BITS[name]}) set: the reference requires it`,
      set(on),
      `${set(on)}${gp[name] ? ' (required)' : ''}`,
    );
  }

  // validatePlatformInfo: only when the release passes PlatformInfo (from the PlatformInfo shape on).
  if (ref.PlatformInfo) {
    const info = r.platformInfo;
    const pi = ref.PlatformInfo;
    c.judge(
      'snp.platform-info.reserved',
      !bit(info, 6) && info >> 8n === 0n,
      'bit 6 and bits 8..63 clear',
      `platform info ${x(info)}`,
      x(info),
    );
    for (const name of PLATFORM_ALLOWED) {
      const on = bit(info, PLATFORM_INFO_BITS[name]);
      c.judge(
        `snp.platform-info.${name}`,
        pi[name] || !on,
        `${name} (bit ${PLATFORM_INFO_BITS[name]}) clear: the reference does not allow it`,
        set(on),
        `${set(on)}${pi[name] ? ' (allowed)' : ''}`,
      );
    }
    for (const name of PLATFORM_REQUIRED) {
      const on = bit(info, PLATFORM_INFO_BITS[name]);
      c.judge(
        `snp.platform-info.${name}`,
        !pi[name] || on,
        `${name} (bit ${PLATFORM_INFO_BITS[name]}) set: the reference requires it`,
        set(on),
        `${set(on)}${pi[name] ? ' (required)' : ''}`,
      );
    }
  }

  c.judge(
    'snp.measurement',
    hex(r.measurement) === ref.TrustedMeasurement,
    `MEASUREMENT ${ref.TrustedMeasurement}`,
    hex(r.measurement),
  );
  const hostData = hex(r.hostData);
  c.judge(
    'snp.host-data',
    policyHashes.includes(hostData),
    `HOST_DATA a Coordinator policy hash of the manifest (${policyHashes.join(', ') || 'none listed'})`,
    hostData,
  );

  // validateTcb: MinimumTCB ≤ REPORTED_TCB and MinimumLaunchTCB (the same values) ≤ LAUNCH_TCB, in every part.
  const m = ref.MinimumTCB;
  const min = tcbFromParts({
    bl: m.BootloaderVersion,
    tee: m.TEEVersion,
    snp: m.SNPVersion,
    ucode: m.MicrocodeVersion,
  });
  const minText = `bl≥${m.BootloaderVersion} tee≥${m.TEEVersion} snp≥${m.SNPVersion} ucode≥${m.MicrocodeVersion}`;
  c.judge(
    'snp.tcb.reported',
    tcbLE(min, r.reportedTcb),
    `REPORTED_TCB ${minText}`,
    `REPORTED_TCB ${formatTcb(decodeTcb(r.reportedTcb, v.product))}`,
  );
  c.judge(
    'snp.tcb.launch',
    tcbLE(min, r.launchTcb),
    `LAUNCH_TCB ${minText}`,
    `LAUNCH_TCB ${formatTcb(decodeTcb(r.launchTcb, v.product))}`,
  );

  // validateMitigationVectors: both vectors must include every bit of the minimum.
  const need = ref.MinimumMitigationVector;
  for (const [name, vec] of [
    ['launch', r.launchMitVector],
    ['current', r.currentMitVector],
  ] as const) {
    c.judge(
      `snp.mitigation-vector.${name}`,
      (vec & need) === need,
      `${name.toUpperCase()}_MIT_VECTOR including every bit of ${x(need)}`,
      `${x(vec)}${(vec & need) === need ? '' : ` (missing ${x(need & ~vec)})`}`,
    );
  }

  c.judge('snp.vmpl', r.vmpl === 0, 'VMPL 0', `VMPL ${r.vmpl}`);

  if (ref.AllowedChipIDs.length > 0) {
    c.judge(
      'snp.allowed-chip-ids',
      ref.AllowedChipIDs.includes(hex(r.chipId)),
      `CHIP_ID one of the ${ref.AllowedChipIDs.length} AllowedChipIDs`,
      `CHIP_ID ${hex(r.chipId)}`,
      'listed',
    );
  }

  // RequireIDBlock with TrustedIDKeyHashes = [SHA-384 of the key of the reference's ID block].
  const want = contrastIdKeyDigest(Buffer.from(ref.TrustedMeasurement, 'hex'), snpPolicyToU64(gp));
  c.judge(
    'snp.id-key-digest',
    bytesEqual(want, r.idKeyDigest),
    `ID_KEY_DIGEST ${hex(want)} (the ID block Contrast builds from the reference TrustedMeasurement and GuestPolicy)`,
    hex(r.idKeyDigest),
  );
  return c;
}

/** Any reference entry must accept the report; otherwise every failed claim is thrown (ClaimsError). */
export function validateSnp(
  v: VerifiedSnp,
  refs: readonly SnpReference[],
  policyHashes: readonly string[],
  log: CheckSink = NO_LOG,
): SnpReference {
  return judgeReferences('snp', refs, snpReportClaims(v), (ref) => snpReferenceClaims(v, ref, policyHashes), log);
}
