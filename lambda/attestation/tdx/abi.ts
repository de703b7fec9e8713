/**
 * The TDX quote as bytes (docs/protocol.md §3.2, §9): parse raw v4/v5 quotes strictly, and
 * rebuild the raw v4 quote from go-tdx-guest's `QuoteV4` message.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { AttestationError } from '../../shared/errors.ts';
import { QuoteV4Schema, type QuoteV4 } from '../../gen/tdx/tdx_pb.ts';
import { concat, fixed, view } from '../bytes.ts';

const HEADER_SIZE = 48;
const BODY_V4_SIZE = 584;
const BODY_V5_TDX15_SIZE = 648;
const QE_REPORT_SIZE = 384;
export const INTEL_QE_VENDOR_ID = '939a7233f79c4ca9940a0db3957f0607';
const ATTESTATION_KEY_ECDSA_P256 = 2;
const TEE_TYPE_TDX = 0x81;
const CERT_DATA_QE_REPORT = 6;
const CERT_DATA_PCK_CHAIN = 5;

export interface TdBody {
  teeTcbSvn: Uint8Array;
  mrSeam: Uint8Array;
  mrSignerSeam: Uint8Array;
  seamAttributes: Uint8Array;
  tdAttributes: Uint8Array;
  xfam: Uint8Array;
  mrTd: Uint8Array;
  mrConfigId: Uint8Array;
  mrOwner: Uint8Array;
  mrOwnerConfig: Uint8Array;
  rtmrs: Uint8Array[];
  reportData: Uint8Array;
}

export interface EnclaveReport {
  raw: Uint8Array;
  cpuSvn: Uint8Array;
  miscSelect: number;
  attributes: Uint8Array;
  mrEnclave: Uint8Array;
  mrSigner: Uint8Array;
  isvProdId: number;
  isvSvn: number;
  reportData: Uint8Array;
}

export interface TdxQuote {
  version: number;
  /** Header (and v5 body descriptor) and body: the bytes the attestation key signs. */
  signed: Uint8Array;
  qeVendorId: string;
  /** QE and PCE SVN from the header (little-endian u16). */
  qeSvn: number;
  pceSvn: number;
  body: TdBody;
  signature: Uint8Array;
  attestationKey: Uint8Array;
  qeReport: EnclaveReport;
  qeReportSignature: Uint8Array;
  qeAuthData: Uint8Array;
  pckChainPem: Uint8Array;
}

function fail(message: string): never {
  throw new AttestationError('tdx.format', `malformed TDX quote: ${message}`);
}

function parseTdBody(b: Uint8Array): TdBody {
  const s = (o: number, n: number) => b.slice(o, o + n);
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

function parseEnclaveReport(raw: Uint8Array): EnclaveReport {
  const v = view(raw);
  return {
    raw,
    cpuSvn: raw.slice(0, 16),
    miscSelect: v.getUint32(16, true),
    attributes: raw.slice(48, 64),
    mrEnclave: raw.slice(64, 96),
    mrSigner: raw.slice(128, 160),
    isvProdId: v.getUint16(256, true),
    isvSvn: v.getUint16(258, true),
    reportData: raw.slice(320, 384),
  };
}

/** Parses a raw quote; bytes after the signature data (padding, extra bytes) are ignored. */
export function parseTdxQuote(q: Uint8Array): TdxQuote {
  if (q.length < HEADER_SIZE + BODY_V4_SIZE + 4) fail(`only ${q.length} bytes`);
  const v = view(q);
  const version = v.getUint16(0, true);
  if (version !== 4 && version !== 5) fail(`version ${version} is not supported (4, 5)`);
  const akType = v.getUint16(2, true);
  if (akType !== ATTESTATION_KEY_ECDSA_P256) fail(`attestation key type ${akType}, expected ${ATTESTATION_KEY_ECDSA_P256} (ECDSA P-256)`);
  const teeType = v.getUint32(4, true);
  if (teeType !== TEE_TYPE_TDX) fail(`TEE type 0x${teeType.toString(16)}, expected 0x81 (TDX)`);
  const qeVendorId = Buffer.from(q.subarray(12, 28)).toString('hex');
  let bodyOff = HEADER_SIZE;
  let bodyLen = BODY_V4_SIZE;
  if (version === 5) {
    const type = v.getUint16(HEADER_SIZE, true);
    bodyLen = v.getUint32(HEADER_SIZE + 2, true);
    bodyOff = HEADER_SIZE + 6;
    const expected = type === 2 ? BODY_V4_SIZE : type === 3 ? BODY_V5_TDX15_SIZE : -1;
    if (expected < 0) fail(`v5 body type ${type} is not a TD report (2 or 3)`);
    if (bodyLen !== expected) fail(`v5 body type ${type} must be ${expected} bytes, descriptor says ${bodyLen}`);
  }
  let p = bodyOff + bodyLen;
  if (p + 4 > q.length) fail('truncated before the signature data');
  const signed = q.subarray(0, p);
  const sigDataLen = v.getUint32(p, true);
  p += 4;
  const sigEnd = p + sigDataLen;
  if (sigEnd > q.length) fail(`signature data length ${sigDataLen} overruns the quote (${q.length - p} bytes left)`);
  const take = (n: number, what: string) => {
    if (p + n > sigEnd) fail(`${what} overruns the signature data`);
    const out = q.subarray(p, p + n);
    p += n;
    return out;
  };
  const signature = take(64, 'signature');
  const attestationKey = take(64, 'attestation key');
  const certType = view(take(2, 'certification data type')).getUint16(0, true);
  if (certType !== CERT_DATA_QE_REPORT) fail(`certification data type ${certType}, expected ${CERT_DATA_QE_REPORT} (QE report)`);
  const certSize = view(take(4, 'certification data size')).getUint32(0, true);
  if (p + certSize !== sigEnd) fail(`certification data size ${certSize} disagrees with the signature data length`);
  const qeReportRaw = take(QE_REPORT_SIZE, 'QE report');
  const qeReportSignature = take(64, 'QE report signature');
  const authSize = view(take(2, 'QE auth data size')).getUint16(0, true);
  const qeAuthData = take(authSize, 'QE auth data');
  const innerType = view(take(2, 'PCK chain type')).getUint16(0, true);
  if (innerType !== CERT_DATA_PCK_CHAIN) fail(`inner certification data type ${innerType}, expected ${CERT_DATA_PCK_CHAIN} (PCK chain)`);
  const pemSize = view(take(4, 'PCK chain size')).getUint32(0, true);
  if (p + pemSize !== sigEnd) fail(`PCK chain size ${pemSize} disagrees with the signature data length`);
  const pckChainPem = take(pemSize, 'PCK chain');
  return {
    version,
    signed,
    qeVendorId,
    qeSvn: v.getUint16(8, true),
    pceSvn: v.getUint16(10, true),
    body: parseTdBody(q.subarray(bodyOff, bodyOff + BODY_V4_SIZE)),
    signature,
    attestationKey,
    qeReport: parseEnclaveReport(qeReportRaw),
    qeReportSignature,
    qeAuthData,
    pckChainPem,
  };
}

const u16 = (x: number, what: string) => {
  if (x > 0xffff) throw new Error(`${what} ${x} does not fit 16 bits`);
  const b = new Uint8Array(2);
  view(b).setUint16(0, x, true);
  return b;
};
const u32 = (x: number) => {
  const b = new Uint8Array(4);
  view(b).setUint32(0, x, true);
  return b;
};

/** Rebuilds the raw v4 quote from the protobuf message (sizes as the message states). */
export function quoteV4ToRaw(m: QuoteV4): Uint8Array {
  try {
    const h = m.header;
    const b = m.tdQuoteBody;
    const sd = m.signedData;
    const qe = sd?.certificationData?.qeReportCertificationData;
    const r = qe?.qeReport;
    if (!h || !b || !sd || !sd.certificationData || !qe || !r || !qe.qeAuthData || !qe.pckCertificateChainData) throw new Error('a required message is absent');
    const header = concat(u16(h.version, 'version'), u16(h.attestationKeyType, 'attestation_key_type'), u32(h.teeType), fixed(h.qeSvn, 2, 'qe_svn'), fixed(h.pceSvn, 2, 'pce_svn'), fixed(h.qeVendorId, 16, 'qe_vendor_id'), fixed(h.userData, 20, 'user_data'));
    if (b.rtmrs.length !== 4) throw new Error(`rtmrs must hold 4 entries, got ${b.rtmrs.length}`);
    const body = concat(
      fixed(b.teeTcbSvn, 16, 'tee_tcb_svn'),
      fixed(b.mrSeam, 48, 'mr_seam'),
      fixed(b.mrSignerSeam, 48, 'mr_signer_seam'),
      fixed(b.seamAttributes, 8, 'seam_attributes'),
      fixed(b.tdAttributes, 8, 'td_attributes'),
      fixed(b.xfam, 8, 'xfam'),
      fixed(b.mrTd, 48, 'mr_td'),
      fixed(b.mrConfigId, 48, 'mr_config_id'),
      fixed(b.mrOwner, 48, 'mr_owner'),
      fixed(b.mrOwnerConfig, 48, 'mr_owner_config'),
      ...b.rtmrs.map((x, i) => fixed(x, 48, `rtmrs[${i}]`)),
      fixed(b.reportData, 64, 'report_data'),
    );
    const enclave = concat(
      fixed(r.cpuSvn, 16, 'cpu_svn'),
      u32(r.miscSelect),
      fixed(r.reserved1, 28, 'reserved1'),
      fixed(r.attributes, 16, 'attributes'),
      fixed(r.mrEnclave, 32, 'mr_enclave'),
      fixed(r.reserved2, 32, 'reserved2'),
      fixed(r.mrSigner, 32, 'mr_signer'),
      fixed(r.reserved3, 96, 'reserved3'),
      u16(r.isvProdId, 'isv_prod_id'),
      u16(r.isvSvn, 'isv_svn'),
      fixed(r.reserved4, 60, 'reserved4'),
      fixed(r.reportData, 64, 'report_data'),
    );
    const pck = qe.pckCertificateChainData;
    const cert = concat(
      enclave,
      fixed(qe.qeReportSignature, 64, 'qe_report_signature'),
      u16(qe.qeAuthData.parsedDataSize, 'parsed_data_size'),
      qe.qeAuthData.data,
      u16(pck.certificateDataType, 'certificate_data_type'),
      u32(pck.size),
      pck.pckCertChain,
    );
    const signedData = concat(fixed(sd.signature, 64, 'signature'), fixed(sd.ecdsaAttestationKey, 64, 'ecdsa_attestation_key'), u16(sd.certificationData.certificateDataType, 'certificate_data_type'), u32(sd.certificationData.size), cert);
    return concat(header, body, u32(m.signedDataSize), signedData, m.extraBytes);
  } catch (err) {
    if (err instanceof AttestationError) throw err;
    fail((err as Error).message);
  }
}

export interface TdxEvidence {
  raw: Uint8Array;
  quote: TdxQuote;
  /** Collateral documents appended by Contrast (trailer field 65535), unverified bytes. */
  trailer: Uint8Array[];
}

/** Decodes the extension value (protobuf `tdx.QuoteV4`) into the raw quote and its parse. */
export function decodeTdxEvidence(ext: Uint8Array): TdxEvidence {
  let msg: QuoteV4;
  try {
    msg = fromBinary(QuoteV4Schema, ext);
  } catch (err) {
    fail(`extension is not a tdx.QuoteV4 protobuf: ${(err as Error).message}`);
  }
  const raw = quoteV4ToRaw(msg);
  const quote = parseTdxQuote(raw);
  if (quote.version !== 4) fail(`the QuoteV4 message carries a version ${quote.version} header`);
  return { raw, quote, trailer: msg.trailer.map((t) => t.collateral) };
}
