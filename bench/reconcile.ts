/**
 * `reconcile`: one full recovery (bundle, probe, KMS Decrypt, Recover, confirm) against the
 * Coordinator emulator and moto, through the project's code. Floor, same run: the same
 * Secrets Manager and KMS calls, the same two TLS handshakes (same ALPN/SNI, client
 * certificate on the second) and the same three RPCs, made directly with node:tls,
 * node:http2 and the SDK — no project code. Target ≤ 1.3 × floor.
 */
import { createPublicKey, randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import { connect as tlsConnect, createSecureContext, type SecureContext } from 'node:tls';
import { CreateKeyCommand, DecryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createInsecureTestingVerifier } from '../lambda/attestation/testing.ts';
import { awsReconcileDeps } from '../lambda/reconcile/aws-deps.ts';
import { createClientCertificatePem } from '../lambda/coordinator/client-certificate.ts';
import { ownerKeyFromPem } from '../lambda/coordinator/seedshares.ts';
import { buildBundle } from '../lambda/reconcile/enroll.ts';
import { ownerKeyContext } from '../lambda/keys/context.ts';
import { BundleStore } from '../lambda/keys/store.ts';
import { reconcile } from '../lambda/reconcile/reconcile.ts';
import { CoordinatorEmulator } from '../testing/coordinator-emulator.ts';
import { findMotoPython, startMoto } from '../testing/moto-server.ts';
import { makeWorkspace } from '../testing/workspace.ts';
import { timeInterleaved, type Benchmark } from './harness.ts';

function frame(payload: Uint8Array): Buffer {
  const b = Buffer.alloc(5 + payload.length);
  b.writeUInt32BE(payload.length, 1);
  Buffer.from(payload).copy(b, 5);
  return b;
}

/** Protobuf RecoverRequest {Seed=1, Salt=2} by hand: two length-delimited fields. */
function recoverRequest(seed: Buffer, salt: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x0a, seed.length]), seed, Buffer.from([0x12, salt.length]), salt]);
}

function rpc(session: http2.ClientHttp2Session, method: string, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': `/edgelesssys.contrast.userapi.UserAPI/${method}`, 'content-type': 'application/grpc', te: 'trailers' });
    req.on('trailers', (t) => (t['grpc-status'] === '0' ? resolve() : reject(new Error(`${method}: ${t['grpc-status']} ${t['grpc-message']}`))));
    req.on('response', (h) => {
      if (h['grpc-status'] && h['grpc-status'] !== '0') reject(new Error(`${method}: ${h['grpc-status']} ${h['grpc-message']}`));
    });
    req.on('error', reject);
    req.resume();
    req.end(frame(body));
  });
}

function directSession(port: number, context?: SecureContext): Promise<http2.ClientHttp2Session> {
  const nonce = randomBytes(32);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      ALPNProtocols: [`atls:v1:nonce:${nonce.toString('hex')}`, 'h2'],
      servername: nonce.toString('base64'),
      rejectUnauthorized: false,
      ...(context ? { secureContext: context } : {}),
    });
    socket.once('secureConnect', () => resolve(http2.connect(`https://127.0.0.1:${port}`, { createConnection: () => socket })));
    socket.once('error', reject);
  });
}

export const benchmarks: Benchmark[] = [
  {
    group: 'reconcile',
    async run() {
      const python = findMotoPython();
      if (!python) {
        process.stderr.write('bench reconcile: skipped: moto not installed\n');
        return [];
      }
      const moto = await startMoto(python);
      const cfg = { endpoint: moto.endpoint, region: 'eu-central-1', credentials: { accessKeyId: 'b', secretAccessKey: 'b' } };
      const kms = new KMSClient(cfg);
      const secrets = new SecretsManagerClient(cfg);
      const ws = await makeWorkspace({ modulusLength: 4096 });
      const emu = await CoordinatorEmulator.start({ state: 'stale', manifest: ws.manifest, seed: ws.seed, salt: ws.salt });
      try {
        const kmsKeyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
        const secretId = 'bench/reconcile';
        const { document } = await buildBundle({ deployment: 'bench', kmsKeyId, kms, files: { manifest: ws.manifest, seedShares: ws.seedShares, ownerKeyPem: Buffer.from(ws.ownerKeyPem) } });
        await new BundleStore(secrets).save(secretId, document, kmsKeyId);
        const deps = awsReconcileDeps({ kms, secrets }, () => createInsecureTestingVerifier());
        const target = { name: 'bench', secretId, coordinator: emu.endpoint };

        // Floor inputs prepared once: the direct path does no key handling of its own.
        const key = ownerKeyFromPem(ws.ownerKeyPem);
        const clientContext = createSecureContext({ cert: await createClientCertificatePem(key, createPublicKey(key)), key: ws.ownerKeyPem });
        const context = ownerKeyContext('bench', ws.manifest, ws.seedShares);
        const wrapped = Buffer.from(document.ownerKey.encryptedDataKey, 'base64');

        const project = async () => {
          emu.restart();
          const r = await reconcile(target, deps);
          if (r.outcome !== 'recovered') throw new Error(`bench reconcile: ${r.outcome}: ${r.message}`);
        };
        const floor = async () => {
          emu.restart();
          await secrets.send(new GetSecretValueCommand({ SecretId: secretId }));
          const probe = await directSession(emu.port);
          await rpc(probe, 'GetManifests', Buffer.alloc(0)).catch(() => undefined); // stale: FAILED_PRECONDITION
          probe.close();
          const dk = await kms.send(new DecryptCommand({ KeyId: kmsKeyId, CiphertextBlob: wrapped, EncryptionContext: context }));
          dk.Plaintext?.fill(0);
          const s = await directSession(emu.port, clientContext);
          await rpc(s, 'Recover', recoverRequest(ws.seed, ws.salt));
          await rpc(s, 'GetManifests', Buffer.alloc(0));
          s.close();
        };
        const [value, floorMs] = await timeInterleaved(project, floor, 25, 3);
        return [{ name: 'reconcile', value, unit: 'ms', floor: floorMs, note: 'full recovery; target ≤ 1.3 × floor' }];
      } finally {
        await emu.stop();
        await moto.stop();
      }
    },
  },
];
