/**
 * The abi modules own one layout per TEE in both directions (go-sev-guest abi
 * ReportToProto/ReportToAbiBytes, go-tdx-guest abi QuoteToProto/QuoteToAbiBytes): parsing
 * what they serialise gives the same message, serialising what they parse gives the same
 * bytes — for every genuine vector, for the test evidence, and for arbitrary reports.
 */
import { create, equals, toBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReportSchema, type Report } from '../../lambda/gen/sevsnp/sevsnp_pb.ts';
import {
  CertificationDataSchema,
  Ecdsa256BitQuoteV4AuthDataSchema,
  EnclaveReportSchema,
  HeaderSchema,
  PCKCertificateChainDataSchema,
  QEReportCertificationDataSchema,
  QeAuthDataSchema,
  QuoteV4Schema,
  QuoteV5Schema,
  TDQuoteBodyDescriptorSchema,
  TDQuoteBodySchema,
  TDQuoteBodyV5Schema,
} from '../../lambda/gen/tdx/tdx_pb.ts';
import {
  decodeSnpAttestation,
  fmsFromCpuid1Eax,
  fmsToCpuid1Eax,
  reportSignature,
  reportToAbiBytes,
  reportToProto,
  setSignature,
  signedComponent as snpSignedComponent,
} from '../../lambda/attestation/snp/abi.ts';
import {
  decodeTdxEvidence,
  quoteToAbiBytes,
  quoteToProto,
  signedComponent as tdxSignedComponent,
  type Quote,
} from '../../lambda/attestation/tdx/abi.ts';
import { makeSnpEvidence, makeSnpReport, makeTdxQuoteMessage } from '../../testing/evidence/index.ts';
import { read, vectors } from './vectors.ts';

const reportData = new Uint8Array(64).fill(0x5a);
const sameQuote = (a: Quote, b: Quote) =>
  a.$typeName === b.$typeName &&
  (a.$typeName === 'tdx.QuoteV4' ? equals(QuoteV4Schema, a, b as typeof a) : equals(QuoteV5Schema, a, b as typeof a));

describe('SEV-SNP report abi', () => {
  const files = [...new Set(vectors.snp.map((v) => v.report))];

  it.each(files)('%s: serialise(parse(bytes)) is the bytes, parse(serialise(m)) is m', (file) => {
    const bytes = read(file);
    const m = reportToProto(bytes);
    expect(Buffer.from(reportToAbiBytes(m))).toEqual(Buffer.from(bytes));
    expect(equals(ReportSchema, reportToProto(reportToAbiBytes(m)), m)).toBe(true);
  });

  it.each([
    ['v2 Milan', { version: 2 }],
    ['v3 Milan', { version: 3 }],
    [
      'v5 Turin with mitigation vectors',
      { version: 5, product: 'Turin' as const, launchMitVector: 3n, currentMitVector: 7n },
    ],
  ])('the test evidence (%s) round-trips and carries the message it was built from', (_, opts) => {
    const m = makeSnpReport({ reportData, ...opts });
    expect(equals(ReportSchema, reportToProto(reportToAbiBytes(m)), m)).toBe(true);
    const evidence = decodeSnpAttestation(makeSnpEvidence({ reportData, ...opts }));
    expect(Buffer.from(evidence.raw)).toEqual(Buffer.from(reportToAbiBytes(evidence.report)));
    expect(evidence.report.version).toBe(m.version);
  });

  it('signs what go-sev-guest signs: the 0x2A0 bytes before the signature; R and S little-endian in 72-byte fields', () => {
    const m = makeSnpReport({ reportData });
    const raw = reportToAbiBytes(m);
    expect(snpSignedComponent(raw)).toEqual(raw.subarray(0, 0x2a0));
    const p1363 = new Uint8Array(96).map((_, i) => i + 1);
    setSignature(m, p1363);
    expect(m.signature.length).toBe(0x200);
    expect(m.signature[0]).toBe(48); // R's lowest byte first
    expect(m.signature[0x48]).toBe(96); // S at 0x48
    expect(reportSignature(m)).toEqual(p1363);
  });

  it('CPUID(1).EAX as go-sev-guest encodes it: Milan 0x00A00F11, Genoa 0x00A10F11, Turin 0x00B00F20', () => {
    expect(fmsToCpuid1Eax(0x19, 0x01, 0x01)).toBe(0x00a00f11);
    expect(fmsToCpuid1Eax(0x19, 0x11, 0x01)).toBe(0x00a10f11);
    expect(fmsToCpuid1Eax(0x1a, 0x02, 0x00)).toBe(0x00b00f20);
    expect(fmsFromCpuid1Eax(0x00a10f11)).toEqual({ family: 0x19, model: 0x11, stepping: 1 });
  });

  it('property: any well-formed report round-trips both ways', () => {
    const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
    const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
    const u32 = fc.integer({ min: 0, max: 0xffffffff });
    const u8 = fc.integer({ min: 0, max: 0xff });
    const report = fc
      .record({
        version: fc.integer({ min: 2, max: 5 }),
        guestSvn: u32,
        policy: u64,
        familyId: bytes(16),
        imageId: bytes(16),
        vmpl: u32,
        signatureAlgo: u32,
        currentTcb: u64,
        platformInfo: u64,
        signerInfo: fc.integer({ min: 0, max: 7 }),
        reportData: bytes(64),
        measurement: bytes(48),
        hostData: bytes(32),
        idKeyDigest: bytes(48),
        authorKeyDigest: bytes(48),
        reportId: bytes(32),
        reportIdMa: bytes(32),
        reportedTcb: u64,
        fms: fc.tuple(u8, u8, fc.integer({ min: 0, max: 15 })),
        chipId: bytes(64),
        committedTcb: u64,
        firmware: fc.tuple(u8, u8, u8, u8, u8, u8),
        launchTcb: u64,
        mit: fc.tuple(u64, u64),
        signature: bytes(96),
      })
      .map(({ fms, firmware, mit, signature, ...f }) => {
        const m = reportToProto(
          reportToAbiBytes({
            ...f,
            $typeName: 'sevsnp.Report',
            cpuid1eaxFms: f.version >= 3 ? fmsToCpuid1Eax(...fms) : 0,
            currentBuild: firmware[0],
            currentMinor: firmware[1],
            currentMajor: firmware[2],
            committedBuild: firmware[3],
            committedMinor: firmware[4],
            committedMajor: firmware[5],
            launchMitVector: f.version >= 5 ? mit[0] : 0n,
            currentMitVector: f.version >= 5 ? mit[1] : 0n,
            signature: new Uint8Array(0x200),
          } as Report),
        );
        setSignature(m, signature);
        return m;
      });
    fc.assert(
      fc.property(report, (m) => {
        const raw = reportToAbiBytes(m);
        expect(equals(ReportSchema, reportToProto(raw), m)).toBe(true);
        expect(Buffer.from(reportToAbiBytes(reportToProto(raw)))).toEqual(Buffer.from(raw));
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a report whose layout it does not know, by name', () => {
    const raw = reportToAbiBytes(makeSnpReport({ reportData }));
    const bad = raw.slice();
    bad[0x4c] = 1;
    expect(() => reportToProto(bad)).toThrow(/reserved bytes 0x4c\.\.0x4f \(after SIGNER_INFO\) must be zero/);
    expect(() => reportToProto(raw.subarray(1))).toThrow(/expected 1184 bytes, got 1183/);
    expect(() => reportToAbiBytes({ ...makeSnpReport({ reportData }), currentBuild: 256 })).toThrow(
      /current_build 256 does not fit one byte/,
    );
  });
});

describe('TDX quote abi', () => {
  it.each(vectors.tdx.map((v) => [v.quote, v.quoteVersion] as const))(
    '%s (v%d): serialise(parse(bytes)) is the bytes, parse(serialise(m)) is m',
    (file, version) => {
      const bytes = read(file);
      const m = quoteToProto(bytes);
      expect(m.header?.version).toBe(version);
      expect(m.$typeName).toBe(version === 4 ? 'tdx.QuoteV4' : 'tdx.QuoteV5');
      expect(Buffer.from(quoteToAbiBytes(m))).toEqual(Buffer.from(bytes));
      expect(sameQuote(quoteToProto(quoteToAbiBytes(m)), m)).toBe(true);
    },
  );

  it('the signed component of a genuine quote is its header and body (v5: with the body descriptor)', () => {
    for (const v of vectors.tdx) {
      const bytes = read(v.quote);
      const m = quoteToProto(bytes);
      const bodyEnd = m.$typeName === 'tdx.QuoteV4' ? 48 + 584 : 48 + 6 + m.tdQuoteBodyDescriptor!.tdQuoteBodySize;
      expect(Buffer.from(tdxSignedComponent(m)), v.quote).toEqual(Buffer.from(bytes.subarray(0, bodyEnd)));
    }
  });

  it('the test evidence round-trips and the extension carries the message it was built from', () => {
    const m = makeTdxQuoteMessage({ reportData, qeSvn: 7, pceSvn: 13 });
    // go-tdx-guest's header layout: pce_svn at bytes 8..9, qe_svn at 10..11.
    expect([...quoteToAbiBytes(m).subarray(8, 12)]).toEqual([13, 0, 7, 0]);
    expect(sameQuote(quoteToProto(quoteToAbiBytes(m)), m)).toBe(true);
    expect(sameQuote(decodeTdxEvidence(toBinary(QuoteV4Schema, m)).quote, m)).toBe(true);
  });

  it('property: any well-formed v4 or v5 quote round-trips both ways', () => {
    const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
    const u16 = fc.integer({ min: 0, max: 0xffff });
    const body = {
      teeTcbSvn: bytes(16),
      mrSeam: bytes(48),
      mrSignerSeam: bytes(48),
      seamAttributes: bytes(8),
      tdAttributes: bytes(8),
      xfam: bytes(8),
      mrTd: bytes(48),
      mrConfigId: bytes(48),
      mrOwner: bytes(48),
      mrOwnerConfig: bytes(48),
      rtmrs: fc.array(bytes(48), { minLength: 4, maxLength: 4 }),
      reportData: bytes(64),
    };
    const quote = fc
      .record({
        version: fc.constantFrom(4, 5),
        bodyType: fc.constantFrom(2, 3),
        header: fc.record({ qeSvn: bytes(2), pceSvn: bytes(2), qeVendorId: bytes(16), userData: bytes(20) }),
        body: fc.record(body),
        tdx15: fc.record({ teeTcbSvn2: bytes(16), mrServiceTd: bytes(48) }),
        signature: bytes(64),
        ecdsaAttestationKey: bytes(64),
        qeReport: fc.record({
          cpuSvn: bytes(16),
          miscSelect: fc.integer({ min: 0, max: 0xffffffff }),
          reserved1: bytes(28),
          attributes: bytes(16),
          mrEnclave: bytes(32),
          reserved2: bytes(32),
          mrSigner: bytes(32),
          reserved3: bytes(96),
          isvProdId: u16,
          isvSvn: u16,
          reserved4: bytes(60),
          reportData: bytes(64),
        }),
        qeReportSignature: bytes(64),
        auth: fc.uint8Array({ maxLength: 64 }),
        pem: fc.uint8Array({ maxLength: 300 }),
        extraBytes: fc.uint8Array({ maxLength: 16 }),
      })
      .map((f) => {
        const certSize = 384 + 64 + 2 + f.auth.length + 2 + 4 + f.pem.length;
        const signedData = create(Ecdsa256BitQuoteV4AuthDataSchema, {
          signature: f.signature,
          ecdsaAttestationKey: f.ecdsaAttestationKey,
          certificationData: create(CertificationDataSchema, {
            certificateDataType: 6,
            size: certSize,
            qeReportCertificationData: create(QEReportCertificationDataSchema, {
              qeReport: create(EnclaveReportSchema, f.qeReport),
              qeReportSignature: f.qeReportSignature,
              qeAuthData: create(QeAuthDataSchema, { parsedDataSize: f.auth.length, data: f.auth }),
              pckCertificateChainData: create(PCKCertificateChainDataSchema, {
                certificateDataType: 5,
                size: f.pem.length,
                pckCertChain: f.pem,
              }),
            }),
          }),
        });
        const header = create(HeaderSchema, { version: f.version, attestationKeyType: 2, teeType: 0x81, ...f.header });
        const common = { header, signedDataSize: 64 + 64 + 2 + 4 + certSize, signedData, extraBytes: f.extraBytes };
        if (f.version === 4)
          return create(QuoteV4Schema, { ...common, tdQuoteBody: create(TDQuoteBodySchema, f.body) }) as Quote;
        const v5Body = create(TDQuoteBodyV5Schema, { ...f.body, ...(f.bodyType === 3 ? f.tdx15 : {}) });
        return create(QuoteV5Schema, {
          ...common,
          tdQuoteBodyDescriptor: create(TDQuoteBodyDescriptorSchema, {
            tdQuoteBodyType: f.bodyType,
            tdQuoteBodySize: f.bodyType === 3 ? 648 : 584,
            tdQuoteBodyV5: v5Body,
          }),
        }) as Quote;
      });
    fc.assert(
      fc.property(quote, (m) => {
        const raw = quoteToAbiBytes(m);
        expect(sameQuote(quoteToProto(raw), m)).toBe(true);
        expect(Buffer.from(quoteToAbiBytes(quoteToProto(raw)))).toEqual(Buffer.from(raw));
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a quote whose layout it does not know, by name', () => {
    const raw = quoteToAbiBytes(makeTdxQuoteMessage({ reportData }));
    const bad = raw.slice();
    bad[0] = 3;
    expect(() => quoteToProto(bad)).toThrow(/version 3 is not supported/);
    expect(() => quoteToProto(raw.subarray(0, raw.length - 1))).toThrow(/overruns the quote/);
    const m = makeTdxQuoteMessage({ reportData });
    m.tdQuoteBody!.rtmrs.pop();
    expect(() => quoteToAbiBytes(m)).toThrow(/rtmrs must hold 4 entries, got 3/);
  });
});
