/**
 * `cold-start`: a fresh Node process imports the esbuild-bundled handler and serves one
 * scheduled no-op (a healthy deployment whose restarts are recorded complete: lease, pause
 * and guard read, bundle load, aTLS probe, result event, metrics, audit record) against moto
 * and the Coordinator emulator. Floor, measured in the same run and interleaved: a fresh
 * process importing a bare handler bundle that creates the same four SDK clients.
 * Target ≤ 1.5 × floor. Both are wall times from spawn to exit.
 *
 * The bundle's entry swaps the production verifier for the insecure testing one, in code,
 * because the emulator's evidence is synthetic; the testing verifier is a few lines, so the
 * import cost measured is the production handler's. The build also checks that
 * @kubernetes/client-node is not in the entry chunk (it is code-split and loaded on demand).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Logger } from '@aws-lambda-powertools/logger';
import { build, type Metafile } from 'esbuild';
import { createInsecureTestingVerifier } from '../lambda/attestation/testing.ts';
import { loadConfig } from '../lambda/function/config.ts';
import { buildBundle } from '../lambda/reconcile/enroll.ts';
import { createHandler } from '../lambda/function/handler.ts';
import { BundleStore } from '../lambda/keys/store.ts';
import { CoordinatorEmulator } from '../testing/coordinator-emulator.ts';
import { findMotoPython, MOTO_INSTALL_HINT, startMoto } from '../testing/moto-server.ts';
import { makeWorkspace } from '../testing/workspace.ts';
import { timeInterleaved, type Benchmark, type Figure } from './harness.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface BundleInfo {
  entry: string;
  metafile: Metafile;
  /** Input files that end up in the entry chunk (evaluated at import). */
  entryInputs: string[];
  /** All input files of the build, lazy chunks included. */
  allInputs: string[];
}

/** Bundles an entry like the function's deployment does (esbuild, ESM, minified, split so dynamic imports stay lazy). */
export async function bundleEntry(source: string, outdir: string, name: string): Promise<BundleInfo> {
  const entryFile = join(outdir, `${name}.src.ts`);
  await writeFile(entryFile, source);
  const result = await build({
    entryPoints: { [name]: entryFile },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    splitting: true,
    // Minified like the deployed function (infra/function-code.ts): Node reads and compiles less.
    minify: !process.env.COLD_START_NO_MINIFY, // unminified: readable CPU profiles (COLD_START_NODE_ARGS=--cpu-prof)
    outdir,
    outExtension: { '.js': '.mjs' },
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: root,
    nodePaths: [join(root, 'node_modules')],
    // CommonJS dependencies call require() for Node built-ins.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  const entry = join(outdir, `${name}.mjs`);
  const outputs = result.metafile.outputs;
  const key = Object.keys(outputs).find((k) => resolve(root, k) === entry)!;
  // The entry chunk plus the chunks it imports statically are evaluated at import time.
  const eager = new Set<string>();
  const visit = (k: string) => {
    if (eager.has(k)) return;
    eager.add(k);
    for (const imp of outputs[k]?.imports ?? []) if (imp.kind === 'import-statement' && outputs[imp.path]) visit(imp.path);
  };
  visit(key);
  const entryInputs = [...eager].flatMap((k) => Object.keys(outputs[k]?.inputs ?? {}));
  return { entry, metafile: result.metafile, entryInputs, allInputs: Object.keys(result.metafile.inputs) };
}

export const handlerEntrySource = (testingVerifier: boolean) =>
  testingVerifier
    ? `import { createHandler } from ${JSON.stringify(join(root, 'lambda/handler.ts'))};
import { createInsecureTestingVerifier } from ${JSON.stringify(join(root, 'lambda/attestation/testing.ts'))};
export const handler = createHandler({ verifierFactory: () => createInsecureTestingVerifier() });
`
    : `export { handler } from ${JSON.stringify(join(root, 'lambda/handler.ts'))};\n`;

const floorEntrySource = `import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { KMSClient } from '@aws-sdk/client-kms';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
const clients = [new SecretsManagerClient({}), new KMSClient({}), new DynamoDBClient({}), new EventBridgeClient({})];
export const handler = async () => ({ outcome: 'already-healthy', clients: clients.length });
`;

/** Spawns `node`, imports the bundle, serves one event; resolves with the wall time and the outcome. */
interface RunResult {
  ms: number;
  outcome: string;
  importMs: number;
  invokeMs: number;
  steps?: { step: string; ms: number }[];
}

function runOnce(bundle: string, env: NodeJS.ProcessEnv, event: unknown): Promise<RunResult> {
  const script = `
const t0 = performance.now();
const { handler } = await import(${JSON.stringify(pathToFileURL(bundle).href)});
const t1 = performance.now();
const ctx = { awsRequestId: crypto.randomUUID(), functionName: 'contrast-autorecover', getRemainingTimeInMillis: () => 60000 };
const r = await handler(${JSON.stringify(event)}, ctx);
const t2 = performance.now();
process.stdout.write('\\n@@RESULT ' + JSON.stringify({ outcome: r.outcome, importMs: t1 - t0, invokeMs: t2 - t1, steps: r.results?.[0]?.steps }) + '\\n');
process.exit(0);`;
  return new Promise((resolveRun, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [...(process.env.COLD_START_NODE_ARGS?.split(' ').filter(Boolean) ?? []), '--input-type=module', '-e', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = performance.now() - t0;
      const line = out.split('\n').find((l) => l.startsWith('@@RESULT '));
      if (code !== 0 || !line) return reject(new Error(`cold-start run failed (exit ${code}): ${err.slice(-2000)} ${out.slice(-2000)}`));
      resolveRun({ ms, ...(JSON.parse(line.slice(9)) as Omit<RunResult, 'ms'>) });
    });
  });
}

async function coldStart(): Promise<Figure[]> {
  const python = findMotoPython();
  if (!python) return [{ name: 'cold-start', value: Number.NaN, unit: 'ms', note: `skipped: moto not installed; ${MOTO_INSTALL_HINT}` }];
  const moto = await startMoto(python);
  const dir = await mkdtemp(join(tmpdir(), 'cold-start-'));
  let emu: CoordinatorEmulator | undefined;
  try {
    const aws = { region: 'eu-central-1', endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
    const suffix = Math.random().toString(16).slice(2, 8);
    const tableName = `locks-${suffix}`;
    const busName = `bus-${suffix}`;
    const deployment = `bench-${suffix}`;
    const secretId = `contrast/${deployment}`;
    const dynamodb = new DynamoDBClient(aws);
    const kms = new KMSClient(aws);
    const secrets = new SecretsManagerClient(aws);
    const events = new EventBridgeClient(aws);
    await dynamodb.send(
      new CreateTableCommand({ TableName: tableName, AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }], BillingMode: 'PAY_PER_REQUEST' }),
    );
    await events.send(new CreateEventBusCommand({ Name: busName }));
    const kmsKeyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
    const ws = await makeWorkspace();
    const { document } = await buildBundle({ deployment, kmsKeyId, files: { manifest: ws.manifest, seedShares: ws.seedShares, ownerKeyPem: Buffer.from(ws.ownerKeyPem) }, kms });
    await new BundleStore(secrets).save(secretId, document, kmsKeyId);
    emu = await CoordinatorEmulator.start({ state: 'healthy', manifest: ws.manifest, seed: ws.seed, salt: ws.salt });

    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      AWS_REGION: aws.region,
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      POWERTOOLS_SERVICE_NAME: 'contrast-autorecover',
      POWERTOOLS_METRICS_NAMESPACE: 'ContrastAutorecover',
      CONTRAST_DEPLOYMENTS: JSON.stringify([{ name: deployment, secretId, coordinator: emu.address }]),
      LOCK_TABLE_NAME: tableName,
      EVENT_BUS_NAME: busName,
      // Kubernetes configured, but the restart record says nothing is pending: no Kubernetes load.
      KUBE_AUTH: 'kubeconfig',
      KUBECONFIG_SECRET_ID: `kubeconfig/${deployment}`,
    };

    // Record "restarts complete" for the emulator's mesh CA key, as an earlier reconcile would.
    const warm = createHandler({
      config: loadConfig(env),
      clients: { dynamodb, kms, secrets, events },
      verifierFactory: () => createInsecureTestingVerifier(),
      kubernetes: async () => ({
        peers: { readyPeers: async () => ({ readyPeers: [], coordinatorPods: [] }) },
        restarts: { restartStale: async (r) => ({ meshCaSpkiSha256: r.meshCa.spkiSha256, results: [], complete: true, staleWorkloads: 0 }) },
      }),
      telemetry: { logger: new Logger({ logLevel: 'SILENT' }), metrics: { publish() {} } },
    });
    const event = { version: '0', id: 'bench', 'detail-type': 'Scheduled Event', source: 'aws.events', account: '123456789012', time: '2025-01-01T00:00:00Z', region: 'eu-central-1', resources: [], detail: {} };
    await warm(event, { awsRequestId: 'warm', getRemainingTimeInMillis: () => 60_000 });

    const ours = await bundleEntry(handlerEntrySource(true), dir, 'handler');
    const floor = await bundleEntry(floorEntrySource, dir, 'floor');
    const k8sEager = ours.entryInputs.some((i) => i.includes('@kubernetes/client-node'));
    const first = await runOnce(ours.entry, env, event);
    if (first.outcome !== 'already-healthy') throw new Error(`cold-start: the scheduled no-op answered ${first.outcome}, expected already-healthy`);
    if (process.env.COLD_START_DEBUG) process.stderr.write(`cold-start breakdown: ${JSON.stringify(first)}\n`);
    const [value, floorMs] = await timeInterleaved(
      () => runOnce(ours.entry, env, event),
      () => runOnce(floor.entry, env, event),
      9,
      1,
    );
    return [
      {
        name: 'cold-start',
        value,
        unit: 'ms',
        floor: floorMs,
        note: `fresh process: import bundled handler + one scheduled no-op; floor: bare bundle with the same SDK clients; target ≤ 1.5×; @kubernetes/client-node in entry chunk: ${k8sEager}`,
      },
    ];
  } finally {
    await emu?.stop();
    await moto.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export const benchmarks: Benchmark[] = [{ group: 'cold-start', run: coldStart }];
