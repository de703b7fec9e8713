/**
 * `cold-start`: a fresh Node process imports the function's bundle and serves one scheduled
 * no-op — a healthy deployment whose restarts are recorded complete: lease, guard snapshot
 * with the bundle read beside it, aTLS handshake + GetManifests, result event with the lease
 * released beside it, metrics, audit record, trace — against moto and the Coordinator
 * emulator, with the Lambda runtime's environment (tracing on, stack.ts).
 *
 * Floor, measured in the same run and interleaved: a fresh process importing a bare bundle
 * (same esbuild options) that makes the same service calls with the bare SDK clients and
 * node:tls/node:http2 — the lease write, the snapshot read beside GetSecretValue, one TLS
 * handshake with the aTLS nonce (and the evidence's binding found in the certificate) and one
 * HTTP/2 request, PutEvents beside the lease release. Both are wall times from spawn to exit.
 *
 * A second floor, the one the target is against, makes the same calls with the packages the
 * design fixes: the same SDK clients, and @grpc/grpc-js for the aTLS GetManifests (floorSource).
 * All three bundles run interleaved (ours, design floor, physical floor, ours untraced).
 * `cold-start:import` is the import() of each bundle alone, from the same runs: ours against
 * the design floor's. Target ≤ 1.3 × the design floor for both; `cold-start:physical` is the
 * same value against the node:http2 floor, the physical reference (no target). The breakdown adds the same no-op with
 * tracing off (POWERTOOLS_TRACE_ENABLED=false), interleaved too: what X-Ray tracing costs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { createInsecureTestingVerifier } from '../testing/attestation/insecure-verifier.ts';
import { loadConfig } from '../lambda/function/config.ts';
import { createHandler } from '../lambda/function/handler.ts';
import { FUNCTION_TIMEOUT_SECONDS } from '../lambda/shared/budgets.ts';
import { CoordinatorEmulator } from '../testing/coordinator-emulator.ts';
import { MOTO_INSTALL_HINT } from '../testing/moto-server.ts';
import { makeWorkspace } from '../testing/workspace.ts';
import { bundleEntry, handlerEntrySource, runCold, type ColdRun } from './bundle.ts';
import { median, type Benchmark, type Figure } from './harness.ts';
import { scheduledEvent, startStack } from './stack.ts';

const RUNS = 15;
const TARGET = 'target ≤ 1.3 × floor';

/**
 * The bare floors: the same service calls, no project code. `physical` speaks gRPC over raw
 * node:http2 (the reference: the least the calls cost); `design` uses the packages the design
 * fixes — the same SDK clients, and @grpc/grpc-js for the aTLS GetManifests, its connections
 * made by a ChannelCredentials whose connector does the nonce handshake (as
 * lambda/coordinator/atls.ts must, grpc-js's own TLS credentials cannot carry the nonce), with
 * the Coordinator client's channel options, and the message passed as bytes (no protobuf runtime).
 */
function floorSource(transport: 'physical' | 'design'): string {
  const imports =
    transport === 'physical'
      ? `import http2 from 'node:http2';`
      : `import { ChannelCredentials, Client, credentials } from '@grpc/grpc-js';`;
  const rpc =
    transport === 'physical'
      ? `async function getManifests(host, port, authority) {
  const socket = await handshake(connect({ host, port, ...TLS(), }));
  return new Promise((resolve, reject) => {
    const session = http2.connect('https://' + authority, { createConnection: () => socket });
    const req = session.request({ ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc', te: 'trailers' });
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('trailers', (t) => (t['grpc-status'] === '0' ? resolve(Buffer.concat(chunks)) : reject(new Error('floor: GetManifests ' + t['grpc-status']))));
    req.on('error', reject);
    req.on('close', () => session.close());
    req.end(Buffer.alloc(5));
  });
}`
      : `class AtlsFloorCredentials extends ChannelCredentials {
  compose() { throw new Error('floor: no call credentials'); }
  _isSecure() { return true; }
  _equals(other) { return other === this; }
  _createSecureConnector() {
    const callCreds = credentials.createEmpty();
    return {
      connect: async (socket) => ({ socket: await handshake(connect({ socket, ...TLS() })), secure: true }),
      waitForReady: () => Promise.resolve(),
      getCallCredentials: () => callCreds,
      destroy: () => {},
    };
  }
}
const bytes = (b) => b;
function getManifests(_host, _port, authority) {
  const client = new Client(authority, new AtlsFloorCredentials(), {
    'grpc.use_local_subchannel_pool': 1,
    'grpc.enable_channelz': 0,
    'grpc.enable_retries': 0,
    'grpc.service_config_disable_resolution': 1,
    'grpc.initial_reconnect_backoff_ms': 200,
    'grpc.max_reconnect_backoff_ms': 1000,
  });
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(PATH, bytes, bytes, Buffer.alloc(0), { deadline: Date.now() + 10000 }, (err, res) => {
      client.close();
      return err ? reject(err) : resolve(res);
    }),
  );
}`;
  return `import { BatchGetItemCommand, DeleteItemCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:tls';
${imports}

const secrets = new SecretsManagerClient({});
const kms = new KMSClient({});
const dynamodb = new DynamoDBClient({});
const events = new EventBridgeClient({});
const PATH = '/edgelesssys.contrast.userapi.UserAPI/GetManifests';

let nonce;
function TLS() {
  nonce = randomBytes(32);
  return { ALPNProtocols: ['atls:v1:nonce:' + nonce.toString('hex'), 'h2'], servername: nonce.toString('base64'), rejectUnauthorized: false, ca: [] };
}

/** Resolves with the TLS socket once the handshake is done and the evidence's binding is found in the certificate. */
function handshake(socket) {
  const n = nonce;
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      const cert = socket.getPeerX509Certificate();
      const binding = createHash('sha512').update(cert.publicKey.export({ type: 'spki', format: 'der' })).update(n).digest();
      if (cert.raw.indexOf(binding) < 0) return reject(new Error('floor: evidence not bound to this connection'));
      resolve(socket);
    });
  });
}

${rpc}

export const handler = async (_event, context) => {
  const table = process.env.LOCK_TABLE_NAME;
  const [d] = JSON.parse(process.env.CONTRAST_DEPLOYMENTS);
  const now = Math.floor(Date.now() / 1000);
  const lock = { pk: { S: 'lock#' + d.name } };
  await dynamodb.send(new PutItemCommand({
    TableName: table,
    Item: { ...lock, owner: { S: context.awsRequestId }, expiresAt: { N: String(now + 360) }, acquiredAt: { N: String(now) } },
    ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now OR #o = :owner',
    ExpressionAttributeNames: { '#o': 'owner' },
    ExpressionAttributeValues: { ':now': { N: String(now) }, ':owner': { S: context.awsRequestId } },
  }));
  const [, secret] = await Promise.all([
    dynamodb.send(new BatchGetItemCommand({ RequestItems: { [table]: { Keys: ['pause#' + d.name, 'pause#*', 'record#' + d.name].map((pk) => ({ pk: { S: pk } })), ConsistentRead: true } } })),
    secrets.send(new GetSecretValueCommand({ SecretId: d.secretId })),
  ]);
  JSON.parse(secret.SecretString);
  const i = d.coordinator.lastIndexOf(':');
  await getManifests(d.coordinator.slice(0, i), Number(d.coordinator.slice(i + 1)), d.coordinator);
  await Promise.all([
    events.send(new PutEventsCommand({ Entries: [{ EventBusName: process.env.EVENT_BUS_NAME, Source: 'contrast.autorecover', DetailType: 'Coordinator Recovery Skipped', Detail: JSON.stringify({ deployment: d.name, outcome: 'already-healthy' }) }] })),
    dynamodb.send(new DeleteItemCommand({ TableName: table, Key: lock, ConditionExpression: '#o = :owner', ExpressionAttributeNames: { '#o': 'owner' }, ExpressionAttributeValues: { ':owner': { S: context.awsRequestId } } })),
  ]);
  return { outcome: 'already-healthy', clients: [kms].length };
};
`;
}

/** The physical reference floor (raw node:http2), kept for comparison with earlier figures. */
export const floorEntrySource = floorSource('physical');
/** The floor with the design's packages (grpc-js, the same SDK clients): the one the target is against. */
export const designFloorEntrySource = floorSource('design');

async function coldStart(): Promise<Figure[]> {
  const stack = await startStack();
  if (!stack)
    return [
      { name: 'cold-start', value: Number.NaN, unit: 'ms', note: `skipped: moto not installed; ${MOTO_INSTALL_HINT}` },
    ];
  const dir = await mkdtemp(join(tmpdir(), 'cold-start-'));
  let emu: CoordinatorEmulator | undefined;
  try {
    const deployment = `bench-${Math.random().toString(16).slice(2, 8)}`;
    const ws = await makeWorkspace();
    const secretId = await stack.enroll(deployment, ws);
    emu = await CoordinatorEmulator.start({ state: 'healthy', manifest: ws.manifest, seed: ws.seed, salt: ws.salt });
    const env = stack.env([{ name: deployment, secretId, coordinator: emu.address }], {
      // Kubernetes configured, but the record says the restarts are complete: no Kubernetes load.
      KUBE_AUTH: 'kubeconfig',
      KUBECONFIG_SECRET_ID: `kubeconfig/${deployment}`,
      LAMBDA_TASK_ROOT: dir,
    });

    // Record "restarts complete" for the emulator's mesh CA key, as an earlier reconcile would.
    const warm = createHandler({
      config: loadConfig(env),
      clients: stack.clients,
      verifierFactory: () => createInsecureTestingVerifier(),
      kubernetes: async () => ({
        peers: { readyPeers: async () => ({ readyPeers: [], coordinatorPods: [] }) },
        restarts: {
          restartStale: async (r) => ({
            meshCaSpkiSha256: r.meshCa.spkiSha256,
            results: [],
            complete: true,
            staleWorkloads: 0,
          }),
        },
      }),
      telemetry: { logger: new Logger({ logLevel: 'SILENT' }), metrics: { publish() {} } },
    });
    const event = scheduledEvent();
    await warm(event, { awsRequestId: 'warm', getRemainingTimeInMillis: () => FUNCTION_TIMEOUT_SECONDS * 1000 });

    const ours = await bundleEntry(handlerEntrySource(true), dir, 'handler');
    const floor = await bundleEntry(floorEntrySource, dir, 'floor');
    const design = await bundleEntry(designFloorEntrySource, dir, 'design-floor');
    const check = (r: ColdRun, what: string) => {
      if (r.response.outcome !== 'already-healthy')
        throw new Error(
          `cold-start: ${what} answered ${r.response.outcome} (${r.response.results?.[0]?.message ?? ''}), expected already-healthy`,
        );
      return r;
    };
    check(await runCold(ours.entry, env, event), 'the scheduled no-op');
    check(await runCold(floor.entry, env, event), 'the floor');
    check(await runCold(design.entry, env, event), 'the design floor');
    // Ours again with tracing off (POWERTOOLS_TRACE_ENABLED=false): what X-Ray tracing costs a cold no-op.
    const untracedEnv = { ...env, POWERTOOLS_TRACE_ENABLED: 'false' };
    const a: ColdRun[] = [];
    const b: ColdRun[] = [];
    const c: ColdRun[] = [];
    const g: ColdRun[] = [];
    for (let i = 0; i < RUNS; i++) {
      a.push(check(await runCold(ours.entry, env, event), 'the scheduled no-op'));
      g.push(check(await runCold(design.entry, env, event), 'the design floor'));
      b.push(check(await runCold(floor.entry, env, event), 'the floor'));
      c.push(check(await runCold(ours.entry, untracedEnv, event), 'the untraced no-op'));
    }
    const med = (runs: ColdRun[], k: 'wallMs' | 'bootMs' | 'importMs' | 'invokeMs') => median(runs.map((r) => r[k]));
    const kb = (n: number) => `${Math.round(n / 1024)} KB`;
    return [
      {
        name: 'cold-start',
        value: med(a, 'wallMs'),
        unit: 'ms',
        floor: med(g, 'wallMs'),
        breakdown: {
          boot: med(a, 'bootMs'),
          import: med(a, 'importMs'),
          invoke: med(a, 'invokeMs'),
          floorImport: med(g, 'importMs'),
          floorInvoke: med(g, 'invokeMs'),
          untraced: med(c, 'wallMs'),
          untracedInvoke: med(c, 'invokeMs'),
        },
        note: `spawn → one scheduled no-op served → exit; floor: bare bundle with the design's packages (same SDK clients, grpc-js) making the same calls; ${TARGET}`,
      },
      {
        name: 'cold-start:import',
        value: med(a, 'importMs'),
        unit: 'ms',
        floor: med(g, 'importMs'),
        note: `import() of the bundle alone (startup chunks ${kb(ours.entryBytes)} vs ${kb(design.entryBytes)}); ${TARGET}`,
      },
      {
        name: 'cold-start:physical',
        value: med(a, 'wallMs'),
        unit: 'ms',
        floor: med(b, 'wallMs'),
        breakdown: {
          floorImport: med(b, 'importMs'),
          floorInvoke: med(b, 'invokeMs'),
          designFloor: med(g, 'wallMs'),
          designFloorVsPhysical: med(g, 'wallMs') / med(b, 'wallMs'),
        },
        note: `the same runs against the physical reference: bare SDK clients + node:tls/http2 (startup chunks ${kb(floor.entryBytes)}); no target`,
      },
    ];
  } finally {
    await emu?.stop();
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export const benchmarks: Benchmark[] = [{ group: 'cold-start', run: coldStart }];
