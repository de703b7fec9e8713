/**
 * The manifest's `ReferenceValues` (Contrast's JSON shapes, docs/protocol.md §8), validated.
 * Unknown fields are kept out of the way (Contrast adds informative ones such as CPUs);
 * every field we check must be well-formed or the whole reference is refused.
 */
import * as z from 'zod';
import { AttestationError } from '../shared/errors.ts';

const hexOf = (bytes: number) =>
  z.string().regex(new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`), `must be ${bytes * 2} hex characters`).transform((s) => s.toLowerCase());

const svn = z.number().int().min(0).max(255);

export const SnpGuestPolicySchema = z.object({
  ABIMinor: z.number().int().min(0).max(255).default(0),
  ABIMajor: z.number().int().min(0).max(255).default(0),
  SMT: z.boolean().default(false),
  MigrateMA: z.boolean().default(false),
  Debug: z.boolean().default(false),
  SingleSocket: z.boolean().default(false),
  CXLAllowed: z.boolean().default(false),
  MemAES256XTS: z.boolean().default(false),
  RAPLDis: z.boolean().default(false),
  CipherTextHidingDRAM: z.boolean().default(false),
  PageSwapDisable: z.boolean().default(false),
});

export const SnpPlatformInfoSchema = z.object({
  SMTEnabled: z.boolean().default(false),
  TSMEEnabled: z.boolean().default(false),
  ECCEnabled: z.boolean().default(false),
  RAPLDisabled: z.boolean().default(false),
  CiphertextHidingDRAMEnabled: z.boolean().default(false),
  AliasCheckComplete: z.boolean().default(false),
  TIOEnabled: z.boolean().default(false),
});

export const SnpReferenceSchema = z.object({
  ProductName: z.enum(['Milan', 'Genoa', 'Turin']),
  TrustedMeasurement: hexOf(48),
  MinimumTCB: z.object({ BootloaderVersion: svn, TEEVersion: svn, SNPVersion: svn, MicrocodeVersion: svn }),
  GuestPolicy: SnpGuestPolicySchema,
  PlatformInfo: SnpPlatformInfoSchema,
  AllowedChipIDs: z.array(hexOf(64)).nullish().transform((v) => v ?? []),
});

export const TdxReferenceSchema = z.object({
  MrTd: hexOf(48),
  MrSeam: hexOf(48).optional(),
  Rtmrs: z.array(hexOf(48)).length(4),
  Xfam: hexOf(8),
  /** Optional exact TD attributes; without it DEBUG must be clear and SEPT_VE_DISABLE set. */
  TdAttributes: hexOf(8).optional(),
});

export const ReferenceValuesSchema = z.object({
  snp: z.array(SnpReferenceSchema).nullish().transform((v) => v ?? []),
  tdx: z.array(TdxReferenceSchema).nullish().transform((v) => v ?? []),
});

export type SnpReference = z.infer<typeof SnpReferenceSchema>;
export type TdxReference = z.infer<typeof TdxReferenceSchema>;
export type ReferenceValues = z.infer<typeof ReferenceValuesSchema>;

export function parseReferenceValues(input: unknown): ReferenceValues {
  const r = ReferenceValuesSchema.safeParse(input);
  if (!r.success) {
    const first = r.error.issues[0];
    throw new AttestationError('reference-values', `the manifest's ReferenceValues are malformed at ${first?.path.join('.') || '(root)'}: ${first?.message ?? 'invalid'}`);
  }
  return r.data;
}

export function normalizePolicyHashes(hashes: readonly string[]): string[] {
  return hashes.map((h) => h.toLowerCase());
}
