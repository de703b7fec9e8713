/**
 * The TDX quote (docs/protocol.md §3.2, §9) as go-tdx-guest's abi package handles it
 * (google/go-tdx-guest abi/abi.go): one quote type per version, the generated protobuf
 * `QuoteV4` / `QuoteV5`, and both directions — `quoteToProto` parses raw v4/v5 quotes
 * strictly, `quoteToAbiBytes` lays a quote out again — with the signing inputs: the header and
 * body the attestation key signs (`signedComponent`) and the QE report the PCK signs
 * (`enclaveReportToAbiBytes`).
 */
import { fromBinary } from '@bufbuild/protobuf';
import { AttestationError } from '../../shared/errors.ts';
import {
  QuoteV4Schema,
  type Ecdsa256BitQuoteV4AuthData,
  type EnclaveReport,
  type Header,
  type PCKCertificateChainData,
  type QEReportCertificationData,
  type QeAuthData,
  type QuoteV4,
  type QuoteV5,
  type TDQuoteBody,
  type TDQuoteBodyV5,
} from '../../gen/tdx/tdx_pb.ts';
import { AbiWriter, view } from '../bytes.ts';

/** A quote of either version; `header.version` tells which. */
export type Quote = QuoteV4 | QuoteV5;
/** The TD report fields both versions share (a v5 body adds TEE_TCB_SVN_2 and MRSERVICETD). */
export type TdQuoteBody = TDQuoteBody | TDQuoteBodyV5;

const HEADER_SIZE = 48;
const BODY_V4_SIZE = 584;
const BODY_V5_TDX15_SIZE = 648;
/** go-tdx-guest tdxVersion10BodyType / tdxVersion15BodyType. */
const BODY_TYPE_TDX10 = 2;
const BODY_TYPE_TDX15 = 3;
const QE_REPORT_SIZE = 384;
export const INTEL_QE_VENDOR_ID = '939a7233f79c4ca9940a0db3957f0607';
const ATTESTATION_KEY_ECDSA_P256 = 2;
const TEE_TYPE_TDX = 0x81;
const CERT_DATA_QE_REPORT = 6;
const CERT_DATA_PCK_CHAIN = 5;

function fail(message: string): never {
  throw new AttestationError('tdx.format', `malformed TDX quote: ${message}`);
}

/**
 * Header bytes 8..12: PCE SVN, then QE SVN, as go-tdx-guest's abi places them
 * (headerPceSvnStart = 8, headerQeSvnStart = 0xA; the edgelesssys fork Contrast pins too). The
 * Coordinator's QuoteV4 message carries them in that package's pce_svn / qe_svn fields, so
 * this is where the signed bytes have them.
 */
const PCE_SVN_AT = 8;
const QE_SVN_AT = 10;

function headerToProto(q: Uint8Array): Header {
  const v = view(q);
  return {
    $typeName: 'tdx.Header',
    version: v.getUint16(0, true),
    attestationKeyType: v.getUint16(2, true),
    teeType: v.getUint32(4, true),
    qeSvn: q.subarray(QE_SVN_AT, QE_SVN_AT + 2),
    pceSvn: q.subarray(PCE_SVN_AT, PCE_SVN_AT + 2),
    qeVendorId: q.subarray(12, 28),
    userData: q.subarray(28, HEADER_SIZE),
  };
}

/** The fields of a 584-byte TD report body (go-tdx-guest tdQuoteBodyToProto), common to TDQuoteBody and TDQuoteBodyV5. */
function tdBodyFields(b: Uint8Array) {
  const s = (o: number, n: number) => b.subarray(o, o + n);
  return {
    teeTcbSvn: s(0, 16),
    mrSeam: s(16, 48),
    mrSignerSeam: s(64, 48),
    seamAttributes: s(112, 8),
    tdAttributes: s(120, 8),
    xfam: s(128, 8),
    mrTd: s(136, 48),
    mrConfigId: s(184, 48),
    mrOwner: s(232, 48),
    mrOwnerConfig: s(280, 48),
    rtmrs: [s(328, 48), s(376, 48), s(424, 48), s(472, 48)],
    reportData: s(520, 64),
  };
}

function enclaveReportToProto(raw: Uint8Array): EnclaveReport {
  const v = view(raw);
  const s = (o: number, n: number) => raw.subarray(o, o + n);
  return {
    $typeName: 'tdx.EnclaveReport',
    cpuSvn: s(0, 16),
    miscSelect: v.getUint32(16, true),
    reserved1: s(20, 28),
    attributes: s(48, 16),
    mrEnclave: s(64, 32),
    reserved2: s(96, 32),
    mrSigner: s(128, 32),
    reserved3: s(160, 96),
    isvProdId: v.getUint16(256, true),
    isvSvn: v.getUint16(258, true),
    reserved4: s(260, 60),
    reportData: s(320, 64),
  };
}

/**
 * Parses a raw v4 or v5 quote (go-tdx-guest QuoteToProto), refusing what it does not
 * understand: another version, attestation key type or TEE type, a v5 body other than a TD
 * report of its exact size, sizes that disagree with each other, certification data other
 * than a QE report with a PCK chain. Bytes after the signature data are kept as `extraBytes`.
 */
export function quoteToProto(input: Uint8Array): Quote {
  if (input.length < HEADER_SIZE + BODY_V4_SIZE + 4) fail(`only ${input.length} bytes`);
  // One copy, as go-tdx-guest clones its input: the message's fields are views into it, not into the caller's bytes.
  const q = input.slice();
  const v = view(q);
  const version = v.getUint16(0, true);
  if (version !== 4 && version !== 5) fail(`version ${version} is not supported (4, 5)`);
  const akType = v.getUint16(2, true);
  if (akType !== ATTESTATION_KEY_ECDSA_P256)
    fail(`attestation key type ${akType}, expected ${ATTESTATION_KEY_ECDSA_P256} (ECDSA P-256)`);
  const teeType = v.getUint32(4, true);
  if (teeType !== TEE_TYPE_TDX) fail(`TEE type 0x${teeType.toString(16)}, expected 0x81 (TDX)`);
  let bodyOff = HEADER_SIZE;
  let bodyLen = BODY_V4_SIZE;
  let bodyType = 0;
  if (version === 5) {
    bodyType = v.getUint16(HEADER_SIZE, true);
    bodyLen = v.getUint32(HEADER_SIZE + 2, true);
    bodyOff = HEADER_SIZE + 6;
    const expected =
      bodyType === BODY_TYPE_TDX10 ? BODY_V4_SIZE : bodyType === BODY_TYPE_TDX15 ? BODY_V5_TDX15_SIZE : -1;
    if (expected < 0) fail(`v5 body type ${bodyType} is not a TD report (2 or 3)`);
    if (bodyLen !== expected) fail(`v5 body type ${bodyType} must be ${expected} bytes, descriptor says ${bodyLen}`);
  }
  let p = bodyOff + bodyLen;
  if (p + 4 > q.length) fail('truncated before the signature data');
  const signedDataSize = v.getUint32(p, true);
  p += 4;
  const sigEnd = p + signedDataSize;
  if (sigEnd > q.length)
    fail(`signature data length ${signedDataSize} overruns the quote (${q.length - p} bytes left)`);
  const take = (n: number, what: string) => {
    if (p + n > sigEnd) fail(`${what} overruns the signature data`);
    const out = q.subarray(p, p + n);
    p += n;
    return out;
  };
  const u16 = (what: string) => {
    if (p + 2 > sigEnd) fail(`${what} overruns the signature data`);
    p += 2;
    return v.getUint16(p - 2, true);
  };
  const u32 = (what: string) => {
    if (p + 4 > sigEnd) fail(`${what} overruns the signature data`);
    p += 4;
    return v.getUint32(p - 4, true);
  };
  const signature = take(64, 'signature');
  const ecdsaAttestationKey = take(64, 'attestation key');
  const certType = u16('certification data type');
  if (certType !== CERT_DATA_QE_REPORT)
    fail(`certification data type ${certType}, expected ${CERT_DATA_QE_REPORT} (QE report)`);
  const certSize = u32('certification data size');
  if (p + certSize !== sigEnd) fail(`certification data size ${certSize} disagrees with the signature data length`);
  const qeReport = enclaveReportToProto(take(QE_REPORT_SIZE, 'QE report'));
  const qeReportSignature = take(64, 'QE report signature');
  const authSize = u16('QE auth data size');
  const authData = take(authSize, 'QE auth data');
  const innerType = u16('PCK chain type');
  if (innerType !== CERT_DATA_PCK_CHAIN)
    fail(`inner certification data type ${innerType}, expected ${CERT_DATA_PCK_CHAIN} (PCK chain)`);
  const pemSize = u32('PCK chain size');
  if (p + pemSize !== sigEnd) fail(`PCK chain size ${pemSize} disagrees with the signature data length`);
  const pckCertChain = take(pemSize, 'PCK chain');
  // Plain message literals, every field set: what create() would build, without its reflection cost.
  const signedData: Ecdsa256BitQuoteV4AuthData = {
    $typeName: 'tdx.Ecdsa256BitQuoteV4AuthData',
    signature,
    ecdsaAttestationKey,
    certificationData: {
      $typeName: 'tdx.CertificationData',
      certificateDataType: certType,
      size: certSize,
      qeReportCertificationData: {
        $typeName: 'tdx.QEReportCertificationData',
        qeReport,
        qeReportSignature,
        qeAuthData: { $typeName: 'tdx.QeAuthData', parsedDataSize: authSize, data: authData },
        pckCertificateChainData: {
          $typeName: 'tdx.PCKCertificateChainData',
          certificateDataType: innerType,
          size: pemSize,
          pckCertChain,
        },
      },
    },
  };
  const header = headerToProto(q);
  const body = q.subarray(bodyOff, bodyOff + bodyLen);
  const extraBytes = q.subarray(sigEnd);
  if (version === 4)
    return {
      $typeName: 'tdx.QuoteV4',
      header,
      tdQuoteBody: { $typeName: 'tdx.TDQuoteBody', ...tdBodyFields(body) },
      signedDataSize,
      signedData,
      extraBytes,
      trailer: [],
    };
  const tdx15 = bodyType === BODY_TYPE_TDX15;
  return {
    $typeName: 'tdx.QuoteV5',
    header,
    tdQuoteBodyDescriptor: {
      $typeName: 'tdx.TDQuoteBodyDescriptor',
      tdQuoteBodyType: bodyType,
      tdQuoteBodySize: bodyLen,
      tdQuoteBodyV5: {
        $typeName: 'tdx.TDQuoteBodyV5',
        ...tdBodyFields(body),
        teeTcbSvn2: tdx15 ? body.subarray(BODY_V4_SIZE, BODY_V4_SIZE + 16) : new Uint8Array(0),
        mrServiceTd: tdx15 ? body.subarray(BODY_V4_SIZE + 16, BODY_V5_TDX15_SIZE) : new Uint8Array(0),
      },
    },
    signedDataSize,
    signedData,
    extraBytes,
  };
}

function writeHeader(w: AbiWriter, h: Header): void {
  w.u16(h.version, 'version').u16(h.attestationKeyType, 'attestation_key_type').u32(h.teeType);
  w.fixed(h.pceSvn, 2, 'pce_svn').fixed(h.qeSvn, 2, 'qe_svn'); // PCE_SVN_AT, QE_SVN_AT
  w.fixed(h.qeVendorId, 16, 'qe_vendor_id').fixed(h.userData, 20, 'user_data');
}

/** The 584 bytes of a TD report body (go-tdx-guest TdQuoteBodyToAbiBytes); a v5 TDX 1.5 body adds 64. */
function writeTdQuoteBody(w: AbiWriter, b: TdQuoteBody, bodyType: number): void {
  if (b.rtmrs.length !== 4) throw new Error(`rtmrs must hold 4 entries, got ${b.rtmrs.length}`);
  const v5 = b.$typeName === 'tdx.TDQuoteBodyV5' ? b : undefined;
  if (bodyType === BODY_TYPE_TDX10 && v5 && (v5.teeTcbSvn2.length || v5.mrServiceTd.length))
    throw new Error('tee_tcb_svn2 and mr_service_td are set in a TDX 1.0 body');
  w.fixed(b.teeTcbSvn, 16, 'tee_tcb_svn').fixed(b.mrSeam, 48, 'mr_seam').fixed(b.mrSignerSeam, 48, 'mr_signer_seam');
  w.fixed(b.seamAttributes, 8, 'seam_attributes').fixed(b.tdAttributes, 8, 'td_attributes').fixed(b.xfam, 8, 'xfam');
  w.fixed(b.mrTd, 48, 'mr_td')
    .fixed(b.mrConfigId, 48, 'mr_config_id')
    .fixed(b.mrOwner, 48, 'mr_owner')
    .fixed(b.mrOwnerConfig, 48, 'mr_owner_config');
  b.rtmrs.forEach((x, i) => w.fixed(x, 48, `rtmrs[${i}]`));
  w.fixed(b.reportData, 64, 'report_data');
  if (bodyType === BODY_TYPE_TDX15)
    w.fixed(v5?.teeTcbSvn2, 16, 'tee_tcb_svn2').fixed(v5?.mrServiceTd, 48, 'mr_service_td');
}

function tdQuoteBodyOf(q: Quote): { body: TdQuoteBody; bodyType: number } | undefined {
  if (q.$typeName === 'tdx.QuoteV4') return q.tdQuoteBody && { body: q.tdQuoteBody, bodyType: BODY_TYPE_TDX10 };
  const d = q.tdQuoteBodyDescriptor;
  return d?.tdQuoteBodyV5 && { body: d.tdQuoteBodyV5, bodyType: d.tdQuoteBodyType };
}

function writeEnclaveReport(w: AbiWriter, r: EnclaveReport): void {
  w.fixed(r.cpuSvn, 16, 'cpu_svn')
    .u32(r.miscSelect)
    .fixed(r.reserved1, 28, 'reserved1')
    .fixed(r.attributes, 16, 'attributes');
  w.fixed(r.mrEnclave, 32, 'mr_enclave')
    .fixed(r.reserved2, 32, 'reserved2')
    .fixed(r.mrSigner, 32, 'mr_signer')
    .fixed(r.reserved3, 96, 'reserved3');
  w.u16(r.isvProdId, 'isv_prod_id')
    .u16(r.isvSvn, 'isv_svn')
    .fixed(r.reserved4, 60, 'reserved4')
    .fixed(r.reportData, 64, 'report_data');
}

/** The 384 bytes of an SGX enclave report, here the QE's, which the PCK signs (go-tdx-guest EnclaveReportToAbiBytes). */
export function enclaveReportToAbiBytes(r: EnclaveReport): Uint8Array {
  try {
    const w = new AbiWriter(QE_REPORT_SIZE);
    writeEnclaveReport(w, r);
    return w.bytes;
  } catch (err) {
    fail((err as Error).message);
  }
}

/** Header and body (with a v5 quote's body descriptor): what the attestation key signs. */
function signedSize(bodyType: number, v5: boolean): number {
  return HEADER_SIZE + (v5 ? 6 : 0) + (bodyType === BODY_TYPE_TDX15 ? BODY_V5_TDX15_SIZE : BODY_V4_SIZE);
}

function writeSigned(w: AbiWriter, q: Quote): void {
  const h = q.header;
  const b = tdQuoteBodyOf(q);
  if (!h || !b) throw new Error('a required message is absent');
  writeHeader(w, h);
  if (q.$typeName === 'tdx.QuoteV5')
    w.u16(q.tdQuoteBodyDescriptor!.tdQuoteBodyType, 'td_quote_body_type').u32(q.tdQuoteBodyDescriptor!.tdQuoteBodySize);
  writeTdQuoteBody(w, b.body, b.bodyType);
}

/**
 * What the attestation key signs: the header and the body, with a v5 quote's body descriptor
 * (go-tdx-guest verify getHeaderAndTdQuoteBodyInAbiBytes).
 */
export function signedComponent(q: Quote): Uint8Array {
  try {
    const w = new AbiWriter(signedSize(tdQuoteBodyOf(q)?.bodyType ?? BODY_TYPE_TDX10, q.$typeName === 'tdx.QuoteV5'));
    writeSigned(w, q);
    return w.bytes;
  } catch (err) {
    if (err instanceof AttestationError) throw err;
    fail((err as Error).message);
  }
}

/** Lays a quote out as raw bytes (go-tdx-guest QuoteToAbiBytes), sizes as the message states them. */
export function quoteToAbiBytes(m: Quote): Uint8Array {
  try {
    const sd = m.signedData;
    const qe = sd?.certificationData?.qeReportCertificationData;
    const b = tdQuoteBodyOf(m);
    if (
      !m.header ||
      !b ||
      !sd ||
      !sd.certificationData ||
      !qe ||
      !qe.qeReport ||
      !qe.qeAuthData ||
      !qe.pckCertificateChainData
    )
      throw new Error('a required message is absent');
    const pck = qe.pckCertificateChainData;
    const size =
      signedSize(b.bodyType, m.$typeName === 'tdx.QuoteV5') +
      4 +
      64 +
      64 +
      2 +
      4 +
      QE_REPORT_SIZE +
      64 +
      2 +
      qe.qeAuthData.data.length +
      2 +
      4 +
      pck.pckCertChain.length +
      m.extraBytes.length;
    const w = new AbiWriter(size);
    writeSigned(w, m);
    w.u32(m.signedDataSize);
    w.fixed(sd.signature, 64, 'signature').fixed(sd.ecdsaAttestationKey, 64, 'ecdsa_attestation_key');
    w.u16(sd.certificationData.certificateDataType, 'certificate_data_type').u32(sd.certificationData.size);
    writeEnclaveReport(w, qe.qeReport);
    w.fixed(qe.qeReportSignature, 64, 'qe_report_signature');
    w.u16(qe.qeAuthData.parsedDataSize, 'parsed_data_size').raw(qe.qeAuthData.data);
    w.u16(pck.certificateDataType, 'certificate_data_type').u32(pck.size).raw(pck.pckCertChain);
    w.raw(m.extraBytes);
    return w.bytes;
  } catch (err) {
    if (err instanceof AttestationError) throw err;
    fail((err as Error).message);
  }
}

/** The parts of a parsed quote the verifiers read (every one is present in a quote `quoteToProto` returned). */
export interface QuoteParts {
  header: Header;
  body: TdQuoteBody;
  signedData: Ecdsa256BitQuoteV4AuthData;
  qe: QEReportCertificationData;
  qeReport: EnclaveReport;
  qeAuthData: QeAuthData;
  pckChain: PCKCertificateChainData;
}

export function quoteParts(q: Quote): QuoteParts {
  const header = q.header;
  const body = tdQuoteBodyOf(q)?.body;
  const signedData = q.signedData;
  const qe = signedData?.certificationData?.qeReportCertificationData;
  if (!header || !body || !signedData || !qe?.qeReport || !qe.qeAuthData || !qe.pckCertificateChainData)
    fail('a required message is absent');
  return {
    header,
    body,
    signedData,
    qe,
    qeReport: qe.qeReport,
    qeAuthData: qe.qeAuthData,
    pckChain: qe.pckCertificateChainData,
  };
}

/** The TD report body of either version. */
export function quoteBody(q: Quote): TdQuoteBody {
  return quoteParts(q).body;
}

/** QE and PCE SVN from the header, little-endian u16 each (go-tdx-guest validate minVersionCheck). */
export function headerSvns(h: Header): { qeSvn: number; pceSvn: number } {
  const svn = (b: Uint8Array, what: string) =>
    b.length === 2 ? view(b).getUint16(0, true) : fail(`${what} must be 2 bytes, got ${b.length}`);
  return { qeSvn: svn(h.qeSvn, 'qe_svn'), pceSvn: svn(h.pceSvn, 'pce_svn') };
}

export interface TdxEvidence {
  quote: QuoteV4;
  /** Collateral documents appended by Contrast (trailer field 65535), unverified bytes. */
  trailer: Uint8Array[];
}

/**
 * Decodes the extension value (protobuf `tdx.QuoteV4`); the quote is laid out as raw bytes and
 * parsed again, so it passes the same strict checks as a quote read from a file.
 */
export function decodeTdxEvidence(ext: Uint8Array): TdxEvidence {
  let msg: QuoteV4;
  try {
    msg = fromBinary(QuoteV4Schema, ext);
  } catch (err) {
    fail(`extension is not a tdx.QuoteV4 protobuf: ${(err as Error).message}`);
  }
  const quote = quoteToProto(quoteToAbiBytes(msg));
  if (quote.$typeName !== 'tdx.QuoteV4') fail(`the QuoteV4 message carries a version ${quote.header?.version} header`);
  return { quote, trailer: msg.trailer.map((t) => t.collateral) };
}
