/**
 * SEV-SNP claims against the manifest's `ReferenceValues.snp[]` (go-sev-guest's
 * `validate`): one entry must match every claim. Each claim fails with its own check name
 * and the expected and actual values.
 */
import { AttestationError } from '../../shared/errors.ts';
import { bytesEqual, hex } from '../bytes.ts';
import { firstMatchingReference, NO_LOG, type CheckSink } from '../checks.ts';
import type { SnpReference } from '../reference.ts';
import { decodeTcb, formatTcb } from './abi.ts';
import { expectedIdKeyDigest } from './idkey.ts';
import type { VerifiedSnp } from './verify.ts';

/** Guest policy bits (AMD SEV-SNP ABI): name in the manifest → bit position. */
const POLICY_BITS = {
  SMT: 16,
  MigrateMA: 18,
  Debug: 19,
  SingleSocket: 20,
  CXLAllowed: 21,
  MemAES256XTS: 22,
  RAPLDis: 23,
  CipherTextHidingDRAM: 24,
  PageSwapDisable: 25,
} as const;
const POLICY_RESERVED_ONE = 17;

const PLATFORM_BITS = {
  SMTEnabled: 0,
  TSMEEnabled: 1,
  ECCEnabled: 2,
  RAPLDisabled: 3,
  CiphertextHidingDRAMEnabled: 4,
  AliasCheckComplete: 5,
  TIOEnabled: 7,
} as const;

const bit = (v: bigint, i: number) => ((v >> BigInt(i)) & 1n) === 1n;

function fail(check: string, message: string): never {
  throw new AttestationError(check, message);
}

/** Checks one reference entry; throws the first failing claim. */
export function validateSnpEntry(v: VerifiedSnp, ref: SnpReference, policyHashes: readonly string[], log: CheckSink = NO_LOG): void {
  const r = v.report;
  if (ref.ProductName !== v.product) fail('snp.product', `product: expected ${ref.ProductName}, got ${v.product}`);

  if (r.vmpl !== 0) fail('snp.vmpl', `VMPL: expected 0, got ${r.vmpl}`);
  log.pass('snp.vmpl', '0');

  // Guest policy: debug never; bit 17 must be set; every other set bit must be allowed.
  if (bit(r.policy, POLICY_BITS.Debug)) fail('snp.policy.debug', `guest policy 0x${r.policy.toString(16)} allows debugging: a debuggable guest is always refused`);
  if (!bit(r.policy, POLICY_RESERVED_ONE)) fail('snp.policy', `guest policy 0x${r.policy.toString(16)}: bit 17 must be 1`);
  const abiMinor = Number(r.policy & 0xffn);
  const abiMajor = Number((r.policy >> 8n) & 0xffn);
  const gp = ref.GuestPolicy;
  if (abiMajor < gp.ABIMajor || (abiMajor === gp.ABIMajor && abiMinor < gp.ABIMinor)) {
    fail('snp.policy.abi', `guest policy ABI: expected at least ${gp.ABIMajor}.${gp.ABIMinor}, got ${abiMajor}.${abiMinor}`);
  }
  for (const [name, i] of Object.entries(POLICY_BITS)) {
    if (bit(r.policy, i) && !gp[name as keyof typeof POLICY_BITS]) fail(`snp.policy.${name}`, `guest policy bit ${name} (bit ${i}) is set but the reference values do not allow it (policy 0x${r.policy.toString(16)})`);
  }
  if (r.policy >> 26n !== 0n) fail('snp.policy', `guest policy 0x${r.policy.toString(16)} sets unknown bits above 25`);
  log.pass('snp.policy', `0x${r.policy.toString(16)}`);

  for (const [name, i] of Object.entries(PLATFORM_BITS)) {
    if (bit(r.platformInfo, i) && !ref.PlatformInfo[name as keyof typeof PLATFORM_BITS]) {
      fail(`snp.platform-info.${name}`, `platform info bit ${name} (bit ${i}) is set but the reference values do not allow it (platform info 0x${r.platformInfo.toString(16)})`);
    }
  }
  const known = Object.values(PLATFORM_BITS).reduce((m, i) => m | (1n << BigInt(i)), 0n);
  if (r.platformInfo & ~known) fail('snp.platform-info', `platform info 0x${r.platformInfo.toString(16)} sets unknown bits`);
  log.pass('snp.platform-info', `0x${r.platformInfo.toString(16)}`);

  if (hex(r.measurement) !== ref.TrustedMeasurement) fail('snp.measurement', `MEASUREMENT: expected ${ref.TrustedMeasurement}, got ${hex(r.measurement)}`);
  log.pass('snp.measurement', hex(r.measurement));

  const hostData = hex(r.hostData);
  if (!policyHashes.includes(hostData)) {
    fail('snp.host-data', `HOST_DATA: expected a coordinator policy hash of the manifest (${policyHashes.join(', ') || 'none listed'}), got ${hostData}`);
  }
  log.pass('snp.host-data', hostData);

  const min = ref.MinimumTCB;
  for (const [label, tcb] of [
    ['REPORTED_TCB', r.reportedTcb],
    ['LAUNCH_TCB', r.launchTcb],
  ] as const) {
    const t = decodeTcb(tcb, v.product);
    const short: [string, number, number][] = [
      ['bootloader', t.bl, min.BootloaderVersion],
      ['TEE', t.tee, min.TEEVersion],
      ['SNP', t.snp, min.SNPVersion],
      ['microcode', t.ucode, min.MicrocodeVersion],
    ];
    for (const [name, got, want] of short) {
      if (got < want) fail(`snp.tcb.${label === 'REPORTED_TCB' ? 'reported' : 'launch'}`, `${label} ${name} version: expected at least ${want}, got ${got} (${formatTcb(t)})`);
    }
  }
  log.pass('snp.minimum-tcb', `bl≥${min.BootloaderVersion} tee≥${min.TEEVersion} snp≥${min.SNPVersion} ucode≥${min.MicrocodeVersion}`);

  if (ref.AllowedChipIDs.length > 0) {
    if (!ref.AllowedChipIDs.includes(hex(r.chipId))) fail('snp.allowed-chip-ids', `CHIP_ID ${hex(r.chipId)} is not among the ${ref.AllowedChipIDs.length} AllowedChipIDs`);
    log.pass('snp.allowed-chip-ids', 'listed');
  }

  const want = expectedIdKeyDigest(r);
  if (!bytesEqual(want, r.idKeyDigest)) fail('snp.id-key-digest', `ID_KEY_DIGEST: expected ${hex(want)} (recomputed from the ID block), got ${hex(r.idKeyDigest)}`);
  log.pass('snp.id-key-digest', hex(want));
}

/** One entry must match all claims; with several, each one's first failure is named. */
export function validateSnp(v: VerifiedSnp, refs: readonly SnpReference[], policyHashes: readonly string[], log: CheckSink = NO_LOG): SnpReference {
  if (refs.length === 0) fail('snp.reference-values', 'the manifest has no SEV-SNP reference values (ReferenceValues.snp is empty), so SEV-SNP evidence cannot be accepted');
  return firstMatchingReference('snp', refs, (ref, l) => validateSnpEntry(v, ref, policyHashes, l), log);
}
