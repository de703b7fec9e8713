/**
 * One deployment wired end to end for handler tests: moto (DynamoDB lock table, EventBridge
 * bus, KMS key, Secrets Manager bundle), the Coordinator emulator, and capture of every
 * output channel (stdout/stderr lines, PutEvents entries, trace annotations, KMS plaintexts).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateEventBusCommand, EventBridgeClient, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { vi } from 'vitest';
import { createInsecureTestingVerifier } from '../../testing/attestation/insecure-verifier.ts';
import { loadConfig, type HandlerConfig } from '../../lambda/function/config.ts';
import { buildBundle } from '../../lambda/reconcile/enroll.ts';
import { createHandler, type HandlerOverrides } from '../../lambda/function/handler.ts';
import { BundleStore } from '../../lambda/keys/store.ts';
import { LockTable } from '../../lambda/function/lease.ts';
import { BUDGETS, type Budgets } from '../../lambda/shared/budgets.ts';
import type { AnnotationValue, Trace } from '../../lambda/function/observability.ts';
import { awsClientConfig, uniqueName } from '../support/aws.ts';
import { CoordinatorEmulator, type EmulatorState } from '../../testing/coordinator-emulator.ts';
import { makeWorkspace, type Workspace } from '../../testing/workspace.ts';
import { createLockTable } from './lock-table.ts';

export interface TraceRecord {
  annotations: [string, AnnotationValue][];
  spans: string[];
}

export function recordingTrace(): Trace & TraceRecord {
  const rec: TraceRecord = { annotations: [], spans: [] };
  return {
    ...rec,
    annotate(key, value) {
      rec.annotations.push([key, value]);
    },
    async span(name, fn) {
      rec.spans.push(name);
      return fn();
    },
    captureClient: (c) => c,
  };
}

export interface Fixture {
  deployment: string;
  secretId: string;
  kmsKeyId: string;
  ws: Workspace;
  emu: CoordinatorEmulator;
  config: HandlerConfig;
  clients: { secrets: SecretsManagerClient; kms: KMSClient; dynamodb: DynamoDBClient; events: EventBridgeClient };
  lock: LockTable;
  tableName: string;
  events: PutEventsRequestEntry[];
  kmsDecrypts: { plaintext: Uint8Array | undefined; context: Record<string, string> | undefined }[];
  trace: ReturnType<typeof recordingTrace>;
  handler: ReturnType<typeof createHandler>;
  /** A second handler (another container) sharing the same AWS state. */
  makeHandler(overrides?: HandlerOverrides): ReturnType<typeof createHandler>;
  stop(): Promise<void>;
}

/** Budgets with the fixture's shorter Coordinator timeouts (the emulator answers in milliseconds). */
export function withFixtureCoordinator(budgets: Budgets): Budgets {
  return { ...budgets, coordinator: { handshakeTimeoutMs: 3000, rpcTimeoutMs: 3000 } };
}

/** The fixture handlers' budgets unless a test passes its own. */
export const FIXTURE_BUDGETS = withFixtureCoordinator(BUDGETS);

export async function setupFixture(
  opts: {
    state?: EmulatorState;
    env?: Record<string, string>;
    overrides?: HandlerOverrides;
    deploymentExtra?: Record<string, unknown>;
  } = {},
): Promise<Fixture> {
  const cfg = awsClientConfig();
  const secrets = new SecretsManagerClient(cfg);
  const kms = new KMSClient(cfg);
  const events = new EventBridgeClient(cfg);
  const { client: dynamodb, tableName } = await createLockTable();
  const busName = uniqueName('bus');
  await events.send(new CreateEventBusCommand({ Name: busName }));
  const key = await kms.send(new CreateKeyCommand({ Description: 'contrast-autorecover handler test' }));
  const kmsKeyId = key.KeyMetadata!.Arn!;

  const captured: PutEventsRequestEntry[] = [];
  events.middlewareStack.add(
    (next) => async (args) => {
      const input = args.input as { Entries?: PutEventsRequestEntry[] };
      if (input.Entries) captured.push(...input.Entries);
      return next(args);
    },
    { step: 'initialize', name: 'captureEntries' },
  );
  const kmsDecrypts: Fixture['kmsDecrypts'] = [];
  kms.middlewareStack.add(
    (next, context) => async (args) => {
      const out = await next(args);
      if (context.commandName === 'DecryptCommand') {
        const o = out.output as { Plaintext?: Uint8Array };
        // Copy: the caller zeroes the original.
        kmsDecrypts.push({
          plaintext: o.Plaintext ? Uint8Array.from(o.Plaintext) : undefined,
          context: (args.input as { EncryptionContext?: Record<string, string> }).EncryptionContext,
        });
      }
      return out;
    },
    { step: 'initialize', name: 'captureDecrypt' },
  );

  const deployment = uniqueName('prod');
  const secretId = `contrast/${deployment}`;
  const ws = await makeWorkspace();
  const pem = Buffer.from(ws.ownerKeyPem);
  const { document } = await buildBundle({
    deployment,
    kmsKeyId,
    files: { manifest: ws.manifest, seedShares: ws.seedShares, ownerKeyPem: pem },
    kms,
  });
  pem.fill(0);
  await new BundleStore(secrets).save(secretId, document, kmsKeyId);
  // Bundle creation used KMS (GenerateDataKey); only the handler's Decrypts count.
  kmsDecrypts.length = 0;

  const emu = await CoordinatorEmulator.start({
    state: opts.state ?? 'stale',
    manifest: ws.manifest,
    seed: ws.seed,
    salt: ws.salt,
  });
  const config = loadConfig({
    CONTRAST_DEPLOYMENTS: JSON.stringify([
      {
        name: deployment,
        secretId,
        coordinator: emu.address,
        alarmNames: [`${deployment}-restarted`],
        ...opts.deploymentExtra,
      },
    ]),
    LOCK_TABLE_NAME: tableName,
    EVENT_BUS_NAME: busName,
    KUBE_AUTH: 'none',
    ...opts.env,
  });
  const trace = recordingTrace();
  const clients = { secrets, kms, dynamodb, events };
  const makeHandler = (overrides: HandlerOverrides = {}) =>
    createHandler({
      config,
      clients,
      verifierFactory: () => createInsecureTestingVerifier(),
      telemetry: { trace },
      budgets: FIXTURE_BUDGETS,
      ...opts.overrides,
      ...overrides,
    });
  return {
    deployment,
    secretId,
    kmsKeyId,
    ws,
    emu,
    config,
    clients,
    lock: new LockTable({ client: dynamodb, tableName }),
    tableName,
    events: captured,
    kmsDecrypts,
    trace,
    handler: makeHandler(),
    makeHandler,
    stop: () => emu.stop(),
  };
}

/** Captures everything written to stdout/stderr (Powertools logger and EMF metrics). */
export function captureOutput() {
  const lines: string[] = [];
  const wrap = (stream: NodeJS.WriteStream) =>
    vi.spyOn(stream, 'write').mockImplementation(((chunk: unknown) => {
      lines.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      return true;
    }) as typeof stream.write);
  const spies = [wrap(process.stdout), wrap(process.stderr)];
  return {
    lines,
    json(): Record<string, unknown>[] {
      return lines
        .join('')
        .split('\n')
        .filter((l) => l.trim().startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    restore() {
      for (const s of spies) s.mockRestore();
    },
  };
}

export function emfRecords(records: Record<string, unknown>[]) {
  return records.filter((r) => r._aws !== undefined) as (Record<string, unknown> & {
    _aws: {
      CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[];
    };
  })[];
}

export function auditRecords(records: Record<string, unknown>[]) {
  return records.filter((r) => r.message === 'audit').map((r) => r.audit as Record<string, unknown>);
}
