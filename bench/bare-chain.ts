/**
 * The bare chain for restart-to-recovered's floor: a bundle (the function's esbuild options)
 * whose handler makes the calls one recorded run of the real chain made (recorder.ts), in the
 * same order, in parallel where they overlapped — with the packages the design fixes for the
 * calls themselves (the same AWS SDK clients, @grpc/grpc-js over aTLS), node:https for the
 * Kubernetes API (the requests as recorded), node:crypto for the decryption, and the same
 * SEV-SNP verifier (its work is not ours to cut). Nothing of the project's bookkeeping: no
 * parsing beyond what the calls need, no records of its own, no retries.
 *
 * What the floor is given instead of computing: the owner's client certificate (made once by
 * the bench; the function makes it per container with @peculiar/x509 — that shows in the recover
 * step). Recorded DynamoDB and EventBridge requests are sent again as recorded, with the
 * deployment's name replaced; Secrets Manager, KMS and the Coordinator get live requests.
 */
import type { Call } from './recorder.ts';
import { join } from 'node:path';
import { root } from './bundle.ts';

export const NAME = '@@DEPLOYMENT@@';

export interface ScriptCall {
  kind: Call['kind'];
  /** aws: service client and command; kube: method; coordinator: rpc. */
  client?: string;
  command?: string;
  input?: string;
  method?: string;
  url?: string;
  contentType?: string;
  body?: string;
  rpc?: string;
}

export interface ScriptBatch {
  /** The part of restart-to-recovered's breakdown this batch belongs to. */
  part: string;
  calls: ScriptCall[];
}

const CLIENTS: Record<string, { pkg: string; client: string }> = {
  DynamoDB_20120810: { pkg: '@aws-sdk/client-dynamodb', client: 'DynamoDBClient' },
  secretsmanager: { pkg: '@aws-sdk/client-secrets-manager', client: 'SecretsManagerClient' },
  TrentService: { pkg: '@aws-sdk/client-kms', client: 'KMSClient' },
  AWSEvents: { pkg: '@aws-sdk/client-eventbridge', client: 'EventBridgeClient' },
};

/** The recorded calls as batches (calls that overlapped run together), each with its part of the breakdown. */
export function toScript(calls: Call[], deployment: string, kubeconfigSecretId: string): ScriptBatch[] {
  const swap = (s: string) => s.split(deployment).join(NAME);
  const batches: ScriptBatch[] = [];
  const recoverAt = calls.findIndex((c) => c.kind === 'coordinator' && c.rpc === 'Recover');
  const firstCoordinator = calls.findIndex((c) => c.kind === 'coordinator');
  let seenGetManifests = false;
  let end = -Infinity;
  let lastKind: string | undefined;
  for (const [i, c] of calls.entries()) {
    let sc: ScriptCall;
    let part: string;
    if (c.kind === 'aws') {
      const [service, op] = c.target.split('.');
      const client = CLIENTS[service!];
      if (!client || !op) throw new Error(`bare chain: no client for the recorded AWS call ${c.target}`);
      sc = { kind: 'aws', client: service, command: op, input: swap(c.body) };
      const input = JSON.parse(c.body) as { SecretId?: string };
      if (service === 'TrentService') part = 'decrypt';
      else if (service === 'secretsmanager' && input.SecretId === kubeconfigSecretId) part = 'peers';
      // Before the probe: lease and guard; after it, the record's writes — until the report (below).
      else part = i < firstCoordinator ? 'init, lease, guard, report' : 'record writes';
    } else if (c.kind === 'kube') {
      sc = { kind: 'kube', method: c.method, url: swap(c.url), contentType: c.contentType, body: swap(c.body) };
      part = i < recoverAt ? 'peers' : 'restarts';
    } else {
      sc = { kind: 'coordinator', rpc: c.rpc };
      part = c.rpc === 'Recover' ? 'recover' : seenGetManifests ? 'confirm' : 'probe';
      if (c.rpc === 'GetManifests') seenGetManifests = true;
    }
    // Overlapping AWS calls, and consecutive Kubernetes requests of one method, ran together.
    const prev = batches.at(-1);
    const together =
      prev &&
      ((c.kind === 'aws' && lastKind === 'aws' && c.start < end) ||
        (c.kind === 'kube' && lastKind === `kube ${c.method}` && prev.part === part));
    if (together) prev.calls.push(sc);
    else batches.push({ part, calls: [sc] });
    end = together ? Math.max(end, c.end) : c.end;
    lastKind = c.kind === 'kube' ? `kube ${c.method}` : c.kind;
  }
  // The report: the batch with the result event (audit record and lease release beside it).
  for (const b of batches) if (b.calls.some((c) => c.command === 'PutEvents')) b.part = 'init, lease, guard, report';
  return batches;
}

/** The bare chain's entry: it reads the script (BENCH_SCRIPT, a JSON file) at import, as a function reads its configuration. */
export function bareChainSource(script: ScriptBatch[], kubeConcurrency: number): string {
  const used = new Map<string, Set<string>>();
  for (const b of script)
    for (const c of b.calls)
      if (c.kind === 'aws') (used.get(c.client!) ?? used.set(c.client!, new Set()).get(c.client!)!).add(c.command!);
  const awsImports = [...used]
    .map(([s, cmds]) => {
      const { pkg, client } = CLIENTS[s]!;
      return `import { ${client}, ${[...cmds].map((c) => `${c}Command`).join(', ')} } from '${pkg}';`;
    })
    .join('\n');
  const clients = [...used].map(([s]) => `  ${s}: new ${CLIENTS[s]!.client}({}),`).join('\n');
  const commands = [...used].flatMap(([, cmds]) => [...cmds].map((c) => `  ${c}: ${c}Command,`)).join('\n');
  const ts = (p: string) => JSON.stringify(join(root, p));
  return `${awsImports}
import { constants, createDecipheriv, createPrivateKey, privateDecrypt, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { connect, createSecureContext } from 'node:tls';
import { ChannelCredentials, Client, credentials } from '@grpc/grpc-js';
import { bindingFor, extractAttestationExtension, spkiOf } from ${ts('lambda/coordinator/certificates.ts')};
import { parseManifest } from ${ts('lambda/coordinator/manifest.ts')};
import { createVerifierWithRoots } from ${ts('testing/attestation/with-roots.ts')};

const script = JSON.parse(readFileSync(process.env.BENCH_SCRIPT, 'utf8'));
const clients = {
${clients}
};
const commands = {
${commands}
};
const roots = JSON.parse(process.env.BENCH_TEST_ROOTS);
const kube = new URL(process.env.BENCH_KUBE_URL);
const kubeAgent = new https.Agent({ keepAlive: true, maxSockets: ${kubeConcurrency}, ca: Buffer.from(process.env.BENCH_KUBE_CA, 'base64') });

class Atls extends ChannelCredentials {
  constructor(verifier, context) { super(); this.verifier = verifier; this.context = context; }
  compose() { throw new Error('bare chain: no call credentials'); }
  _isSecure() { return true; }
  _equals(other) { return other === this; }
  _createSecureConnector() {
    const callCreds = credentials.createEmpty();
    return { connect: (socket) => this.handshake(socket), waitForReady: () => Promise.resolve(), getCallCredentials: () => callCreds, destroy: () => {} };
  }
  handshake(socket) {
    const nonce = randomBytes(32);
    const s = connect({ socket, ALPNProtocols: ['atls:v1:nonce:' + nonce.toString('hex'), 'h2'], servername: nonce.toString('base64'), rejectUnauthorized: false, ...(this.context ? { secureContext: this.context } : { ca: [] }) });
    return new Promise((resolve, reject) => {
      s.once('error', reject);
      s.once('secureConnect', () => {
        const peer = s.getPeerX509Certificate();
        const ext = extractAttestationExtension(peer.raw);
        this.verifier.verify({ oid: ext.oid, evidence: ext.value, reportData: bindingFor(spkiOf(peer), nonce) }).then(() => resolve({ socket: s, secure: true }), reject);
      });
    });
  }
}
const OPTIONS = { 'grpc.use_local_subchannel_pool': 1, 'grpc.enable_channelz': 0, 'grpc.enable_retries': 0, 'grpc.service_config_disable_resolution': 1 };
const bytes = (b) => b;
const unary = (client, rpc, body) => new Promise((resolve, reject) =>
  client.makeUnaryRequest('/edgelesssys.contrast.userapi.UserAPI/' + rpc, bytes, bytes, body, { deadline: Date.now() + 10000 }, (err, res) => (err ? reject(err) : resolve(res))));

function kubeCall(c) {
  const headers = { accept: 'application/json', authorization: 'Bearer ' + process.env.BENCH_KUBE_TOKEN };
  if (c.contentType) Object.assign(headers, { 'content-type': c.contentType, 'content-length': String(Buffer.byteLength(c.body)) });
  return new Promise((resolve, reject) => {
    const req = https.request({ hostname: kube.hostname, port: kube.port, method: c.method, path: c.url, headers, agent: kubeAgent }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => (res.statusCode < 300 ? resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))) : reject(new Error('bare chain: ' + c.method + ' ' + c.url + ' → ' + res.statusCode))));
    });
    req.on('error', reject);
    req.end(c.body || undefined);
  });
}

export const handler = async () => {
  const name = JSON.parse(process.env.CONTRAST_DEPLOYMENTS)[0].name;
  const swap = (s) => s.split(${JSON.stringify(NAME)}).join(name);
  const parts = {};
  let doc, verifier, session, seed, salt, ownerKey;
  const coordinator = process.env.BENCH_COORDINATOR;
  async function call(c) {
    if (c.kind === 'kube') return kubeCall({ ...c, url: swap(c.url), body: swap(c.body) });
    if (c.kind === 'coordinator') {
      if (c.rpc === 'Recover') {
        session?.close();
        const context = createSecureContext({ cert: process.env.BENCH_CLIENT_CERT, key: ownerKey.export({ type: 'pkcs1', format: 'pem' }), ca: [] });
        session = new Client(coordinator, new Atls(verifier, context), OPTIONS);
        const request = Buffer.concat([Buffer.from([0x0a, seed.length]), seed, Buffer.from([0x12, salt.length]), salt]);
        await unary(session, 'Recover', request);
        seed.fill(0);
        return;
      }
      if (!session) {
        // The probe: a stale Coordinator answers FAILED_PRECONDITION.
        session = new Client(coordinator, new Atls(verifier), OPTIONS);
        await unary(session, c.rpc, Buffer.alloc(0)).catch((err) => { if (err.code !== 9) throw err; });
        return;
      }
      await unary(session, c.rpc, Buffer.alloc(0));
      session.close();
      return;
    }
    const input = JSON.parse(swap(c.input));
    if (c.command === 'Decrypt') {
      const dk = await clients.TrentService.send(new commands.Decrypt({ KeyId: input.KeyId, EncryptionContext: input.EncryptionContext, CiphertextBlob: Buffer.from(doc.ownerKey.encryptedDataKey, 'base64') }));
      const aad = Buffer.from(JSON.stringify(Object.keys(input.EncryptionContext).sort().map((k) => [k, input.EncryptionContext[k]])), 'utf8');
      const decipher = createDecipheriv('aes-256-gcm', dk.Plaintext, Buffer.from(doc.ownerKey.iv, 'base64'));
      decipher.setAAD(aad);
      decipher.setAuthTag(Buffer.from(doc.ownerKey.tag, 'base64'));
      const der = Buffer.concat([decipher.update(Buffer.from(doc.ownerKey.ciphertext, 'base64')), decipher.final()]);
      dk.Plaintext.fill(0);
      ownerKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs1' });
      der.fill(0);
      const shares = JSON.parse(Buffer.from(doc.seedShares, 'base64').toString('utf8'));
      seed = privateDecrypt({ key: ownerKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: Buffer.from('seedshare') }, Buffer.from(shares.SeedShares[0].EncryptedSeed, 'base64'));
      salt = Buffer.from(shares.salt, 'base64');
      return;
    }
    const out = await clients[c.client].send(new commands[c.command](input));
    if (c.command === 'GetSecretValue' && !doc) {
      doc = JSON.parse(out.SecretString);
      const manifest = parseManifest(Buffer.from(doc.manifest, 'base64'));
      verifier = createVerifierWithRoots({ referenceValues: manifest.referenceValues, coordinatorPolicyHashes: manifest.coordinatorPolicyHashes }, { roots });
    }
  }
  let t = performance.now();
  for (const batch of script) {
    await Promise.all(batch.calls.map(call));
    const now = performance.now();
    parts[batch.part] = (parts[batch.part] ?? 0) + now - t;
    t = now;
  }
  kubeAgent.destroy();
  return { outcome: 'recovered', parts };
};
`;
}
