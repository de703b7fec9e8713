/**
 * Every invocation ends in time with an outcome and an audit record (issue: hung dependencies).
 * Each test names a failure that happened before the time budgets existed: a call to an
 * endpoint that accepts TCP and never answers, an EventBridge that hangs after a Recover, a
 * step started too close to the function's limit or the lease's end, a missing region.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createInsecureTestingVerifier } from '../../testing/attestation/insecure-verifier.ts';
import { ConfigError } from '../../lambda/function/config.ts';
import { createHandler, TransientOutcomeError } from '../../lambda/function/handler.ts';
import { reconcile } from '../../lambda/reconcile/reconcile.ts';
import { awsCallMs, budgetsWith, minLeaseSeconds, stepBudgetsOf } from '../../lambda/shared/budgets.ts';
import { CoordinatorEmulator } from '../../testing/coordinator-emulator.ts';
import { makeWorkspace, type Workspace } from '../../testing/workspace.ts';
import { motoAvailable, SKIP_REASON } from '../support/aws.ts';
import { portsFor, enroll, targetFor, testTime } from '../support/fixture.ts';
import { auditRecords, captureOutput, setupFixture, withFixtureCoordinator, type Fixture } from './handler-fixture.ts';
import { directInvoke, lambdaContext, restartEvent } from './samples.ts';

/** Accepts TCP connections and never answers a byte. */
async function hungServer(): Promise<{ url: string; server: Server; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

let hung: Awaited<ReturnType<typeof hungServer>>;
let fx: Fixture | undefined;
let out: ReturnType<typeof captureOutput>;
beforeAll(async () => {
  hung = await hungServer();
});
afterAll(async () => {
  await hung.stop();
});
afterEach(async () => {
  out?.restore();
  await fx?.stop();
  fx = undefined;
});

const small = budgetsWith({
  aws: { connectionTimeoutMs: 200, requestTimeoutMs: 300, maxAttempts: 2 },
  resultEventMs: 300,
  reportReserveMs: 600,
});
/** `small` with the fixture's Coordinator timeouts, as the fixture's handlers have them. */
const smallWithFixtureCoordinator = withFixtureCoordinator(small);

describe.skipIf(!motoAvailable)(`hung dependencies ${motoAvailable ? '' : SKIP_REASON}`, () => {
  it('an EventBridge that never answers after a Recover costs the result event, never the audit record', async () => {
    // The test's own client has no timeouts at all: only the report's budget ends the wait.
    const events = new EventBridgeClient({
      region: 'eu-central-1',
      endpoint: hung.url,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      maxAttempts: 1,
    });
    fx = await setupFixture();
    const handler = fx.makeHandler({ clients: { ...fx.clients, events }, budgets: smallWithFixtureCoordinator });
    out = captureOutput();
    const t0 = Date.now();
    const res = await handler(restartEvent(fx.deployment), lambdaContext());
    const ms = Date.now() - t0;
    out.restore();
    expect(res.outcome).toBe('recovered');
    expect(fx.emu.recoverCalls).toHaveLength(1);
    const records = out.json();
    expect(auditRecords(records)).toEqual([
      expect.objectContaining({
        outcome: 'recovered',
        recover: expect.objectContaining({ sent: true }),
        kms: expect.objectContaining({ decrypts: 1 }),
      }),
    ]);
    expect(
      records.find((r) => r.message === 'result event could not be put; the audit record above still stands'),
    ).toBeDefined();
    expect(ms).toBeLessThan(small.resultEventMs + 3_000);
  });

  it('the KMS client the function builds ends a Decrypt to an endpoint that never answers, and the audit record names each attempt', async () => {
    fx = await setupFixture();
    const { kms: _moto, ...others } = fx.clients;
    process.env.AWS_ENDPOINT_URL_KMS = hung.url;
    let handler;
    try {
      // No KMS override: the runtime builds it with the budgets' timeouts and attempts.
      handler = fx.makeHandler({ clients: others, budgets: smallWithFixtureCoordinator });
      out = captureOutput();
      const t0 = Date.now();
      await expect(handler(restartEvent(fx.deployment), lambdaContext())).rejects.toBeInstanceOf(TransientOutcomeError);
      const ms = Date.now() - t0;
      out.restore();
      expect(ms).toBeLessThan(awsCallMs(small.aws) + 3_000);
    } finally {
      delete process.env.AWS_ENDPOINT_URL_KMS;
    }
    const [audit] = auditRecords(out.json());
    expect(audit).toMatchObject({ outcome: 'unreachable', recover: { sent: false } });
    // Each attempt may have reached KMS: both are in the record, without an ID (no answer).
    expect((audit!.kms as { requests: unknown[] }).requests).toEqual([
      { operation: 'Decrypt', error: 'TimeoutError' },
      { operation: 'Decrypt', error: 'TimeoutError' },
    ]);
    expect((audit!.secretsManager as { requests: unknown[] }).requests).toEqual([
      { operation: 'GetSecretValue', requestId: expect.any(String) },
    ]);
    expect(fx.emu.recoverCalls).toHaveLength(0);
  });

  it('every AWS client the function builds is bounded: with all of AWS hung the invocation still ends with an audit record', async () => {
    fx = await setupFixture();
    process.env.AWS_ENDPOINT_URL = hung.url;
    try {
      const handler = createHandler({
        config: fx.config,
        budgets: small,
        verifierFactory: () => createInsecureTestingVerifier(),
        telemetry: { trace: fx.trace },
      });
      out = captureOutput();
      const t0 = Date.now();
      await expect(handler(restartEvent(fx.deployment), lambdaContext())).rejects.toBeInstanceOf(TransientOutcomeError);
      out.restore();
      expect(Date.now() - t0).toBeLessThan(awsCallMs(small.aws) + small.resultEventMs + 3_000);
    } finally {
      delete process.env.AWS_ENDPOINT_URL;
    }
    expect(auditRecords(out.json())).toEqual([
      expect.objectContaining({
        outcome: 'unreachable',
        message: expect.stringMatching(/could not coordinate the reconcile/),
      }),
    ]);
  });

  it("reports before the function's limit: a step that cannot finish in the time left is not started", async () => {
    fx = await setupFixture();
    const silent = await CoordinatorEmulator.start({
      state: 'stale',
      manifest: fx.ws.manifest,
      seed: fx.ws.seed,
      salt: fx.ws.salt,
      misbehave: 'silent',
    });
    try {
      const config = { ...fx.config, deployments: [{ ...fx.config.deployments[0]!, coordinator: silent.endpoint }] };
      // 3 s handshake + 3 s RPC budget (the fixture's) and up to one handshake budget waiting for the port, but only 2.5 s left.
      const handler = fx.makeHandler({
        config,
        budgets: budgetsWith({ ...smallWithFixtureCoordinator, aws: { ...small.aws, maxAttempts: 1 } }),
      });
      out = captureOutput();
      const t0 = Date.now();
      const res = await handler(directInvoke(fx.deployment, 'recover'), lambdaContext(undefined, 2_500));
      const ms = Date.now() - t0;
      out.restore();
      expect(ms).toBeLessThan(2_500);
      expect(res.results[0]).toMatchObject({
        outcome: 'unreachable',
        message: expect.stringMatching(/step probe not started: it may take 9000 ms/),
      });
      expect(auditRecords(out.json())).toHaveLength(1);
    } finally {
      await silent.stop();
    }
  });

  it('a missing region is a configuration error, not a transient `unreachable`', async () => {
    fx = await setupFixture();
    const saved = { region: process.env.AWS_REGION, config: process.env.AWS_CONFIG_FILE };
    delete process.env.AWS_REGION;
    process.env.AWS_CONFIG_FILE = '/nonexistent/config';
    try {
      const handler = createHandler({
        config: fx.config,
        verifierFactory: () => createInsecureTestingVerifier(),
        telemetry: { trace: fx.trace },
      });
      out = captureOutput();
      const err = await handler(restartEvent(fx.deployment), lambdaContext()).catch((e: unknown) => e);
      out.restore();
      expect(err).toBeInstanceOf(ConfigError);
      expect(err).toMatchObject({
        variable: 'AWS_REGION',
        message: expect.stringMatching(/no AWS region is configured/),
      });
      expect(
        out.json().find((r) => r.message === 'the function is misconfigured; fix the variable and redeploy'),
      ).toMatchObject({ variable: 'AWS_REGION' });
    } finally {
      process.env.AWS_REGION = saved.region;
      if (saved.config === undefined) delete process.env.AWS_CONFIG_FILE;
      else process.env.AWS_CONFIG_FILE = saved.config;
    }
  });

  it('refuses a lease shorter than one recovery may take under the budgets in force', async () => {
    fx = await setupFixture();
    const min = minLeaseSeconds(stepBudgetsOf(small), small.leaseMarginMs);
    const tooShort = fx.makeHandler({ config: { ...fx.config, leaseSeconds: 1 }, budgets: small });
    await expect(tooShort(restartEvent(fx.deployment), lambdaContext())).rejects.toThrow(
      new RegExp(`LEASE_SECONDS: 1 s is shorter than one recovery may take under these budgets \\(${min} s\\)`),
    );
    expect(fx.emu.recoverCalls).toHaveLength(0);
  });
});

describe.skipIf(!motoAvailable)(`reconcile's deadline ${motoAvailable ? '' : SKIP_REASON}`, () => {
  let ws: Workspace;
  let emu: CoordinatorEmulator;
  beforeAll(async () => {
    ws = await makeWorkspace();
  });
  afterEach(async () => {
    await emu?.stop();
  });

  it('stops before a Decrypt and Recover that could outlive the deadline (a lease about to end), and sends nothing', async () => {
    emu = await CoordinatorEmulator.start({ state: 'stale', manifest: ws.manifest, seed: ws.seed, salt: ws.salt });
    const e = await enroll(ws);
    // Loading the bundle needs 1 s (the version check and the read), the probe 1 s; Decrypt needs
    // the bundle's read before it, its own budget, the intent write's and Recover's
    // (500 + 500 + 500 + 300 + 400 + 500 + 400 ms): 2.5 s is enough for the first two, not for it.
    const ports = portsFor(e);
    const budgets = { handshakeTimeoutMs: 300, rpcTimeoutMs: 400, awsCallMs: 500 };
    const r = await reconcile(targetFor(e, emu), ports, testTime(budgets, Date.now() + 2_500));
    expect(r).toMatchObject({ outcome: 'unreachable', kmsDecrypts: 0, recoverSent: false, coordinatorState: 'stale' });
    expect(r.message).toMatch(/step decrypt not started: it may take 3100 ms/);
    expect(e.kmsCalls.get('DecryptCommand') ?? 0).toBe(0);
    expect(emu.recoverCalls).toHaveLength(0);
    // With time enough the same reconcile recovers.
    const ok = await reconcile(targetFor(e, emu), ports, testTime(budgets, Date.now() + 10_000));
    expect(ok.outcome).toBe('recovered');
  });
});
