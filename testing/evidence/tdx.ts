/**
 * Synthetic real-format TDX evidence: a test Intel-root-like chain (root → platform CA →
 * PCK with the SGX extensions), a QE report signed by the PCK binding a fixed attestation
 * key, quotes signed by that key as the protobuf `tdx.QuoteV4` (OID 1.3.9901.2.2), and
 * matching signed TCB Info / QE Identity collateral. Generated once per process; each
 * quote costs one ECDSA P-256 signature.
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { clone, create, toBinary } from '@bufbuild/protobuf';
import {
  CertificationDataSchema,
  Ecdsa256BitQuoteV4AuthDataSchema,
  EnclaveReportSchema,
  HeaderSchema,
  PCKCertificateChainDataSchema,
  QEReportCertificationDataSchema,
  QeAuthDataSchema,
  QuoteV4Schema,
  TDQuoteBodySchema,
  type EnclaveReport,
  type QuoteV4,
} from '../../lambda/gen/tdx/tdx_pb.ts';
import { MemoryCollateral } from '../../lambda/attestation/collateral/sources.ts';
import {
  INTEL_QE_VENDOR_ID,
  enclaveReportToAbiBytes,
  quoteToAbiBytes,
  signedComponent,
} from '../../lambda/attestation/tdx/abi.ts';
import { basicConstraintsCa, buildCert, buildCrl, name, toPem, type Extension } from './certs.ts';
import { bitString, bool, enumerated, int, octets, oid, seq, tlv } from './der.ts';

const SGX = '1.2.840.113741.1.13.1';
const NOT_BEFORE = new Date('2020-01-01T00:00:00Z');
const NOT_AFTER = new Date('2045-01-01T00:00:00Z');
export const TEST_FMSPC = '00906ed50000';
export const TEST_PCE_ID = '0000';
export const TEST_CPU_SVN = [5, 5, 2, 2, 3, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0];
export const TEST_PCE_SVN = 11;
export const TEST_TEE_TCB_SVN = new Uint8Array([3, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
export const TEST_MRTD = new Uint8Array(48).fill(0x11);
export const TEST_RTMRS = [0x21, 0x22, 0x23, 0x24].map((b) => new Uint8Array(48).fill(b));
export const TEST_MRSEAM = new Uint8Array(48).fill(0x31);
export const TEST_XFAM = new Uint8Array([0xe7, 0x1a, 0x06, 0, 0, 0, 0, 0]);
/** SEPT_VE_DISABLE (bit 28), little-endian u64. */
export const TEST_TD_ATTRIBUTES = new Uint8Array([0, 0, 0, 0x10, 0, 0, 0, 0]);
export const TEST_QE_MRSIGNER = new Uint8Array(32).fill(0xdc);
const QE_ATTRIBUTES = new Uint8Array([0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

export interface TdxTestChain {
  rootDer: Uint8Array;
  rootFingerprint: string;
  pckChainPem: string;
  attestationKey: Uint8Array;
  attestationPrivateKey: KeyObject;
  /** The QE's report, binding the attestation key; the PCK signs its ABI bytes. */
  qeReport: EnclaveReport;
  qeReportSignature: Uint8Array;
  qeAuthData: Uint8Array;
  rootKey: KeyObject;
  rootName: Uint8Array;
  /** The PCK Platform CA (intermediate): DER, key, name; serials of it and of the PCK. */
  caDer: Uint8Array;
  caKey: KeyObject;
  caName: Uint8Array;
  caSerial: number;
  pckSerial: number;
}

/** What a PCK certificate says about its platform (Intel SGX extensions .5, .6, .7). */
export interface PckVariant {
  /** SGX Type: 0 standard, 1 scalable, 2 scalable with integrity (default 0). */
  sgxType?: number;
  /** 16-byte platform instance ID (multi-package platforms); absent by default. */
  piid?: Uint8Array;
  /** Platform configuration items; absent by default (go-tdx-guest then reads all as false). */
  configuration?: { dynamicPlatform?: boolean; cachedKeys?: boolean; smtEnabled?: boolean };
}

function sgxExtension(variant: PckVariant): Uint8Array {
  const comp = (i: number, v: number) => seq(oid(`${SGX}.2.${i}`), int(v));
  const cfg = variant.configuration;
  const item = (n: number, v: boolean | undefined) => (v === undefined ? [] : [seq(oid(`${SGX}.7.${n}`), bool(v))]);
  return seq(
    seq(oid(`${SGX}.1`), octets(new Uint8Array(16).fill(0x42))),
    seq(
      oid(`${SGX}.2`),
      seq(
        ...TEST_CPU_SVN.map((v, i) => comp(i + 1, v)),
        comp(17, TEST_PCE_SVN),
        seq(oid(`${SGX}.2.18`), octets(new Uint8Array(TEST_CPU_SVN))),
      ),
    ),
    seq(oid(`${SGX}.3`), octets(Buffer.from(TEST_PCE_ID, 'hex'))),
    seq(oid(`${SGX}.4`), octets(Buffer.from(TEST_FMSPC, 'hex'))),
    seq(oid(`${SGX}.5`), enumerated(variant.sgxType ?? 0)),
    ...(variant.piid ? [seq(oid(`${SGX}.6`), octets(variant.piid))] : []),
    ...(cfg
      ? [
          seq(
            oid(`${SGX}.7`),
            seq(...item(1, cfg.dynamicPlatform), ...item(2, cfg.cachedKeys), ...item(3, cfg.smtEnabled)),
          ),
        ]
      : []),
  );
}

/** The five standard extensions an Intel PCK certificate carries besides the SGX one (go-tdx-guest requires six in all). */
function standardPckExtensions(): Extension[] {
  const keyId = new Uint8Array(20).fill(0x5a);
  const uri = tlv(0x86, Buffer.from('https://pcs.test/sgx/certification/v4/pckcrl?ca=platform', 'latin1'));
  return [
    { oid: '2.5.29.35', value: seq(tlv(0x80, keyId)) },
    { oid: '2.5.29.31', value: seq(seq(tlv(0xa0, tlv(0xa0, uri)))) },
    { oid: '2.5.29.14', value: octets(keyId.map((b) => b ^ 0xff)) },
    { oid: '2.5.29.15', critical: true, value: bitString(new Uint8Array([0xc0])) },
    { oid: '2.5.29.19', critical: true, value: seq() },
  ];
}

let cached: TdxTestChain | undefined;
const variants = new Map<string, TdxTestChain>();

/**
 * The per-process test chain; a `variant` gets its own PCK (and QE report signature) under the
 * same CA, root and attestation key.
 */
export function tdxTestChain(variant?: PckVariant): TdxTestChain {
  if (variant) {
    const id = JSON.stringify({ ...variant, piid: variant.piid && Buffer.from(variant.piid).toString('hex') });
    const hit = variants.get(id);
    if (hit) return hit;
    const base = tdxTestChain();
    const pck = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const pckDer = buildCert({
      serial: 4 + variants.size,
      issuer: base.caName,
      subject: name('Intel SGX PCK Certificate (TEST)'),
      notBefore: NOT_BEFORE,
      notAfter: NOT_AFTER,
      publicKey: pck.publicKey,
      signingKey: base.caKey,
      alg: 'ecdsa-sha256',
      extensions: [...standardPckExtensions(), { oid: SGX, value: sgxExtension(variant) }],
    });
    const chain: TdxTestChain = {
      ...base,
      pckChainPem: toPem(pckDer) + toPem(base.caDer) + toPem(base.rootDer),
      qeReportSignature: new Uint8Array(
        sign('sha256', enclaveReportToAbiBytes(base.qeReport), { key: pck.privateKey, dsaEncoding: 'ieee-p1363' }),
      ),
      pckSerial: 4 + variants.size,
    };
    variants.set(id, chain);
    return chain;
  }
  if (cached) return cached;
  const ec = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const root = ec();
  const platform = ec();
  const pck = ec();
  const ak = ec();
  const rootName = name('Intel SGX Root CA (TEST)', 'Intel Corporation (TEST)');
  const caName = name('Intel SGX PCK Platform CA (TEST)', 'Intel Corporation (TEST)');
  const rootDer = buildCert({
    serial: 1,
    issuer: rootName,
    subject: rootName,
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
    publicKey: root.publicKey,
    signingKey: root.privateKey,
    alg: 'ecdsa-sha256',
    extensions: [basicConstraintsCa()],
  });
  const caDer = buildCert({
    serial: 2,
    issuer: rootName,
    subject: caName,
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
    publicKey: platform.publicKey,
    signingKey: root.privateKey,
    alg: 'ecdsa-sha256',
    extensions: [basicConstraintsCa()],
  });
  const pckDer = buildCert({
    serial: 3,
    issuer: caName,
    subject: name('Intel SGX PCK Certificate (TEST)'),
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
    publicKey: pck.publicKey,
    signingKey: platform.privateKey,
    alg: 'ecdsa-sha256',
    extensions: [...standardPckExtensions(), { oid: SGX, value: sgxExtension({}) }],
  });
  const jwk = ak.publicKey.export({ format: 'jwk' });
  const attestationKey = new Uint8Array(
    Buffer.concat([Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]),
  );
  const qeAuthData = new Uint8Array(32).map((_, i) => i);
  // QE report data: SHA-256(attestation key ‖ QE auth data), then zeros.
  const reportData = new Uint8Array(64);
  reportData.set(createHash('sha256').update(attestationKey).update(qeAuthData).digest());
  const qeReport = create(EnclaveReportSchema, {
    cpuSvn: new Uint8Array(TEST_CPU_SVN),
    miscSelect: 0,
    reserved1: new Uint8Array(28),
    attributes: QE_ATTRIBUTES,
    mrEnclave: new Uint8Array(32).fill(0xee),
    reserved2: new Uint8Array(32),
    mrSigner: TEST_QE_MRSIGNER,
    reserved3: new Uint8Array(96),
    isvProdId: 2,
    isvSvn: 4,
    reserved4: new Uint8Array(60),
    reportData,
  });
  const qeReportSignature = new Uint8Array(
    sign('sha256', enclaveReportToAbiBytes(qeReport), { key: pck.privateKey, dsaEncoding: 'ieee-p1363' }),
  );
  cached = {
    rootDer,
    rootFingerprint: createHash('sha256').update(rootDer).digest('hex'),
    pckChainPem: toPem(pckDer) + toPem(caDer) + toPem(rootDer),
    attestationKey,
    attestationPrivateKey: ak.privateKey,
    qeReport,
    qeReportSignature,
    qeAuthData,
    rootKey: root.privateKey,
    rootName,
    caDer,
    caKey: platform.privateKey,
    caName,
    caSerial: 2,
    pckSerial: 3,
  };
  return cached;
}

export interface TdxEvidenceOptions {
  reportData: Uint8Array;
  mrTd?: Uint8Array;
  rtmrs?: Uint8Array[];
  mrSeam?: Uint8Array;
  xfam?: Uint8Array;
  tdAttributes?: Uint8Array;
  /** 48 bytes; default policyHash (32 bytes) zero-padded. */
  mrConfigId?: Uint8Array;
  policyHash?: Uint8Array;
  teeTcbSvn?: Uint8Array;
  /** QE and PCE SVN in the quote header (default 4 and the test PCE SVN). */
  qeSvn?: number;
  pceSvn?: number;
  /** A PCK certificate with other SGX Type, PIID or configuration. */
  pck?: PckVariant;
}

/**
 * The quote for `opts` as the Coordinator sends it (go-tdx-guest's QuoteV4), signed by the test
 * attestation key over abi's `signedComponent`.
 */
export function makeTdxQuoteMessage(opts: TdxEvidenceOptions): QuoteV4 {
  const c = tdxTestChain(opts.pck);
  const mrConfigId =
    opts.mrConfigId ??
    (() => {
      const m = new Uint8Array(48);
      if (opts.policyHash) m.set(opts.policyHash);
      return m;
    })();
  const pem = new Uint8Array(Buffer.from(c.pckChainPem, 'latin1'));
  const certData = 384 + 64 + 2 + c.qeAuthData.length + 2 + 4 + pem.length;
  const msg = create(QuoteV4Schema, {
    header: create(HeaderSchema, {
      version: 4,
      attestationKeyType: 2,
      teeType: 0x81,
      qeSvn: new Uint8Array([opts.qeSvn ?? 4, 0]),
      pceSvn: new Uint8Array([opts.pceSvn ?? TEST_PCE_SVN, 0]),
      qeVendorId: Buffer.from(INTEL_QE_VENDOR_ID, 'hex'),
      userData: new Uint8Array(20),
    }),
    tdQuoteBody: create(TDQuoteBodySchema, {
      teeTcbSvn: opts.teeTcbSvn ?? TEST_TEE_TCB_SVN,
      mrSeam: opts.mrSeam ?? TEST_MRSEAM,
      mrSignerSeam: new Uint8Array(48),
      seamAttributes: new Uint8Array(8),
      tdAttributes: opts.tdAttributes ?? TEST_TD_ATTRIBUTES,
      xfam: opts.xfam ?? TEST_XFAM,
      mrTd: opts.mrTd ?? TEST_MRTD,
      mrConfigId,
      mrOwner: new Uint8Array(48),
      mrOwnerConfig: new Uint8Array(48),
      rtmrs: opts.rtmrs ?? TEST_RTMRS,
      reportData: opts.reportData,
    }),
    signedDataSize: 64 + 64 + 2 + 4 + certData,
    signedData: create(Ecdsa256BitQuoteV4AuthDataSchema, {
      signature: new Uint8Array(64),
      ecdsaAttestationKey: c.attestationKey,
      certificationData: create(CertificationDataSchema, {
        certificateDataType: 6,
        size: certData,
        qeReportCertificationData: create(QEReportCertificationDataSchema, {
          qeReport: clone(EnclaveReportSchema, c.qeReport),
          qeReportSignature: c.qeReportSignature,
          qeAuthData: create(QeAuthDataSchema, { parsedDataSize: c.qeAuthData.length, data: c.qeAuthData }),
          pckCertificateChainData: create(PCKCertificateChainDataSchema, {
            certificateDataType: 5,
            size: pem.length,
            pckCertChain: pem,
          }),
        }),
      }),
    }),
  });
  msg.signedData!.signature = new Uint8Array(
    sign('sha256', signedComponent(msg), { key: c.attestationPrivateKey, dsaEncoding: 'ieee-p1363' }),
  );
  return msg;
}

/** The extension value (protobuf `tdx.QuoteV4`) for one TLS connection. */
export function makeTdxEvidence(opts: TdxEvidenceOptions): Uint8Array {
  return toBinary(QuoteV4Schema, makeTdxQuoteMessage(opts));
}

/** The raw quote bytes (what a quote file on disk holds). */
export function makeTdxQuoteRaw(opts: TdxEvidenceOptions): Uint8Array {
  return quoteToAbiBytes(makeTdxQuoteMessage(opts));
}

export interface TdxCollateralOptions {
  tcbStatus?: string;
  qeStatus?: string;
  issueDate?: Date;
  nextUpdate?: Date;
  /** Validity of the TCB signing certificate. */
  signerNotAfter?: Date;
  /** tdxModuleIdentities to include (for TEE_TCB_SVN[1] > 0). */
  moduleIdentities?: unknown[];
  tdxComponents?: number[];
  /** tcbEvaluationDataNumber of the TCB Info (default 17). */
  evaluationDataNumber?: number;
  /**
   * File the TCB Info under the request for this evaluation data number (`tcbEvaluationDataNumber=N`,
   * what the verifier asks for when the manifest's MinTCBEvaluationDataNumber is N) instead of
   * under the plain request for the newest one.
   */
  requestedAs?: number;
}

/** Signed TCB Info and QE Identity for the test platform, as a collateral source. */
export function makeTdxCollateral(opts: TdxCollateralOptions = {}): MemoryCollateral {
  const c = tdxTestChain();
  const signer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const signerDer = buildCert({
    serial: 10,
    issuer: c.rootName,
    subject: name('Intel SGX TCB Signing (TEST)', 'Intel Corporation (TEST)'),
    notBefore: NOT_BEFORE,
    notAfter: opts.signerNotAfter ?? NOT_AFTER,
    publicKey: signer.publicKey,
    signingKey: c.rootKey,
    alg: 'ecdsa-sha256',
  });
  const issuerChain = new Uint8Array(Buffer.from(toPem(signerDer) + toPem(c.rootDer)));
  const issueDate = (opts.issueDate ?? new Date(Date.now() - 86_400_000)).toISOString().replace(/\.\d+Z$/, 'Z');
  const nextUpdate = (opts.nextUpdate ?? new Date(Date.now() + 30 * 86_400_000)).toISOString().replace(/\.\d+Z$/, 'Z');
  const signDoc = (key: string, member: unknown) => {
    const text = JSON.stringify(member);
    const sig = sign('sha256', Buffer.from(text), { key: signer.privateKey, dsaEncoding: 'ieee-p1363' }).toString(
      'hex',
    );
    return new Uint8Array(Buffer.from(`{"${key}":${text},"signature":"${sig}"}`));
  };
  const comps = (v: number[]) => v.map((svn) => ({ svn }));
  const tcbInfo = {
    id: 'TDX',
    version: 3,
    issueDate,
    nextUpdate,
    fmspc: TEST_FMSPC,
    pceId: TEST_PCE_ID,
    tcbType: 0,
    tcbEvaluationDataNumber: opts.evaluationDataNumber ?? 17,
    tdxModule: { mrsigner: '00'.repeat(48), attributes: '0000000000000000', attributesMask: 'FFFFFFFFFFFFFFFF' },
    ...(opts.moduleIdentities ? { tdxModuleIdentities: opts.moduleIdentities } : {}),
    tcbLevels: [
      {
        tcb: {
          sgxtcbcomponents: comps(TEST_CPU_SVN),
          pcesvn: TEST_PCE_SVN,
          tdxtcbcomponents: comps(opts.tdxComponents ?? [...TEST_TEE_TCB_SVN]),
        },
        tcbDate: '2024-01-01T00:00:00Z',
        tcbStatus: opts.tcbStatus ?? 'UpToDate',
      },
      {
        tcb: {
          sgxtcbcomponents: comps(TEST_CPU_SVN.map(() => 0)),
          pcesvn: 0,
          tdxtcbcomponents: comps(new Array(16).fill(0)),
        },
        tcbDate: '2020-01-01T00:00:00Z',
        tcbStatus: 'OutOfDate',
      },
    ],
  };
  const qeIdentity = {
    id: 'TD_QE',
    version: 2,
    issueDate,
    nextUpdate,
    tcbEvaluationDataNumber: 17,
    miscselect: '00000000',
    miscselectMask: 'FFFFFFFF',
    attributes: Buffer.from(QE_ATTRIBUTES).toString('hex').toUpperCase(),
    attributesMask: 'FBFFFFFFFFFFFFFF0000000000000000',
    mrsigner: Buffer.from(TEST_QE_MRSIGNER).toString('hex').toUpperCase(),
    isvprodid: 2,
    tcbLevels: [{ tcb: { isvsvn: 4 }, tcbDate: '2024-01-01T00:00:00Z', tcbStatus: opts.qeStatus ?? 'UpToDate' }],
  };
  return new MemoryCollateral()
    .set(
      {
        kind: 'tdx-tcb-info',
        fmspc: TEST_FMSPC,
        ...(opts.requestedAs ? { evaluationDataNumber: opts.requestedAs } : {}),
      },
      { body: signDoc('tcbInfo', tcbInfo), issuerChain },
    )
    .set({ kind: 'tdx-qe-identity' }, { body: signDoc('enclaveIdentity', qeIdentity), issuerChain });
}

/**
 * Intel's TCB Info for the test FMSPC at two evaluation data numbers, as around a TCB recovery
 * event: at `pinned` the test platform's level is UpToDate; the newer edition (`newest`, served
 * for the plain request) adds a level with a higher TDX module SVN, so the same platform is
 * OutOfDate there. Both are signed by the test root and sit with the QE Identity and CRLs.
 */
export async function makeTdxRecoveryCollateral(
  pinned: number,
  newest: number,
  opts: { pinnedNextUpdate?: Date } = {},
): Promise<MemoryCollateral> {
  const raised = [...TEST_TEE_TCB_SVN];
  raised[2] = raised[2]! + 1;
  const newer = makeTdxCollateral({ evaluationDataNumber: newest, tdxComponents: raised });
  const key = { kind: 'tdx-tcb-info', fmspc: TEST_FMSPC, evaluationDataNumber: pinned } as const;
  const older = makeTdxCollateral({
    evaluationDataNumber: pinned,
    requestedAs: pinned,
    ...(opts.pinnedNextUpdate ? { nextUpdate: opts.pinnedNextUpdate } : {}),
  });
  return newer.set(key, (await older.get(key))!);
}

export interface TdxCrlOptions {
  /** Serials to list; default a serial no test certificate has (99). */
  revoked?: (number | bigint)[];
  thisUpdate?: Date;
  nextUpdate?: Date;
  /** Sign with another key than the issuer's (the CRL still names the issuer). */
  signingKey?: KeyObject;
}

/** A CRL (DER) of the test PCK Platform CA (`'pck'`) or of the test root (`'root'`). */
export function makeTdxCrl(issuer: 'pck' | 'root', opts: TdxCrlOptions = {}): Uint8Array {
  const c = tdxTestChain();
  const thisUpdate = opts.thisUpdate ?? new Date(Date.now() - 86_400_000);
  const nextUpdate = opts.nextUpdate ?? new Date(Date.now() + 30 * 86_400_000);
  const [issuerName, key] = issuer === 'pck' ? [c.caName, c.caKey] : [c.rootName, c.rootKey];
  return buildCrl(issuerName, opts.signingKey ?? key, 'ecdsa-sha256', opts.revoked ?? [99], thisUpdate, nextUpdate);
}

/**
 * Adds the test PCK CRL (with its PCS issuer chain: platform CA, root) and the root CRL to
 * `into`; `false` for either leaves it out.
 */
export function addTdxCrls(
  into: MemoryCollateral,
  opts: { pck?: TdxCrlOptions | false; root?: TdxCrlOptions | false } = {},
): MemoryCollateral {
  const c = tdxTestChain();
  if (opts.pck !== false) {
    into.set(
      { kind: 'tdx-pck-crl', ca: 'platform' },
      {
        body: makeTdxCrl('pck', opts.pck ?? {}),
        issuerChain: new Uint8Array(Buffer.from(toPem(c.caDer) + toPem(c.rootDer))),
      },
    );
  }
  if (opts.root !== false) into.set({ kind: 'tdx-root-crl' }, { body: makeTdxCrl('root', opts.root ?? {}) });
  return into;
}

/**
 * The ReferenceValues.tdx entry the default synthetic evidence satisfies, in the shape
 * `contrast generate` writes from 2025-11 on (TD attributes fixed by Contrast).
 */
export function tdxReferenceValues(): Record<string, unknown> {
  const h = (b: Uint8Array) => Buffer.from(b).toString('hex');
  return {
    Platform: 'Metal-QEMU-TDX',
    MinTCBEvaluationDataNumber: 0,
    MrTd: h(TEST_MRTD),
    MrSeam: h(TEST_MRSEAM),
    Rtmrs: TEST_RTMRS.map(h),
    Xfam: h(TEST_XFAM),
    AllowedPIIDs: [],
    MemoryIntegrity: false,
    SMTDisabled: false,
    StaticPlatform: false,
  };
}
