/**
 * A Contrast Coordinator emulator speaking the real protocol (docs/protocol.md §3-§5): TLS +
 * HTTP/2 gRPC on a real socket, aTLS with the nonce read from ALPN (falling back to SNI),
 * a fresh key and certificate per connection whose attestation extension is bound to that
 * nonce, the UserAPI with the real status codes and messages, and client-key authorisation
 * against the manifest's SeedshareOwnerPubKeys. It can also misbehave for negative tests.
 */
import { createHash, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import http2, { type Http2SecureServer, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import * as x509 from '../lambda/shared/peculiar.ts';
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import {
  GetManifestsRequestSchema,
  GetManifestsResponseSchema,
  RecoverRequestSchema,
  RecoverResponseSchema,
  TransitionSchema,
} from '../lambda/gen/edgelesssys/contrast/userapi/userapi_pb.ts';
import { ATTESTATION_OIDS } from '../lambda/attestation/verifier.ts';

export type EmulatorState = 'stale' | 'healthy' | 'no-state' | 'no-manifest';

export type Misbehaviour =
  | 'none'
  | 'wrong-nonce' // evidence bound to another nonce
  | 'wrong-key' // evidence bound to another key's SPKI
  | 'two-extensions'
  | 'no-extension'
  | 'silent' // accepts TCP, never answers
  | 'sni-only' // an older Coordinator: reads the nonce only from SNI
  | 'lost-recover-reply' // carries out Recover, then drops the connection before answering
  | 'critical-extension' // the aTLS certificate carries a critical extension Go does not handle
  | 'client-auth-eku' // the aTLS certificate's ExtKeyUsage names ClientAuth only
  // A Coordinator with valid attestation that misbehaves after carrying out Recover (issue 21):
  | 'recover-then-unimplemented' // answers UNIMPLEMENTED, and serves Recover under both package names
  | 'recover-then-oversize' // answers with a message over grpc-js's default 4 MiB receive limit
  | 'recover-then-garbage' // answers with bytes that are not a RecoverResponse
  | 'invalid-mesh-ca'; // serves a MeshCA field that is not a certificate

export interface EvidenceExtension {
  oid: string;
  value: Uint8Array;
}

/** Produces the attestation extension(s) for one connection, given REPORT_DATA. */
export type EvidenceProducer = (reportData: Buffer) => EvidenceExtension[] | Promise<EvidenceExtension[]>;

export const testingEvidence: EvidenceProducer = (reportData) => [{ oid: ATTESTATION_OIDS.testing, value: reportData }];

/**
 * The Contrast release the emulator answers as (docs/compatibility.md; edgelesssys/contrast
 * coordinator/internal/authority/userapi.go and coordinator/internal/userapi/userapi.go).
 */
export interface EmulatedRelease {
  /** The UserAPI's gRPC package: `edgelesssys.contrast.userapi` (2024-12 on, default) or `userapi` (before). */
  userApiPackage?: 'edgelesssys.contrast.userapi' | 'userapi';
  /**
   * How Recover refuses: `current` (status errors; the peer check of 2025-07 on), `wrapped`
   * (status errors wrapped in plain Go errors, which an older grpc-go sends as Unknown), or
   * `authority` (the early generation: no peer check, the history verified with the seed
   * before the key is authorized, a wrong seed as InvalidArgument "recovery failed").
   */
  recoverErrors?: 'current' | 'wrapped' | 'authority';
}

export interface EmulatorOptions {
  state: EmulatorState;
  /** Manifest served once healthy (the enrolled bytes). */
  manifest: Buffer;
  /** The seed and salt the Coordinator's history was made with. */
  seed: Buffer;
  salt: Buffer;
  /** Ready peer Coordinators (Recover without Force is refused while > 0). */
  readyPeers?: number;
  evidence?: EvidenceProducer;
  misbehave?: Misbehaviour;
  /** Use the older error text for "no state". */
  legacyNoStateMessage?: boolean;
  release?: EmulatedRelease;
  /** The Coordinator's clock (epoch ms), for certificate times; default Date.now. */
  clock?: () => number;
  /** A slow Coordinator: waits this long after a Recover request arrives before carrying it out and answering. */
  recoverDelayMs?: number;
}

interface RpcError {
  code: number;
  message: string;
}

export interface RecoverCall {
  force: boolean;
  clientKeySha256: string | undefined;
  result: 'ok' | string;
}

export interface ConnectionRecord {
  alpnNonce: string | undefined;
  sniNonce: string | undefined;
  servername: string | undefined;
}

export class CoordinatorEmulator {
  state: EmulatorState;
  readyPeers: number;
  misbehave: Misbehaviour;
  evidence: EvidenceProducer;
  readonly recoverCalls: RecoverCall[] = [];
  /** Recover requests that arrived (counted before any delay; recoverCalls records their results). */
  recoverRequests = 0;
  recoverDelayMs: number;
  readonly getManifestsCalls: { clientCert: boolean }[] = [];
  readonly connections: ConnectionRecord[] = [];
  meshCaPem = '';
  rootCaPem = '';
  /** When the current mesh CA key was created (undefined before the first manifest). */
  meshKeyCreatedAt: Date | undefined;
  /** Since when it serves (healthy); undefined while stale: what initializers see. */
  healthySince: Date | undefined;
  private meshKeys: webcrypto.CryptoKeyPair | undefined;
  private rootKeys: webcrypto.CryptoKeyPair | undefined;
  /** Manifests in history (the last is current); `setManifest` appends. */
  readonly manifests: Buffer[] = [];
  /**
   * The latest transition's hash: each transition names its manifest and the previous
   * transition, so it changes on every SetManifest — identical bytes included — and on nothing
   * else: Recover and a peer recovery keep it (stateguard.go, UpdateState and ResetState).
   */
  latestTransitionHash: Buffer | undefined;
  private latestTransitionSignature: Buffer | undefined;
  private server: Http2SecureServer | NetServer | undefined;
  private readonly sockets = new Set<Socket>();
  private pendingAlpnNonce: string | undefined;
  port = 0;
  readonly host = '127.0.0.1';

  private readonly options: EmulatorOptions;
  /** The Coordinator's clock; tests may move it. */
  clock: () => number;

  private constructor(options: EmulatorOptions) {
    // Own copies: callers zero their secrets after use, as production code does.
    this.options = { ...options, seed: Buffer.from(options.seed), salt: Buffer.from(options.salt) };
    this.state = options.state;
    this.readyPeers = options.readyPeers ?? 0;
    this.misbehave = options.misbehave ?? 'none';
    this.recoverDelayMs = options.recoverDelayMs ?? 0;
    this.evidence = options.evidence ?? testingEvidence;
    this.clock = options.clock ?? Date.now;
    if (options.state !== 'no-manifest') this.appendTransition(options.manifest);
  }

  /** The history's new transition (the emulator's stand-in for history.SetTransition and SetLatest). */
  private appendTransition(manifest: Buffer): void {
    this.manifests.push(manifest);
    this.latestTransitionHash = createHash('sha256')
      .update(createHash('sha256').update(manifest).digest())
      .update(this.latestTransitionHash ?? Buffer.alloc(0))
      .digest();
    this.latestTransitionSignature = randomBytes(64);
  }

  static async start(options: EmulatorOptions): Promise<CoordinatorEmulator> {
    const emu = new CoordinatorEmulator(options);
    if (emu.state !== 'no-manifest' && emu.state !== 'no-state') await emu.rotateMeshCa(true);
    if (emu.state === 'healthy') emu.healthySince = new Date(emu.clock());
    await emu.listen();
    return emu;
  }

  get endpoint(): { host: string; port: number } {
    return { host: this.host, port: this.port };
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** Simulates a Coordinator pod restart: keys lost, history kept. */
  restart(): void {
    if (this.state === 'healthy') this.state = 'stale';
    this.healthySince = undefined;
  }

  /**
   * A restart as the network sees it: the process is gone and nothing listens on the port
   * (connections are refused) for `downMs`, then the restarted Coordinator listens on the same
   * port, stale. Resolves once the port is closed; `back` settles when it listens again.
   */
  async restartProcess(downMs: number): Promise<{ back: Promise<void> }> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.restart();
    const back = new Promise<void>((resolve) => setTimeout(resolve, downMs)).then(
      () => new Promise<void>((resolve) => this.server!.listen(this.port, this.host, resolve)),
    );
    return { back };
  }

  /**
   * Simulates `contrast set` with another manifest: every manifest transition creates a new
   * random mesh CA key (coordinator/internal/stateguard/stateguard.go, UpdateState), and a new
   * transition, also for the same bytes. On a stale Coordinator only the history grows (as a
   * peer's SetManifest does: the real SetManifest refuses on a stale one).
   */
  async setManifest(manifest: Buffer): Promise<void> {
    this.appendTransition(manifest);
    if (this.state === 'healthy') await this.rotateMeshCa(true);
  }

  /**
   * Simulates a restart healed by a Ready peer: the peer hands over seed, salt and the mesh
   * CA private key (coordinator/internal/meshapi/meshapi.go, Recover), and ca.New mints a new
   * certificate over the same key.
   */
  async peerRecover(): Promise<void> {
    this.state = 'healthy';
    await this.rotateMeshCa(false);
    this.healthySince = new Date(this.clock());
  }

  /** SHA-256 hex of the current mesh CA key's SubjectPublicKeyInfo. */
  get meshCaSpkiSha256(): string {
    return createHash('sha256')
      .update(new X509Certificate(this.meshCaPem).publicKey.export({ type: 'spki', format: 'der' }))
      .digest('hex');
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async listen(): Promise<void> {
    if (this.misbehave === 'silent') {
      const srv = createNetServer((socket) => {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
      });
      this.server = srv;
    } else {
      const fallback = await this.connectionContext(randomBytes(32));
      const srv = http2.createSecureServer({
        ...fallback.pems,
        allowHTTP1: false,
        requestCert: true,
        rejectUnauthorized: false,
        // Node calls ALPNCallback before SNICallback for the same ClientHello.
        ALPNCallback: ({ protocols }) => {
          const offered = protocols.find((p) => p.startsWith('atls:v1:nonce:'));
          this.pendingAlpnNonce = this.misbehave === 'sni-only' ? undefined : offered?.slice('atls:v1:nonce:'.length);
          return protocols.includes('h2') ? 'h2' : undefined;
        },
        SNICallback: (servername, cb) => {
          const alpnNonce = this.pendingAlpnNonce;
          this.pendingAlpnNonce = undefined;
          const sniNonce = Buffer.from(servername, 'base64');
          this.connections.push({
            alpnNonce,
            sniNonce: sniNonce.length === 32 ? sniNonce.toString('hex') : undefined,
            servername,
          });
          const nonce = alpnNonce && /^[0-9a-f]{64}$/.test(alpnNonce) ? Buffer.from(alpnNonce, 'hex') : sniNonce;
          this.connectionContext(nonce).then(
            (c) => cb(null, c.context),
            (err: Error) => cb(err, undefined as unknown as SecureContext),
          );
        },
      });
      srv.on('stream', (stream, headers) => void this.handle(stream, headers));
      srv.on('secureConnection', (socket: TLSSocket) => {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
      });
      srv.on('sessionError', () => {});
      this.server = srv;
    }
    await new Promise<void>((resolve) => this.server!.listen(0, this.host, resolve));
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : 0;
  }

  /** A fresh P-256 key and a certificate whose attestation extension is bound to `nonce`. */
  private async connectionContext(
    nonce: Buffer,
  ): Promise<{ context: SecureContext; pems: { key: string; cert: string } }> {
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey));
    let bindSpki = spki;
    let bindNonce = nonce;
    if (this.misbehave === 'wrong-nonce') bindNonce = randomBytes(32);
    if (this.misbehave === 'wrong-key') {
      const other = (await webcrypto.subtle.generateKey(alg, true, ['sign'])) as webcrypto.CryptoKeyPair;
      bindSpki = Buffer.from(await webcrypto.subtle.exportKey('spki', other.publicKey));
    }
    const reportData = createHash('sha512').update(bindSpki).update(bindNonce).digest();
    let exts: EvidenceExtension[] = [];
    if (this.misbehave !== 'no-extension') exts = await this.evidence(reportData);
    if (this.misbehave === 'two-extensions') exts = [...exts, ...exts];
    // Valid ±2 h around the Coordinator's clock, as C internal/atls/atls.go getCertificate issues it.
    const now = this.clock();
    const extensions = exts.map((e) => new x509.Extension(e.oid, false, e.value));
    if (this.misbehave === 'critical-extension')
      extensions.push(new x509.Extension('1.3.6.1.4.1.99999.1', true, new Uint8Array([5, 0])));
    if (this.misbehave === 'client-auth-eku')
      extensions.push(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]));
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomBytes(8)
        .toString('hex')
        .replace(/^[89a-f]/, '1'),
      name: 'CN=Contrast',
      notBefore: new Date(now - 2 * 3600_000),
      notAfter: new Date(now + 2 * 3600_000),
      signingAlgorithm: alg,
      keys,
      extensions,
    });
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    const pems = { key: pemOf('PRIVATE KEY', pkcs8), cert: cert.toString('pem') };
    return { context: createSecureContext(pems), pems };
  }

  /**
   * ca.New as Contrast runs it (internal/ca/ca.go): root and mesh CA certificates with
   * NotBefore one hour back and NotAfter ten years ahead; the root key stays (upstream derives
   * it from the seed), the mesh key is a new random P-384 key (seedengine GenerateMeshCAKey)
   * unless a peer handed the current one over (`newKey` false).
   */
  private async rotateMeshCa(newKey: boolean): Promise<void> {
    const alg = { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };
    const generate = async () =>
      (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const now = this.clock();
    this.rootKeys ??= await generate();
    if (newKey || !this.meshKeys) {
      this.meshKeys = await generate();
      this.meshKeyCreatedAt = new Date(now);
    }
    // X.509 times have second precision: Go's encoder drops the fraction.
    const notBefore = new Date(Math.floor((now - 3_600_000) / 1000) * 1000);
    const notAfter = new Date(notBefore.getTime() + 3_600_000 + 10 * 365 * 24 * 3_600_000);
    const selfSigned = async (cn: string, keys: webcrypto.CryptoKeyPair) =>
      (
        await x509.X509CertificateGenerator.createSelfSigned({
          serialNumber: randomBytes(8)
            .toString('hex')
            .replace(/^[89a-f]/, '1'),
          name: `CN=${cn}`,
          notBefore,
          notAfter,
          signingAlgorithm: alg,
          keys,
          extensions: [
            new x509.BasicConstraintsExtension(true, undefined, true),
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign, true),
          ],
        })
      ).toString('pem');
    this.rootCaPem = await selfSigned('system:coordinator:root', this.rootKeys);
    this.meshCaPem = await selfSigned('system:coordinator:intermediate', this.meshKeys);
  }

  private async handle(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<void> {
    // A client that dies mid-call resets the stream; the Coordinator carries on, as a server does.
    stream.on('error', () => {});
    const path = String(headers[':path']);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const socket = stream.session?.socket as TLSSocket | undefined;
    const peer = socket?.getPeerX509Certificate();
    try {
      if (
        headers['content-type'] !== 'application/grpc' &&
        !String(headers['content-type']).startsWith('application/grpc+')
      ) {
        throw { code: 3, message: 'unsupported content-type' } satisfies RpcError;
      }
      const payload = unframe(body);
      const service = `${this.options.release?.userApiPackage ?? 'edgelesssys.contrast.userapi'}.UserAPI`;
      const served =
        this.misbehave === 'recover-then-unimplemented'
          ? [service, 'edgelesssys.contrast.userapi.UserAPI', 'userapi.UserAPI']
          : [service];
      const name = served.find((n) => path.startsWith(`/${n}/`));
      // grpc-go's answer for a service the server does not register.
      if (!name) throw { code: 12, message: `unknown service ${path.split('/')[1]}` } satisfies RpcError;
      switch (path.slice(name.length + 1)) {
        case '/GetManifests':
          fromBinary(GetManifestsRequestSchema, payload);
          this.getManifestsCalls.push({ clientCert: peer !== undefined });
          return respond(stream, GetManifestsResponseSchema, this.getManifests());
        case '/Recover': {
          const req = fromBinary(RecoverRequestSchema, payload);
          this.recoverRequests++;
          if (this.recoverDelayMs > 0) await new Promise((r) => setTimeout(r, this.recoverDelayMs));
          await this.recover(Buffer.from(req.Seed), Buffer.from(req.Salt), req.Force, peer);
          if (this.misbehave === 'lost-recover-reply') return stream.session?.destroy();
          if (this.misbehave === 'recover-then-unimplemented')
            throw { code: 12, message: `unknown method Recover for service ${name}` } satisfies RpcError;
          // One byte over grpc-js's default limit (4 MiB, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH): it answers RESOURCE_EXHAUSTED.
          if (this.misbehave === 'recover-then-oversize') return respondRaw(stream, Buffer.alloc(4 * 1024 * 1024 + 1));
          // Field 1 with wire type 7 (none exists): no protobuf parser reads it.
          if (this.misbehave === 'recover-then-garbage') return respondRaw(stream, Buffer.from([0x0f, 0xff, 0xff]));
          return respond(stream, RecoverResponseSchema, create(RecoverResponseSchema));
        }
        default:
          throw { code: 12, message: `unknown method ${path}` } satisfies RpcError;
      }
    } catch (err) {
      const e = err as RpcError;
      if (typeof e?.code === 'number') return fail(stream, e);
      return fail(stream, { code: 13, message: String(err) });
    }
  }

  private getManifests(): MessageShape<typeof GetManifestsResponseSchema> {
    if (this.state === 'no-manifest' || this.manifests.length === 0)
      throw { code: 9, message: 'no manifest configured' };
    if (this.state !== 'healthy') throw { code: 9, message: 'coordinator is in recovery mode' };
    return create(GetManifestsResponseSchema, {
      Manifests: this.manifests,
      Policies: [],
      RootCA: Buffer.from(this.rootCaPem),
      MeshCA: Buffer.from(
        this.misbehave === 'invalid-mesh-ca'
          ? '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n'
          : this.meshCaPem,
      ),
      // The authority generation returns no latest transition (coordinator/internal/authority/userapi.go).
      ...(this.options.release?.recoverErrors === 'authority'
        ? {}
        : {
            LatestTransition: create(TransitionSchema, {
              TransitionHash: this.latestTransitionHash!,
              Signature: this.latestTransitionSignature!,
            }),
          }),
    });
  }

  private async recover(seed: Buffer, salt: Buffer, force: boolean, peer: X509Certificate | undefined): Promise<void> {
    const clientKeySha256 = peer
      ? createHash('sha256')
          .update(peer.publicKey.export({ type: 'pkcs1', format: 'der' }))
          .digest('hex')
      : undefined;
    const record = (result: string) => this.recoverCalls.push({ force, clientKeySha256, result });
    const refuse = (code: number, message: string): never => {
      record(message);
      throw { code, message } satisfies RpcError;
    };
    const style = this.options.release?.recoverErrors ?? 'current';
    // `wrapped`: the authorizer's status errors inside plain Go errors, sent as Unknown.
    const wrap = (code: number, message: string): never =>
      style === 'wrapped'
        ? refuse(
            2,
            `resetting state: authorizing seed source: rpc error: code = ${GRPC_CODE_NAMES[code]} desc = ${message}`,
          )
        : refuse(code, message);
    if (this.state === 'healthy') refuse(9, 'coordinator is already recovered');
    if (this.state === 'no-state' || this.state === 'no-manifest') {
      refuse(
        9,
        this.options.legacyNoStateMessage || style === 'authority'
          ? 'no persisted transaction to recover from'
          : 'no state to recover from',
      );
    }
    if (style !== 'authority' && this.readyPeers > 0 && !force)
      refuse(9, `rejecting user recovery because ${this.readyPeers} recovered peers are available`);
    const owners = this.ownerKeyHashes();
    const seedOk = seed.equals(this.options.seed) && salt.equals(this.options.salt);
    if (style === 'authority' && salt.length === 32 && seed.length >= 32 && !seedOk)
      refuse(3, 'recovery failed: verifying history: latest transition signature is invalid');
    if (!clientKeySha256 || !owners.has(clientKeySha256))
      wrap(7, 'peer not authorized to recover existing state: peer not authorized');
    if (salt.length !== 32 || seed.length < 32)
      wrap(3, `initializing seed engine: invalid seed or salt length (seed ${seed.length}, salt ${salt.length})`);
    if (!seedOk) refuse(2, 'resetting state: verifying latest transition: latest transition signature is invalid');
    this.state = 'healthy';
    // A user Recover resets the state with a new random mesh CA key (coordinator/internal/userapi/userapi.go).
    await this.rotateMeshCa(true);
    this.healthySince = new Date(this.clock());
    record('ok');
  }

  private ownerKeyHashes(): Set<string> {
    const current = this.manifests.at(-1) ?? this.options.manifest;
    const doc = JSON.parse(current.toString('utf8')) as { SeedshareOwnerPubKeys?: string[] };
    return new Set(
      (doc.SeedshareOwnerPubKeys ?? []).map((hex) =>
        createHash('sha256').update(Buffer.from(hex, 'hex')).digest('hex'),
      ),
    );
  }
}

const GRPC_CODE_NAMES: Record<number, string> = {
  2: 'Unknown',
  3: 'InvalidArgument',
  7: 'PermissionDenied',
  9: 'FailedPrecondition',
  13: 'Internal',
};

function pemOf(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END ${label}-----\n`;
}

/** gRPC's grpc-message encoding: percent-encode '%' and bytes outside printable ASCII only. */
function percentEncode(message: string): string {
  return [...Buffer.from(message, 'utf8')]
    .map((b) =>
      b >= 0x20 && b <= 0x7e && b !== 0x25
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}

function unframe(body: Buffer): Buffer {
  if (body.length < 5) throw { code: 13, message: 'grpc: truncated message frame' } satisfies RpcError;
  const len = body.readUInt32BE(1);
  if (body[0] !== 0 || body.length !== 5 + len)
    throw { code: 13, message: 'grpc: malformed or compressed frame' } satisfies RpcError;
  return body.subarray(5);
}

function respond<O extends DescMessage>(stream: ServerHttp2Stream, schema: O, msg: MessageShape<O>): void {
  respondRaw(stream, Buffer.from(toBinary(schema, msg)));
}

/** One length-prefixed message frame with these bytes, and an OK status. */
function respondRaw(stream: ServerHttp2Stream, payload: Buffer): void {
  const frame = Buffer.alloc(5 + payload.length);
  frame.writeUInt32BE(payload.length, 1);
  payload.copy(frame, 5);
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': '' }));
  stream.end(frame);
}

function fail(stream: ServerHttp2Stream, err: RpcError): void {
  if (stream.destroyed) return;
  stream.respond(
    {
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': String(err.code),
      'grpc-message': percentEncode(err.message),
    },
    { endStream: true },
  );
}
