/**
 * snp-verify / tdx-verify: median ms per verification of each genuine vector (the project's
 * full path: parsing, chain, signatures, extension checks), each beside a floor from the same
 * run: node:crypto alone parsing the same certificates and checking the same signatures.
 */
import { X509Certificate, createHash, createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifySnpFiles, verifyTdxFile } from '../lambda/attestation/offline.ts';
import { PINNED_ROOTS } from '../lambda/attestation/roots.ts';
import { enclaveReportToAbiBytes, quoteParts, quoteToProto, signedComponent } from '../lambda/attestation/tdx/abi.ts';
import { timeInterleaved, type Benchmark, type Figure } from './harness.ts';

const TESTDATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'attestation');
const RUNS = 60;
// Enough rounds for V8 to optimise both paths before timing, also when a group runs alone.
const WARMUP = 30;
const NOTE = 'target ≤ 1.5 × floor';

interface Vectors {
  snp: {
    report: string;
    signer: string;
    roots: string;
    product: 'Milan' | 'Genoa';
    validAt: string;
    expect: { chain: string; signature?: string };
  }[];
  tdx: { quote: string; validAt: string }[];
}

const read = (rel: string) => readFileSync(path.join(TESTDATA, rel));
const name = (rel: string) => path.basename(rel).replace(/\..*$/, '');
const pems = (text: string) =>
  [...text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map((m) => m[0]);

function leToBe(b: Buffer): Buffer {
  return Buffer.from(b.subarray(0, 48)).reverse();
}

async function snpFigures(v: Vectors): Promise<Figure[]> {
  const out: Figure[] = [];
  for (const e of v.snp.filter((x) => x.expect.chain === 'valid' && x.expect.signature === 'valid')) {
    const files = {
      report: new Uint8Array(read(e.report)),
      signer: new Uint8Array(read(e.signer)),
      chain: new Uint8Array(read(e.roots)),
      product: e.product,
    };
    const now = new Date(e.validAt);
    const chainPems = pems(read(e.roots).toString('latin1'));
    const signer = read(e.signer);
    const report = read(e.report);
    const ours = async () => {
      const r = await verifySnpFiles(files, { trust: PINNED_ROOTS, now });
      if (r.verdict === 'failed') throw new Error(`bench vector failed: ${r.error?.message}`);
    };
    const floor = async () => {
      const leaf = new X509Certificate(signer);
      const ask = new X509Certificate(chainPems[0]!);
      const ark = new X509Certificate(chainPems[1]!);
      const sig = Buffer.concat([leToBe(report.subarray(0x2a0, 0x2e8)), leToBe(report.subarray(0x2e8, 0x330))]);
      if (!ark.verify(ark.publicKey) || !ask.verify(ark.publicKey) || !leaf.verify(ask.publicKey))
        throw new Error('floor chain');
      if (!verify('sha384', report.subarray(0, 0x2a0), { key: leaf.publicKey, dsaEncoding: 'ieee-p1363' }, sig))
        throw new Error('floor sig');
    };
    const [value, fl] = await timeInterleaved(ours, floor, RUNS, WARMUP);
    out.push({
      name: `snp-verify:${name(e.report)}${e.signer.includes('vlek') && !name(e.report).includes('vlek') ? '-vlek' : ''}`,
      value,
      unit: 'ms',
      floor: fl,
      note: NOTE,
    });
  }
  return out;
}

async function tdxFigures(v: Vectors): Promise<Figure[]> {
  const out: Figure[] = [];
  for (const e of v.tdx) {
    const raw = new Uint8Array(read(e.quote));
    const now = new Date(e.validAt);
    const quote = quoteToProto(raw);
    const q = quoteParts(quote);
    const chainPems = pems(Buffer.from(q.pckChain.pckCertChain).toString('latin1'));
    const signed = Buffer.from(signedComponent(quote));
    const ak = Buffer.from(q.signedData.ecdsaAttestationKey);
    const qeReport = enclaveReportToAbiBytes(q.qeReport);
    const ours = async () => {
      const r = await verifyTdxFile(raw, { trust: PINNED_ROOTS, now });
      if (r.verdict === 'failed') throw new Error(`bench vector failed: ${r.error?.message}`);
    };
    const floor = async () => {
      const pck = new X509Certificate(chainPems[0]!);
      const inter = new X509Certificate(chainPems[1]!);
      const root = new X509Certificate(chainPems[2]!);
      if (!root.verify(root.publicKey) || !inter.verify(root.publicKey) || !pck.verify(inter.publicKey))
        throw new Error('floor chain');
      if (!verify('sha256', qeReport, { key: pck.publicKey, dsaEncoding: 'ieee-p1363' }, q.qe.qeReportSignature))
        throw new Error('floor QE');
      createHash('sha256').update(ak).update(q.qeAuthData.data).digest();
      const key = createPublicKey({
        key: {
          kty: 'EC',
          crv: 'P-256',
          x: ak.subarray(0, 32).toString('base64url'),
          y: ak.subarray(32).toString('base64url'),
        },
        format: 'jwk',
      });
      if (!verify('sha256', signed, { key, dsaEncoding: 'ieee-p1363' }, q.signedData.signature))
        throw new Error('floor quote');
    };
    const [value, fl] = await timeInterleaved(ours, floor, RUNS, WARMUP);
    out.push({ name: `tdx-verify:${name(e.quote)}`, value, unit: 'ms', floor: fl, note: NOTE });
  }
  return out;
}

const load = (): Vectors => JSON.parse(read('vectors.json').toString('utf8')) as Vectors;

export const benchmarks: Benchmark[] = [
  { group: 'snp-verify', run: () => snpFigures(load()) },
  { group: 'tdx-verify', run: () => tdxFigures(load()) },
];
