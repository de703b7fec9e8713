/** enroll, recover and status: the operator's commands, on the same code the Lambda runs. */
import { userInfo } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { ACCEPTABLE_TDX_TCB_STATUSES } from '../lambda/attestation/core.ts';
import type { BundleVerifierFactory } from '../lambda/reconcile/reconcile.ts';
import { parseEndpoint } from '../lambda/shared/names.ts';
import { buildBundle } from '../lambda/reconcile/enroll.ts';
import { BundleStore } from '../lambda/keys/store.ts';
import { exitCodeFor } from '../lambda/shared/outcomes.ts';
import { reconcile } from '../lambda/reconcile/reconcile.ts';
import { productionVerifierFactory } from '../lambda/reconcile/verification.ts';
import { cliAwsClients, cliReconcile } from './aws-clients.ts';
import { lazySide, NO_ACCESS_HINT, resolveKubeAccess, type KubeCliOptions } from './kubernetes.ts';
import { printResult, progressPrinter } from './output.ts';
import { outcomeTable } from './outcome-help.ts';
import { UsageError } from './usage.ts';
import type { EnrollCollateral } from './enroll-collateral.ts';
import { readCollateralDir, readWorkspace } from './workspace-files.ts';

function tdxStatus(value: string, previous: string[]): string[] {
  if (!(ACCEPTABLE_TDX_TCB_STATUSES as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(
      `expected one of ${ACCEPTABLE_TDX_TCB_STATUSES.join(', ')} (Revoked is never accepted)`,
    );
  }
  return [...previous, value];
}

interface EnrollOptions {
  collateral?: string;
  collateralMirror?: string;
  coordinator?: string;
  workspace: string;
  deployment: string;
  kmsKeyId: string;
  secretKmsKeyId?: string;
  secretId: string;
  stack?: string;
  json?: boolean;
}

async function enrollCommand(opts: EnrollOptions): Promise<number> {
  if (opts.collateralMirror && !opts.coordinator) {
    throw new UsageError(
      "--collateral-mirror needs --coordinator HOST:PORT: enroll reads the Coordinator's evidence to know which collateral to fetch",
    );
  }
  if (opts.secretKmsKeyId !== undefined && opts.secretKmsKeyId === opts.kmsKeyId) {
    throw new UsageError(
      '--secret-kms-key-id must not be the recovery key (--kms-key-id): every read of the bundle would then be a Decrypt on the recovery key, and CloudTrail could no longer tell a recovery from a routine read',
    );
  }
  const files = await readWorkspace(opts.workspace);
  try {
    const fromDir = opts.collateral ? await readCollateralDir(opts.collateral) : undefined;
    const { kms, secrets } = await cliAwsClients();
    const say = (l: string) => !opts.json && process.stderr.write(`${l}\n`);
    say(`✔ read ${opts.workspace}: manifest.json, seed-shares.json, seedshare-owner.pem`);
    // The collateral is resolved once every workspace check has passed and before the first KMS
    // call (buildBundle checks, then encrypts): a refused workspace is named first, and a
    // refused collateral costs no KMS request.
    let collateral: EnrollCollateral | undefined;
    let refused: unknown;
    const gated = {
      send: async (command: Parameters<typeof kms.send>[0]) => {
        try {
          collateral ??= await (
            await import('./enroll-collateral.ts')
          ).resolveEnrollCollateral({ ...opts, manifest: files.manifest }, fromDir);
        } catch (err) {
          refused = err;
          throw err;
        }
        return kms.send(command);
      },
    } as unknown as typeof kms;
    let built;
    try {
      built = await buildBundle({ deployment: opts.deployment, kmsKeyId: opts.kmsKeyId, files, kms: gated });
    } catch (err) {
      throw refused ?? err;
    }
    const { document, summary } = built;
    for (const line of collateral!.lines) say(line);
    if (collateral!.record) {
      document.collateral = collateral!.record;
      say(
        `✔ cached ${Object.keys(collateral!.record).length} collateral file(s) from ${[opts.collateral, opts.collateralMirror].filter(Boolean).join(' and ')} in the bundle`,
      );
    }
    say(
      `✔ checked: the manifest is one the Coordinator accepts, its reference values of the ${summary.referenceShape} shape are judged as that Contrast release does (docs/compatibility.md)`,
    );
    say(`✔ checked: the owner key owns one of ${summary.shares} share(s), the share decrypts, the salt is 32 bytes`);
    say(`✔ encrypted the owner key with KMS key ${document.ownerKey.kmsKeyId}`);
    const saved = await new BundleStore(secrets).save(opts.secretId, document, opts.secretKmsKeyId);
    say(`✔ ${saved.created ? 'created secret' : 'put a new version of secret'} ${opts.secretId}`);
    const expires = collateral!.expiresAt ? { collateralExpiresAt: collateral!.expiresAt.toISOString() } : {};
    const out = {
      deployment: opts.deployment,
      secretId: opts.secretId,
      created: saved.created,
      versionId: saved.versionId,
      ...summary,
      ...expires,
    };
    if (opts.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    else
      process.stdout.write(
        `enrolled deployment ${opts.deployment}: manifest ${summary.manifestSha256}\n  Coordinator policy hash(es): ${summary.coordinatorPolicyHashes.join(', ')}\n  KMS encryption context: ${JSON.stringify(summary.encryptionContext)}\n${expires.collateralExpiresAt ? `  cached collateral expires ${expires.collateralExpiresAt}\n` : ''}`,
      );
    return 0;
  } finally {
    files.ownerKeyPem.fill(0);
  }
}

interface RecoverOptions extends KubeCliOptions {
  deployment: string;
  restartAfterAnyRotation?: boolean;
  secretId?: string;
  coordinator?: string;
  dryRun?: boolean;
  force?: boolean;
  yes?: boolean;
  json?: boolean;
  reason?: string;
  viaFunction?: string;
  collateralMirror?: string;
  acceptTdxTcbStatus?: string[];
}

async function confirmForce(opts: RecoverOptions): Promise<void> {
  if (opts.yes) return;
  if (!process.stdin.isTTY) {
    throw new UsageError(
      "--force overrides the Coordinator's refusal while Ready peers exist and replaces the mesh CA; it needs --yes when not run interactively",
    );
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(
      `Force recovery of ${opts.deployment}? This recovers even if Ready peer Coordinators exist and replaces the mesh CA. Type the deployment name to confirm: `,
    );
    if (answer.trim() !== opts.deployment) throw new UsageError('not confirmed; nothing was sent');
  } finally {
    rl.close();
  }
}

export async function recoverCommand(
  opts: RecoverOptions,
  mode: 'recover' | 'status',
  seams: RecoverSeams = {},
): Promise<number> {
  if (opts.force && opts.dryRun) throw new UsageError('--force and --dry-run exclude each other');
  if (opts.force) {
    await confirmForce(opts);
    process.stderr.write(
      `FORCE: recovery of ${opts.deployment} forced by ${userInfo().username}${opts.reason ? ` (reason: ${opts.reason})` : ''}\n`,
    );
  }
  if (opts.viaFunction) {
    const { invokeViaFunction } = await import('./via-function.ts');
    const action = mode === 'status' ? 'status' : opts.dryRun ? 'dry-run' : 'recover';
    const result = await invokeViaFunction({
      functionName: opts.viaFunction,
      action,
      deployment: opts.deployment,
      force: opts.force === true,
      reason: opts.reason ?? `contrast-autorecover ${mode} by ${userInfo().username}`,
    });
    printResult(result, opts.json === true);
    if (mode === 'status' && !opts.json) {
      const { operatorLines } = await import('./pause.ts');
      const lines = operatorLines(result.operator);
      if (lines.length) process.stdout.write(`${lines.join('\n')}\n`);
    }
    return exitCodeFor(result.outcome);
  }
  if (!opts.secretId || !opts.coordinator)
    throw new UsageError('--secret-id and --coordinator are required (or use --via-function NAME)');
  const target = {
    name: opts.deployment,
    secretId: opts.secretId,
    coordinator: parseEndpoint(opts.coordinator),
    restartAfterAnyRotation: opts.restartAfterAnyRotation === true,
  };
  const clients = await cliAwsClients();
  // The Kubernetes side, as the function has it: peers before Recover, restarts after.
  const access = await resolveKubeAccess(opts, clients.secrets);
  if (access.kind === 'none' && mode === 'recover') {
    throw new UsageError(
      `recover cannot check for Ready peer Coordinators or restart workloads without cluster access: ${NO_ACCESS_HINT}`,
    );
  }
  const say = (l: string) => !opts.json && process.stderr.write(`${l}\n`);
  if (access.kind === 'settings')
    say(`… Kubernetes: ${access.source}, Coordinator namespace ${access.settings.coordinatorNamespace}`);
  else
    say(
      access.kind === 'disabled'
        ? '! --no-kubernetes: no peer check, no workload restarts'
        : '! no cluster access: workloads are not checked',
    );
  const side = access.kind === 'settings' ? lazySide(access.settings) : undefined;
  const verifierFactory =
    seams.verifierFactory ??
    productionVerifierFactory({
      ...(opts.collateralMirror ? { collateralMirrorUrl: opts.collateralMirror } : {}),
      ...(opts.acceptTdxTcbStatus?.length ? { acceptedTdxTcbStatuses: opts.acceptTdxTcbStatus } : {}),
    });
  const { ports, time } = cliReconcile(clients, verifierFactory, {
    progress: progressPrinter(!opts.json),
    ...(side ? { kubernetes: side.get } : {}),
  });
  try {
    const result = await reconcile(target, ports, time, {
      ...(opts.force ? { force: true } : {}),
      ...(opts.dryRun ? { dryRun: true } : {}),
      ...(mode === 'status' ? { statusOnly: true } : {}),
    });
    printResult(result, opts.json === true);
    return exitCodeFor(result.outcome);
  } finally {
    side?.close();
  }
}

/** What tests put in, in code (never reachable from a flag): e.g. a verifier for the emulator's test evidence. */
export interface RecoverSeams {
  verifierFactory?: BundleVerifierFactory;
}

/** The Kubernetes options recover and status share. */
function kubernetesOptions(cmd: Command): Command {
  return cmd
    .option('--kubeconfig <file>', 'kubeconfig for the cluster (default: KUBECONFIG, then ~/.kube/config)')
    .option('--kube-context <name>', 'kubeconfig context (default: current-context)')
    .option(
      '--eks-cluster <name>',
      'EKS cluster by name (DescribeCluster; token signed with your AWS credentials) instead of a kubeconfig',
    )
    .option(
      '--coordinator-namespace <ns>',
      "namespace of the Coordinator pods (default: the context's namespace, else default)",
    )
    .option(
      '--namespace <ns>',
      'namespace of the Contrast workloads (repeatable; default: the Coordinator namespace)',
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .option('--all-namespaces', 'look for Contrast workloads in every namespace')
    .option(
      '--namespace-selector <selector>',
      "look for Contrast workloads in the namespaces with these labels (a deployment's namespaceLabelSelector), e.g. contrast.edgeless.systems/restart=enabled",
    )
    .option('--no-kubernetes', 'do without cluster access: no peer check, no workload restarts');
}

export function registerRecoveryCommands(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  program
    .command('enroll')
    .description("store a Contrast workspace's recovery material in Secrets Manager, the owner key encrypted with KMS")
    .requiredOption('--workspace <dir>', 'Contrast workspace with manifest.json, seed-shares.json, seedshare-owner.pem')
    .requiredOption('--deployment <name>', 'deployment name; bound into the KMS encryption context')
    .requiredOption('--kms-key-id <key>', 'KMS key id, ARN or alias for the envelope encryption')
    .requiredOption(
      '--secret-id <id>',
      'Secrets Manager secret name or ARN (the stack creates it; a new version is put)',
    )
    .option(
      '--secret-kms-key-id <key>',
      'create the secret when it does not exist, encrypted with this KMS key (without the stack; never the recovery key)',
    )
    .option(
      '--collateral <dir>',
      'attestation collateral to cache in the bundle (VCEK/ASK/ARK, CRL, TDX TCB Info, QE Identity; files named as `attestation verify` reports them)',
    )
    .option(
      '--collateral-mirror <url>',
      "fetch the collateral the Coordinator's evidence needs from this base URL (AMD KDS / Intel PCS layout, e.g. a collateral proxy) and cache it; needs --coordinator",
    )
    .option(
      '--coordinator <host:port>',
      'the Coordinator whose evidence the collateral must cover (read over aTLS; nothing is sent)',
    )
    .option('--stack <name>', 'the deployed stack: with its collateralMirror the function fetches what is not cached')
    .option('--json', 'print a JSON summary')
    .addHelpText(
      'after',
      `
Checks everything before writing: the manifest is one the Coordinator would accept and its
reference values hold nothing this tool cannot judge exactly as Contrast does (unknown or
unsupported fields are refused by name: docs/compatibility.md), it lists a seed-share owner;
the owner key is PKCS#1 and listed in the manifest, one share belongs to it and decrypts, the
salt is 32 bytes. Never writes the plaintext key; a refusal writes nothing (exit 16).

Collateral is required: the function has no internet and needs a current CRL (SEV-SNP) or TCB
Info, QE Identity and CRLs (TDX). Enroll reads the Coordinator's evidence (--coordinator),
refuses collateral that does not cover it, and prints when the cached documents expire
(doctor warns ahead). Sources: --collateral DIR, --collateral-mirror URL, or --stack NAME of a
stack with collateralMirror (the function fetches what is not cached).

Example:
  contrast-autorecover enroll --workspace ./workspace --deployment prod \\
    --kms-key-id alias/contrast-autorecover --secret-id contrast-autorecover/prod \\
    --coordinator coordinator.internal:1313 --collateral-mirror https://collateral.internal.example`,
    )
    .action((o: EnrollOptions) => run(() => enrollCommand(o)));

  const recover = program
    .command('recover')
    .description(
      'recover a stale Coordinator: verify its attestation, check for Ready peers, decrypt the share, Recover, confirm, restart the workloads holding certificates of the lost mesh CA',
    )
    .requiredOption('--deployment <name>', 'deployment name (as enrolled)')
    .option('--secret-id <id>', 'Secrets Manager secret holding the recovery bundle')
    .option('--coordinator <host:port>', "the Coordinator's user API, e.g. coordinator.internal:1313")
    .option(
      '--dry-run',
      'verify the Coordinator and decrypt the share, but send nothing; list the workloads that would be restarted',
    )
    .option('--allow-pod-deletion', 'delete stale pods where a rollout restart changes nothing (OnDelete, bare pods)')
    .option(
      '--restart-after-any-rotation',
      'also restart workloads left stale by a manifest update (contrast set); a recovery restarts them anyway',
    )
    .option('--force', 'send Recover with Force=true even if Ready peers exist (asks for confirmation)')
    .option('--yes', 'confirm --force without asking')
    .option('--reason <text>', 'why (recorded with --force and --via-function)')
    .option(
      '--via-function <name>',
      'ask the deployed Lambda function to do it (audited there) instead of running locally',
    )
    .option(
      '--collateral-mirror <url>',
      'HTTPS mirror (AMD KDS / Intel PCS layout) for collateral the evidence and bundle lack',
    )
    .option(
      '--accept-tdx-tcb-status <status>',
      'also accept this Intel TCB status besides UpToDate (repeatable)',
      tdxStatus,
      [],
    )
    .option('--json', 'print the result as JSON');
  kubernetesOptions(recover)
    .addHelpText(
      'after',
      `
Outcomes and exit codes (2: usage error, 1: unexpected error):
${outcomeTable({ exitCodes: true })}

Cluster access as kubectl finds it (--kubeconfig, KUBECONFIG, ~/.kube/config) or
--eks-cluster NAME; without any, recover refuses unless --no-kubernetes is given. Restarted:
workloads with a pod whose contrast-initializer finished before the new mesh CA key was
created; pods still in Init are left alone (docs/operate.md).

Examples:
  contrast-autorecover recover --deployment prod --secret-id contrast-autorecover/prod \\
    --coordinator coordinator.internal:1313 --kubeconfig ~/.kube/prod
  contrast-autorecover recover --deployment prod --secret-id contrast-autorecover/prod \\
    --coordinator coordinator.internal:1313 --eks-cluster prod --dry-run --json
  contrast-autorecover recover --deployment prod --via-function contrast-autorecover \\
    --reason "rehearsal"`,
    )
    .action((o: RecoverOptions) => run(() => recoverCommand(o, 'recover')));

  const status = program
    .command('status')
    .description(
      "verify the Coordinator's attestation, report whether it is healthy, and list workloads holding certificates of a lost mesh CA (no KMS call, no change)",
    )
    .requiredOption('--deployment <name>', 'deployment name (as enrolled)')
    .option('--secret-id <id>', 'Secrets Manager secret holding the recovery bundle')
    .option('--coordinator <host:port>', "the Coordinator's user API")
    .option('--via-function <name>', 'ask the deployed Lambda function instead')
    .option(
      '--collateral-mirror <url>',
      'HTTPS mirror (AMD KDS / Intel PCS layout) for collateral the evidence and bundle lack',
    )
    .option(
      '--accept-tdx-tcb-status <status>',
      'also accept this Intel TCB status besides UpToDate (repeatable)',
      tdxStatus,
      [],
    )
    .option('--json', 'print the result as JSON');
  kubernetesOptions(status)
    .addHelpText(
      'after',
      `
Outcomes and exit codes (0: healthy; 2: usage error, 1: unexpected error):
${outcomeTable({ exitCodes: true, filter: (o) => !o.ok })}

Example:
  contrast-autorecover status --deployment prod --secret-id contrast-autorecover/prod \\
    --coordinator coordinator.internal:1313 --json`,
    )
    .action((o: RecoverOptions) => run(() => recoverCommand(o, 'status')));
}
