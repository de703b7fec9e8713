/**
 * Manifests as the Contrast release that wrote them reads them (lambda/coordinator/manifest.ts,
 * reference-values.ts): one fixture per supported shape (test/fixtures/manifests, written from
 * upstream's struct definitions), Go's JSON rules, the Coordinator's own refusals, and every
 * field or value the project does not implement refused by name.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../lambda/coordinator/manifest.ts';
import { CONTRAST_TD_ATTRIBUTES } from '../../lambda/coordinator/reference-values.ts';
import { InputError } from '../../lambda/shared/errors.ts';
import { REPO_ROOT } from '../attestation/vectors.ts';

const DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'manifests');
const fixture = (name: string) =>
  JSON.parse(readFileSync(path.join(DIR, `${name}.json`), 'utf8')) as Record<string, any>;
const bytes = (m: unknown) => Buffer.from(JSON.stringify(m));
const parse = (m: unknown) => parseManifest(bytes(m));
/** The refusal message for a manifest (fails the test when it is accepted). */
function refusal(m: unknown): string {
  try {
    parse(m);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).outcome).toBe('bundle-invalid');
    return (err as Error).message;
  }
  throw new Error('the manifest was accepted');
}
const withSnp = (name: string, patch: Record<string, unknown>) => {
  const m = fixture(name);
  m.ReferenceValues.snp[0] = { ...m.ReferenceValues.snp[0], ...patch };
  return m;
};
const withTdx = (name: string, patch: Record<string, unknown>) => {
  const m = fixture(name);
  m.ReferenceValues.tdx[0] = { ...m.ReferenceValues.tdx[0], ...patch };
  return m;
};

describe('one fixture per supported shape', () => {
  it.each([
    ['guest-policy', 'guest-policy'],
    ['platform-info', 'platform-info'],
    ['tdx-without-svns', 'tdx-without-svns'],
    ['rtmrs', 'rtmrs'],
    ['platform-marker', 'platform-marker'],
    ['cpus', 'cpus'],
    ['apeip', 'apeip'],
    ['genoa-default', 'cpus'],
  ])('%s.json is read as the %s shape', (name, shape) => {
    const m = parseManifest(readFileSync(path.join(DIR, `${name}.json`)));
    expect(m.referenceValues.shape).toBe(shape);
    expect(m.coordinatorPolicyHashes).toHaveLength(1);
    expect(m.seedshareOwnerPubKeys).toHaveLength(1);
  });

  it('platform info is checked from the PlatformInfo shape on, not before (where Contrast passes no PlatformInfo option)', () => {
    expect(parse(fixture('guest-policy')).referenceValues.snp[0]!.PlatformInfo).toBeUndefined();
    expect(parse(fixture('platform-info')).referenceValues.snp[0]!.PlatformInfo).toMatchObject({ SMTEnabled: true });
    // From the Platform shape on a missing PlatformInfo is Go's zero value, and still checked.
    const m = fixture('platform-marker');
    delete m.ReferenceValues.snp[0].PlatformInfo;
    expect(parse(m).referenceValues.snp[0]!.PlatformInfo).toEqual({
      SMTEnabled: false,
      TSMEEnabled: false,
      ECCEnabled: false,
      RAPLDisabled: false,
      CiphertextHidingDRAMEnabled: false,
      AliasCheckComplete: false,
      TIOEnabled: false,
    });
  });

  it('TDX: the older shapes carry their TD attributes and SVN minimums; the Platform shape fixes TD attributes and ignores CET bits of XFAM', () => {
    const old = parse(fixture('guest-policy')).referenceValues.tdx[0]!;
    expect(old).toMatchObject({
      TdAttributes: '0000001000000000',
      MinimumQeSvn: 4,
      MinimumPceSvn: 11,
      MinimumTeeTcbSvn: expect.stringMatching(/^[0-9a-f]{32}$/),
      xfamIgnoresCet: false,
    });
    expect(parse(fixture('tdx-without-svns')).referenceValues.tdx[0]).not.toHaveProperty('MinimumQeSvn');
    expect(parse(fixture('rtmrs')).referenceValues.tdx[0]!.xfamIgnoresCet).toBe(false);
    const newer = parse(fixture('platform-marker')).referenceValues.tdx[0]!;
    expect(newer).toMatchObject({
      TdAttributes: CONTRAST_TD_ATTRIBUTES,
      xfamIgnoresCet: true,
      MinTCBEvaluationDataNumber: 0,
      AllowedPIIDs: [],
    });
  });
});

describe("Go's JSON rules", () => {
  it('keys match case-insensitively, with Go folding (ſ folds to S, K to k)', () => {
    const g = parseManifest(readFileSync(path.join(DIR, 'genoa-default.json')));
    expect(g.referenceValues.snp[1]).toMatchObject({
      ProductName: 'Genoa',
      GuestPolicy: { SMT: true },
      PlatformInfo: { SMTEnabled: true, ECCEnabled: false },
    });
    const m = fixture('cpus');
    const e = m.ReferenceValues.snp[0];
    m.ReferenceValues.snp[0] = {
      ...e,
      PRODUCTNAME: e.ProductName,
      TruſtedMeasurement: e.TrustedMeasurement,
      ProductName: undefined,
      TrustedMeasurement: undefined,
    };
    expect(parse(JSON.parse(JSON.stringify(m))).referenceValues.snp[0]!.TrustedMeasurement).toBe(e.TrustedMeasurement);
  });

  it('a field given twice (in any spelling) is refused: Go would silently keep the last', () => {
    const text = JSON.stringify(fixture('cpus')).replace(
      '"ProductName":"Milan"',
      '"ProductName":"Milan","productname":"Genoa"',
    );
    expect(() => parseManifest(Buffer.from(text))).toThrow(
      /ProductName: given 2 times \("ProductName", "productname"\)/,
    );
  });

  it('SVNs are read as Contrast reads them (float, 0..255, truncated); integer fields refuse fractions and exponents as strconv does', () => {
    expect(
      parse(
        withSnp('cpus', {
          MinimumTCB: { BootloaderVersion: 3.9, TEEVersion: 0, SNPVersion: 8, MicrocodeVersion: 115 },
        }),
      ).referenceValues.snp[0]!.MinimumTCB,
    ).toEqual({ BootloaderVersion: 3, TEEVersion: 0, SNPVersion: 8, MicrocodeVersion: 115 });
    expect(
      refusal(
        withSnp('cpus', {
          MinimumTCB: { BootloaderVersion: 256, TEEVersion: 0, SNPVersion: 8, MicrocodeVersion: 115 },
        }),
      ),
    ).toMatch(/MinimumTCB\.BootloaderVersion: must be a number from 0 to 255/);
    expect(
      refusal(
        withSnp('cpus', {
          MinimumTCB: { BootloaderVersion: null, TEEVersion: 0, SNPVersion: 8, MicrocodeVersion: 115 },
        }),
      ),
    ).toMatch(/BootloaderVersion: field cannot be empty/);
    const text = JSON.stringify(fixture('cpus')).replace(
      '"MinimumMitigationVector":0',
      '"MinimumMitigationVector":1.0',
    );
    expect(() => parseManifest(Buffer.from(text))).toThrow(
      /MinimumMitigationVector: must be a whole number from 0 to 18446744073709551615, got the number 1\.0/,
    );
  });

  it('a uint64 keeps every digit', () => {
    const text = JSON.stringify(fixture('cpus')).replace(
      '"MinimumMitigationVector":0',
      '"MinimumMitigationVector":18446744073709551615',
    );
    expect(parseManifest(Buffer.from(text)).referenceValues.snp[0]!.MinimumMitigationVector).toBe(0xffffffffffffffffn);
  });

  it('null leaves a value at its zero value, as Go does (and Validate then refuses what it refuses)', () => {
    expect(
      parse(withSnp('cpus', { AllowedChipIDs: null, Platform: null })).referenceValues.snp[0]!.AllowedChipIDs,
    ).toEqual([]);
    expect(refusal(withTdx('cpus', { Rtmrs: null }))).toMatch(/Rtmrs\[0\] \(RTMR0\): invalid length: 0/);
  });

  it('the manifest must be strict JSON', () => {
    expect(() => parseManifest(Buffer.from('{"Policies": {},}'))).toThrow(/not valid JSON/);
    expect(() => parseManifest(Buffer.from('{'))).toThrow(/not valid JSON/);
    expect(() => parseManifest(Buffer.from('\ufeff{}'))).toThrow(/not valid JSON/);
    expect(() => parseManifest(Buffer.from(`{"Policies":${'['.repeat(100_000)}`))).toThrow(
      /nested deeper than 64 levels/,
    );
  });
});

describe('refused by name: what the project does not implement', () => {
  it('an unknown field, naming it and where the supported releases are listed', () => {
    const msg = refusal(withSnp('cpus', { MinimumFirmwareBuild: 3 }));
    expect(msg).toMatch(/ReferenceValues\.snp\[0\]\.MinimumFirmwareBuild: unknown field/);
    expect(msg).toMatch(/docs\/compatibility\.md/);
    expect(refusal(withTdx('cpus', { AllowedRtmr0s: ['00'.repeat(48)] }))).toMatch(
      /tdx\[0\]\.AllowedRtmr0s: unknown field/,
    );
    expect(
      refusal(
        withSnp('cpus', {
          MinimumTCB: { BootloaderVersion: 3, TEEVersion: 0, SNPVersion: 8, MicrocodeVersion: 115, FMCVersion: 1 },
        }),
      ),
    ).toMatch(/MinimumTCB\.FMCVersion: unknown field \(Contrast documents MinimumTCB\.FMCVersion/);
    expect(refusal(withSnp('cpus', { GuestPolicy: { SMT: true, Unknown: false } }))).toMatch(
      /GuestPolicy\.Unknown: unknown field/,
    );
  });

  it('APEIP set (vCPU-count measurement sets) is refused; the empty APEIP of the same release is read', () => {
    expect(refusal(withSnp('apeip', { APEIP: '0080b004' }))).toMatch(
      /APEIP: is set: .*1 to 220 vCPUs, which this project does not implement/,
    );
    expect(parse(fixture('apeip')).referenceValues.shape).toBe('apeip');
  });

  it('fields of different releases in one manifest', () => {
    expect(refusal(withTdx('platform-marker', { TdAttributes: '0000001000000000' }))).toMatch(
      /TdAttributes: is set together with Platform/,
    );
    expect(refusal(withTdx('platform-info', { Platform: 'Metal-QEMU-TDX' }))).toMatch(
      /mixes Rtrms \(releases before 2025-10\) with Platform/,
    );
    expect(refusal(withTdx('rtmrs', { MinimumQeSvn: 1 }))).toMatch(/mixes Rtmrs .* with MinimumQeSvn/);
    const m = fixture('guest-policy');
    m.ReferenceValues.tdx = fixture('platform-marker').ReferenceValues.tdx;
    expect(refusal(m)).toMatch(
      /the entries mix fields of different Contrast releases \(snp\[0\] looks like the GuestPolicy shape without PlatformInfo .*tdx\[0\] looks like the Platform shape/,
    );
  });

  it('values whose meaning depends on a library version we cannot tell', () => {
    expect(refusal(withSnp('platform-info', { GuestPolicy: { SMT: true, PageSwapDisable: true } }))).toMatch(
      /PageSwapDisable: is true in a manifest shaped like releases before 2025-11/,
    );
    expect(refusal(withSnp('platform-info', { PlatformInfo: { SMTEnabled: true, TIOEnabled: true } }))).toMatch(
      /TIOEnabled: is true/,
    );
    expect(refusal(withSnp('guest-policy', { GuestPolicy: { SMT: true, CXLAllowed: true } }))).toMatch(
      /CXLAllowed: is true in a manifest shaped like releases before 2025-04/,
    );
    // From the Platform shape on both are known.
    expect(
      parse(withSnp('platform-marker', { PlatformInfo: { SMTEnabled: true, TIOEnabled: true } })).referenceValues
        .snp[0]!.PlatformInfo!.TIOEnabled,
    ).toBe(true);
  });

  it('an unknown Platform (Contrast skips insecure ones, and which those are is not known)', () => {
    expect(refusal(withSnp('cpus', { Platform: 'Metal-QEMU-Insecure' }))).toMatch(
      /Platform: unknown platform "Metal-QEMU-Insecure"/,
    );
    expect(parse(withSnp('cpus', { Platform: 'metal-qemu-snp' })).referenceValues.snp).toHaveLength(1);
  });

  it('a debuggable guest, whatever the release would allow', () => {
    expect(refusal(withSnp('guest-policy', { GuestPolicy: { SMT: true, Debug: true } }))).toMatch(
      /GuestPolicy\.Debug: is true: a debuggable guest/,
    );
    expect(refusal(withTdx('guest-policy', { TdAttributes: '0100001000000000' }))).toMatch(/TdAttributes: sets DEBUG/);
  });

  it('more than four RTMRs (Go drops the rest silently)', () => {
    expect(refusal(withTdx('cpus', { Rtmrs: Array(5).fill('00'.repeat(48)) }))).toMatch(/Rtmrs: has 5 entries/);
  });

  it('the v0.x shapes, naming them', () => {
    expect(
      refusal({
        ...fixture('cpus'),
        ReferenceValues: { SNP: { MinimumTCB: {} }, TrustedMeasurement: '00'.repeat(48) },
      }),
    ).toMatch(/has the v0\.x shape .*not supported/);
    expect(refusal({ ...fixture('cpus'), ReferenceValues: { aks: {}, bareMetalTDX: {} } })).toMatch(
      /has the v0\.x shape \(aks, bareMetalTDX\)/,
    );
  });
});

describe("refused as the Coordinator's Validate refuses", () => {
  it('products other than Milan and Genoa, spelled exactly', () => {
    expect(refusal(withSnp('cpus', { ProductName: 'Turin' }))).toMatch(
      /unknown product name "Turin": Contrast accepts only Milan and Genoa/,
    );
    expect(refusal(withSnp('cpus', { ProductName: 'milan' }))).toMatch(/unknown product name "milan"/);
  });

  it('hex of the wrong length or not hex', () => {
    expect(refusal(withSnp('cpus', { TrustedMeasurement: '00'.repeat(47) }))).toMatch(
      /TrustedMeasurement: invalid length: 94 \(expected 96/,
    );
    expect(refusal(withSnp('cpus', { AllowedChipIDs: ['zz'.repeat(64)] }))).toMatch(/AllowedChipIDs\[0\]: is not hex/);
    expect(refusal(withTdx('cpus', { AllowedPIIDs: ['00'.repeat(15)] }))).toMatch(
      /AllowedPIIDs\[0\] \(a PIID is 16 bytes/,
    );
    expect(refusal(withTdx('guest-policy', { MinimumTeeTcbSvn: '00' }))).toMatch(/MinimumTeeTcbSvn: invalid length/);
  });

  it('the older TDX shape needs its SVN minimums', () => {
    expect(refusal(withTdx('guest-policy', { MinimumQeSvn: null }))).toMatch(
      /tdx\[0\]\.MinimumQeSvn: field cannot be empty/,
    );
    expect(refusal(withTdx('guest-policy', { MinimumPceSvn: 65536 }))).toMatch(
      /MinimumPceSvn: must be a whole number from 0 to 65535/,
    );
  });

  it.each([
    ['ABIMajor', 1],
    ['ABIMinor', 5],
    ['SMT', false],
    ['MigrateMA', true],
    ['SingleSocket', true],
    ['CXLAllowed', true],
    ['MemAES256XTS', true],
    ['RAPLDis', true],
    ['CipherTextHidingDRAM', true],
  ])('from the PlatformInfo shape on the guest policy is locked: %s = %s is refused', (field, value) => {
    const gp = { ...fixture('cpus').ReferenceValues.snp[0].GuestPolicy, [field]: value };
    expect(refusal(withSnp('cpus', { GuestPolicy: gp }))).toMatch(
      new RegExp(`GuestPolicy\\.${field}: modifying this field is not permitted`),
    );
    // Before, Contrast did not validate the guest policy (only the old bits exist there).
    if (['ABIMajor', 'ABIMinor', 'SMT', 'MigrateMA', 'SingleSocket'].includes(field)) {
      expect(
        parse(withSnp('guest-policy', { GuestPolicy: { SMT: true, [field]: value } })).referenceValues.snp,
      ).toHaveLength(1);
    }
  });

  it('ABI 0.31 (AKS) is allowed by the lock', () => {
    expect(
      parse(withSnp('cpus', { GuestPolicy: { ...fixture('cpus').ReferenceValues.snp[0].GuestPolicy, ABIMinor: 31 } }))
        .referenceValues.snp[0]!.GuestPolicy.ABIMinor,
    ).toBe(31);
  });

  it('no reference values, no Coordinator policy, roles spelled otherwise, bad policy hashes', () => {
    expect(refusal({ ...fixture('cpus'), ReferenceValues: { snp: [], tdx: [] } })).toMatch(
      /reference values in manifest cannot be empty/,
    );
    expect(refusal({ ...fixture('cpus'), ReferenceValues: undefined })).toMatch(/ReferenceValues: missing/);
    const m = fixture('cpus');
    const [hash] = Object.keys(m.Policies);
    expect(refusal({ ...m, Policies: { [hash!]: { Role: 'Coordinator' } } })).toMatch(
      /unknown role "Coordinator" .*exactly so spelled/,
    );
    expect(refusal({ ...m, Policies: {} })).toMatch(/no policy has Role "coordinator"/);
    expect(refusal({ ...m, Policies: { ...m.Policies, abc: {} } })).toMatch(
      /Policies\["abc"\]: a policy hash is 64 hex characters/,
    );
  });

  it('Validate (manifest.go): exactly one Coordinator policy before the APEIP shape; several from it on', () => {
    for (const shape of ['guest-policy', 'platform-info', 'tdx-without-svns', 'rtmrs', 'platform-marker', 'cpus']) {
      const m = fixture(shape);
      m.Policies['cd'.repeat(32)] = { Role: 'coordinator' };
      expect(refusal(m), shape).toMatch(
        new RegExp(
          `Policies: 2 policies have Role "coordinator"; a manifest of the ${shape} shape's releases must have exactly one`,
        ),
      );
    }
    const m = fixture('apeip');
    m.ReferenceValues.snp[0].APEIP = '';
    m.Policies['cd'.repeat(32)] = { Role: 'coordinator' };
    expect(parse(m).coordinatorPolicyHashes).toHaveLength(2);
  });

  it('seed-share owners: none is refused with a message that says so; a key that is not PKCS#1 RSA is refused', () => {
    expect(refusal({ ...fixture('cpus'), SeedshareOwnerPubKeys: [] })).toMatch(
      /SeedshareOwnerPubKeys: empty, so the Coordinator accepts Recover from nobody/,
    );
    expect(refusal({ ...fixture('cpus'), SeedshareOwnerPubKeys: null })).toMatch(/SeedshareOwnerPubKeys: empty/);
    expect(refusal({ ...fixture('cpus'), SeedshareOwnerPubKeys: ['3059'] })).toMatch(
      /SeedshareOwnerPubKeys\[0\]: is not a PKCS#1 DER RSA public key/,
    );
  });

  it('workload owner keys: digests are SHA-256 hex, public keys PKIX ECDSA', () => {
    expect(refusal({ ...fixture('cpus'), WorkloadOwnerKeyDigests: ['ab'] })).toMatch(
      /WorkloadOwnerKeyDigests\[0\]: a key digest is 64 hex characters/,
    );
    expect(refusal({ ...fixture('apeip'), WorkloadOwnerPubKeys: [fixture('cpus').SeedshareOwnerPubKeys[0]] })).toMatch(
      /WorkloadOwnerPubKeys\[0\]: is not a PKIX DER public key/,
    );
  });

  it('fields outside ReferenceValues that the project does not use are ignored, as Go ignores them', () => {
    expect(parse({ ...fixture('cpus'), MinimumAPIVersion: 'v1', SomethingNew: { a: 1 } }).referenceValues.shape).toBe(
      'cpus',
    );
  });

  it('every problem is listed at once', () => {
    const msg = refusal({ ...withSnp('cpus', { ProductName: 'Rome', Surprise: 1 }), SeedshareOwnerPubKeys: [] });
    for (const part of [/ProductName/, /Surprise: unknown field/, /SeedshareOwnerPubKeys: empty/])
      expect(msg).toMatch(part);
  });
});
