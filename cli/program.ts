/** The contrast-autorecover command line: enroll, recover, status, attestation verify, demo. */
import { Command, CommanderError } from 'commander';
import { RecoveryError, errorMessage } from '../lambda/shared/errors.ts';
import { exitCodeFor } from '../lambda/shared/outcomes.ts';
import { registerRecoveryCommands, UsageError } from './commands.ts';
import { registerAttestationCommand } from './attestation.ts';
import { registerDoctorCommand } from './doctor/command.ts';
import { registerRehearseCommand } from './rehearse/command.ts';

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

export function buildProgram(): Command {
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
  // The demo wires test roots and the emulator; it is loaded only when `demo` runs.
  program
    .command('demo')
    .description('run the whole recovery locally: workspace, enroll, emulated stale Coordinator, recover, no-op reconcile')
    .option('--json', 'print a JSON summary whose outcomes use the shared vocabulary')
    .option('--key-bits <n>', 'RSA size of the demo owner key', (v) => Number(v), 4096)
    .action(async (o: { json?: boolean; keyBits: number }) => (await import('./demo.ts')).demoCommand(o, run));
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? 0 : 2;
      return;
    }
    throw err;
  }
}


