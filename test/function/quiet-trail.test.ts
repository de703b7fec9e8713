/**
 * A quiet trail (issue #24 item 1): what one scheduled minute of a healthy deployment leaves in
 * CloudTrail, counted at the function's own SDK clients against moto. moto's Secrets Manager
 * does not call KMS, so the KMS Decrypt events of a minute are counted as AWS makes them: the
 * function's own Decrypts (the owner key) plus one Decrypt by Secrets Manager, under the bundle
 * secrets key, for every GetSecretValue (AWS Secrets Manager User Guide, "Secret encryption and
 * decryption"); DescribeSecret returns metadata only and makes none.
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BundleStore } from '../../lambda/keys/store.ts';
import { buildBundle } from '../../lambda/reconcile/enroll.ts';
import { motoAvailable, SKIP_REASON } from '../support/aws.ts';
import { auditRecords, captureOutput, setupFixture, type Fixture } from './handler-fixture.ts';
import { lambdaContext, restartEvent, scheduledEvent } from './samples.ts';

const MINUTES_A_DAY = 24 * 60;

let fx: Fixture | undefined;
let out: ReturnType<typeof captureOutput>;
beforeEach(() => {
  out = captureOutput();
});
afterEach(async () => {
  out.restore();
  await fx?.stop();
  fx = undefined;
});

interface MiddlewareClient {
  middlewareStack: { add(middleware: unknown, options: Record<string, unknown>): void };
}

/** Every KMS and Secrets Manager call the handler's clients send, in order (`kms:Decrypt`, ...). */
function recordCalls(f: Fixture): { take(): string[] } {
  let seq: string[] = [];
  const record = (client: MiddlewareClient, service: string) =>
    client.middlewareStack.add(
      (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
        seq.push(`${service}:${(context.commandName ?? 'unknown').replace(/Command$/, '')}`);
        return next(args);
      },
      { step: 'initialize', name: 'quietTrailRecorder' },
    );
  record(f.clients.kms, 'kms');
  record(f.clients.secrets, 'secretsmanager');
  return {
    take() {
      const s = seq;
      seq = [];
      return s;
    },
  };
}

/** KMS Decrypt events in CloudTrail for these calls: the function's own, and Secrets Manager's per read. */
function decryptEvents(calls: string[]): number {
  return calls.filter((c) => c === 'kms:Decrypt' || c === 'secretsmanager:GetSecretValue').length;
}

function auditRequests(audit: Record<string, unknown>): { kms: string[]; secretsManager: string[] } {
  const ops = (k: string) =>
    ((audit[k] as { requests?: { operation: string }[] } | undefined)?.requests ?? []).map((r) => r.operation);
  return { kms: ops('kms'), secretsManager: ops('secretsManager') };
}

describe.skipIf(!motoAvailable)(`a quiet trail (${motoAvailable ? 'moto' : SKIP_REASON})`, () => {
  it('a healthy warm minute makes no KMS call and does not read the secret: Decrypt events per deployment per day, before and after', async () => {
    fx = await setupFixture({ state: 'healthy' });
    const calls = recordCalls(fx);
    const minute = async () => {
      const res = await fx!.handler(scheduledEvent(), lambdaContext());
      expect(res.outcome).toBe('already-healthy');
      return calls.take();
    };
    // The container's first minute reads the bundle: before #24 every minute did exactly this.
    const cold = await minute();
    expect(cold).toEqual(['secretsmanager:GetSecretValue']);
    const warm = [await minute(), await minute(), await minute()];
    for (const w of warm) expect(w).toEqual(['secretsmanager:DescribeSecret']);

    const perDay = { before: decryptEvents(cold) * MINUTES_A_DAY, after: decryptEvents(warm[0]!) * MINUTES_A_DAY };
    expect(perDay).toEqual({ before: 1440, after: 0 });
    // Each warm minute's audit record names its DescribeSecret, and no read or Decrypt.
    const audits = auditRecords(out.json()).map(auditRequests);
    expect(audits).toEqual([
      { kms: [], secretsManager: ['GetSecretValue'] },
      ...warm.map(() => ({ kms: [], secretsManager: ['DescribeSecret'] })),
    ]);
    console.info(
      `KMS Decrypt events per deployment per day at the one-minute schedule: before ${perDay.before} (a GetSecretValue every minute), after ${perDay.after} on healthy warm minutes (a DescribeSecret a minute; GetSecretValue only on a cold start, a new version, or right before the owner key is used)`,
    );
  });

  it('a new version of the bundle (re-enrolled) is read on the next invocation, then kept', async () => {
    fx = await setupFixture({ state: 'healthy' });
    const calls = recordCalls(fx);
    const first = await fx.handler(scheduledEvent(), lambdaContext());
    await fx.handler(scheduledEvent(), lambdaContext());
    expect(calls.take()).toEqual(['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret']);
    expect(first.results[0]!.drift).toBe(false);

    // Re-enrolled with another manifest (`contrast set` then `enroll`): a new AWSCURRENT version.
    const manifest = Buffer.from(JSON.stringify({ ...JSON.parse(fx.ws.manifest.toString()), Changed: true }));
    const pem = Buffer.from(fx.ws.ownerKeyPem);
    const { document } = await buildBundle({
      deployment: fx.deployment,
      kmsKeyId: fx.kmsKeyId,
      files: { manifest, seedShares: fx.ws.seedShares, ownerKeyPem: pem },
      kms: fx.clients.kms,
    });
    pem.fill(0);
    await new BundleStore(fx.clients.secrets).save(fx.secretId, document);
    calls.take();

    const next = await fx.handler(scheduledEvent(), lambdaContext());
    expect(calls.take()).toEqual(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']);
    // The new bundle is the one reconciled: its manifest is not the one the Coordinator serves.
    expect(next.results[0]!.manifestHash).toBe(createHash('sha256').update(manifest).digest('hex'));
    expect(next.results[0]!.drift).toBe(true);

    const after = await fx.handler(scheduledEvent(), lambdaContext());
    expect(calls.take()).toEqual(['secretsmanager:DescribeSecret']);
    expect(after.results[0]!.manifestHash).toBe(next.results[0]!.manifestHash);
  });

  it('a Recover in a warm container reads the bundle again right before the owner-key Decrypt', async () => {
    fx = await setupFixture({ state: 'healthy' });
    const calls = recordCalls(fx);
    await fx.handler(scheduledEvent(), lambdaContext());
    await fx.handler(scheduledEvent(), lambdaContext());
    calls.take();

    fx.emu.restart();
    out.lines.length = 0;
    const res = await fx.handler(restartEvent(fx.deployment), lambdaContext());
    expect(res.outcome).toBe('recovered');
    // The version check, the read of the secret as it is now, then the one Decrypt.
    expect(calls.take()).toEqual(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'kms:Decrypt']);
    expect(fx.kmsDecrypts).toHaveLength(1);
    // Both in the recovery's audit record, by request ID.
    const [audit] = auditRecords(out.json());
    expect(auditRequests(audit!)).toEqual({ kms: ['Decrypt'], secretsManager: ['DescribeSecret', 'GetSecretValue'] });
  });

  it('a Recover in a cold container reads the bundle once: the read of step 1 is fresh', async () => {
    fx = await setupFixture({ state: 'stale' });
    const calls = recordCalls(fx);
    const res = await fx.handler(restartEvent(fx.deployment), lambdaContext());
    expect(res.outcome).toBe('recovered');
    expect(calls.take()).toEqual(['secretsmanager:GetSecretValue', 'kms:Decrypt']);
  });
});
