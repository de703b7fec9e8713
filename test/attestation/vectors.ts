/** Loads the genuine evidence vectors kept in test/fixtures/attestation (see the README there). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TESTDATA = path.resolve(REPO_ROOT, 'test', 'fixtures', 'attestation');

export interface SnpVector {
  report: string;
  signer: string;
  roots: string;
  product: 'Milan' | 'Genoa';
  validAt: string;
  expect: { signature?: string; chain: string };
}
export interface TdxVector {
  quote: string;
  quoteVersion: number;
  validAt: string;
  expect: { signature: string; chain: string; tcbStatus: string };
}

export const vectors = JSON.parse(readFileSync(path.join(TESTDATA, 'vectors.json'), 'utf8')) as {
  snp: SnpVector[];
  tdx: TdxVector[];
  tdxCollateral: { files: { file: string; evaluateAt?: string; matches?: string[] }[] };
};

export const read = (rel: string) => new Uint8Array(readFileSync(path.join(TESTDATA, rel)));
