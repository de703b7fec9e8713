import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { invokeViaFunction, ViaFunctionError } from '../../cli/via-function.ts';
import { motoAvailable, SKIP_REASON } from '../support/aws.ts';
import { auditRecords, captureOutput, emfRecords, setupFixture, type Fixture } from '../function/handler-fixture.ts';
import { lambdaContext, scheduledEvent } from '../function/samples.ts';

let fx: Fixture | undefined;
let server: Server | undefined;
afterEach(async () => {
  await fx?.stop();
  fx = undefined;
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** A stand-in for the Lambda Invoke API that runs the handler in-process. */
async function lambdaApi(
  handle: (
    payload: unknown,
    clientContext: string | undefined,
  ) => Promise<{ status?: number; body: string; functionError?: string }>,
) {
  const calls: { path: string; clientContext: string | undefined; payload: unknown }[] = [];
  server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const payload = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    const clientContext = req.headers['x-amz-client-context'] as string | undefined;
    calls.push({ path: req.url ?? '', clientContext, payload });
    const r = await handle(payload, clientContext);
    res.writeHead(r.status ?? 200, {
      'content-type': 'application/json',
      ...(r.functionError ? { 'x-amz-function-error': r.functionError } : {}),
    });
    res.end(r.body);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    calls,
    clientConfig: {
      endpoint: `http://127.0.0.1:${port}`,
      region: 'eu-central-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    },
  };
}

describe.skipIf(!motoAvailable)(`decrypt drill and recover --via-function ${motoAvailable ? '' : SKIP_REASON}`, () => {
  it('drills on a scheduled event without contacting the Coordinator, and reports a failing drill', async () => {
    fx = await setupFixture({
      state: 'healthy',
      env: { DECRYPT_DRILL: 'true', DECRYPT_DRILL_RULE: 'contrast-autorecover-schedule' },
    });
    const out = captureOutput();
    try {
      const ok = await fx.handler(scheduledEvent(), lambdaContext());
      expect(ok.drills).toEqual([expect.objectContaining({ deployment: fx.deployment, ok: true, kmsDecrypts: 1 })]);
      expect(fx.kmsDecrypts).toHaveLength(1);
      expect(fx.kmsDecrypts[0]!.context).toMatchObject({ 'contrast-autorecover:deployment': fx.deployment });
      // Its audit record names the Decrypt's request ID: CloudTrail tells it from a recovery by that ID.
      const drillAudit = auditRecords(out.json()).find((a) => a.action === 'decrypt-drill') as {
        kms: { requests: { operation: string; requestId?: string }[] };
      };
      expect(drillAudit.kms.requests).toEqual([
        expect.objectContaining({ operation: 'Decrypt', requestId: expect.stringMatching(/\S/) }),
      ]);
      // Configured under another name: the context no longer matches, KMS refuses.
      const renamed = { ...fx.config, deployments: [{ ...fx.config.deployments[0]!, name: `${fx.deployment}-copy` }] };
      const bad = await fx.makeHandler({ config: renamed })(scheduledEvent(), lambdaContext());
      expect(bad.drills).toEqual([
        expect.objectContaining({
          ok: false,
          message: expect.stringMatching(/decrypt drill failed: KMS Decrypt refused/),
        }),
      ]);
      const drillMetrics = emfRecords(out.json()).filter((r) => 'DecryptDrillFailed' in r);
      expect(drillMetrics.map((r) => r.DecryptDrillFailed)).toEqual([0, 1]);
    } finally {
      out.restore();
    }
    // Healthy probe only: no Recover, and the drill itself opened no connection.
    expect(fx.emu.recoverCalls).toHaveLength(0);
  });

  it('invokes the function and returns its result; the caller is declared in ClientContext', async () => {
    fx = await setupFixture();
    const f = fx;
    const out = captureOutput();
    try {
      const api = await lambdaApi(async (payload, cc) => {
        const ctx = {
          ...lambdaContext('req-cli'),
          clientContext: cc ? (JSON.parse(Buffer.from(cc, 'base64').toString()) as { custom: unknown }) : undefined,
        };
        return { body: JSON.stringify(await f.handler(payload, ctx as unknown as Parameters<typeof f.handler>[1])) };
      });
      const result = await invokeViaFunction({
        functionName: 'contrast-autorecover',
        action: 'recover',
        deployment: f.deployment,
        force: false,
        reason: 'ticket OPS-2',
        clientConfig: api.clientConfig,
      });
      expect(result).toMatchObject({ outcome: 'recovered', deployment: f.deployment, requestId: 'req-cli' });
      expect(api.calls[0]!.path).toMatch(/functions\/contrast-autorecover\/invocations/);
      expect(api.calls[0]!.payload).toEqual({
        action: 'recover',
        deployment: f.deployment,
        force: false,
        reason: 'ticket OPS-2',
      });
      const audit = out.json().find((r) => r.message === 'audit')!.audit as { caller: { declaredCaller?: string } };
      expect(audit.caller.declaredCaller).toMatch(/contrast-autorecover CLI/);
    } finally {
      out.restore();
    }
  });

  it('turns a function error and a foreign result into clear errors', async () => {
    const api = await lambdaApi(async (payload) =>
      (payload as { deployment: string }).deployment === 'boom'
        ? {
            body: JSON.stringify({ errorType: 'ConfigError', errorMessage: 'configuration: KUBE_AUTH: required' }),
            functionError: 'Unhandled',
          }
        : { body: JSON.stringify({ hello: 'world' }) },
    );
    const base = {
      functionName: 'f',
      action: 'status' as const,
      force: false,
      reason: 'r',
      clientConfig: api.clientConfig,
    };
    await expect(invokeViaFunction({ ...base, deployment: 'boom' })).rejects.toThrow(
      /failed \(Unhandled\): ConfigError: configuration: KUBE_AUTH: required/,
    );
    await expect(invokeViaFunction({ ...base, deployment: 'x' })).rejects.toThrow(ViaFunctionError);
    await expect(
      invokeViaFunction({
        ...base,
        deployment: 'x',
        clientConfig: { ...api.clientConfig, endpoint: 'http://127.0.0.1:1' },
      }),
    ).rejects.toThrow(/could not invoke function f/);
  });
});
