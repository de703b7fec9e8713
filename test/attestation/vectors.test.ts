import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryCollateral } from '../../lambda/attestation/collateral/sources.ts';
import { verifySnpFiles, verifyTdxFile } from '../../lambda/attestation/offline.ts';
import { PINNED_ROOTS } from '../../lambda/attestation/roots.ts';
import { quoteParts, quoteToProto } from '../../lambda/attestation/tdx/abi.ts';
import { parseQeIdentity, parseTcbInfo, tdxTcbStatus } from '../../lambda/attestation/tdx/pcs.ts';
import { parsePckExtensions } from '../../lambda/attestation/tdx/pck.ts';
import { Cert, pemBlocks } from '../../lambda/attestation/x509.ts';
import { parseManifest } from '../../lambda/coordinator/manifest.ts';
import { REPO_ROOT, read, vectors } from './vectors.ts';

const statusOf = (checks: { check: string; status: string }[], name: string) =>
  checks.find((c) => c.check === name)?.status;
const valid = (s: string | undefined) => s === 'valid';

describe('genuine SEV-SNP vectors', () => {
  for (const v of vectors.snp) {
    it(`${v.report} with ${v.signer}: chain ${v.expect.chain}, signature ${v.expect.signature ?? '(either)'}`, async () => {
      const r = await verifySnpFiles(
        { report: read(v.report), signer: read(v.signer), chain: read(v.roots), product: v.product },
        { trust: PINNED_ROOTS, now: new Date(v.validAt) },
      );
      if (valid(v.expect.chain) && valid(v.expect.signature)) {
        expect(r.error?.message).toBeUndefined();
        expect(statusOf(r.checks, 'snp.chain')).toBe('pass');
        expect(statusOf(r.checks, 'snp.signature')).toBe('pass');
        expect(r.verdict).toBe('incomplete'); // no manifest, no CRL
      } else {
        expect(r.verdict).toBe('failed');
        expect(['snp.chain', 'snp.signature']).toContain(r.error?.check);
      }
    });
  }

  it('refuses the VLEK vector after its certificate expired', async () => {
    const v = vectors.snp.find((x) => x.signer.includes('vlek'))!;
    const r = await verifySnpFiles(
      { report: read(v.report), signer: read(v.signer), chain: read(v.roots) },
      { trust: PINNED_ROOTS, now: new Date('2026-01-01T00:00:00Z') },
    );
    expect(r.error?.check).toBe('snp.chain');
    expect(r.error?.message).toMatch(/not valid at 2026-01-01/);
  });

  it('refuses a genuine chain when its ARK is not pinned', async () => {
    const v = vectors.snp[0]!;
    const r = await verifySnpFiles(
      { report: read(v.report), signer: read(v.signer), chain: read(v.roots) },
      {
        trust: { ...PINNED_ROOTS, amdArk: { Milan: ['00'.repeat(32)], Genoa: [], Turin: [] } },
        now: new Date(v.validAt),
      },
    );
    expect(r.error?.check).toBe('snp.chain');
    expect(r.error?.message).toMatch(/not the pinned AMD root for Milan/);
  });

  it('refuses a certificate PEM whose base64 padding bits were flipped (same DER, different text)', async () => {
    // The property below once found this: "…7PA==" → "…7PC==" decodes to the same DER.
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const v = vectors.snp.find((x) => Buffer.from(read(x.signer)).toString('latin1').includes('==\n-----END'))!;
    const text = Buffer.from(read(v.signer)).toString('latin1');
    const at = text.indexOf('==\n-----END') - 1; // before '==' only 2 of the 6 bits are data
    const flipped = text.slice(0, at) + ALPHABET[ALPHABET.indexOf(text[at]!) ^ 1] + text.slice(at + 1);
    expect(Buffer.from(flipped.replace(/-----[A-Z ]+-----|\n/g, ''), 'base64')).toEqual(
      Buffer.from(pemBlocks(read(v.signer))[0]!),
    );
    expect(() => pemBlocks(flipped)).toThrow(/non-canonical base64/);
    const r = await verifySnpFiles(
      { report: read(v.report), signer: new Uint8Array(Buffer.from(flipped, 'latin1')), chain: read(v.roots) },
      { trust: PINNED_ROOTS, now: new Date(v.validAt) },
    );
    expect(r.verdict).toBe('failed');
    expect(r.error?.message).toMatch(/non-canonical base64/);
  });

  const good = vectors.snp.filter((v) => valid(v.expect.chain) && valid(v.expect.signature));
  for (const v of good) {
    it(`property: one flipped bit in ${v.report} / its certificates fails`, async () => {
      const files = { report: read(v.report), signer: read(v.signer), chain: read(v.roots) };
      const targets = ['report', 'signer', 'chain'] as const;
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...targets),
          fc.nat(),
          fc.integer({ min: 0, max: 7 }),
          async (target, pos, bit) => {
            const mutated = { ...files, [target]: files[target].slice() };
            const buf = mutated[target];
            buf[pos % buf.length]! ^= 1 << bit;
            const r = await verifySnpFiles(mutated, { trust: PINNED_ROOTS, now: new Date(v.validAt) });
            expect(r.verdict).toBe('failed');
          },
        ),
        { numRuns: 40 },
      );
    });
  }
});

describe('genuine TDX vectors', () => {
  for (const v of vectors.tdx) {
    it(`${v.quote}: signature and chain valid, TCB status not evaluable without collateral`, async () => {
      const r = await verifyTdxFile(read(v.quote), { trust: PINNED_ROOTS, now: new Date(v.validAt) });
      expect(r.error?.message).toBeUndefined();
      for (const c of ['tdx.chain', 'tdx.signature', 'tdx.qe-report-signature', 'tdx.qe-binding'])
        expect(statusOf(r.checks, c)).toBe('pass');
      expect(statusOf(r.checks, 'tdx.tcb-status')).toBe('not-evaluated');
      expect(r.verdict).toBe('incomplete');
      expect(quoteToProto(read(v.quote)).header?.version).toBe(v.quoteVersion);
    });

    it(`property: one flipped bit in the signed part, signature or certificates of ${v.quote} fails`, async () => {
      const quote = read(v.quote);
      // The signature data ends with the PCK chain; only padding follows (extra bytes).
      const end = quote.length - quoteToProto(quote).extraBytes.length;
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: end - 1 }), fc.integer({ min: 0, max: 7 }), async (pos, bit) => {
          const m = quote.slice();
          m[pos]! ^= 1 << bit;
          const r = await verifyTdxFile(m, { trust: PINNED_ROOTS, now: new Date(v.validAt) });
          expect(r.verdict).toBe('failed');
        }),
        { numRuns: 30 },
      );
    });
  }
});

describe('Intel PCS collateral vectors', () => {
  const dir = 'tdx/collateral/';
  const doc = (file: string, chain: string) => ({ body: read(dir + file), issuerChain: read(dir + chain) });
  const at = (file: string) => new Date(vectors.tdxCollateral.files.find((f) => f.file === file)!.evaluateAt!);

  it('accepts the v3 TCB Info at its evaluateAt and refuses it after nextUpdate', () => {
    const info = parseTcbInfo(
      doc('sample_tcbInfo_response', 'tcbinfo.issuer-chain.pem'),
      PINNED_ROOTS,
      at('sample_tcbInfo_response'),
    );
    expect(info.fmspc).toBe('50806f000000');
    expect(() =>
      parseTcbInfo(
        doc('sample_tcbInfo_response', 'tcbinfo.issuer-chain.pem'),
        PINNED_ROOTS,
        new Date('2023-08-01T00:00:00Z'),
      ),
    ).toThrow(/not current/);
  });

  it('refuses the TCB Info with tdxModuleIdentities: its issuer chain expired before it was issued', () => {
    expect(() =>
      parseTcbInfo(
        doc('sample_tcbinfo_response_v5', 'tcbinfo.issuer-chain.pem'),
        PINNED_ROOTS,
        at('sample_tcbinfo_response_v5'),
      ),
    ).toThrow(/TCB Info signing certificate is not valid at 2026-02-15/);
  });

  it('accepts the QE Identity inside its window', () => {
    const id = parseQeIdentity(
      doc('sample_qeIdentity_response', 'qeidentity.issuer-chain.pem'),
      PINNED_ROOTS,
      new Date('2023-07-01T00:00:00Z'),
    );
    expect(id.isvprodid).toBe(2);
  });

  it('refuses a TCB Info whose signed bytes were altered', () => {
    const d = doc('sample_tcbInfo_response', 'tcbinfo.issuer-chain.pem');
    const text = Buffer.from(d.body).toString('utf8').replace('"tcbStatus":"OutOfDate"', '"tcbStatus":"UpToDate"');
    expect(() =>
      parseTcbInfo({ ...d, body: new Uint8Array(Buffer.from(text)) }, PINNED_ROOTS, at('sample_tcbInfo_response')),
    ).toThrow(/signature does not verify/);
  });

  it("evaluates the TCB level of matching quotes with Intel's algorithm, tdxModuleIdentities included", () => {
    // The v5 document's signature verifies (only its issuer chain is stale), so its content is
    // used here to exercise the algorithm, not to accept evidence.
    const infoV3 = parseTcbInfo(
      doc('sample_tcbInfo_response', 'tcbinfo.issuer-chain.pem'),
      PINNED_ROOTS,
      at('sample_tcbInfo_response'),
    );
    const results: Record<string, string> = {};
    for (const f of vectors.tdxCollateral.files.filter((x) => x.matches)) {
      const info =
        f.file === 'sample_tcbInfo_response'
          ? infoV3
          : (JSON.parse(Buffer.from(read(dir + f.file)).toString()).tcbInfo as typeof infoV3);
      for (const qf of f.matches!) {
        const q = quoteParts(quoteToProto(read(qf)));
        const pck = parsePckExtensions(Cert.parse(pemBlocks(q.pckChain.pckCertChain)[0]!, 'PCK'));
        try {
          results[qf] = tdxTcbStatus(
            { ...info, tdxModule: info.tdxModule, fmspc: info.fmspc.toLowerCase(), pceId: info.pceId },
            pck,
            q.body,
          ).status;
        } catch (err) {
          results[qf] = `error: ${(err as Error).message}`;
        }
      }
    }
    for (const [qf, s] of Object.entries(results))
      expect(s, qf).toMatch(
        /^(UpToDate|OutOfDate|SWHardeningNeeded|ConfigurationNeeded|ConfigurationAndSWHardeningNeeded|OutOfDateConfigurationNeeded|Revoked|error: .+)$/,
      );
    expect(Object.keys(results).length).toBe(5);
  });

  it('a quote evaluated with collateral for another FMSPC is refused, naming both', async () => {
    const v = vectors.tdx.find((x) => x.quote.includes('contrast-coordinator'))!;
    const collateral = new MemoryCollateral()
      .set({ kind: 'tdx-tcb-info', fmspc: '90c06f000000' }, doc('sample_tcbInfo_response', 'tcbinfo.issuer-chain.pem'))
      .set({ kind: 'tdx-qe-identity' }, doc('sample_qeIdentity_response', 'qeidentity.issuer-chain.pem'));
    const r = await verifyTdxFile(read(v.quote), {
      trust: PINNED_ROOTS,
      now: new Date(v.validAt),
      collateral,
      collateralNow: new Date('2023-07-01T00:00:00Z'),
    });
    expect(r.verdict).toBe('failed');
    expect(r.error?.message).toMatch(/FMSPC 50806f000000.*90c06f000000/);
  });
});

describe("genuine claims under Contrast's default reference values (test/fixtures/manifests/genoa-default.json)", () => {
  const v = vectors.snp.find((x) => x.report.includes('genoa'))!;
  const manifestBytes = readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'manifests', 'genoa-default.json'));
  const run = (manifest: Buffer) => {
    const m = parseManifest(manifest);
    return verifySnpFiles(
      { report: read(v.report), signer: read(v.signer), chain: read(v.roots), product: v.product },
      {
        trust: PINNED_ROOTS,
        now: new Date(v.validAt),
        reference: { referenceValues: m.referenceValues, coordinatorPolicyHashes: m.coordinatorPolicyHashes },
      },
    );
  };
  const of = (r: Awaited<ReturnType<typeof run>>, prefix: string) =>
    r.checks.filter((c) => c.check === prefix || c.check.startsWith(`${prefix}.`));

  it('the Genoa report (policy 0x3001f, platform info 0x24: ECC, alias check) passes every policy and platform-info claim', async () => {
    const r = await run(manifestBytes);
    const policy = of(r, 'snp.policy');
    const platform = of(r, 'snp.platform-info');
    expect(policy.length).toBeGreaterThan(5);
    expect(platform.length).toBe(8);
    for (const c of [...policy, ...platform]) expect(c.status, `${c.check}: ${c.detail}`).toBe('pass');
    expect(platform.find((c) => c.check === 'snp.platform-info.ECCEnabled')?.detail).toBe('snp[1]: set');
    // It is not a Contrast guest: its ID block is not Contrast's, so the verdict is still a refusal.
    expect(r.verdict).toBe('failed');
    expect(r.checks.find((c) => c.check === 'snp.id-key-digest')?.status).toBe('fail');
  });

  it('the same report fails platform info when the reference requires RAPLDisabled', async () => {
    const m = JSON.parse(manifestBytes.toString('utf8'));
    m.ReferenceValues.snp[1].platformInfo.RAPLDisabled = true;
    const r = await run(Buffer.from(JSON.stringify(m)));
    const rapl = r.checks.find((c) => c.check === 'snp.platform-info.RAPLDisabled');
    expect(rapl).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/expected RAPLDisabled \(bit 3\) set: the reference requires it, got clear/),
    });
    expect(r.error?.message).toMatch(/snp\.platform-info\.RAPLDisabled/);
  });
});

describe('the genuine Contrast Coordinator TDX quote under a manifest of its release (test/fixtures/manifests/contrast-tdx.json)', () => {
  const v = vectors.tdx.find((x) => x.quote.includes('contrast-coordinator'))!;
  const base = JSON.parse(
    readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'manifests', 'contrast-tdx.json'), 'utf8'),
  );
  const run = (patch: Record<string, unknown> = {}) => {
    const m = structuredClone(base);
    Object.assign(m.ReferenceValues.tdx[0], patch);
    const parsed = parseManifest(Buffer.from(JSON.stringify(m)));
    return verifyTdxFile(read(v.quote), {
      trust: PINNED_ROOTS,
      now: new Date(v.validAt),
      reference: { referenceValues: parsed.referenceValues, coordinatorPolicyHashes: parsed.coordinatorPolicyHashes },
    });
  };
  const status = (r: Awaited<ReturnType<typeof run>>, check: string) => r.checks.find((c) => c.check === check)?.status;

  it("every claim passes: measurements, Contrast's fixed TD attributes, XFAM, MRCONFIGID[0:32]; only collateral is missing", async () => {
    const r = await run();
    expect(r.error?.message).toBeUndefined();
    for (const c of [
      'tdx.mrtd',
      'tdx.rtmr0',
      'tdx.rtmr3',
      'tdx.mrseam',
      'tdx.td-attributes',
      'tdx.td-attributes.fixed',
      'tdx.xfam',
      'tdx.xfam.fixed',
      'tdx.mrconfigid',
    ])
      expect(status(r, c), c).toBe('pass');
    expect(r.verdict).toBe('incomplete');
  });

  it('its PCK (scalable SGX, dynamic platform, SMT on) fails MemoryIntegrity, SMTDisabled and StaticPlatform; its PIID passes AllowedPIIDs', async () => {
    const r = await run({
      MemoryIntegrity: true,
      SMTDisabled: true,
      StaticPlatform: true,
      AllowedPIIDs: ['e90210702a2cc5ad9764f29ddc8fde8c'],
    });
    expect(r.verdict).toBe('failed');
    for (const c of ['tdx.pck.memory-integrity', 'tdx.pck.smt-disabled', 'tdx.pck.static-platform'])
      expect(status(r, c), c).toBe('fail');
    expect(status(r, 'tdx.allowed-piids')).toBe('pass');
    expect(
      (await run({ AllowedPIIDs: ['00'.repeat(16)] })).checks.find((c) => c.check === 'tdx.allowed-piids'),
    ).toMatchObject({ status: 'fail', detail: expect.stringMatching(/got PIID e90210702a2cc5ad9764f29ddc8fde8c/) });
  });
});
