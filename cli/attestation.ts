/**
 * `attestation verify`: verifies raw SEV-SNP reports or TDX quotes offline against the
 * pinned roots (never others) and optionally a manifest, printing every check.
 * Exit codes: 0 all passed · 1 a check failed (also malformed evidence) · 2 usage error ·
 * 3 nothing failed but some checks could not be evaluated.
 */
import type { Command } from 'commander';
import { UsageError } from './usage.ts';
import { DirectoryCollateral } from '../lambda/attestation/collateral/sources.ts';
import { verifySnpFiles, verifyTdxFile, type OfflineResult } from '../lambda/attestation/offline.ts';
import { PINNED_ROOTS, type SnpProduct } from '../lambda/attestation/roots.ts';
import type { ReferenceInput } from '../lambda/attestation/verifier.ts';
import { parseManifest } from '../lambda/coordinator/manifest.ts';
import { InputError } from '../lambda/shared/errors.ts';
import { FileRefusedError, readRegularFile } from '../lambda/shared/files.ts';

interface VerifyOptions {
  snpReport?: string | boolean;
  vcek?: string | boolean;
  chain?: string | boolean;
  product?: string | boolean;
  tdxQuote?: string | boolean;
  collateral?: string | boolean;
  manifest?: string | boolean;
  at?: string | boolean;
  json?: boolean;
}

const EXIT = { passed: 0, failed: 1, usage: 2, incomplete: 3 } as const;

function value(v: string | boolean | undefined, flag: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new UsageError(`${flag} needs a value`);
  return v;
}

/** Evidence, certificates and manifests are kilobytes; 1 MiB leaves room and stops a runaway read. */
const MAX_INPUT_BYTES = 1024 * 1024;

async function readInput(file: string, flag: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(
      await readRegularFile(file, { maxBytes: MAX_INPUT_BYTES, what: flag, outcome: 'event-invalid' }),
    );
  } catch (err) {
    if (err instanceof FileRefusedError) throw new UsageError(err.message);
    throw err;
  }
}

/**
 * ReferenceInput from a Contrast manifest's bytes, read as the Coordinator reads it
 * (lambda/coordinator/manifest.ts): a manifest it would refuse, or one with reference values
 * this project cannot judge exactly as Contrast does, is a usage error naming every problem.
 */
function referenceFromManifest(bytes: Uint8Array, source = 'the manifest'): ReferenceInput {
  try {
    const m = parseManifest(bytes, source);
    return { referenceValues: m.referenceValues, coordinatorPolicyHashes: m.coordinatorPolicyHashes };
  } catch (err) {
    if (err instanceof InputError) throw new UsageError(`--manifest: ${err.message}`);
    throw err;
  }
}

async function run(opts: VerifyOptions, extra: string[]): Promise<OfflineResult> {
  if (extra.length) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  const snp = value(opts.snpReport, '--snp-report');
  const tdx = value(opts.tdxQuote, '--tdx-quote');
  if (!snp === !tdx) throw new UsageError('give exactly one of --snp-report FILE or --tdx-quote FILE');
  const atText = value(opts.at, '--at');
  const now = atText ? new Date(atText) : new Date();
  if (Number.isNaN(now.getTime())) throw new UsageError(`--at: not an ISO time: ${atText}`);
  const manifestFile = value(opts.manifest, '--manifest');
  let reference: ReferenceInput | undefined;
  if (manifestFile) {
    reference = referenceFromManifest(await readInput(manifestFile, '--manifest'), manifestFile);
  }
  const dir = value(opts.collateral, '--collateral');
  const collateral = dir ? new DirectoryCollateral(dir) : undefined;
  if (snp) {
    const product = value(opts.product, '--product');
    if (product !== undefined && product !== 'Milan' && product !== 'Genoa')
      throw new UsageError(`--product must be Milan or Genoa, got ${product}`);
    const vcek = value(opts.vcek, '--vcek');
    const chain = value(opts.chain, '--chain');
    return verifySnpFiles(
      {
        report: await readInput(snp, '--snp-report'),
        signer: vcek ? await readInput(vcek, '--vcek') : undefined,
        chain: chain ? await readInput(chain, '--chain') : undefined,
        product: product as SnpProduct | undefined,
      },
      { trust: PINNED_ROOTS, now, collateral, reference },
    );
  }
  for (const [v, flag] of [
    [opts.vcek, '--vcek'],
    [opts.chain, '--chain'],
    [opts.product, '--product'],
  ] as const) {
    if (v !== undefined) throw new UsageError(`${flag} applies to --snp-report only`);
  }
  return verifyTdxFile(await readInput(tdx!, '--tdx-quote'), { trust: PINNED_ROOTS, now, collateral, reference });
}

const LABEL = { pass: 'PASS', fail: 'FAIL', 'not-evaluated': 'SKIP' } as const;

export function registerAttestationCommand(program: Command): void {
  const att = program.command('attestation').description('inspect attestation evidence');
  att
    .command('verify')
    .description(
      'verify a raw SEV-SNP report or TDX quote offline against the pinned roots and, with --manifest, its reference values',
    )
    .option('--snp-report [file]', 'raw 1184-byte SEV-SNP report')
    .option('--vcek [file]', 'VCEK or VLEK certificate (DER or PEM)')
    .option('--chain [file]', 'ASK (or ASVK) and ARK, PEM')
    .option('--product [name]', 'Milan or Genoa')
    .option('--tdx-quote [file]', 'raw TDX quote (v4 or v5)')
    .option(
      '--collateral [dir]',
      'collateral directory (VCEK/chain/CRL, TCB Info, QE Identity, Intel PCK CRL as sgx/certification/v4/pckcrl_ca_<platform|processor>_encoding_der, Intel SGX Root CA CRL as sgx/certification/v4/rootcacrl)',
    )
    .option('--manifest [file]', 'manifest.json whose ReferenceValues and coordinator policy hashes to check')
    .option('--at [time]', 'ISO time to evaluate certificate validity at (default now)')
    .option('--json', 'print a machine-readable summary')
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .action(async (opts: VerifyOptions, cmd: Command) => {
      let result: OfflineResult;
      try {
        result = await run(opts, cmd.args);
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        if (opts.json)
          console.log(JSON.stringify({ verdict: 'usage-error', exitCode: EXIT.usage, error: err.message }));
        else console.error(`usage error: ${err.message}\n${cmd.helpInformation()}`);
        process.exitCode = EXIT.usage;
        return;
      }
      const exitCode = EXIT[result.verdict];
      if (opts.json) {
        console.log(
          JSON.stringify(
            {
              verdict: result.verdict,
              exitCode,
              checks: result.checks,
              ...(result.error ? { failed: { check: result.error.check, message: result.error.message } } : {}),
            },
            null,
            2,
          ),
        );
      } else {
        for (const c of result.checks) console.log(`${LABEL[c.status]}  ${c.check.padEnd(26)} ${c.detail}`);
        const skipped = result.checks.filter((c) => c.status === 'not-evaluated').map((c) => c.check);
        console.log(
          result.verdict === 'passed'
            ? 'result: all checks passed'
            : result.verdict === 'failed'
              ? `result: FAILED (${result.error?.check})`
              : `result: nothing failed, but not evaluated: ${skipped.join(', ')}`,
        );
      }
      process.exitCode = exitCode;
    });
}
