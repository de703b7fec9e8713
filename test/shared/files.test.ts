/**
 * The CLI reads only regular files of bounded size: a FIFO (which blocks a reader forever), a
 * symlink to /dev/zero (which never ends) or a directory is refused at once, by name.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryCollateral } from '../../lambda/attestation/collateral/sources.ts';
import { FileRefusedError, readRegularFile } from '../../lambda/shared/files.ts';
import { readCollateralDir, readWorkspace } from '../../cli/workspace-files.ts';
import { runCli, runCliInProcess } from '../support/cli.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'car-files-'));
  await writeFile(join(dir, 'regular'), 'hello');
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  await symlink('/dev/zero', join(dir, 'zero'));
  await mkdir(join(dir, 'subdir'));
  await writeFile(join(dir, 'big'), Buffer.alloc(70 * 1024, 1));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * Each refusal must come at once: a blocking read would hang (FIFO) or run forever (/dev/zero),
 * which the describe's timeout catches; the reason says it was refused by what the file is, before any read.
 */
async function refusal(file: string, maxBytes = 64 * 1024): Promise<FileRefusedError> {
  const err = await readRegularFile(file, { maxBytes, what: 'test file', outcome: 'bundle-invalid' }).catch(
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FileRefusedError);
  return err as FileRefusedError;
}

describe('reading operator-named files', { timeout: 10_000 }, () => {
  it('reads a regular file', async () => {
    expect(
      (await readRegularFile(join(dir, 'regular'), { maxBytes: 10, what: 'x', outcome: 'bundle-invalid' })).toString(),
    ).toBe('hello');
  });

  it('refuses a FIFO, a symlink to /dev/zero and a directory by what they are', async () => {
    expect(await refusal(join(dir, 'fifo'))).toMatchObject({
      reason: 'not-regular',
      message: expect.stringMatching(/fifo is a FIFO \(named pipe\), not a regular file/),
    });
    expect(await refusal(join(dir, 'zero'))).toMatchObject({
      reason: 'not-regular',
      message: expect.stringMatching(/zero is a character device, not a regular file/),
    });
    expect(await refusal(join(dir, 'subdir'))).toMatchObject({
      reason: 'not-regular',
      message: expect.stringMatching(/is a directory/),
    });
  });

  it('refuses a file larger than its kind can be, and a missing one by name', async () => {
    expect(await refusal(join(dir, 'big'))).toMatchObject({
      reason: 'too-large',
      message: expect.stringMatching(/is 70 KiB, more than the 64 KiB/),
    });
    expect(await refusal(join(dir, 'absent'))).toMatchObject({
      reason: 'missing',
      message: expect.stringMatching(/absent is missing/),
    });
  });

  it('enroll refuses a FIFO as the key file and /dev/zero as the manifest at once', async () => {
    const ws = join(dir, 'ws');
    await mkdir(ws);
    await writeFile(join(ws, 'seed-shares.json'), '{}');
    execFileSync('mkfifo', [join(ws, 'seedshare-owner.pem')]);
    await symlink('/dev/zero', join(ws, 'manifest.json'));
    await expect(readWorkspace(ws)).rejects.toThrow(
      /(seedshare-owner\.pem: .* is a FIFO|manifest\.json: .* is a character device)/,
    );
    const r = await runCliInProcess([
      'enroll',
      '--workspace',
      ws,
      '--deployment',
      'p',
      '--kms-key-id',
      'k',
      '--secret-id',
      's',
    ]);
    expect(r.code).toBe(16);
    expect(r.stderr).toMatch(/not a regular file/);
  });

  it('a collateral directory holding a FIFO or a /dev/zero link is read without either', async () => {
    const c = join(dir, 'collateral');
    await mkdir(c);
    await writeFile(join(c, 'vcek.der'), 'v');
    execFileSync('mkfifo', [join(c, 'pipe')]);
    await symlink('/dev/zero', join(c, 'zero'));
    expect(await readCollateralDir(c)).toEqual({ 'vcek.der': Buffer.from('v').toString('base64') });
  });

  it('attestation verify: a FIFO or /dev/zero as evidence is a usage error (exit 2), at once', async () => {
    for (const f of ['fifo', 'zero'])
      expect((await runCliInProcess(['attestation', 'verify', '--snp-report', join(dir, f), '--json'])).code).toBe(2);
    // The message, as an operator sees it (console output is the real binary's).
    const r = await runCli(['attestation', 'verify', '--snp-report', join(dir, 'fifo'), '--json'], {}, 10_000);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({
      verdict: 'usage-error',
      error: expect.stringMatching(/--snp-report: .*fifo is a FIFO \(named pipe\), not a regular file/),
    });
  });

  it("attestation verify's collateral directory: a FIFO where a document should be is refused as the operator's request (event-invalid), not as a bad bundle", async () => {
    const c = join(dir, 'verify-collateral');
    await mkdir(join(c, 'vcek', 'v1', 'Milan'), { recursive: true });
    execFileSync('mkfifo', [join(c, 'vcek', 'v1', 'Milan', 'cert_chain')]);
    const err = await new DirectoryCollateral(c)
      .get({ kind: 'snp-cert-chain', product: 'Milan', signer: 'vcek' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileRefusedError);
    expect(err).toMatchObject({ reason: 'not-regular', outcome: 'event-invalid' });
    // A missing document is no refusal: the verifier looks elsewhere or reports it missing.
    await expect(new DirectoryCollateral(c).get({ kind: 'snp-crl', product: 'Milan' })).resolves.toBeUndefined();
  });
});
