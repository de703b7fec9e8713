/**
 * Fail closed, early: `enroll` refuses a manifest the Coordinator would refuse, or one whose
 * reference values this project cannot judge exactly as Contrast does, before any AWS call —
 * the command exits non-zero (bundle-invalid) with nothing written.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { KMSClient } from '@aws-sdk/client-kms';
import { buildBundle } from '../../lambda/reconcile/enroll.ts';
import { exitCodeFor } from '../../lambda/shared/outcomes.ts';
import { main } from '../../cli/program.ts';
import { makeTestManifest } from '../../testing/evidence/index.ts';
import { makeWorkspace, type Workspace } from '../../testing/workspace.ts';

let ws: Workspace;
let aws: Server;
let awsRequests = 0;
beforeAll(async () => {
  ws = await makeWorkspace({
    modulusLength: 2048,
    manifestExtra: { ReferenceValues: makeTestManifest().ReferenceValues },
  });
  aws = createServer((_req, res) => {
    awsRequests++;
    res.writeHead(500).end();
  });
  await new Promise<void>((r) => aws.listen(0, '127.0.0.1', r));
});
afterAll(async () => {
  await new Promise<void>((r) => aws.close(() => r()));
});

/** The workspace with its manifest's JSON changed by `edit`. */
function manifestWith(edit: (m: Record<string, any>) => void): Buffer {
  const m = JSON.parse(ws.manifest.toString('utf8'));
  edit(m);
  return Buffer.from(JSON.stringify(m, null, 2));
}

const noKms = { send: () => Promise.reject(new Error('KMS must not be called')) } as unknown as KMSClient;
const build = (manifest: Buffer) =>
  buildBundle({
    deployment: 'prod',
    kmsKeyId: 'alias/x',
    kms: noKms,
    files: { manifest, seedShares: ws.seedShares, ownerKeyPem: Buffer.from(ws.ownerKeyPem) },
  });

describe('enroll refuses before anything is encrypted or written', () => {
  it.each([
    [
      'an unknown reference field',
      (m: Record<string, any>) => (m.ReferenceValues.snp[0].MinimumFirmware = 1),
      /ReferenceValues\.snp\[0\]\.MinimumFirmware: unknown field/,
    ],
    [
      'a value the project does not implement (APEIP)',
      (m: Record<string, any>) => (m.ReferenceValues.snp[0].APEIP = '0080b004'),
      /APEIP: is set/,
    ],
    [
      'a guest policy the Coordinator refuses',
      (m: Record<string, any>) => (m.ReferenceValues.snp[0].GuestPolicy.MigrateMA = true),
      /GuestPolicy\.MigrateMA: modifying this field is not permitted/,
    ],
    [
      'an empty SeedshareOwnerPubKeys',
      (m: Record<string, any>) => (m.SeedshareOwnerPubKeys = []),
      /SeedshareOwnerPubKeys: empty/,
    ],
    [
      'a product Contrast does not accept',
      (m: Record<string, any>) => (m.ReferenceValues.snp[0].ProductName = 'Turin'),
      /unknown product name "Turin"/,
    ],
  ])('%s', async (_what, edit, message) => {
    await expect(build(manifestWith(edit))).rejects.toMatchObject({
      outcome: 'bundle-invalid',
      message: expect.stringMatching(message),
    });
  });

  it('the unchanged workspace passes every check and only then reaches KMS (the control for the cases above)', async () => {
    await expect(build(ws.manifest)).rejects.toThrow(/KMS GenerateDataKey with key alias\/x/);
  });

  it('the CLI exits with bundle-invalid, naming the field, and sends nothing to AWS', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'enroll-refused-'));
    writeFileSync(
      path.join(dir, 'manifest.json'),
      manifestWith((m) => (m.ReferenceValues.tdx[0].AllowedRtmr0s = [])),
    );
    writeFileSync(path.join(dir, 'seed-shares.json'), ws.seedShares);
    writeFileSync(path.join(dir, 'seedshare-owner.pem'), ws.ownerKeyPem);
    const stderr: string[] = [];
    const spy = vi
      .spyOn(process.stderr, 'write')
      .mockImplementation((chunk: string | Uint8Array) => (stderr.push(String(chunk)), true));
    const env = { ...process.env };
    Object.assign(process.env, {
      AWS_REGION: 'eu-west-1',
      AWS_ENDPOINT_URL: `http://127.0.0.1:${(aws.address() as AddressInfo).port}`,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
    process.exitCode = undefined;
    try {
      await main([
        'node',
        'contrast-autorecover',
        'enroll',
        '--workspace',
        dir,
        '--deployment',
        'prod',
        '--kms-key-id',
        'alias/x',
        '--secret-id',
        'contrast-autorecover/prod',
      ]);
    } finally {
      spy.mockRestore();
      process.env = env;
    }
    const code = process.exitCode;
    process.exitCode = undefined;
    expect(code).toBe(exitCodeFor('bundle-invalid'));
    expect(stderr.join('')).toMatch(/tdx\[0\]\.AllowedRtmr0s: unknown field/);
    expect(awsRequests).toBe(0);
  });
});

describe('reconcile refuses a bundle whose manifest it cannot judge, the same way', () => {
  it('bundle-invalid (not retried), naming the field, before the Coordinator is contacted or anything decrypted', async () => {
    const { reconcile } = await import('../../lambda/reconcile/reconcile.ts');
    const { isRetryable } = await import('../../lambda/shared/outcomes.ts');
    const { stepBudgetsOf } = await import('../../lambda/shared/budgets.ts');
    const manifest = manifestWith((m) => (m.ReferenceValues.snp[0].GuestPolicy.Unknown = true));
    let contacted = 0;
    const result = await reconcile(
      { name: 'prod', secretId: 'contrast-autorecover/prod', coordinator: { host: '127.0.0.1', port: 1 } },
      {
        bundles: { load: async () => ({ document: {} as never, manifest, seedShares: ws.seedShares }) },
        ownerKeys: {
          decryptOwnerKey: async () => {
            contacted++;
            return Buffer.alloc(0);
          },
        },
        verifierFactory: () => {
          contacted++;
          return { verify: async () => ({ kind: 'testing' }) };
        },
        openSession: () => {
          contacted++;
          throw new Error('must not connect');
        },
      },
      { budgets: stepBudgetsOf() },
    );
    expect(result.outcome).toBe('bundle-invalid');
    expect(isRetryable(result.outcome)).toBe(false);
    expect(result.message).toMatch(/GuestPolicy\.Unknown: unknown field/);
    expect(contacted).toBe(0);
  });
});
