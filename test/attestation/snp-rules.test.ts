/**
 * One test per SEV-SNP rule of Contrast's validator (go-sev-guest validate.SnpAttestation with
 * the options of Contrast's SNPValidateOpts), each built so that it fails if the rule is
 * inverted: the rule's check is judged on synthetic evidence that differs from the reference
 * in exactly that claim, both ways.
 */
import { describe, expect, it } from 'vitest';
import type { ClaimSet } from '../../lambda/attestation/checks.ts';
import type { SnpReference } from '../../lambda/attestation/reference.ts';
import { decodeSnpAttestation, tcbFromParts } from '../../lambda/attestation/snp/abi.ts';
import { snpReferenceClaims, snpReportClaims } from '../../lambda/attestation/snp/validate.ts';
import { verifySnp, type VerifiedSnp } from '../../lambda/attestation/snp/verify.ts';
import {
  TEST_POLICY_HASH,
  TEST_POLICY_HASH_HEX,
  makeSnpEvidence,
  referenceValuesOf,
  snpTestChain,
  testRoots,
  type SnpEvidenceOptions,
} from '../../testing/evidence/index.ts';
import { snpReferenceValues, TEST_SNP_MEASUREMENT, TEST_SNP_TCB, tcbToU64 } from '../../testing/evidence/snp.ts';

const reportData = new Uint8Array(64).fill(4);
const now = new Date();

async function verified(opts: Partial<SnpEvidenceOptions> = {}): Promise<VerifiedSnp> {
  return verifySnp(decodeSnpAttestation(makeSnpEvidence({ reportData, hostData: TEST_POLICY_HASH, ...opts })), {
    trust: testRoots(),
    now,
  });
}

/** The default reference entry with `patch` applied (read as Contrast reads it), or a raw entry for values the parser refuses. */
function ref(patch: Record<string, unknown> = {}, raw: Partial<SnpReference> = {}): SnpReference {
  const parsed = referenceValuesOf({ snp: [{ ...snpReferenceValues(), ...patch }] }).snp[0]!;
  return { ...parsed, ...raw };
}

const verdict = (c: ClaimSet, check: string) =>
  c.failures.some((f) => f.check === check) ? 'fail' : c.passes.some(([n]) => n === check) ? 'pass' : 'absent';
const claims = async (evidence: Partial<SnpEvidenceOptions>, r: SnpReference) =>
  snpReferenceClaims(await verified(evidence), r, [TEST_POLICY_HASH_HEX]);
const gp = (patch: Record<string, unknown>) => ({ ...(snpReferenceValues().GuestPolicy as object), ...patch });
const pi = (patch: Record<string, unknown>) => ({ ...(snpReferenceValues().PlatformInfo as object), ...patch });

describe('the default evidence passes every claim of the default reference', () => {
  it('no failures, every rule judged', async () => {
    const c = await claims({}, ref());
    expect(c.failures).toEqual([]);
    for (const check of [
      'snp.policy.reserved',
      'snp.policy.abi',
      'snp.policy.SMT',
      'snp.platform-info.reserved',
      'snp.platform-info.ECCEnabled',
      'snp.measurement',
      'snp.host-data',
      'snp.tcb.reported',
      'snp.tcb.launch',
      'snp.mitigation-vector.launch',
      'snp.vmpl',
      'snp.id-key-digest',
    ]) {
      expect(verdict(c, check), check).toBe('pass');
    }
    expect(snpReportClaims(await verified()).failures).toEqual([]);
  });
});

describe('guest policy (validatePolicy)', () => {
  // "Allowed" bits: set in the report and not allowed by the reference → refused.
  const allowed = [
    ['SMT', 16],
    ['MigrateMA', 18],
    ['CXLAllowed', 21],
  ] as const;
  for (const [name, bit] of allowed) {
    it(`${name} (bit ${bit}) is an allowed bit: refused when set and not allowed, accepted when allowed or clear`, async () => {
      const policy = 0x20000n | (1n << BigInt(bit));
      expect(
        verdict(
          await claims({ policy }, ref({}, { GuestPolicy: { ...ref().GuestPolicy, [name]: false } })),
          `snp.policy.${name}`,
        ),
      ).toBe('fail');
      expect(
        verdict(
          await claims({ policy }, ref({}, { GuestPolicy: { ...ref().GuestPolicy, [name]: true } })),
          `snp.policy.${name}`,
        ),
      ).toBe('pass');
      expect(
        verdict(
          await claims({ policy: 0x20000n }, ref({}, { GuestPolicy: { ...ref().GuestPolicy, [name]: true } })),
          `snp.policy.${name}`,
        ),
      ).toBe('pass');
    });
  }

  it('Debug (bit 19) is an allowed bit: a debuggable report is refused by the default reference', async () => {
    expect(verdict(await claims({ policy: 0x30000n | (1n << 19n) }, ref()), 'snp.policy.Debug')).toBe('fail');
    expect(
      verdict(
        await claims(
          { policy: 0x30000n | (1n << 19n) },
          ref({}, { GuestPolicy: { ...ref().GuestPolicy, Debug: true } }),
        ),
        'snp.policy.Debug',
      ),
    ).toBe('pass');
  });

  // "Required" bits: required by the reference and clear in the report → refused; set without being required → accepted.
  const required = [
    ['SingleSocket', 20],
    ['MemAES256XTS', 22],
    ['RAPLDis', 23],
    ['CipherTextHidingDRAM', 24],
    ['PageSwapDisable', 25],
  ] as const;
  for (const [name, bit] of required) {
    it(`${name} (bit ${bit}) is a required bit: refused when required and clear, accepted when set but not required`, async () => {
      const withBit = 0x30000n | (1n << BigInt(bit));
      expect(
        verdict(
          await claims({ policy: 0x30000n }, ref({}, { GuestPolicy: { ...ref().GuestPolicy, [name]: true } })),
          `snp.policy.${name}`,
        ),
      ).toBe('fail');
      expect(
        verdict(
          await claims({ policy: withBit }, ref({}, { GuestPolicy: { ...ref().GuestPolicy, [name]: true } })),
          `snp.policy.${name}`,
        ),
      ).toBe('pass');
      expect(verdict(await claims({ policy: withBit }, ref()), `snp.policy.${name}`)).toBe('pass');
    });
  }

  it('ABI: the report ABI (major.minor as one 16-bit number) must be at least the reference ABI', async () => {
    expect(
      verdict(await claims({ policy: 0x30000n }, ref({ GuestPolicy: gp({ ABIMinor: 31 }) })), 'snp.policy.abi'),
    ).toBe('fail');
    expect(
      verdict(await claims({ policy: 0x3001fn }, ref({ GuestPolicy: gp({ ABIMinor: 31 }) })), 'snp.policy.abi'),
    ).toBe('pass');
    expect(verdict(await claims({ policy: 0x3001fn }, ref()), 'snp.policy.abi')).toBe('pass');
    // 1.0 > 0.31 although its minor is smaller.
    expect(
      verdict(
        await claims({ policy: 0x30100n }, ref({}, { GuestPolicy: { ...ref().GuestPolicy, ABIMinor: 31 } })),
        'snp.policy.abi',
      ),
    ).toBe('pass');
  });

  it('reserved bits: bit 17 must be one, bits 26..63 zero (bit 25 is known)', async () => {
    expect(verdict(await claims({ policy: 0x10000n }, ref()), 'snp.policy.reserved')).toBe('fail');
    expect(verdict(await claims({ policy: 0x30000n | (1n << 26n) }, ref()), 'snp.policy.reserved')).toBe('fail');
    expect(verdict(await claims({ policy: 0x30000n | (1n << 25n) }, ref()), 'snp.policy.reserved')).toBe('pass');
  });
});

describe('platform info (validatePlatformInfo)', () => {
  for (const [name, bit] of [
    ['SMTEnabled', 0],
    ['TSMEEnabled', 1],
    ['TIOEnabled', 7],
  ] as const) {
    it(`${name} (bit ${bit}) is an allowed bit`, async () => {
      const info = 1n << BigInt(bit);
      expect(
        verdict(
          await claims({ platformInfo: info }, ref({ PlatformInfo: pi({ [name]: false }) })),
          `snp.platform-info.${name}`,
        ),
      ).toBe('fail');
      expect(
        verdict(
          await claims({ platformInfo: info }, ref({ PlatformInfo: pi({ [name]: true }) })),
          `snp.platform-info.${name}`,
        ),
      ).toBe('pass');
    });
  }
  for (const [name, bit] of [
    ['ECCEnabled', 2],
    ['RAPLDisabled', 3],
    ['CiphertextHidingDRAMEnabled', 4],
    ['AliasCheckComplete', 5],
  ] as const) {
    it(`${name} (bit ${bit}) is a required bit`, async () => {
      expect(
        verdict(
          await claims({ platformInfo: 0n }, ref({ PlatformInfo: pi({ [name]: true }) })),
          `snp.platform-info.${name}`,
        ),
      ).toBe('fail');
      expect(
        verdict(
          await claims({ platformInfo: 1n << BigInt(bit) }, ref({ PlatformInfo: pi({ [name]: true }) })),
          `snp.platform-info.${name}`,
        ),
      ).toBe('pass');
      expect(verdict(await claims({ platformInfo: 1n << BigInt(bit) }, ref()), `snp.platform-info.${name}`)).toBe(
        'pass',
      );
    });
  }

  it('bit 6 and bits above 7 are refused', async () => {
    expect(verdict(await claims({ platformInfo: 1n << 6n }, ref()), 'snp.platform-info.reserved')).toBe('fail');
    expect(verdict(await claims({ platformInfo: 1n << 8n }, ref()), 'snp.platform-info.reserved')).toBe('fail');
  });

  it('is not checked at all for releases that pass no PlatformInfo (the guest-policy shape)', async () => {
    const old = { ...ref(), PlatformInfo: undefined };
    delete old.PlatformInfo;
    const c = await claims({ platformInfo: 0x2n | (1n << 6n) }, old);
    expect(c.failures.filter((f) => f.check.startsWith('snp.platform-info'))).toEqual([]);
    expect(verdict(c, 'snp.platform-info.TSMEEnabled')).toBe('absent');
  });
});

describe('TCB (validateTcb, validateVersion) with provisional firmware permitted', () => {
  const t = TEST_SNP_TCB;
  const minimum = (patch: Partial<{ BootloaderVersion: number; SNPVersion: number; MicrocodeVersion: number }>) =>
    ref({
      MinimumTCB: {
        BootloaderVersion: t.bl,
        TEEVersion: t.tee,
        SNPVersion: t.snp,
        MicrocodeVersion: t.ucode,
        ...patch,
      },
    });

  it('minimum ≤ REPORTED_TCB, compared part by part (not as one number)', async () => {
    expect(verdict(await claims({}, minimum({ SNPVersion: t.snp + 1 })), 'snp.tcb.reported')).toBe('fail');
    // A higher microcode does not make up for a lower SNP part.
    expect(
      verdict(await claims({}, minimum({ SNPVersion: t.snp + 1, MicrocodeVersion: t.ucode - 1 })), 'snp.tcb.reported'),
    ).toBe('fail');
    expect(verdict(await claims({}, minimum({ SNPVersion: t.snp })), 'snp.tcb.reported')).toBe('pass');
  });

  it('minimum ≤ LAUNCH_TCB (the same minimum as MinimumLaunchTCB)', async () => {
    expect(verdict(await claims({ launchTcb: { ...t, bl: t.bl - 1 } }, ref()), 'snp.tcb.launch')).toBe('fail');
    expect(verdict(await claims({ launchTcb: { ...t, bl: t.bl + 1 } }, ref()), 'snp.tcb.launch')).toBe('pass');
  });

  it('the VCEK TCB equals REPORTED_TCB', async () => {
    const c = snpReportClaims(await verified({ reportedTcb: { ...t, snp: t.snp + 1 } }));
    expect(verdict(c, 'snp.tcb.vcek')).toBe('fail');
    expect(verdict(snpReportClaims(await verified()), 'snp.tcb.vcek')).toBe('pass');
  });

  it('the VCEK TCB ≤ CURRENT_TCB in every part', async () => {
    const lower = tcbFromParts({ ...t, ucode: t.ucode - 1 });
    expect(
      verdict(snpReportClaims(await verified({ currentTcb: lower, committedTcb: lower })), 'snp.tcb.vcek-current'),
    ).toBe('fail');
    const higher = tcbFromParts({ ...t, ucode: t.ucode + 1 });
    expect(verdict(snpReportClaims(await verified({ currentTcb: higher })), 'snp.tcb.vcek-current')).toBe('pass');
  });

  it('COMMITTED_TCB ≤ CURRENT_TCB (provisional firmware permitted, so lower is fine, higher is not)', async () => {
    const reported = tcbToU64(t);
    expect(
      verdict(
        snpReportClaims(await verified({ committedTcb: tcbFromParts({ ...t, snp: t.snp - 1 }) })),
        'snp.tcb.committed',
      ),
    ).toBe('pass');
    expect(
      verdict(
        snpReportClaims(await verified({ committedTcb: tcbFromParts({ ...t, snp: t.snp + 1 }), currentTcb: reported })),
        'snp.tcb.committed',
      ),
    ).toBe('fail');
  });

  it('committed firmware build and API version ≤ current', async () => {
    expect(verdict(snpReportClaims(await verified({ committedFirmware: [3, 52, 1] })), 'snp.firmware.committed')).toBe(
      'pass',
    );
    expect(verdict(snpReportClaims(await verified({ committedFirmware: [5, 52, 1] })), 'snp.firmware.committed')).toBe(
      'fail',
    );
    expect(verdict(snpReportClaims(await verified({ committedFirmware: [4, 53, 1] })), 'snp.firmware.committed')).toBe(
      'fail',
    );
  });
});

describe('the other claims', () => {
  it('mitigation vectors: both must include every bit of MinimumMitigationVector', async () => {
    const r = ref({ MinimumMitigationVector: 9 });
    const c = await claims({ version: 5, launchMitVector: 0x1n, currentMitVector: 0xbn }, r);
    expect(verdict(c, 'snp.mitigation-vector.launch')).toBe('fail');
    expect(verdict(c, 'snp.mitigation-vector.current')).toBe('pass');
    expect(c.failures.find((f) => f.check === 'snp.mitigation-vector.launch')?.actual).toMatch(/0x1 \(missing 0x8\)/);
    expect((await claims({ version: 5 }, ref())).failures).toEqual([]);
  });

  it('VMPL 0', async () => {
    expect(verdict(await claims({ vmpl: 1 }, ref()), 'snp.vmpl')).toBe('fail');
  });

  it('MEASUREMENT equals TrustedMeasurement', async () => {
    expect(verdict(await claims({ measurement: new Uint8Array(48).fill(9) }, ref()), 'snp.measurement')).toBe('fail');
  });

  it('HOST_DATA is a Coordinator policy hash', async () => {
    expect(verdict(await claims({ hostData: new Uint8Array(32).fill(1) }, ref()), 'snp.host-data')).toBe('fail');
  });

  it('AllowedChipIDs: listed passes, unlisted fails, empty allows every chip', async () => {
    const chip = Buffer.from(snpTestChain().chipId).toString('hex');
    expect(verdict(await claims({}, ref({ AllowedChipIDs: [chip] })), 'snp.allowed-chip-ids')).toBe('pass');
    expect(verdict(await claims({}, ref({ AllowedChipIDs: ['ab'.repeat(64)] })), 'snp.allowed-chip-ids')).toBe('fail');
    expect(verdict(await claims({}, ref({ AllowedChipIDs: [] })), 'snp.allowed-chip-ids')).toBe('absent');
  });

  it("CHIP_ID equals the VCEK's hwID; an all-zero (masked) CHIP_ID is not compared", async () => {
    expect(verdict(snpReportClaims(await verified({ chipId: new Uint8Array(64).fill(5) })), 'snp.chip-id')).toBe(
      'fail',
    );
    expect(verdict(snpReportClaims(await verified({ chipId: new Uint8Array(64) })), 'snp.chip-id')).toBe('absent');
  });

  it('another product never matches (each entry has its own trust roots)', async () => {
    const c = await claims({}, ref({ ProductName: 'Genoa' }));
    expect(c.failures).toEqual([{ check: 'snp.product', expected: 'evidence from Genoa', actual: 'Milan evidence' }]);
  });
});

describe('the ID-key digest is computed from the reference, not from the report', () => {
  it("a guest launched with Contrast's ID block for the reference measurement and policy passes", async () => {
    expect(verdict(await claims({}, ref()), 'snp.id-key-digest')).toBe('pass');
  });

  it('a report whose ID block differs only in FAMILY_ID, IMAGE_ID or GUEST_SVN (digest consistent with its own fields) fails', async () => {
    for (const other of [{ familyId: new Uint8Array(16) }, { imageId: new Uint8Array(16) }, { guestSvn: 0 }]) {
      expect(verdict(await claims(other, ref()), 'snp.id-key-digest'), JSON.stringify(Object.keys(other))).toBe('fail');
    }
  });

  it('a guest launched with another policy than the reference GuestPolicy fails, even when the policy checks pass', async () => {
    const c = await claims({ policy: 0x3001fn }, ref());
    expect(verdict(c, 'snp.policy.abi')).toBe('pass');
    expect(verdict(c, 'snp.id-key-digest')).toBe('fail');
  });

  it('the reference measurement is what the digest is built from', async () => {
    const other = new Uint8Array(TEST_SNP_MEASUREMENT).fill(7, 0, 1);
    expect(
      verdict(await claims({}, ref({ TrustedMeasurement: Buffer.from(other).toString('hex') })), 'snp.id-key-digest'),
    ).toBe('fail');
  });
});
