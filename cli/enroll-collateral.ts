/**
 * Collateral is part of enroll. The function has no internet: to verify a Coordinator's
 * evidence it needs what the evidence does not carry — for SEV-SNP a current CRL (and the VCEK
 * or chain when absent), for TDX the TCB Info, QE Identity and CRLs — either cached in the
 * bundle (`--collateral DIR`, `--collateral-mirror URL`) or fetched by the function from a
 * mirror configured on the stack (`--stack NAME` with the construct's `collateralMirror`).
 * Without one of these every recovery ends `unreachable` or `attestation-failed`, so enroll
 * refuses, naming what is missing; it reads the Coordinator's evidence (`--coordinator`) to know
 * what that is, and says when the cached documents expire.
 */
import { collateralFile, describeCollateral, type CollateralKey } from '../lambda/attestation/collateral/sources.ts';
import { cacheExpiry } from '../lambda/attestation/collateral/bundle-cache.ts';
import { InputError } from '../lambda/shared/errors.ts';
import { parseEndpoint } from '../lambda/shared/names.ts';
import { readStackOutputs } from './manifests/stack-outputs.ts';
import { UsageError } from './usage.ts';
import { checkCollateralSize } from './workspace-files.ts';

export interface CollateralOptions {
  collateral?: string;
  collateralMirror?: string;
  coordinator?: string;
  stack?: string;
  /**
   * The workspace's manifest.json: its TDX entries' MinTCBEvaluationDataNumber name the TCB
   * Info edition(s) to cache (a recovery judges the TCB status against that edition).
   */
  manifest?: Uint8Array;
}

export interface EnrollCollateral {
  /** The cache to put in the bundle (absent: nothing cached). */
  record?: Record<string, string>;
  /** Lines for the operator: sources, coverage, expiry. */
  lines: string[];
  /** When the earliest cached document stops being usable (absent: none expires, or nothing cached). */
  expiresAt?: Date;
}

const HOW =
  'give --collateral DIR or --collateral-mirror URL with --coordinator HOST:PORT, or --stack NAME of a stack whose collateralMirror the function fetches from (docs/deploy.md §5)';

/** What the Coordinator's evidence needs, fetched from the mirror when one is given (verified against the pinned roots). */
async function evidenceNeeds(
  coordinator: string,
  mirror: string | undefined,
  tdxEvaluationDataNumbers: readonly number[],
): Promise<{ needs: CollateralKey[]; fetched?: Record<string, string> }> {
  const [{ captureAttestationExtension }, needsLib, { MirrorCollateral }, { pinnedCollateralVerifier }] =
    await Promise.all([
      import('../lambda/coordinator/evidence-capture.ts'),
      import('../lambda/attestation/collateral/needs.ts'),
      import('../lambda/attestation/collateral/sources.ts'),
      import('../lambda/attestation/collateral/verify.ts'),
    ]);
  const ext = await captureAttestationExtension(parseEndpoint(coordinator));
  const needs = needsLib.collateralNeeds(ext, tdxEvaluationDataNumbers);
  if (!mirror) return { needs };
  const fetched = (await needsLib.fetchCollateral(
    needs,
    new MirrorCollateral(mirror),
    pinnedCollateralVerifier(),
    needsLib.carriedCollateral(ext),
  )) as Record<string, string>;
  return { needs, fetched };
}

/** The TCB Info editions the manifest's TDX entries name (reference.ts `tdxEvaluationDataNumbers`). */
async function manifestEvaluationDataNumbers(manifest: Uint8Array): Promise<number[]> {
  const [{ parseManifest }, { tdxEvaluationDataNumbers }] = await Promise.all([
    import('../lambda/coordinator/manifest.ts'),
    import('../lambda/attestation/reference.ts'),
  ]);
  const numbers = tdxEvaluationDataNumbers(parseManifest(Buffer.from(manifest)).referenceValues.tdx);
  return numbers.length ? numbers : [0];
}

/**
 * Resolves the collateral of one enrollment, or refuses: no source at all (usage, exit 2), or
 * sources that do not cover the evidence (bundle-invalid, exit 16). `fromDir` is the already
 * read `--collateral` directory.
 */
export async function resolveEnrollCollateral(
  o: CollateralOptions,
  fromDir: Record<string, string> | undefined,
  now: Date = new Date(),
): Promise<EnrollCollateral> {
  const lines: string[] = [];
  const stackMirror = o.stack ? (await readStackOutputs(o.stack)).get('CollateralMirrorUrl') : undefined;
  if (o.stack && !stackMirror && !fromDir && !o.collateralMirror) {
    throw new UsageError(`stack ${o.stack} has no collateralMirror, so the function cannot fetch collateral: ${HOW}`);
  }
  if (!o.coordinator) {
    if (stackMirror && !fromDir) {
      lines.push(
        `! no collateral cached: the function fetches it from the stack's mirror ${stackMirror} (a recovery then depends on that mirror)`,
      );
      return { lines };
    }
    throw new UsageError(
      fromDir
        ? `--collateral needs --coordinator HOST:PORT: enroll reads the Coordinator's evidence to check that the collateral covers it`
        : `enroll needs attestation collateral the function can verify the Coordinator with (it has no internet; without it every recovery ends unreachable): ${HOW}`,
    );
  }
  const numbers = o.manifest ? await manifestEvaluationDataNumbers(o.manifest) : [0];
  const { needs, fetched } = await evidenceNeeds(o.coordinator, o.collateralMirror, numbers);
  const record = fromDir || fetched ? checkCollateralSize({ ...fromDir, ...fetched }) : undefined;
  const missing = needs.filter((k) => !record || !(collateralFile(k) in record));
  if (needs.length === 0) lines.push(`✔ the Coordinator's evidence at ${o.coordinator} needs no collateral`);
  else if (missing.length === 0)
    lines.push(
      `✔ the cached collateral covers the Coordinator's evidence: ${needs.map(describeCollateral).join(', ')}`,
    );
  else if (stackMirror)
    lines.push(
      `! not cached, fetched by the function from the stack's mirror ${stackMirror}: ${missing.map(describeCollateral).join(', ')}`,
    );
  else {
    throw new InputError(
      `the collateral does not cover the Coordinator's evidence at ${o.coordinator}; missing ${missing.map((k) => `${describeCollateral(k)} (${collateralFile(k)})`).join(', ')}: add the files to --collateral DIR, or use --collateral-mirror URL, or a stack with collateralMirror (--stack); nothing was written`,
      'bundle-invalid',
    );
  }
  if (!record) return { lines };
  const { earliest, unreadable } = cacheExpiry(record);
  for (const u of unreadable) lines.push(`! cannot read the expiry of ${u}`);
  if (!earliest) {
    lines.push('✔ no cached document has an expiry date');
    return { record, lines };
  }
  const at = earliest.expiry.expiresAt!;
  const days = Math.floor((at.getTime() - now.getTime()) / 86_400_000);
  if (at <= now)
    throw new InputError(
      `cached collateral ${earliest.file} expired at ${at.toISOString()} (${earliest.expiry.limitedBy}): fetch a current one; nothing was written`,
      'bundle-invalid',
    );
  lines.push(
    `✔ cached collateral expires ${at.toISOString()} (in ${days} day(s); ${earliest.expiry.limitedBy} of ${earliest.file}): re-enroll with fresh collateral before then${stackMirror ? " (the function refreshes it from the stack's mirror)" : ''}; doctor warns ahead`,
  );
  return { record, lines, expiresAt: at };
}
