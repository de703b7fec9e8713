/**
 * Synthetic real-format SEV-SNP evidence: a test ARK/ASK (RSA-PSS) → VCEK (P-384) chain with
 * AMD's TCB/hwID extensions, and reports signed by that VCEK, encoded as the protobuf
 * `sevsnp.Attestation` the Coordinator puts in its certificate (OID 1.3.9901.2.1).
 * The chain is generated once per process; each evidence costs one ECDSA signature.
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import { AttestationSchema, CertificateChainSchema, ReportSchema, SevProductSchema, SevProduct_SevProductName } from '../../lambda/gen/sevsnp/sevsnp_pb.ts';
import { AMD_CRL_KEY } from '../../lambda/attestation/snp/abi.ts';
import { CONTRAST_FAMILY_ID, CONTRAST_GUEST_SVN, CONTRAST_IMAGE_ID, expectedIdKeyDigest } from '../../lambda/attestation/snp/idkey.ts';
import { buildCert, buildCrl, name, basicConstraintsCa, type Extension } from './certs.ts';
import { ia5, int } from './der.ts';

export interface SnpTcb {
  /** Turin only. */
  fmc?: number;
  bl: number;
  tee: number;
  snp: number;
  ucode: number;
}

export interface SnpTestChain {
  arkDer: Uint8Array;
  askDer: Uint8Array;
  vcekDer: Uint8Array;
  crlDer: Uint8Array;
  vcekKey: KeyObject;
  askKey: KeyObject;
  arkKey: KeyObject;
  /** SHA-256 of the ARK DER: what the test verifier pins. */
  arkFingerprint: string;
  chipId: Uint8Array;
  tcb: SnpTcb;
  product: TestSnpProduct;
}

/** Milan (default) or Turin (its own TCB layout, 8-byte hwID, CPUID family 0x1A). */
export type TestSnpProduct = 'Milan' | 'Turin';

export const TEST_CHIP_ID = new Uint8Array(64).map((_, i) => (i * 7 + 3) & 0xff);
export const TEST_SNP_TCB: SnpTcb = { bl: 3, tee: 0, snp: 8, ucode: 115 };
export const TEST_TURIN_TCB: SnpTcb = { fmc: 1, bl: 4, tee: 1, snp: 9, ucode: 72 };
/** A Turin CHIP_ID: the 8-byte hwID, the rest zero. */
export const TEST_TURIN_CHIP_ID = new Uint8Array(64).map((_, i) => (i < 8 ? (i * 11 + 5) & 0xff : 0));
export const TEST_SNP_MEASUREMENT = new Uint8Array(48).map((_, i) => (0xa0 + i) & 0xff);
/** The ID block of a Contrast guest (idblock.go): FAMILY_ID 01…, IMAGE_ID 02…, GUEST_SVN 2. */
export const TEST_FAMILY_ID = CONTRAST_FAMILY_ID;
export const TEST_IMAGE_ID = CONTRAST_IMAGE_ID;
/** Guest policy: Contrast's default (ABI 0.0, SMT allowed) with bit 17 (reserved, must be one). */
export const TEST_SNP_POLICY = 0x30000n;
/** Platform info of a typical host: SMT enabled, ECC enabled, alias check complete. */
export const TEST_SNP_PLATFORM_INFO = 0x25n;

const AMD = '1.3.6.1.4.1.3704.1.';
const NOT_BEFORE = new Date('2020-01-01T00:00:00Z');
const NOT_AFTER = new Date('2045-01-01T00:00:00Z');

export function tcbToU64(t: SnpTcb, product: TestSnpProduct = 'Milan'): bigint {
  if (product === 'Turin') return BigInt(t.fmc ?? 0) | (BigInt(t.bl) << 8n) | (BigInt(t.tee) << 16n) | (BigInt(t.snp) << 24n) | (BigInt(t.ucode) << 56n);
  return BigInt(t.bl) | (BigInt(t.tee) << 8n) | (BigInt(t.snp) << 48n) | (BigInt(t.ucode) << 56n);
}

const cached = new Map<TestSnpProduct, SnpTestChain>();

/** The per-process test chain of a product (RSA keys are the slow part; generated once). */
export function snpTestChain(product: TestSnpProduct = 'Milan'): SnpTestChain {
  const hit = cached.get(product);
  if (hit) return hit;
  const rsa = () => generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ark = rsa();
  const ask = rsa();
  const vcek = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const arkName = name(`ARK-${product}`, 'Advanced Micro Devices (TEST)');
  const askName = name(`SEV-${product}`, 'Advanced Micro Devices (TEST)');
  const arkDer = buildCert({ serial: 1, issuer: arkName, subject: arkName, notBefore: NOT_BEFORE, notAfter: NOT_AFTER, publicKey: ark.publicKey, signingKey: ark.privateKey, alg: 'rsa-pss-sha384', extensions: [basicConstraintsCa()] });
  const askDer = buildCert({ serial: 2, issuer: arkName, subject: askName, notBefore: NOT_BEFORE, notAfter: NOT_AFTER, publicKey: ask.publicKey, signingKey: ark.privateKey, alg: 'rsa-pss-sha384', extensions: [basicConstraintsCa()] });
  const turin = product === 'Turin';
  const tcb = turin ? TEST_TURIN_TCB : TEST_SNP_TCB;
  const chipId = turin ? TEST_TURIN_CHIP_ID : TEST_CHIP_ID;
  const ext = (o: string, value: Uint8Array): Extension => ({ oid: AMD + o, value });
  const vcekDer = buildCert({
    serial: 3,
    issuer: askName,
    subject: name('SEV-VCEK', 'Advanced Micro Devices (TEST)'),
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
    publicKey: vcek.publicKey,
    signingKey: ask.privateKey,
    alg: 'rsa-pss-sha384',
    extensions: [
      ext('1', int(0)),
      ext('2', ia5(`${product}-B0`)),
      ext('3.1', int(tcb.bl)),
      ext('3.2', int(tcb.tee)),
      ext('3.3', int(tcb.snp)),
      ext('3.8', int(tcb.ucode)),
      ...(turin ? [ext('3.9', int(tcb.fmc ?? 0))] : []),
      // The hwID is the raw chip id, no OCTET STRING tag (as AMD KDS issues it); 8 bytes on Turin.
      { oid: `${AMD}4`, value: turin ? chipId.slice(0, 8) : chipId },
    ],
  });
  const crlDer = buildCrl(arkName, ark.privateKey, 'rsa-pss-sha384', [99], new Date('2020-01-02T00:00:00Z'), NOT_AFTER);
  const chain: SnpTestChain = {
    arkDer,
    askDer,
    vcekDer,
    crlDer,
    vcekKey: vcek.privateKey,
    askKey: ask.privateKey,
    arkKey: ark.privateKey,
    arkFingerprint: createHash('sha256').update(arkDer).digest('hex'),
    chipId,
    tcb,
    product,
  };
  cached.set(product, chain);
  return chain;
}

export interface SnpEvidenceOptions {
  reportData: Uint8Array;
  measurement?: Uint8Array;
  hostData?: Uint8Array;
  policy?: bigint;
  platformInfo?: bigint;
  vmpl?: number;
  guestSvn?: number;
  reportedTcb?: SnpTcb;
  launchTcb?: SnpTcb;
  /** CURRENT_TCB and COMMITTED_TCB (default REPORTED_TCB), as TCB_VERSION values. */
  currentTcb?: bigint;
  committedTcb?: bigint;
  /** [build, minor, major] of the current and committed firmware (default 4, 52, 1 each). */
  currentFirmware?: [number, number, number];
  committedFirmware?: [number, number, number];
  /** Mitigation vectors (version 5 reports). */
  launchMitVector?: bigint;
  currentMitVector?: bigint;
  familyId?: Uint8Array;
  imageId?: Uint8Array;
  chipId?: Uint8Array;
  /** Overrides the recomputed ID-key digest (to make it wrong). */
  idKeyDigest?: Uint8Array;
  version?: number;
  /** Include ASK/ARK (default true) and the CRL (default true; Contrast requires a current one) in the evidence. */
  includeChain?: boolean;
  includeCrl?: boolean;
  includeVcek?: boolean;
  product?: TestSnpProduct;
}

/** Raw fields → raw 1184-byte report signed by the test VCEK. */
export function makeSnpReportRaw(opts: SnpEvidenceOptions): Uint8Array {
  const c = snpTestChain(opts.product);
  const raw = new Uint8Array(0x4a0);
  const v = new DataView(raw.buffer);
  const version = opts.version ?? 3;
  const measurement = opts.measurement ?? TEST_SNP_MEASUREMENT;
  const policy = opts.policy ?? TEST_SNP_POLICY;
  const guestSvn = opts.guestSvn ?? CONTRAST_GUEST_SVN;
  const familyId = opts.familyId ?? TEST_FAMILY_ID;
  const imageId = opts.imageId ?? TEST_IMAGE_ID;
  v.setUint32(0x00, version, true);
  v.setUint32(0x04, guestSvn, true);
  v.setBigUint64(0x08, policy, true);
  raw.set(familyId, 0x10);
  raw.set(imageId, 0x20);
  v.setUint32(0x30, opts.vmpl ?? 0, true);
  v.setUint32(0x34, 1, true);
  const reported = tcbToU64(opts.reportedTcb ?? c.tcb, c.product);
  v.setBigUint64(0x38, opts.currentTcb ?? reported, true);
  v.setBigUint64(0x40, opts.platformInfo ?? TEST_SNP_PLATFORM_INFO, true);
  raw.set(opts.reportData, 0x50);
  raw.set(measurement, 0x90);
  raw.set(opts.hostData ?? new Uint8Array(32), 0xc0);
  // The digest the firmware reports is that of the ID block the guest was launched with.
  raw.set(opts.idKeyDigest ?? expectedIdKeyDigest({ measurement, familyId, imageId, guestSvn, policy }), 0xe0);
  v.setBigUint64(0x180, reported, true);
  // CPUID family, model, stepping: Milan 19h/01h, Turin 1Ah/02h.
  if (version >= 3) raw.set(c.product === 'Turin' ? [0x1a, 0x02, 0x00] : [0x19, 0x01, 0x01], 0x188);
  raw.set(opts.chipId ?? c.chipId, 0x1a0);
  v.setBigUint64(0x1e0, opts.committedTcb ?? reported, true);
  raw.set(opts.currentFirmware ?? [4, 52, 1], 0x1e8);
  raw.set(opts.committedFirmware ?? [4, 52, 1], 0x1ec);
  v.setBigUint64(0x1f0, tcbToU64(opts.launchTcb ?? c.tcb, c.product), true);
  if (version >= 5) {
    v.setBigUint64(0x1f8, opts.launchMitVector ?? 0n, true);
    v.setBigUint64(0x200, opts.currentMitVector ?? 0n, true);
  }
  const sig = sign('sha384', raw.subarray(0, 0x2a0), { key: c.vcekKey, dsaEncoding: 'ieee-p1363' });
  for (let i = 0; i < 48; i++) {
    raw[0x2a0 + i] = sig[47 - i]!;
    raw[0x2e8 + i] = sig[95 - i]!;
  }
  return raw;
}

/** Raw report → the protobuf `Report` fields (go-sev-guest's parse). */
export function rawToReportMessage(raw: Uint8Array) {
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const b = (o: number, n: number) => raw.slice(o, o + n);
  const version = v.getUint32(0, true);
  let fms = 0;
  if (version >= 3) {
    const fam = raw[0x188]!;
    const model = raw[0x189]!;
    const step = raw[0x18a]!;
    fms = ((fam - 0xf) << 20) | ((model >> 4) << 16) | (0xf << 8) | ((model & 0xf) << 4) | step;
  }
  return create(ReportSchema, {
    version,
    guestSvn: v.getUint32(4, true),
    policy: v.getBigUint64(8, true),
    familyId: b(0x10, 16),
    imageId: b(0x20, 16),
    vmpl: v.getUint32(0x30, true),
    signatureAlgo: v.getUint32(0x34, true),
    currentTcb: v.getBigUint64(0x38, true),
    platformInfo: v.getBigUint64(0x40, true),
    signerInfo: v.getUint32(0x48, true),
    reportData: b(0x50, 64),
    measurement: b(0x90, 48),
    hostData: b(0xc0, 32),
    idKeyDigest: b(0xe0, 48),
    authorKeyDigest: b(0x110, 48),
    reportId: b(0x140, 32),
    reportIdMa: b(0x160, 32),
    reportedTcb: v.getBigUint64(0x180, true),
    chipId: b(0x1a0, 64),
    committedTcb: v.getBigUint64(0x1e0, true),
    currentBuild: raw[0x1e8]!,
    currentMinor: raw[0x1e9]!,
    currentMajor: raw[0x1ea]!,
    committedBuild: raw[0x1ec]!,
    committedMinor: raw[0x1ed]!,
    committedMajor: raw[0x1ee]!,
    launchTcb: v.getBigUint64(0x1f0, true),
    signature: b(0x2a0, 0x200),
    cpuid1eaxFms: fms,
    launchMitVector: v.getBigUint64(0x1f8, true),
    currentMitVector: v.getBigUint64(0x200, true),
  });
}

/** The extension value (protobuf `sevsnp.Attestation`) for one TLS connection. */
export function makeSnpEvidence(opts: SnpEvidenceOptions): Uint8Array {
  const c = snpTestChain(opts.product);
  const raw = makeSnpReportRaw(opts);
  const withChain = opts.includeChain ?? true;
  return toBinary(
    AttestationSchema,
    create(AttestationSchema, {
      report: rawToReportMessage(raw),
      certificateChain: create(CertificateChainSchema, {
        vcekCert: opts.includeVcek === false ? new Uint8Array() : c.vcekDer,
        askCert: withChain ? c.askDer : new Uint8Array(),
        arkCert: withChain ? c.arkDer : new Uint8Array(),
        extras: opts.includeCrl === false ? {} : { [AMD_CRL_KEY]: c.crlDer },
      }),
      product: create(SevProductSchema, { name: c.product === 'Turin' ? SevProduct_SevProductName.SEV_PRODUCT_TURIN : SevProduct_SevProductName.SEV_PRODUCT_MILAN }),
    }),
  );
}

/**
 * The ReferenceValues.snp entry the default synthetic evidence satisfies, in the shape
 * `contrast generate` writes from 2025-11 on (Platform marker, mitigation vector, chip IDs),
 * with Contrast's default guest policy and platform info.
 */
export function snpReferenceValues(): Record<string, unknown> {
  return {
    Platform: 'Metal-QEMU-SNP',
    ProductName: 'Milan',
    TrustedMeasurement: Buffer.from(TEST_SNP_MEASUREMENT).toString('hex'),
    MinimumTCB: { BootloaderVersion: TEST_SNP_TCB.bl, TEEVersion: TEST_SNP_TCB.tee, SNPVersion: TEST_SNP_TCB.snp, MicrocodeVersion: TEST_SNP_TCB.ucode },
    GuestPolicy: { ABIMinor: 0, ABIMajor: 0, SMT: true, MigrateMA: false, Debug: false, SingleSocket: false, CXLAllowed: false, MemAES256XTS: false, RAPLDis: false, CipherTextHidingDRAM: false, PageSwapDisable: false },
    PlatformInfo: { SMTEnabled: true, TSMEEnabled: false, ECCEnabled: false, RAPLDisabled: false, CiphertextHidingDRAMEnabled: false, AliasCheckComplete: false, TIOEnabled: false },
    MinimumMitigationVector: 0,
    AllowedChipIDs: [],
  };
}
