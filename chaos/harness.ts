/**
 * What every chaos class shares: moto behind a fault proxy (an AWS operation can be made to
 * accept and never answer, or to answer late), a freshly enrolled deployment per case with
 * its own lock table, bus and Coordinator emulator, the handler built as production builds it
 * (its own AWS clients, with scaled-down budgets), and the four checks every case makes:
 * an outcome within the budget, an audit record, no second Recover, no secret in any output.
 */
import { randomUUID } from 'node:crypto';
import { createPrivateKey } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { CreateTableCommand, DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateKeyCommand, DecryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createInsecureTestingVerifier } from '../testing/attestation/insecure-verifier.ts';
import { loadConfig, type HandlerConfig } from '../lambda/function/config.ts';
import { createHandler, type HandlerOverrides, type HandlerResponse } from '../lambda/function/handler.ts';
import { LockTable } from '../lambda/function/lease.ts';
import { ownerKeyContext } from '../lambda/keys/context.ts';
import { BundleStore } from '../lambda/keys/store.ts';
import type { KubernetesSide } from '../lambda/kubernetes/types.ts';
import { buildBundle } from '../lambda/reconcile/enroll.ts';
import { budgetsWith, type Budgets } from '../lambda/shared/budgets.ts';
import { CoordinatorEmulator, type EmulatorOptions } from '../testing/coordinator-emulator.ts';
import { makeWorkspace, type Workspace } from '../testing/workspace.ts';
import { findLeaks, pemNeedles, secretNeedles } from '../test/support/secrets.ts';

export const REGION = 'eu-central-1';

/**
 * Scaled-down budgets: the same rules as production, in hundreds of milliseconds, so a hung
 * dependency costs a chaos case about a second instead of a minute.
 */
export const CHAOS_BUDGETS: Budgets = budgetsWith({
  aws: { connectionTimeoutMs: 200, requestTimeoutMs: 400, maxAttempts: 2 },
  coordinator: { handshakeTimeoutMs: 500, rpcTimeoutMs: 1_000 },
  kubernetes: { requestTimeoutMs: 400, attempts: 2 },
  reportReserveMs: 1_000,
  resultEventMs: 400,
  leaseMarginMs: 500,
});

/** The function's remaining time each chaos invocation starts with: enough for a Decrypt under CHAOS_BUDGETS (its budget counts the SDK's longest backoff). */
export const CHAOS_REMAINING_MS = 45_000;

// ---- results ----

export interface CaseResult {
  name: string;
  problems: string[];
  ms: number;
}

export interface ClassResult {
  class: string;
  cases: number;
  held: number;
  failed: number;
  failures: { case: string; problems: string[] }[];
}

export type CaseBody = (check: Checks) => Promise<void>;

/** Collects what did not hold in one case (a case holds when nothing is collected). */
export class Checks {
  readonly problems: string[] = [];

  that(ok: boolean, problem: string): boolean {
    if (!ok) this.problems.push(problem);
    return ok;
  }
}

export async function runCase(name: string, body: CaseBody, timeoutMs = 60_000): Promise<CaseResult> {
  const check = new Checks();
  const t0 = Date.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      body(check),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the case did not finish within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    check.problems.push(`case error: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
  return { name, problems: check.problems, ms: Date.now() - t0 };
}

export function summarize(className: string, results: CaseResult[]): ClassResult {
  const failures = results.filter((r) => r.problems.length > 0).map((r) => ({ case: r.name, problems: r.problems }));
  return {
    class: className,
    cases: results.length,
    held: results.length - failures.length,
    failed: failures.length,
    failures,
  };
}

// ---- the AWS fault proxy ----

/** `match`: only requests whose body contains it (e.g. one PutItem among several). */
export type Fault =
  | { op: string; kind: 'hang'; match?: string }
  | { op: string; kind: 'delay'; ms: number; times?: number; match?: string };

/**
 * An HTTP proxy in front of moto. Every AWS call of the handler goes through it; a fault
 * names an operation by its X-Amz-Target (e.g. `TrentService.Decrypt`) and makes it accept
 * and never answer, or answer late. It also keeps every request and response body, so the
 * secret check sees what went over the wire (PutEvents entries, Decrypt plaintexts).
 */
export class AwsProxy {
  readonly faults: Fault[] = [];
  readonly bodies: { op: string; request: string; response: string }[] = [];
  private readonly sockets = new Set<Socket>();
  private server!: http.Server;
  url = '';

  constructor(private readonly moto: string) {}

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this;
  }

  /** Operations the handler sent, in order (X-Amz-Target). */
  ops(): string[] {
    return this.bodies.map((b) => b.op);
  }

  clear(): void {
    this.faults.length = 0;
    this.bodies.length = 0;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const op = String(req.headers['x-amz-target'] ?? `${req.method} ${req.url}`);
    const record = { op, request: body.toString('utf8'), response: '' };
    this.bodies.push(record);
    const text = record.request;
    const fault = this.faults.find((f) => f.op === op && (f.match === undefined || text.includes(f.match)));
    if (fault?.kind === 'hang') return; // accepted, never answered
    if (fault?.kind === 'delay') {
      if (fault.times !== undefined && --fault.times <= 0) this.faults.splice(this.faults.indexOf(fault), 1);
      await new Promise((r) => setTimeout(r, fault.ms));
    }
    const upstream = http.request(`${this.moto}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
      const out: Buffer[] = [];
      up.on('data', (c: Buffer) => out.push(c));
      up.on('end', () => {
        const payload = Buffer.concat(out);
        record.response = payload.toString('utf8');
        if (res.destroyed) return;
        res.writeHead(up.statusCode ?? 502, up.headers);
        res.end(payload);
      });
    });
    upstream.on('error', (e) => {
      if (!res.destroyed) res.writeHead(502).end(String(e));
    });
    upstream.end(body);
  }
}

// ---- a deployment enrolled into moto, per case ----

export interface World {
  deployment: string;
  secretId: string;
  kmsKeyId: string;
  tableName: string;
  busName: string;
  config: HandlerConfig;
  ws: Workspace;
  emu: CoordinatorEmulator;
  lock: LockTable;
  /** Secret encodings to search every output for. */
  needles: Record<string, string[]>;
  stop(): Promise<void>;
}

export interface Env {
  moto: string;
  proxy: AwsProxy;
}

const direct = (moto: string) => ({
  region: REGION,
  endpoint: moto,
  credentials: { accessKeyId: 'chaos', secretAccessKey: 'chaos' },
  maxAttempts: 1,
});

export async function makeWorld(
  env: Env,
  opts: {
    emulator?: Partial<EmulatorOptions>;
    configEnv?: Record<string, string>;
    deploymentExtra?: Record<string, unknown>;
  } = {},
): Promise<World> {
  const cfg = direct(env.moto);
  const kms = new KMSClient(cfg);
  const secrets = new SecretsManagerClient(cfg);
  const dynamodb = new DynamoDBClient(cfg);
  const events = new EventBridgeClient(cfg);
  const id = randomUUID().slice(0, 8);
  const deployment = `chaos-${id}`;
  const secretId = `contrast/${deployment}`;
  const tableName = `locks-${id}`;
  const busName = `bus-${id}`;
  await dynamodb.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  await dynamodb.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    }),
  );
  await events.send(new CreateEventBusCommand({ Name: busName }));
  const kmsKeyId = (await kms.send(new CreateKeyCommand({ Description: 'contrast-autorecover chaos' }))).KeyMetadata!
    .Arn!;
  const ws = await makeWorkspace({ modulusLength: 2048 });
  const pem = Buffer.from(ws.ownerKeyPem);
  const { document } = await buildBundle({
    deployment,
    kmsKeyId,
    files: { manifest: ws.manifest, seedShares: ws.seedShares, ownerKeyPem: pem },
    kms,
  });
  pem.fill(0);
  await new BundleStore(secrets).save(secretId, document, kmsKeyId);
  // The data key, as KMS hands it to the function: it must not appear in any output either.
  const dataKey = (
    await kms.send(
      new DecryptCommand({
        KeyId: kmsKeyId,
        CiphertextBlob: Buffer.from(document.ownerKey.encryptedDataKey, 'base64'),
        EncryptionContext: ownerKeyContext(deployment, ws.manifest, ws.seedShares),
      }),
    )
  ).Plaintext!;
  const emu = await CoordinatorEmulator.start({
    state: 'stale',
    manifest: ws.manifest,
    seed: ws.seed,
    salt: ws.salt,
    ...opts.emulator,
  });
  const config = loadConfig({
    CONTRAST_DEPLOYMENTS: JSON.stringify([
      {
        name: deployment,
        secretId,
        coordinator: emu.address,
        alarmNames: [`${deployment}-alarm`],
        ...opts.deploymentExtra,
      },
    ]),
    LOCK_TABLE_NAME: tableName,
    EVENT_BUS_NAME: busName,
    KUBE_AUTH: 'none',
    MAX_RECOVERIES_PER_HOUR: '5',
    ...opts.configEnv,
  });
  const keyDer = createPrivateKey(ws.ownerKeyPem).export({ type: 'pkcs1', format: 'der' });
  return {
    deployment,
    secretId,
    kmsKeyId,
    tableName,
    busName,
    config,
    ws,
    emu,
    lock: new LockTable({ client: dynamodb, tableName }),
    needles: {
      seed: secretNeedles(ws.seed),
      'owner key (DER)': secretNeedles(keyDer),
      'owner key (PEM)': pemNeedles(ws.ownerKeyPem.toString('utf8')),
      'KMS data key': secretNeedles(dataKey),
    },
    stop: () => emu.stop(),
  };
}

/** A Kubernetes side on which restarts finish at once: for retries after a kill, where only the AWS side is judged. */
export const quickKubernetes = async (): Promise<KubernetesSide> => ({
  peers: { readyPeers: async () => ({ readyPeers: [], coordinatorPods: ['coordinator-0'] }) },
  restarts: {
    restartStale: async (req) => ({
      meshCaSpkiSha256: req.meshCa.spkiSha256,
      results: [],
      complete: true,
      staleWorkloads: 0,
    }),
  },
});
/** The handler as production builds it (its own AWS clients, through the proxy), with chaos budgets. */
export function chaosHandler(world: World, overrides: HandlerOverrides = {}) {
  return createHandler({
    config: world.config,
    budgets: CHAOS_BUDGETS,
    verifierFactory: () => createInsecureTestingVerifier(),
    ...overrides,
  });
}

export function lambdaContext(requestId: string = randomUUID(), remainingMs = CHAOS_REMAINING_MS) {
  const end = Date.now() + remainingMs;
  return {
    awsRequestId: requestId,
    functionName: 'contrast-autorecover',
    invokedFunctionArn: 'arn:aws:lambda:eu-central-1:123456789012:function:contrast-autorecover',
    getRemainingTimeInMillis: () => end - Date.now(),
  };
}

// ---- one invocation, every output captured ----

export interface Invocation {
  response?: HandlerResponse;
  error?: Error;
  ms: number;
  remainingMs: number;
  /** Everything written to stdout and stderr while it ran. */
  output: string;
  /** JSON log lines. */
  records: Record<string, unknown>[];
  audits: Record<string, unknown>[];
  /** The invocation had not returned when its time was up (plus a second of grace). */
  hung: boolean;
}

let capturing = 0;
const captured: string[] = [];
const realWrite = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };

/** Captures process output while fn runs (nested and concurrent invocations share the capture). */
async function capture<T>(fn: () => Promise<T>): Promise<{ value: T; text: string }> {
  const start = captured.length;
  if (capturing++ === 0) {
    const sink = ((chunk: string | Uint8Array) => {
      captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    }) as typeof process.stdout.write;
    process.stdout.write = sink;
    process.stderr.write = sink;
  }
  try {
    const value = await fn();
    return { value, text: captured.slice(start).join('') };
  } finally {
    if (--capturing === 0) {
      process.stdout.write = realWrite.out;
      process.stderr.write = realWrite.err;
      captured.length = 0;
    }
  }
}

export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

export function auditsOf(records: Record<string, unknown>[]): Record<string, unknown>[] {
  return records.filter((r) => r.message === 'audit').map((r) => r.audit as Record<string, unknown>);
}

export async function invoke(
  handler: ReturnType<typeof createHandler>,
  event: unknown,
  ctx = lambdaContext(),
): Promise<Invocation> {
  const remainingMs = ctx.getRemainingTimeInMillis();
  const t0 = Date.now();
  let hung = false;
  const { value, text } = await capture(async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const watchdog = new Promise<{ error: Error }>((resolve) => {
      timer = setTimeout(() => {
        hung = true;
        resolve({ error: new Error('no outcome before the function limit') });
      }, remainingMs + 1_000);
    });
    const run = handler(event, ctx).then(
      (response) => ({ response }),
      (error: Error) => ({ error }),
    );
    try {
      return await Promise.race([run, watchdog]);
    } finally {
      clearTimeout(timer);
    }
  });
  const records = jsonLines(text);
  // Concurrent invocations share the capture: an invocation's audit records carry its request id.
  const audits = auditsOf(records).filter((a) => a.requestId === ctx.awsRequestId);
  return { ...value, ms: Date.now() - t0, remainingMs, output: text, records, audits, hung };
}

// ---- the four checks ----

/**
 * An outcome (a response or a reported failure) before the function's limit — and, when the
 * case knows it, within the budget of the dependency that failed (`boundMs`), so a missing
 * timeout shows even where the invocation's deadline would still have saved the day.
 */
export function checkInTime(c: Checks, inv: Invocation, boundMs = inv.remainingMs): void {
  const limit = Math.min(boundMs, inv.remainingMs);
  c.that(
    !inv.hung && inv.ms < limit,
    `no outcome within the budget: ${inv.ms} ms, allowed ${limit} ms${inv.hung ? ' (still running at the function limit)' : ''}`,
  );
}

/** An audit record for each deployment the invocation reconciled. */
export function checkAudit(
  c: Checks,
  inv: Invocation,
  deployment: string,
  expect?: Record<string, unknown>,
): Record<string, unknown> | undefined {
  const audit = inv.audits.find((a) => a.deployment === deployment);
  if (!c.that(audit !== undefined, `no audit record for ${deployment}`)) return undefined;
  for (const [k, v] of Object.entries(expect ?? {})) {
    c.that(
      JSON.stringify(audit![k]) === JSON.stringify(v),
      `audit record ${k} = ${JSON.stringify(audit![k])}, expected ${JSON.stringify(v)}`,
    );
  }
  return audit;
}

/** The Coordinator got at most one Recover (and at most `max` over the case). */
export function checkOneRecover(c: Checks, world: World, max = 1): void {
  c.that(
    world.emu.recoverRequests <= max,
    `the Coordinator received ${world.emu.recoverRequests} Recover requests (at most ${max} allowed)`,
  );
}

/** No seed, owner key or data key in any output: logs, metrics, events, responses, errors, wire bodies. */
export function checkNoSecret(c: Checks, world: World, outputs: string[]): void {
  const leaks = findLeaks(outputs.join('\n'), world.needles);
  c.that(leaks.length === 0, `secret in output: ${leaks.join(', ')}`);
}

/** Everything one invocation let out, for the secret check. */
export function outputsOf(inv: Invocation, proxy?: AwsProxy): string[] {
  const wire = proxy ? proxy.bodies.filter((b) => b.op === 'AWSEvents.PutEvents').map((b) => b.request) : [];
  return [
    inv.output,
    JSON.stringify(inv.response ?? null),
    inv.error ? `${inv.error.name}: ${inv.error.message}` : '',
    ...wire,
  ];
}

/** The four checks for a single-invocation case; returns its audit record. */
export function checkAll(
  c: Checks,
  env: Env,
  world: World,
  inv: Invocation,
  audit?: Record<string, unknown>,
  boundMs?: number,
): Record<string, unknown> | undefined {
  checkInTime(c, inv, boundMs);
  const a = checkAudit(c, inv, world.deployment, audit);
  checkOneRecover(c, world);
  checkNoSecret(c, world, outputsOf(inv, env.proxy));
  return a;
}

export function outcomeOf(inv: Invocation): string | undefined {
  if (inv.response) return inv.response.results[0]?.outcome ?? inv.response.outcome;
  return (inv.error as { outcome?: string } | undefined)?.outcome;
}

/** Sample triggers in the shapes AWS documents. */
export const triggers = {
  restart: (deployment: string, overrides: Record<string, unknown> = {}) => ({
    version: '0',
    id: randomUUID(),
    'detail-type': 'Coordinator Restarted',
    source: 'contrast.coordinator',
    account: '123456789012',
    time: new Date().toISOString(),
    region: REGION,
    resources: [],
    detail: { deployment, pod: 'coordinator-0' },
    ...overrides,
  }),
  schedule: (rule = 'contrast-autorecover-schedule') => ({
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '123456789012',
    time: new Date().toISOString(),
    region: REGION,
    resources: [`arn:aws:events:eu-central-1:123456789012:rule/${rule}`],
    detail: {},
  }),
  direct: (deployment: string, action = 'recover') => ({ action, deployment, reason: 'chaos' }),
};
