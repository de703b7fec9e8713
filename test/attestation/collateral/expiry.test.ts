import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  collateralFile,
  parseCollateralFile,
  type CollateralKey,
} from '../../../lambda/attestation/collateral/sources.ts';
import {
  certificateNotAfter,
  collateralExpiry,
  crlNextUpdate,
  crlWindow,
  expiresWithin,
  qeIdentityNextUpdate,
  tcbInfoNextUpdate,
} from '../../../lambda/attestation/collateral/expiry.ts';
import { InputError } from '../../../lambda/shared/errors.ts';
import { snpTestChain } from '../../../testing/evidence/index.ts';
import { toPem } from '../../../testing/evidence/certs.ts';
import { TESTDATA } from '../vectors.ts';

const intel = (file: string) => new Uint8Array(readFileSync(path.join(TESTDATA, 'tdx', 'collateral', file)));
const iso = (d: Date | undefined) => d?.toISOString();

describe('expiry of genuine Intel PCS collateral', () => {
  it('TCB Info v3: its nextUpdate (the issuer chain lives longer)', () => {
    expect(iso(tcbInfoNextUpdate(intel('sample_tcbInfo_response')))).toBe('2023-07-18T08:42:58.000Z');
    const e = collateralExpiry(
      { kind: 'tdx-tcb-info', fmspc: '50806f000000' },
      { body: intel('sample_tcbInfo_response'), issuerChain: intel('tcbinfo.issuer-chain.pem') },
    );
    expect(iso(e.expiresAt)).toBe('2023-07-18T08:42:58.000Z');
    expect(e.limitedBy).toBe('TCB Info nextUpdate');
    expect(iso(e.issuedAt)).toBe('2023-06-18T08:42:58.000Z');
    expect(e.evaluationDataNumber).toBe(15);
    expect(e.parts.map((p) => [p.what, iso(p.at)])).toEqual([
      ['TCB Info nextUpdate', '2023-07-18T08:42:58.000Z'],
      ['TCB Info signing certificate notAfter', '2025-05-21T10:50:10.000Z'],
      ['Intel SGX Root CA notAfter', '2049-12-31T23:59:59.000Z'],
    ]);
  });

  it('TCB Info with tdxModuleIdentities: limited by its signing certificate, which expires before nextUpdate', () => {
    const e = collateralExpiry(
      { kind: 'tdx-tcb-info', fmspc: '90c06f000000' },
      { body: intel('sample_tcbinfo_response_v5'), issuerChain: intel('tcbinfo.issuer-chain.pem') },
    );
    expect(iso(e.expiresAt)).toBe('2025-05-21T10:50:10.000Z');
    expect(e.limitedBy).toBe('TCB Info signing certificate notAfter');
    expect(iso(e.parts[0]!.at)).toBe('2026-03-03T14:49:26.000Z');
    expect(e.evaluationDataNumber).toBe(18);
  });

  it('QE Identity: its nextUpdate', () => {
    expect(iso(qeIdentityNextUpdate(intel('sample_qeIdentity_response')))).toBe('2023-07-08T07:24:59.000Z');
    const e = collateralExpiry(
      { kind: 'tdx-qe-identity' },
      { body: intel('sample_qeIdentity_response'), issuerChain: intel('qeidentity.issuer-chain.pem') },
    );
    expect(iso(e.expiresAt)).toBe('2023-07-08T07:24:59.000Z');
    expect(e.limitedBy).toBe('QE Identity nextUpdate');
  });

  it('CRLs (DER) and certificates (PEM)', () => {
    expect(iso(crlNextUpdate(intel('pckcrl')))).toBe('2023-07-08T07:27:52.000Z');
    expect(iso(crlWindow(intel('rootcrl.der')).thisUpdate)).toBe('2023-04-03T10:22:51.000Z');
    expect(iso(crlNextUpdate(intel('rootcrl.der')))).toBe('2024-04-02T10:22:51.000Z');
    expect(
      iso(certificateNotAfter(new Uint8Array(readFileSync(path.join(TESTDATA, 'tdx', 'intel-sgx-root-ca.pem'))))),
    ).toBe('2049-12-31T23:59:59.000Z');
  });

  it('expiresWithin: expired, inside the window, outside it', () => {
    const e = { expiresAt: new Date('2023-07-18T08:42:58Z') };
    const day = 86_400_000;
    expect(expiresWithin(e, new Date('2023-08-01T00:00:00Z'), 7 * day)).toBe(true);
    expect(expiresWithin(e, new Date('2023-07-12T00:00:00Z'), 7 * day)).toBe(true);
    expect(expiresWithin(e, new Date('2023-07-01T00:00:00Z'), 7 * day)).toBe(false);
    expect(expiresWithin({ expiresAt: undefined }, new Date(), 7 * day)).toBe(false);
  });

  it('malformed bytes fail naming the document and what to do', () => {
    const key: CollateralKey = { kind: 'tdx-qe-identity' };
    const err = (() => {
      try {
        collateralExpiry(key, { body: new Uint8Array(Buffer.from('{"enclaveIdentity":{"nextUpdate":"soon"}}')) });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(
      /tdx\/certification\/v4\/qe\/identity .*TD QE Identity.*not an ISO date.*enroll --collateral DIR/,
    );
  });
});

describe('expiry of SNP collateral', () => {
  const c = snpTestChain();
  it('VCEK notAfter, chain: the earlier of ASK and ARK, CRL nextUpdate', () => {
    expect(
      iso(
        collateralExpiry({ kind: 'snp-vcek', product: 'Milan', chipId: 'ab', tcbQuery: 'blSPL=3' }, { body: c.vcekDer })
          .expiresAt,
      ),
    ).toBe('2045-01-01T00:00:00.000Z');
    const chain = collateralExpiry(
      { kind: 'snp-cert-chain', product: 'Milan', signer: 'vcek' },
      { body: new Uint8Array(Buffer.from(toPem(c.askDer) + toPem(c.arkDer))) },
    );
    expect(chain.parts.map((p) => p.what)).toEqual(['ASK notAfter', 'ARK notAfter']);
    expect(iso(chain.expiresAt)).toBe('2045-01-01T00:00:00.000Z');
    const crl = collateralExpiry({ kind: 'snp-crl', product: 'Milan' }, { body: c.crlDer });
    expect(crl.limitedBy).toBe('CRL nextUpdate');
    expect(iso(crl.issuedAt)).toBe('2020-01-02T00:00:00.000Z');
  });
});

describe('cache file names map back to their keys', () => {
  const keys: CollateralKey[] = [
    { kind: 'snp-vcek', product: 'Milan', chipId: 'ab'.repeat(64), tcbQuery: 'blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115' },
    {
      kind: 'snp-vcek',
      product: 'Turin',
      chipId: '01'.repeat(8),
      tcbQuery: 'fmcSPL=1&blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115',
    },
    { kind: 'snp-cert-chain', product: 'Genoa', signer: 'vcek' },
    { kind: 'snp-cert-chain', product: 'Milan', signer: 'vlek' },
    { kind: 'snp-crl', product: 'Genoa' },
    { kind: 'tdx-tcb-info', fmspc: '50806f000000' },
    { kind: 'tdx-qe-identity' },
    { kind: 'tdx-pck-crl', ca: 'platform' },
    { kind: 'tdx-pck-crl', ca: 'processor' },
    { kind: 'tdx-root-crl' },
  ];
  it.each(keys.map((k) => [collateralFile(k), k] as const))('%s', (file, key) => {
    expect(parseCollateralFile(file)).toEqual(key);
  });
  it.each([
    'pckcrl',
    'sgx/certification/v4/pckcrl_ca_other_encoding_der',
    'sgx/certification/v4/pckcrl_ca_platform_encoding_pem',
    'tdx/certification/v4/tcb_fmspc_50806f000000.issuer-chain.pem',
    'vcek/v1/Rome/crl',
    'vcek/v1/Milan/cert_chain_x',
    'vcek/v1/Milan/zz_blSPL_3',
    '../vcek/v1/Milan/crl',
    'tdx/certification/v4/tcb_fmspc_50806f',
  ])('refuses %s', (file) => {
    expect(parseCollateralFile(file)).toBeUndefined();
  });
});
