/**
 * What the verifiers check claims against: the manifest's `ReferenceValues`, already read with
 * Go's JSON rules and refused when they hold anything this project does not implement
 * (lambda/coordinator/reference-values.ts), and resolved to the options Contrast's validators
 * pass to go-sev-guest / go-tdx-guest for the manifest's release (docs/compatibility.md).
 */

/**
 * The Contrast `ReferenceValues` shapes the project supports, oldest first; the one a manifest
 * has decides which rules apply (docs/compatibility.md names the releases):
 *  - `guest-policy`: SNP {MinimumTCB, ProductName, TrustedMeasurement, GuestPolicy},
 *    TDX {MrTd, Rtrms, MinimumQeSvn, MinimumPceSvn, MinimumTeeTcbSvn, MrSeam, TdAttributes, Xfam};
 *  - `platform-info`: SNP + PlatformInfo (checked) and the guest-policy lock; TDX as before;
 *  - `tdx-without-svns`: TDX without the three SVN minimums, still spelled `Rtrms`;
 *  - `rtmrs`: TDX {MrTd, MrSeam, Rtmrs, TdAttributes, Xfam};
 *  - `platform-marker`: SNP + Platform, MinimumMitigationVector, AllowedChipIDs; TDX {Platform,
 *    MinTCBEvaluationDataNumber, MrTd, MrSeam, Rtmrs, Xfam, AllowedPIIDs, MemoryIntegrity,
 *    SMTDisabled, StaticPlatform} with TD attributes fixed by Contrast;
 *  - `cpus`: + the informational CPUs;
 *  - `apeip`: SNP + APEIP (only its empty value, the exact-measurement case, is supported).
 */
export const REFERENCE_SHAPES = [
  'guest-policy',
  'platform-info',
  'tdx-without-svns',
  'rtmrs',
  'platform-marker',
  'cpus',
  'apeip',
] as const;
export type ReferenceShape = (typeof REFERENCE_SHAPES)[number];

export const SNP_PRODUCTS = ['Milan', 'Genoa'] as const;
export type ContrastSnpProduct = (typeof SNP_PRODUCTS)[number];

/** go-sev-guest `abi.SnpPolicy`, as the manifest's `GuestPolicy` spells it. */
export interface SnpGuestPolicy {
  ABIMinor: number;
  ABIMajor: number;
  SMT: boolean;
  MigrateMA: boolean;
  Debug: boolean;
  SingleSocket: boolean;
  CXLAllowed: boolean;
  MemAES256XTS: boolean;
  RAPLDis: boolean;
  CipherTextHidingDRAM: boolean;
  PageSwapDisable: boolean;
}

/** go-sev-guest `abi.SnpPlatformInfo`, as the manifest's `PlatformInfo` spells it. */
export interface SnpPlatformInfo {
  SMTEnabled: boolean;
  TSMEEnabled: boolean;
  ECCEnabled: boolean;
  RAPLDisabled: boolean;
  CiphertextHidingDRAMEnabled: boolean;
  AliasCheckComplete: boolean;
  TIOEnabled: boolean;
}

export interface SnpReference {
  /** Position in `ReferenceValues.snp`, for messages. */
  index: number;
  ProductName: ContrastSnpProduct;
  /** Lowercase hex, 48 bytes. */
  TrustedMeasurement: string;
  MinimumTCB: { BootloaderVersion: number; TEEVersion: number; SNPVersion: number; MicrocodeVersion: number };
  GuestPolicy: SnpGuestPolicy;
  /** Undefined where the release does not check platform info (the `guest-policy` shape). */
  PlatformInfo?: SnpPlatformInfo;
  /** Lowercase hex, 64 bytes each; empty allows every chip. */
  AllowedChipIDs: string[];
  /** Bits both mitigation vectors must include; 0 requires none. */
  MinimumMitigationVector: bigint;
}

export interface TdxReference {
  index: number;
  MrTd: string;
  MrSeam: string;
  /** RTMR0..3, lowercase hex, 48 bytes each. */
  Rtmrs: [string, string, string, string];
  Xfam: string;
  /** The exact TD attributes expected: the manifest's (older shapes) or Contrast's fixed value. */
  TdAttributes: string;
  /** Whether XFAM bits 11 and 12 (CET) are left out of the comparison (Contrast's newer TDX validator). */
  xfamIgnoresCet: boolean;
  /** Older shapes only: minimum QE SVN and PCE SVN (quote header) and TEE_TCB_SVN (16 bytes hex). */
  MinimumQeSvn?: number;
  MinimumPceSvn?: number;
  MinimumTeeTcbSvn?: string;
  /**
   * 0: the status is judged against the newest TCB Info; otherwise against the TCB Info Intel
   * serves for this evaluation data number (tdx/verify.ts `judgeTdxTcb`).
   */
  MinTCBEvaluationDataNumber: number;
  /** Lowercase hex, 16 bytes each; empty allows every platform instance. */
  AllowedPIIDs: string[];
  MemoryIntegrity: boolean;
  SMTDisabled: boolean;
  StaticPlatform: boolean;
}

export interface ReferenceValues {
  shape: ReferenceShape;
  snp: SnpReference[];
  tdx: TdxReference[];
}

/**
 * The TCB Info editions a manifest's TDX entries ask Intel for: each distinct
 * MinTCBEvaluationDataNumber, 0 standing for the newest (Contrast sets go-tdx-guest's
 * `EvaluationDataNumber` only when it is > 0). In the manifest's order.
 */
export function tdxEvaluationDataNumbers(refs: readonly Pick<TdxReference, 'MinTCBEvaluationDataNumber'>[]): number[] {
  return [...new Set(refs.map((r) => (r.MinTCBEvaluationDataNumber > 0 ? r.MinTCBEvaluationDataNumber : 0)))];
}

export function normalizePolicyHashes(hashes: readonly string[]): string[] {
  return hashes.map((h) => h.toLowerCase());
}
