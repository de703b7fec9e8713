/**
 * The contrast-autorecover command line: enroll, recover, status, attestation verify, doctor,
 * rehearse, audit, demo.
 * Usage errors — a malformed option value, a missing region — exit 2 (README).
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { RecoveryError, errorMessage } from '../lambda/shared/errors.ts';
import { parseHostPort } from '../lambda/shared/names.ts';
import { exitCodeFor } from '../lambda/shared/outcomes.ts';
import { registerRecoveryCommands } from './commands.ts';
import { registerAttestationCommand } from './attestation.ts';
import { registerDoctorCommand } from './doctor/command.ts';
import { registerRehearseCommand } from './rehearse/command.ts';
import { registerAuditCommand } from './audit/command.ts';
import { registerManifestsCommand, registerOutputCommand, registerScpCommand } from './manifests/register.ts';
import { registerPauseCommands } from './pause.ts';
import { UsageError } from './usage.ts';

/** `--coordinator HOST:PORT`, checked while parsing: a malformed address is a usage error. */
function coordinatorArg(value: string): string {
  if (!parseHostPort(value))
    throw new InvalidArgumentError('expected HOST:PORT, e.g. coordinator.example.internal:1313 or [fd00::1]:1313');
  return value;
}

/** RSA sizes the demo accepts: whole bits, as Node's generateKeyPair takes them. */
function keyBitsArg(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 2048 || n > 8192)
    throw new InvalidArgumentError('expected an RSA key size in bits from 2048 to 8192, e.g. 2048 or 4096');
  return n;
}

/** Every command's --coordinator gets the same parser (the options are declared in commands.ts). */
function checkCoordinatorOptions(cmd: Command): void {
  for (const o of cmd.options) if (o.attributeName() === 'coordinator') o.argParser(coordinatorArg);
  for (const sub of cmd.commands) checkCoordinatorOptions(sub);
}

async function run(fn: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await fn();
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exitCode = 2;
    } else if (err instanceof RecoveryError) {
      process.stderr.write(`error (${err.outcome}): ${err.message}\n`);
      process.exitCode = exitCodeFor(err.outcome);
    } else {
      process.stderr.write(`unexpected error: ${errorMessage(err)}\n`);
      process.exitCode = 1;
    }
  }
}

function buildProgram(): Command {
  const program = new Command('contrast-autorecover')
    .description('Recover a restarted Contrast Coordinator — only after verifying its hardware attestation.')
    .showHelpAfterError()
    .exitOverride()
    .addHelpText(
      'after',
      `
AWS settings come from the standard environment: AWS_REGION, AWS_ENDPOINT_URL, and the
default credentials chain (AWS_PROFILE, SSO, instance roles, ...).

Examples:
  npm run demo                                   # the whole flow locally
  contrast-autorecover enroll --help
  contrast-autorecover recover --help`,
    );
  registerRecoveryCommands(program, run);
  registerAttestationCommand(program);
  registerDoctorCommand(program, run);
  registerRehearseCommand(program, run);
  registerAuditCommand(program, run);
  registerManifestsCommand(program, run);
  registerScpCommand(program, run);
  registerOutputCommand(program, run);
  registerPauseCommands(program, run);
  // The demo wires test roots and the emulator; it is loaded only when `demo` runs.
  program
    .command('demo')
    .description(
      'run the whole recovery locally: workspace, enroll, emulated stale Coordinator, recover, no-op reconcile',
    )
    .option('--json', 'print a JSON summary whose outcomes use the shared vocabulary')
    .option('--key-bits <n>', 'RSA size of the demo owner key', keyBitsArg, 4096)
    .action(async (o: { json?: boolean; keyBits: number }) => (await import('./demo.ts')).demoCommand(o, run));
  checkCoordinatorOptions(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode =
        err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help'
          ? 0
          : 2;
      return;
    }
    throw err;
  }
}
