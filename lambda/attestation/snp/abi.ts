/**
 * The SEV-SNP attestation report (docs/protocol.md §3.1, §8) as go-sev-guest's abi package
 * handles it (google/go-sev-guest abi/abi.go): one report type, the generated protobuf
 * `Report`, and both directions — `reportToProto` parses the 1184 ABI bytes strictly,
 * `reportToAbiBytes` lays a `Report` out again — with the signing input (`signedComponent`)
 * and `setSignature`, which go-sev-guest's test mocks sign reports with.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { AttestationError } from '../../shared/errors.ts';
import {
  AttestationSchema,
  SevProduct_SevProductName,
  type Attestation,
  type Report,
} from '../../gen/sevsnp/sevsnp_pb.ts';
import { isZero, leToBe, view } from '../bytes.ts';
import type { SnpProduct } from '../roots.ts';

export const REPORT_SIZE = 0x4a0;
/** The signature covers bytes 0x000..0x29F (go-sev-guest SignedComponent; SEV-SNP ABI table 21). */
const SIGNATURE_OFFSET = 0x2a0;
/** R at 0x2A0 and S at 0x2E8, each a 72-byte little-endian integer (go-sev-guest ecdsaGetR/GetS). */
const SIG_COMPONENT = 0x48;
/** P-384: R and S are 48 bytes; the rest of each component is zero. */
const P384_BYTES = 48;

export type SigningKey = 'VCEK' | 'VLEK';

function fail(message: string): never {
  throw new AttestationError('snp.format', `malformed SEV-SNP report: ${message}`);
}

function requireZero(raw: Uint8Array, from: number, to: number, what: string): void {
  if (!isZero(raw.subarray(from, to)))
    fail(`reserved bytes 0x${from.toString(16)}..0x${(to - 1).toString(16)} (${what}) must be zero`);
}

/**
 * SIGNER_INFO (0x48) as go-sev-guest ParseSignerInfo reads it: bits 5..31 must be zero;
 * SIGNING_KEY (bits 2..4) must be 0 (VCEK) or 1 (VLEK) — a verifier has nothing else to check a
 * signature with — MASK_CHIP_KEY is bit 1, AUTHOR_KEY_EN bit 0.
 */
export function parseSignerInfo(signerInfo: number): {
  signingKey: SigningKey;
  maskChipKey: boolean;
  authorKeyEn: boolean;
} {
  if (signerInfo & ~0x1f) fail(`SIGNER_INFO 0x${signerInfo.toString(16)} sets reserved bits`);
  const keySel = (signerInfo >> 2) & 0x7;
  if (keySel > 1) fail(`SIGNER_INFO names signing key ${keySel} (only 0 VCEK and 1 VLEK sign reports for verifiers)`);
  return {
    signingKey: keySel === 1 ? 'VLEK' : 'VCEK',
    maskChipKey: (signerInfo & 0x2) !== 0,
    authorKeyEn: (signerInfo & 0x1) !== 0,
  };
}

/** go-sev-guest FmsToCpuid1Eax: family, model, stepping as the masked CPUID(1).EAX the proto keeps. */
export function fmsToCpuid1Eax(family: number, model: number, stepping: number): number {
  const ext = family >= 0xf ? family - 0xf : 0;
  const fam = family >= 0xf ? 0xf : family;
  return ((ext << 20) | ((model >> 4) << 16) | (fam << 8) | ((model & 0xf) << 4) | (stepping & 0xf)) >>> 0;
}

/** go-sev-guest FmsFromCpuid1Eax. */
export function fmsFromCpuid1Eax(eax: number): { family: number; model: number; stepping: number } {
  return {
    family: ((eax >>> 20) & 0xff) + ((eax >>> 8) & 0xf),
    model: (((eax >>> 16) & 0xf) << 4) | ((eax >>> 4) & 0xf),
    stepping: eax & 0xf,
  };
}

/**
 * Parses the 1184 ABI bytes into a `Report` (go-sev-guest ReportToProto), refusing what it
 * does not understand: a version outside 2..5, reserved SIGNER_INFO bits or signing keys, any
 * non-zero reserved range, mitigation vectors before v5, an R or S longer than 48 bytes.
 * Extra bytes after the report are refused too.
 */
export function reportToProto(raw: Uint8Array): Report {
  if (raw.length !== REPORT_SIZE) fail(`expected ${REPORT_SIZE} bytes, got ${raw.length}`);
  const v = view(raw);
  const version = v.getUint32(0x00, true);
  if (version < 2 || version > 5) fail(`VERSION ${version} is not supported (2..5)`);
  const signerInfo = v.getUint32(0x48, true);
  parseSignerInfo(signerInfo);
  requireZero(raw, 0x4c, 0x50, 'after SIGNER_INFO');
  if (version < 3) requireZero(raw, 0x188, 0x1a0, 'CPUID fields in v2');
  else requireZero(raw, 0x18b, 0x1a0, 'after CPUID');
  requireZero(raw, 0x1eb, 0x1ec, 'after CURRENT');
  requireZero(raw, 0x1ef, 0x1f0, 'after COMMITTED');
  if (version < 5) requireZero(raw, 0x1f8, 0x208, 'mitigation vectors before v5');
  requireZero(raw, 0x208, SIGNATURE_OFFSET, 'before SIGNATURE');
  requireZero(raw, SIGNATURE_OFFSET + 2 * SIG_COMPONENT, REPORT_SIZE, 'after the signature');
  for (const off of [SIGNATURE_OFFSET, SIGNATURE_OFFSET + SIG_COMPONENT]) {
    if (!isZero(raw.subarray(off + P384_BYTES, off + SIG_COMPONENT))) fail('signature R or S exceeds 48 bytes');
  }
  const b = (off: number, len: number) => raw.slice(off, off + len);
  // A plain message literal, every field set: what create() would build, without its reflection cost.
  return {
    $typeName: 'sevsnp.Report',
    version,
    guestSvn: v.getUint32(0x04, true),
    policy: v.getBigUint64(0x08, true),
    familyId: b(0x10, 16),
    imageId: b(0x20, 16),
    vmpl: v.getUint32(0x30, true),
    signatureAlgo: v.getUint32(0x34, true),
    currentTcb: v.getBigUint64(0x38, true),
    platformInfo: v.getBigUint64(0x40, true),
    signerInfo,
    reportData: b(0x50, 64),
    measurement: b(0x90, 48),
    hostData: b(0xc0, 32),
    idKeyDigest: b(0xe0, 48),
    authorKeyDigest: b(0x110, 48),
    reportId: b(0x140, 32),
    reportIdMa: b(0x160, 32),
    reportedTcb: v.getBigUint64(0x180, true),
    cpuid1eaxFms: version >= 3 ? fmsToCpuid1Eax(raw[0x188]!, raw[0x189]!, raw[0x18a]!) : 0,
    chipId: b(0x1a0, 64),
    committedTcb: v.getBigUint64(0x1e0, true),
    currentBuild: raw[0x1e8]!,
    currentMinor: raw[0x1e9]!,
    currentMajor: raw[0x1ea]!,
    committedBuild: raw[0x1ec]!,
    committedMinor: raw[0x1ed]!,
    committedMajor: raw[0x1ee]!,
    launchTcb: v.getBigUint64(0x1f0, true),
    launchMitVector: v.getBigUint64(0x1f8, true),
    currentMitVector: v.getBigUint64(0x200, true),
    signature: b(SIGNATURE_OFFSET, REPORT_SIZE - SIGNATURE_OFFSET),
  };
}

/**
 * Lays a `Report` out as the 1184 ABI bytes (go-sev-guest ReportToAbiBytes): absent fields are
 * zero, a present one must have its exact size, one-byte fields must fit a byte.
 */
export function reportToAbiBytes(r: Report): Uint8Array {
  const raw = new Uint8Array(REPORT_SIZE);
  const v = view(raw);
  // A fixed-size field: absent (empty) is zeros, present must be exactly `len` bytes.
  const put = (src: Uint8Array, off: number, len: number, what: string) => {
    if (src.length === 0) return;
    if (src.length !== len) throw new Error(`${what} must be ${len} bytes, got ${src.length}`);
    raw.set(src, off);
  };
  try {
    v.setUint32(0x00, r.version, true);
    v.setUint32(0x04, r.guestSvn, true);
    v.setBigUint64(0x08, r.policy, true);
    put(r.familyId, 0x10, 16, 'family_id');
    put(r.imageId, 0x20, 16, 'image_id');
    v.setUint32(0x30, r.vmpl, true);
    v.setUint32(0x34, r.signatureAlgo, true);
    v.setBigUint64(0x38, r.currentTcb, true);
    v.setBigUint64(0x40, r.platformInfo, true);
    v.setUint32(0x48, r.signerInfo, true);
    put(r.reportData, 0x50, 64, 'report_data');
    put(r.measurement, 0x90, 48, 'measurement');
    put(r.hostData, 0xc0, 32, 'host_data');
    put(r.idKeyDigest, 0xe0, 48, 'id_key_digest');
    put(r.authorKeyDigest, 0x110, 48, 'author_key_digest');
    put(r.reportId, 0x140, 32, 'report_id');
    put(r.reportIdMa, 0x160, 32, 'report_id_ma');
    v.setBigUint64(0x180, r.reportedTcb, true);
    if (r.cpuid1eaxFms !== 0) {
      if (r.version < 3) throw new Error('cpuid1eax_fms is set in a version 2 report');
      const fms = fmsFromCpuid1Eax(r.cpuid1eaxFms);
      raw.set([fms.family, fms.model, fms.stepping], 0x188);
    }
    put(r.chipId, 0x1a0, 64, 'chip_id');
    v.setBigUint64(0x1e0, r.committedTcb, true);
    const byte = (x: number, what: string) => {
      if (x > 0xff) throw new Error(`${what} ${x} does not fit one byte`);
      return x;
    };
    raw[0x1e8] = byte(r.currentBuild, 'current_build');
    raw[0x1e9] = byte(r.currentMinor, 'current_minor');
    raw[0x1ea] = byte(r.currentMajor, 'current_major');
    raw[0x1ec] = byte(r.committedBuild, 'committed_build');
    raw[0x1ed] = byte(r.committedMinor, 'committed_minor');
    raw[0x1ee] = byte(r.committedMajor, 'committed_major');
    v.setBigUint64(0x1f0, r.launchTcb, true);
    v.setBigUint64(0x1f8, r.launchMitVector, true);
    v.setBigUint64(0x200, r.currentMitVector, true);
    put(r.signature, SIGNATURE_OFFSET, REPORT_SIZE - SIGNATURE_OFFSET, 'signature');
  } catch (err) {
    fail((err as Error).message);
  }
  return raw;
}

/** The bytes the VCEK/VLEK signs: everything before the signature (go-sev-guest SignedComponent). */
export function signedComponent(raw: Uint8Array): Uint8Array {
  return raw.subarray(0, SIGNATURE_OFFSET);
}

/** The report's ECDSA P-384 signature as IEEE P1363 (big-endian R ‖ S, 48 bytes each), as node:crypto verifies it. */
export function reportSignature(r: Report): Uint8Array {
  const out = new Uint8Array(2 * P384_BYTES);
  for (const [i, off] of [0, SIG_COMPONENT].entries()) {
    const be = leToBe(r.signature.subarray(off, off + SIG_COMPONENT), P384_BYTES);
    if (!be) fail('signature R or S exceeds 48 bytes');
    out.set(be, i * P384_BYTES);
  }
  return out;
}

/** Sets a report's signature from an IEEE P1363 P-384 signature (go-sev-guest SetSignature: little-endian R and S). */
export function setSignature(r: Report, p1363: Uint8Array): void {
  if (p1363.length !== 2 * P384_BYTES)
    throw new Error(`a P-384 signature is ${2 * P384_BYTES} bytes (R ‖ S), got ${p1363.length}`);
  const sig = new Uint8Array(REPORT_SIZE - SIGNATURE_OFFSET);
  for (let i = 0; i < P384_BYTES; i++) {
    sig[i] = p1363[P384_BYTES - 1 - i]!;
    sig[SIG_COMPONENT + i] = p1363[2 * P384_BYTES - 1 - i]!;
  }
  r.signature = sig;
}

/** The product CPUID family/model name (v3+ reports; undefined for v2 or an unknown CPU). */
export function cpuidProduct(r: Report): SnpProduct | undefined {
  return r.version >= 3 ? productFromCpuid(fmsFromCpuid1Eax(r.cpuid1eaxFms)) : undefined;
}

export const AMD_CRL_KEY = '00569ee4-e480-4fba-bbf4-45b629901180';

/** One SEV-SNP evidence: the report, its ABI bytes (what the signature covers) and what the evidence carries beside it. */
export interface SnpAttestation {
  report: Report;
  raw: Uint8Array;
  product?: SnpProduct;
  vcek?: Uint8Array;
  vlek?: Uint8Array;
  ask?: Uint8Array;
  ark?: Uint8Array;
  crl?: Uint8Array;
}

const nonEmpty = (b: Uint8Array | undefined) => (b && b.length > 0 ? b : undefined);

/**
 * Decodes the extension value (protobuf `sevsnp.Attestation`); its report is laid out as ABI
 * bytes and parsed again, so it passes the same strict checks as a report read from a file.
 */
export function decodeSnpAttestation(ext: Uint8Array): SnpAttestation {
  let msg: Attestation;
  try {
    msg = fromBinary(AttestationSchema, ext);
  } catch (err) {
    fail(`extension is not a sevsnp.Attestation protobuf: ${(err as Error).message}`);
  }
  if (!msg.report) fail('the Attestation message carries no report');
  const raw = reportToAbiBytes(msg.report);
  const report = reportToProto(raw);
  const chain = msg.certificateChain;
  const names: Record<number, SnpProduct | undefined> = {
    [SevProduct_SevProductName.SEV_PRODUCT_MILAN]: 'Milan',
    [SevProduct_SevProductName.SEV_PRODUCT_GENOA]: 'Genoa',
    [SevProduct_SevProductName.SEV_PRODUCT_TURIN]: 'Turin',
  };
  return {
    report,
    raw,
    product: msg.product ? names[msg.product.name] : undefined,
    vcek: nonEmpty(chain?.vcekCert),
    vlek: nonEmpty(chain?.vlekCert),
    ask: nonEmpty(chain?.askCert),
    ark: nonEmpty(chain?.arkCert),
    crl: nonEmpty(chain?.extras[AMD_CRL_KEY]),
  };
}

/** The TCB version fields of a product's 64-bit TCB (Turin adds an FMC byte, other positions). */
export interface TcbParts {
  fmc?: number;
  bl: number;
  tee: number;
  snp: number;
  ucode: number;
}

export function decodeTcb(tcb: bigint, product: SnpProduct): TcbParts {
  const byte = (i: number) => Number((tcb >> BigInt(8 * i)) & 0xffn);
  if (product === 'Turin') return { fmc: byte(0), bl: byte(1), tee: byte(2), snp: byte(3), ucode: byte(7) };
  return { bl: byte(0), tee: byte(1), snp: byte(6), ucode: byte(7) };
}

/** decodeTcb's inverse: a product's 64-bit TCB from its parts (reserved bytes zero). */
export function encodeTcb(t: TcbParts, product: SnpProduct): bigint {
  if (product === 'Turin')
    return (
      BigInt(t.fmc ?? 0) |
      (BigInt(t.bl) << 8n) |
      (BigInt(t.tee) << 16n) |
      (BigInt(t.snp) << 24n) |
      (BigInt(t.ucode) << 56n)
    );
  return tcbFromParts(t);
}

export function formatTcb(t: TcbParts): string {
  return `${t.fmc !== undefined ? `fmc=${t.fmc} ` : ''}bl=${t.bl} tee=${t.tee} snp=${t.snp} ucode=${t.ucode}`;
}

/**
 * The chip identifier a VCEK certifies (its hwID extension, and the KDS URL's path): all 64
 * bytes of CHIP_ID on Milan and Genoa, the first 8 on Turin (go-sev-guest: TurinHWIDSize).
 */
export function vcekHwid(chipId: Uint8Array, product: SnpProduct): Uint8Array {
  return product === 'Turin' ? chipId.subarray(0, 8) : chipId;
}

/** Product implied by CPUID family/model (v3+ reports). */
export function productFromCpuid(c: { family: number; model: number }): SnpProduct | undefined {
  if (c.family === 0x19 && c.model <= 0x0f) return 'Milan';
  if (c.family === 0x19 && c.model >= 0x10 && c.model <= 0x1f) return 'Genoa';
  if (c.family === 0x19 && c.model >= 0xa0 && c.model <= 0xaf) return 'Genoa';
  if (c.family === 0x1a && c.model <= 0x1f) return 'Turin';
  return undefined;
}

/**
 * `a ≤ b` for every one of the eight TCB bytes (go-sev-guest kds.TCBPartsLE compares all eight
 * parts, the reserved ones too; every part is one byte in each product's layout).
 */
export function tcbLE(a: bigint, b: bigint): boolean {
  for (let i = 0n; i < 64n; i += 8n) if (((a >> i) & 0xffn) > ((b >> i) & 0xffn)) return false;
  return true;
}

/** A Milan/Genoa TCB_VERSION from its four named parts (reserved bytes zero). */
export function tcbFromParts(p: { bl: number; tee: number; snp: number; ucode: number }): bigint {
  return BigInt(p.bl) | (BigInt(p.tee) << 8n) | (BigInt(p.snp) << 48n) | (BigInt(p.ucode) << 56n);
}

/** Guest policy bit positions (AMD SEV-SNP ABI; go-sev-guest abi.go). */
export const POLICY_BITS = {
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
/** Bit 17 is reserved and must be one (go-sev-guest ParseSnpPolicy). */
export const POLICY_RESERVED_ONE = 17;
/** Bits 26..63 must be zero (go-sev-guest ParseSnpPolicy at the version Contrast pins). */
export const POLICY_FIRST_MBZ = 26;

/** PLATFORM_INFO bit positions (go-sev-guest ParseSnpPlatformInfo); bit 6 is reserved, bits above 7 unknown. */
export const PLATFORM_INFO_BITS = {
  SMTEnabled: 0,
  TSMEEnabled: 1,
  ECCEnabled: 2,
  RAPLDisabled: 3,
  CiphertextHidingDRAMEnabled: 4,
  AliasCheckComplete: 5,
  TIOEnabled: 7,
} as const;

/** go-sev-guest SnpPolicyToBytes: the ABI encoding of a GuestPolicy (bit 17 always set). */
export function snpPolicyToU64(
  gp: { ABIMinor: number; ABIMajor: number } & Record<keyof typeof POLICY_BITS, boolean>,
): bigint {
  let v = BigInt(gp.ABIMinor) | (BigInt(gp.ABIMajor) << 8n) | (1n << BigInt(POLICY_RESERVED_ONE));
  for (const [name, bit] of Object.entries(POLICY_BITS))
    if (gp[name as keyof typeof POLICY_BITS]) v |= 1n << BigInt(bit);
  return v;
}
