/**
 * The CLI as an operator runs it: a child process with the standard AWS environment
 * pointed at moto, against the Coordinator emulator.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { exitCodeFor, OUTCOMES, OUTCOME_NAMES } from '../../lambda/shared/outcomes.ts';
import { snpTestEvidence, snpTestChain } from '../../testing/evidence/index.ts';
import { captureAttestationExtension } from '../../lambda/coordinator/evidence-capture.ts';
import { collateralNeeds } from '../../lambda/attestation/collateral/needs.ts';
import { startMirror } from '../support/collateral-mirror.ts';
import { KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsClientConfig, motoAvailable, motoEndpoint, SKIP_REASON, TEST_REGION, uniqueName } from '../support/aws.ts';
import { runCli, runCliInProcess } from '../support/cli.ts';
import { CoordinatorEmulator } from '../../testing/coordinator-emulator.ts';
import { createTestKey } from '../support/fixture.ts';
import { findLeaks, pemNeedles, secretNeedles } from '../support/secrets.ts';
import { cachedOwnerKey, makeWorkspace, writeWorkspace, type Workspace } from '../../testing/workspace.ts';

let ws: Workspace;
let dir: string;
const env = () => ({
  AWS_ENDPOINT_URL: motoEndpoint,
  AWS_REGION: TEST_REGION,
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
});

beforeAll(async () => {
  ws = await makeWorkspace();
  dir = await mkdtemp(join(tmpdir(), 'car-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function workspaceVariant(
  name: string,
  change: (files: { manifest: Buffer; seedShares: Buffer; ownerKeyPem: Buffer }) => void | Promise<void>,
  omit?: string,
): Promise<string> {
  const d = join(dir, name);
  await writeWorkspace(ws, d);
  const files = {
    manifest: Buffer.from(ws.manifest),
    seedShares: Buffer.from(ws.seedShares),
    ownerKeyPem: Buffer.from(ws.ownerKeyPem),
  };
  await change(files);
  await writeFile(join(d, 'manifest.json'), files.manifest);
  await writeFile(join(d, 'seed-shares.json'), files.seedShares);
  await writeFile(join(d, 'seedshare-owner.pem'), files.ownerKeyPem);
  if (omit) await rm(join(d, omit));
  return d;
}

async function secretExists(secretId: string): Promise<boolean> {
  try {
    await new SecretsManagerClient(awsClientConfig()).send(new DescribeSecretCommand({ SecretId: secretId }));
    return true;
  } catch {
    return false;
  }
}

function assertNoSecrets(text: string) {
  expect(findLeaks(text, { seed: secretNeedles(ws.seed), ownerKey: pemNeedles(ws.ownerKeyPem.toString()) })).toEqual(
    [],
  );
}

describe('CLI usage', () => {
  it('--help lists the commands and recover --help has examples and exit codes', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/enroll[\s\S]*recover[\s\S]*status[\s\S]*demo/);
    const rec = await runCli(['recover', '--help']);
    expect(rec.code).toBe(0);
    expect(rec.stdout).toMatch(/Examples:/);
    // Generated from lambda/shared/outcomes.ts: every outcome with its exit code and summary.
    for (const name of OUTCOME_NAMES)
      expect(rec.stdout.replace(/\s+/g, ' ')).toContain(
        `${name} ${OUTCOMES[name].exitCode} ${OUTCOMES[name].summary}`.replace(/\s+/g, ' '),
      );
  });

  it('a usage error exits 2', async () => {
    expect((await runCliInProcess(['recover', '--bogus'])).code).toBe(2);
    const missing = await runCliInProcess(['recover', '--deployment', 'x']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--secret-id and --coordinator are required/);
    // A malformed address is a usage error (README: usage errors exit 2), not event-invalid (19).
    const badAddr = await runCliInProcess([
      'status',
      '--deployment',
      'x',
      '--secret-id',
      's',
      '--coordinator',
      'nohostport',
    ]);
    expect(badAddr.code).toBe(2);
    expect(badAddr.stderr).toMatch(/--coordinator.*'nohostport' is invalid\. expected HOST:PORT/);
    const badEnroll = await runCliInProcess([
      'enroll',
      '--workspace',
      '.',
      '--deployment',
      'p',
      '--kms-key-id',
      'k',
      '--secret-id',
      's',
      '--coordinator',
      'a:b',
    ]);
    expect(badEnroll.code).toBe(2);
    // Not a number is a usage error too, not an "unexpected error" (exit 1).
    const bits = await runCliInProcess(['demo', '--key-bits', 'abc']);
    expect(bits.code).toBe(2);
    expect(bits.stderr).toMatch(/--key-bits.*'abc' is invalid\. expected an RSA key size/);
    expect(bits.stderr).not.toMatch(/unexpected error/);
  });

  it('a missing AWS region is config-invalid (21), not unreachable (14)', async () => {
    const noRegion = {
      AWS_REGION: '',
      AWS_DEFAULT_REGION: '',
      AWS_PROFILE: 'none',
      AWS_CONFIG_FILE: '/nonexistent/config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
    };
    const r = await runCliInProcess(
      ['status', '--deployment', 'x', '--secret-id', 's', '--coordinator', '127.0.0.1:1'],
      noRegion,
    );
    expect(r.stderr).toMatch(/error \(config-invalid\): no AWS region is configured: export AWS_REGION/);
    expect(r.code).toBe(21);
  });
});

describe.skipIf(!motoAvailable)(`CLI against moto${motoAvailable ? '' : ` (${SKIP_REASON})`}`, () => {
  let kmsKeyId: string;
  let secretsKeyId: string;
  /** A Coordinator whose (testing) evidence needs no collateral: enroll reads it to know what to cover. */
  let plainEmu: CoordinatorEmulator;
  beforeAll(async () => {
    kmsKeyId = await createTestKey(new KMSClient(awsClientConfig()));
    secretsKeyId = await createTestKey(new KMSClient(awsClientConfig()));
    plainEmu = await CoordinatorEmulator.start({
      state: 'healthy',
      manifest: ws.manifest,
      seed: ws.seed,
      salt: ws.salt,
    });
  });
  afterAll(() => plainEmu.stop());

  const baseEnrollArgs = (workspace: string, secretId: string) => [
    'enroll',
    '--workspace',
    workspace,
    '--deployment',
    'prod',
    '--kms-key-id',
    kmsKeyId,
    '--secret-id',
    secretId,
    '--secret-kms-key-id',
    secretsKeyId,
  ];
  const enrollArgs = (workspace: string, secretId: string) => [
    ...baseEnrollArgs(workspace, secretId),
    '--coordinator',
    plainEmu.address,
  ];

  it('creates no secret without --secret-kms-key-id (the stack creates them under their own key), and never under the recovery key', async () => {
    const d = await workspaceVariant('good-nocreate', () => {});
    const secretId = uniqueName('cli/absent');
    const base = [
      'enroll',
      '--workspace',
      d,
      '--deployment',
      'prod',
      '--kms-key-id',
      kmsKeyId,
      '--secret-id',
      secretId,
      '--coordinator',
      plainEmu.address,
    ];
    const absent = await runCliInProcess(base, env());
    // The stack (or the flag that creates the secret) is missing: a setting (config-invalid, 21), not a bad bundle.
    expect(absent.code, absent.stderr).toBe(exitCodeFor('config-invalid'));
    expect(absent.stderr).toMatch(/does not exist: deploy the stack first .*--secret-kms-key-id/);
    const same = await runCliInProcess([...base, '--secret-kms-key-id', kmsKeyId], env());
    expect(same.code).toBe(2);
    expect(same.stderr).toMatch(/must not be the recovery key/);
    const created = await runCliInProcess([...base, '--secret-kms-key-id', secretsKeyId, '--json'], env());
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout).created).toBe(true);
  });

  it('enrolls, then puts a new version on re-enroll; prints the encryption context, never a secret', async () => {
    const d = await workspaceVariant('good', () => {});
    const secretId = uniqueName('cli/prod');
    const first = await runCli([...enrollArgs(d, secretId), '--json'], env());
    expect(first.code, first.stderr).toBe(0);
    const out = JSON.parse(first.stdout);
    expect(out.created).toBe(true);
    expect(out.encryptionContext['contrast-autorecover:deployment']).toBe('prod');
    const second = await runCliInProcess(enrollArgs(d, secretId), env());
    expect(second.code).toBe(0);
    expect(second.stderr).toMatch(/put a new version of secret/);
    assertNoSecrets(first.stdout + first.stderr + second.stdout + second.stderr);
  });

  it.each([
    [
      'missing manifest.json',
      async () => workspaceVariant('no-manifest', () => {}, 'manifest.json'),
      /manifest.json is missing/,
    ],
    [
      'missing owner key',
      async () => workspaceVariant('no-key', () => {}, 'seedshare-owner.pem'),
      /seedshare-owner.pem is missing/,
    ],
    [
      'a PKCS#8 key',
      async () =>
        workspaceVariant('pkcs8', async (f) => {
          f.ownerKeyPem = Buffer.from((await cachedOwnerKey(2048)).privateKey.export({ type: 'pkcs8', format: 'pem' }));
        }),
      /expected "RSA PRIVATE KEY"/,
    ],
    [
      'a key that owns no share',
      async () =>
        workspaceVariant('other-key', async (f) => {
          const other = await cachedOwnerKey(1536);
          f.ownerKeyPem = Buffer.from(other.privateKey.export({ type: 'pkcs1', format: 'pem' }));
          // Listed as an owner (an empty list is refused on its own), but holding no share.
          const m = JSON.parse(f.manifest.toString());
          m.SeedshareOwnerPubKeys.push(other.publicKey.export({ type: 'pkcs1', format: 'der' }).toString('hex'));
          f.manifest = Buffer.from(JSON.stringify(m));
        }),
      /no matching seed share/,
    ],
    [
      'truncated seed-shares.json',
      async () => workspaceVariant('trunc', (f) => void (f.seedShares = f.seedShares.subarray(0, 40))),
      /not valid JSON/,
    ],
    [
      'a 16-byte salt',
      async () =>
        workspaceVariant('salt16', (f) => {
          const d = JSON.parse(f.seedShares.toString());
          d.salt = Buffer.alloc(16).toString('base64');
          f.seedShares = Buffer.from(JSON.stringify(d));
        }),
      /salt is 16 bytes/,
    ],
  ])('refuses %s, writes nothing, exits 16', async (_name, make, message) => {
    const d = await make();
    const secretId = uniqueName('cli/bad');
    const r = await runCliInProcess(enrollArgs(d, secretId), env());
    expect(r.code).toBe(16);
    expect(r.stderr).toMatch(message);
    expect(await secretExists(secretId)).toBe(false);
    assertNoSecrets(r.stdout + r.stderr);
  });

  it("recover uses the production verifier: the emulator's testing evidence is refused (exit 15), nothing sent", async () => {
    const d = await workspaceVariant('recover', () => {});
    const secretId = uniqueName('cli/rec');
    expect((await runCliInProcess(enrollArgs(d, secretId), env())).code).toBe(0);
    const emu = await CoordinatorEmulator.start({
      state: 'stale',
      manifest: ws.manifest,
      seed: ws.seed,
      salt: ws.salt,
    });
    try {
      const r = await runCli(
        [
          'recover',
          '--deployment',
          'prod',
          '--secret-id',
          secretId,
          '--coordinator',
          emu.address,
          '--no-kubernetes',
          '--json',
        ],
        env(),
      );
      expect(r.code).toBe(15);
      const result = JSON.parse(r.stdout);
      expect(result.outcome).toBe('attestation-failed');
      expect(result.kmsDecrypts).toBe(0);
      expect(emu.recoverCalls).toHaveLength(0);
      const status = await runCliInProcess(
        ['status', '--deployment', 'prod', '--secret-id', secretId, '--coordinator', emu.address],
        env(),
      );
      expect(status.code).toBe(15);
      expect(status.stderr).toMatch(/✘ probe the Coordinator over aTLS/);
    } finally {
      await emu.stop();
    }
  });

  it('enroll --collateral DIR caches the files in the bundle (not secret), and refuses an oversized cache', async () => {
    const d = await workspaceVariant('collateral', () => {});
    const cdir = join(dir, 'collateral-files');
    await mkdir(join(cdir, 'tdx/certification/v4'), { recursive: true });
    await writeFile(join(cdir, 'tdx/certification/v4/qe_identity'), '{"enclaveIdentity":{}}');
    const secretId = uniqueName('cli/coll');
    const r = await runCliInProcess([...enrollArgs(d, secretId), '--collateral', cdir], env());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/cached 1 collateral file/);
    const stored = JSON.parse(
      (await new SecretsManagerClient(awsClientConfig()).send(new GetSecretValueCommand({ SecretId: secretId })))
        .SecretString!,
    );
    expect(Buffer.from(stored.collateral['tdx/certification/v4/qe_identity'], 'base64').toString()).toBe(
      '{"enclaveIdentity":{}}',
    );
    await writeFile(join(cdir, 'big'), Buffer.alloc(50 * 1024, 1));
    const big = await runCliInProcess([...enrollArgs(d, uniqueName('cli/big')), '--collateral', cdir], env());
    expect(big.code).toBe(16);
    expect(big.stderr).toMatch(/64 KiB secret/);
  });

  it('enroll --collateral-mirror needs --coordinator, and refuses collateral that does not chain to the pinned roots', async () => {
    const d = await workspaceVariant('mirror', () => {});
    const usage = await runCliInProcess(
      [...baseEnrollArgs(d, uniqueName('cli/m')), '--collateral-mirror', 'http://127.0.0.1:1/'],
      env(),
    );
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/needs --coordinator/);
    // The emulator presents SNP evidence without its VCEK: enroll must fetch it, and the mirror
    // only has test-chain documents, which the production pins refuse.
    const emu = await CoordinatorEmulator.start({
      state: 'stale',
      manifest: ws.manifest,
      seed: ws.seed,
      salt: ws.salt,
      evidence: snpTestEvidence({ includeVcek: false }),
    });
    const mirror = await startMirror();
    try {
      // Serve the test chain's real VCEK under exactly the key enroll will ask for.
      const ext = await captureAttestationExtension(emu.endpoint);
      const [vcekKey] = collateralNeeds(ext).filter((k) => k.kind === 'snp-vcek');
      mirror.serve(vcekKey!, { body: snpTestChain().vcekDer });
      const secretId = uniqueName('cli/m');
      const r = await runCliInProcess(
        [...baseEnrollArgs(d, secretId), '--collateral-mirror', mirror.url, '--coordinator', emu.address],
        env(),
      );
      expect(r.code).toBe(15);
      expect(r.stderr).toMatch(/VCEK/);
      expect(r.stderr).not.toMatch(/missing/);
      expect(mirror.requests.some((p) => p.startsWith('vcek/v1/Milan/'))).toBe(true);
      expect(await secretExists(secretId)).toBe(false);
      expect(emu.getManifestsCalls).toHaveLength(0);
    } finally {
      await mirror.close();
      await emu.stop();
    }
  });

  it('enroll refuses without collateral, and with collateral that does not cover the evidence; writes nothing', async () => {
    const d = await workspaceVariant('no-collateral', () => {});
    const none = uniqueName('cli/none');
    const bare = await runCliInProcess(baseEnrollArgs(d, none), env());
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(
      /enroll needs attestation collateral .* --collateral DIR or --collateral-mirror URL with --coordinator HOST:PORT, or --stack NAME/,
    );
    const cdir = join(dir, 'unrelated-collateral');
    await mkdir(join(cdir, 'tdx/certification/v4'), { recursive: true });
    await writeFile(join(cdir, 'tdx/certification/v4/qe_identity'), '{"enclaveIdentity":{}}');
    const dirOnly = await runCliInProcess([...baseEnrollArgs(d, none), '--collateral', cdir], env());
    expect(dirOnly).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--collateral needs --coordinator HOST:PORT/),
    });
    // SEV-SNP evidence without its VCEK: the VCEK and the product CRL must be cached.
    const emu = await CoordinatorEmulator.start({
      state: 'stale',
      manifest: ws.manifest,
      seed: ws.seed,
      salt: ws.salt,
      evidence: snpTestEvidence({ includeVcek: false }),
    });
    try {
      const r = await runCliInProcess(
        [...baseEnrollArgs(d, none), '--collateral', cdir, '--coordinator', emu.address],
        env(),
      );
      expect(r.code).toBe(16);
      expect(r.stderr).toMatch(/does not cover the Coordinator's evidence .*missing .*VCEK.*vcek\/v1\/Milan\/crl/);
      expect(emu.getManifestsCalls).toHaveLength(0);
    } finally {
      await emu.stop();
    }
    expect(await secretExists(none)).toBe(false);
  });

  it('enroll with collateral that covers the evidence caches it and says when it expires', async () => {
    const d = await workspaceVariant('covered', () => {});
    const cdir = join(dir, 'snp-collateral');
    await mkdir(join(cdir, 'vcek/v1/Milan'), { recursive: true });
    await writeFile(join(cdir, 'vcek/v1/Milan/crl'), snpTestChain().crlDer);
    // Evidence carrying VCEK, ASK and ARK: only the CRL is left to cache.
    const emu = await CoordinatorEmulator.start({
      state: 'healthy',
      manifest: ws.manifest,
      seed: ws.seed,
      salt: ws.salt,
      evidence: snpTestEvidence(),
    });
    try {
      const secretId = uniqueName('cli/covered');
      const r = await runCliInProcess(
        [...baseEnrollArgs(d, secretId), '--collateral', cdir, '--coordinator', emu.address, '--json'],
        env(),
      );
      expect(r.code, r.stderr).toBe(0);
      const crlNextUpdate = (await import('../../lambda/attestation/collateral/expiry.ts')).crlNextUpdate(
        snpTestChain().crlDer,
      )!;
      expect(JSON.parse(r.stdout).collateralExpiresAt).toBe(crlNextUpdate.toISOString());
      const human = await runCliInProcess(
        [...baseEnrollArgs(d, secretId), '--collateral', cdir, '--coordinator', emu.address],
        env(),
      );
      expect(human.stderr).toMatch(/✔ the cached collateral covers the Coordinator's evidence/);
      expect(human.stderr).toContain(`cached collateral expires ${crlNextUpdate.toISOString()}`);
    } finally {
      await emu.stop();
    }
  });

  it('--force without --yes is refused when not interactive; nothing is sent', async () => {
    const r = await runCliInProcess(
      [
        'recover',
        '--deployment',
        'prod',
        '--secret-id',
        'x',
        '--coordinator',
        '127.0.0.1:1',
        '--force',
        '--no-kubernetes',
      ],
      env(),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs --yes/);
  });
});

describe('demo', () => {
  it('npm run demo --json recovers once and then reconciles as a no-op', async () => {
    const r = await runCli(['demo', '--json', '--key-bits', '2048'], {}, 120_000);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.outcomes).toEqual(['recovered', 'already-healthy']);
    expect(summary.recoverCalls).toBe(1);
    expect(summary.kmsDecrypts).toEqual({ firstReconcile: 1, secondReconcile: 0 });
    expect(summary.keyProvider).toBe(motoAvailable ? 'moto' : 'local-demo-key-provider (not AWS)');
    // Exactly the workloads holding the lost mesh CA's certificates, each with its reason.
    expect(
      Object.fromEntries(summary.workloads.map((w: { name: string; status: string }) => [w.name, w.status])),
    ).toEqual({ frontend: 'restarted', backend: 'restarted', batch: 'skipped', 'sidecar-free': 'skipped' });
    expect(summary.workloads.every((w: { reason?: string }) => w.reason)).toBe(true);
    // Every Contrast pod with its status and reason (issue #19 item 8).
    const pods: { workload: string; status: string; reason: string }[] = summary.pods;
    expect(new Set(pods.map((p) => p.workload.split('/')[1]))).toEqual(
      new Set(['frontend', 'backend', 'batch', 'sidecar-free']),
    );
    expect(pods.every((p) => p.status && p.reason)).toBe(true);
    expect(pods.filter((p) => p.workload.endsWith('/frontend')).every((p) => p.status === 'lost-ca')).toBe(true);
    expect(summary.secondReconcileKubernetesRequests).toBe(0);
  }, 120_000);

  it('without moto the demo says so and uses the labelled local key provider', async () => {
    const r = await runCli(
      ['demo', '--key-bits', '2048'],
      { PYENV_ROOT: '/nonexistent', MOTO_PYTHON: '/nonexistent/python3', PATH: '/nonexistent' },
      120_000,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/moto is not installed: using the LOCAL DEMO KEY PROVIDER \(in-process, not AWS\)/);
    expect(r.stderr).toMatch(/demo passed/);
  }, 120_000);
});
