/**
 * Synthetic real-format SEV-SNP evidence: a test ARK/ASK (RSA-PSS) → VCEK (P-384) chain with
 * AMD's TCB/hwID extensions, and reports signed by that VCEK, encoded as the protobuf
 * `sevsnp.Attestation` the Coordinator puts in its certificate (OID 1.3.9901.2.1).
 * The chain is generated once per process; each evidence costs one ECDSA signature.
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import {
  AttestationSchema,
  CertificateChainSchema,
  ReportSchema,
  SevProductSchema,
  SevProduct_SevProductName,
  type Report,
} from '../../lambda/gen/sevsnp/sevsnp_pb.ts';
import {
  AMD_CRL_KEY,
  encodeTcb,
  fmsToCpuid1Eax,
  reportToAbiBytes,
  setSignature,
  signedComponent,
} from '../../lambda/attestation/snp/abi.ts';
import {
  CONTRAST_FAMILY_ID,
  CONTRAST_GUEST_SVN,
  CONTRAST_IMAGE_ID,
  expectedIdKeyDigest,
} from '../../lambda/attestation/snp/idkey.ts';
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
  return encodeTcb(t, product);
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
  const arkDer = buildCert({
    serial: 1,
    issuer: arkName,
    subject: arkName,
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
    publicKey: ark.publicKey,
    signingKey: ark.privateKey,
    alg: 'rsa-pss-sha384',
    extensions: [basicConstraintsCa()],
  });
  const askDer = buildCert({
    serial: 2,
    issuer: arkName,
    subject: askName,
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
    publicKey: ask.publicKey,
    signingKey: ark.privateKey,
    alg: 'rsa-pss-sha384',
    extensions: [basicConstraintsCa()],
  });
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

/**
 * The report for `opts`, signed by the test VCEK: laid out by abi's `reportToAbiBytes`, its
 * signed component signed here with the test key and set with abi's `setSignature` (as
 * go-sev-guest's test mocks sign theirs).
 */
export function makeSnpReport(opts: SnpEvidenceOptions): Report {
  const c = snpTestChain(opts.product);
  const version = opts.version ?? 3;
  const measurement = opts.measurement ?? TEST_SNP_MEASUREMENT;
  const policy = opts.policy ?? TEST_SNP_POLICY;
  const guestSvn = opts.guestSvn ?? CONTRAST_GUEST_SVN;
  const familyId = opts.familyId ?? TEST_FAMILY_ID;
  const imageId = opts.imageId ?? TEST_IMAGE_ID;
  const reported = tcbToU64(opts.reportedTcb ?? c.tcb, c.product);
  const [currentBuild, currentMinor, currentMajor] = opts.currentFirmware ?? [4, 52, 1];
  const [committedBuild, committedMinor, committedMajor] = opts.committedFirmware ?? [4, 52, 1];
  const report = create(ReportSchema, {
    version,
    guestSvn,
    policy,
    familyId,
    imageId,
    vmpl: opts.vmpl ?? 0,
    signatureAlgo: 1,
    currentTcb: opts.currentTcb ?? reported,
    platformInfo: opts.platformInfo ?? TEST_SNP_PLATFORM_INFO,
    reportData: opts.reportData,
    measurement,
    hostData: opts.hostData ?? new Uint8Array(32),
    // The digest the firmware reports is that of the ID block the guest was launched with.
    idKeyDigest: opts.idKeyDigest ?? expectedIdKeyDigest({ measurement, familyId, imageId, guestSvn, policy }),
    // Zero, yet present, as go-sev-guest's ReportToProto fills every byte field the Coordinator sends.
    authorKeyDigest: new Uint8Array(48),
    reportId: new Uint8Array(32),
    reportIdMa: new Uint8Array(32),
    reportedTcb: reported,
    // CPUID family, model, stepping: Milan 19h/01h, Turin 1Ah/02h.
    cpuid1eaxFms:
      version < 3 ? 0 : c.product === 'Turin' ? fmsToCpuid1Eax(0x1a, 0x02, 0x00) : fmsToCpuid1Eax(0x19, 0x01, 0x01),
    chipId: opts.chipId ?? c.chipId,
    committedTcb: opts.committedTcb ?? reported,
    currentBuild,
    currentMinor,
    currentMajor,
    committedBuild,
    committedMinor,
    committedMajor,
    launchTcb: tcbToU64(opts.launchTcb ?? c.tcb, c.product),
    ...(version >= 5
      ? { launchMitVector: opts.launchMitVector ?? 0n, currentMitVector: opts.currentMitVector ?? 0n }
      : {}),
  });
  setSignature(
    report,
    sign('sha384', signedComponent(reportToAbiBytes(report)), { key: c.vcekKey, dsaEncoding: 'ieee-p1363' }),
  );
  return report;
}

/** The 1184 ABI bytes of `makeSnpReport(opts)` (what a report file on disk holds). */
export function makeSnpReportRaw(opts: SnpEvidenceOptions): Uint8Array {
  return reportToAbiBytes(makeSnpReport(opts));
}

/** The extension value (protobuf `sevsnp.Attestation`) for one TLS connection. */
export function makeSnpEvidence(opts: SnpEvidenceOptions): Uint8Array {
  const c = snpTestChain(opts.product);
  const withChain = opts.includeChain ?? true;
  return toBinary(
    AttestationSchema,
    create(AttestationSchema, {
      report: makeSnpReport(opts),
      certificateChain: create(CertificateChainSchema, {
        vcekCert: opts.includeVcek === false ? new Uint8Array() : c.vcekDer,
        askCert: withChain ? c.askDer : new Uint8Array(),
        arkCert: withChain ? c.arkDer : new Uint8Array(),
        extras: opts.includeCrl === false ? {} : { [AMD_CRL_KEY]: c.crlDer },
      }),
      product: create(SevProductSchema, {
        name:
          c.product === 'Turin'
            ? SevProduct_SevProductName.SEV_PRODUCT_TURIN
            : SevProduct_SevProductName.SEV_PRODUCT_MILAN,
      }),
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
    MinimumTCB: {
      BootloaderVersion: TEST_SNP_TCB.bl,
      TEEVersion: TEST_SNP_TCB.tee,
      SNPVersion: TEST_SNP_TCB.snp,
      MicrocodeVersion: TEST_SNP_TCB.ucode,
    },
    GuestPolicy: {
      ABIMinor: 0,
      ABIMajor: 0,
      SMT: true,
      MigrateMA: false,
      Debug: false,
      SingleSocket: false,
      CXLAllowed: false,
      MemAES256XTS: false,
      RAPLDis: false,
      CipherTextHidingDRAM: false,
      PageSwapDisable: false,
    },
    PlatformInfo: {
      SMTEnabled: true,
      TSMEEnabled: false,
      ECCEnabled: false,
      RAPLDisabled: false,
      CiphertextHidingDRAMEnabled: false,
      AliasCheckComplete: false,
      TIOEnabled: false,
    },
    MinimumMitigationVector: 0,
    AllowedChipIDs: [],
  };
}
