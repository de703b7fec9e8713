/**
 * A session with the Coordinator's user API over aTLS. One session = one grpc-js channel
 * whose connections are each verified before use; Recover and the confirming GetManifests
 * of a recovery run on the same session (and, unless the network drops it, on the same
 * verified connection — `verifiedConnections` tells).
 */
import { createSecureContext } from 'node:tls';
import { Client, status, type ServiceError } from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import {
  GetManifestsRequestSchema,
  GetManifestsResponseSchema,
  RecoverRequestSchema,
  RecoverResponseSchema,
} from '../gen/edgelesssys/contrast/userapi/userapi_pb.ts';
import { RecoveryError, UnreachableError } from '../shared/errors.ts';
import type { EvidenceSummary, Verifier } from '../attestation/verifier.ts';
import type { CoordinatorEndpoint } from '../shared/names.ts';
import { AtlsChannelCredentials } from './atls.ts';
import { sha256Hex } from '../shared/digest.ts';
import { classifyCoordinatorError } from './answers.ts';
import { historyIdentity } from './manifest.ts';

/**
 * How each supported release reaches Recover (docs/compatibility.md): `UserAPI.Recover` over
 * aTLS gRPC on port 1313 in all of them, authorized by a seed-share owner's key as the TLS
 * client certificate (edgelesssys/contrast coordinator/internal/authority/userapi.go and
 * coordinator/internal/userapi/userapi.go: SHA-256 of the PKCS#1 key against the manifest's
 * SeedshareOwnerPubKeys) — the workload owner key authorizes only SetManifest. The gRPC
 * package is `edgelesssys.contrast.userapi` since 2024-12 (PR #1037) and `userapi` before;
 * for GetManifests (a read) a Coordinator that does not know one answers UNIMPLEMENTED and the
 * other is tried, then remembered per endpoint. Recover is never tried twice: it goes once, on
 * the name the probe's GetManifests found — as `contrast recover` (cli/cmd/recover.go) makes one
 * call on its release's generated client and tries no other name. An answer to Recover that is
 * not a refusal we recognise (UNIMPLEMENTED, a message over grpc-js's 4 MB limit, an answer that
 * does not parse) may follow a Recover that was carried out: reconcile records such an attempt
 * as one that may have succeeded (`refusedByCoordinator` tells a recognised refusal).
 * `Force` (field 3, from 2025-07) is ignored by older servers as any unknown proto3 field is. The 2026 HTTP API (port 1314) has no recover endpoint.
 */
export const USER_API_SERVICES = ['/edgelesssys.contrast.userapi.UserAPI', '/userapi.UserAPI'] as const;
const serviceByTarget = new Map<string, string>();

export interface ClientIdentity {
  certPem: string;
  /** PEM of the owner's private key. The session zeroes this Buffer once it is loaded. */
  keyPem: Buffer;
}

export interface SessionOptions {
  endpoint: CoordinatorEndpoint;
  verifier: Verifier;
  clientIdentity?: ClientIdentity;
  /** Time budgets (lambda/shared/budgets.ts), passed by reconcile: the aTLS handshake, and each RPC. */
  handshakeTimeoutMs: number;
  rpcTimeoutMs: number;
}

export interface ManifestsAnswer {
  /** Manifests as served, oldest first. */
  manifests: Uint8Array[];
  latestManifestSha256: string | undefined;
  /** PEM of the mesh CA certificate; its key names the generation (reconcile/mesh-ca.ts). */
  meshCaPem: string;
  /** The manifest history's identity (manifest.ts, historyIdentity): the latest transition hash, else the manifest list's. */
  history: string;
}

/**
 * Nothing listens at the Coordinator's address (the connection was refused): a Coordinator that
 * just restarted has not opened its port yet. The probe waits for it a little (reconcile.ts).
 */
export class CoordinatorNotListeningError extends UnreachableError {}

/** A gRPC status the Coordinator answered with (not a transport failure). */
export class CoordinatorRpcError extends RecoveryError {
  /** A refusal Contrast sends before changing anything (answers.ts); anything else after Recover may follow a Recover carried out. */
  readonly refusedByCoordinator: boolean;
  constructor(
    readonly code: status,
    readonly details: string,
    rpc: string,
  ) {
    const c = classifyCoordinatorError(code, details);
    super(c.outcome, `${rpc}: the Coordinator answered ${status[code]}: ${details} — ${c.advice}`);
    this.refusedByCoordinator = c.recognised;
  }
}

export class CoordinatorSession {
  private readonly client: Client;
  private readonly creds: AtlsChannelCredentials;
  private readonly rpcTimeoutMs: number;
  private readonly target: string;

  constructor(options: SessionOptions) {
    this.target = `${options.endpoint.host}:${options.endpoint.port}`;
    let clientContext;
    if (options.clientIdentity) {
      // OpenSSL copies the key into its own memory (out of our reach; freed with the
      // context when this session is dropped). Our PEM copy is zeroed right away.
      try {
        clientContext = createSecureContext({
          cert: options.clientIdentity.certPem,
          key: options.clientIdentity.keyPem,
          ca: [],
        });
      } finally {
        options.clientIdentity.keyPem.fill(0);
      }
    }
    this.creds = new AtlsChannelCredentials({
      verifier: options.verifier,
      clientContext,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      target: this.target,
    });
    this.rpcTimeoutMs = options.rpcTimeoutMs;
    this.client = new Client(this.target, this.creds, {
      'grpc.use_local_subchannel_pool': 1,
      // No channelz bookkeeping: nothing here reads it, and it costs per channel and call.
      'grpc.enable_channelz': 0,
      'grpc.enable_retries': 0,
      // No service config from DNS TXT records: the channel's behaviour is this code's alone,
      // and no policy that needs @grpc/proto-loader (left out of the function's bundle) can be chosen.
      'grpc.service_config_disable_resolution': 1,
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 1000,
    });
  }

  get evidence(): EvidenceSummary | undefined {
    return this.creds.evidence;
  }

  get verifiedConnections(): number {
    return this.creds.verifiedConnections;
  }

  async getManifests(): Promise<ManifestsAnswer> {
    const res = await this.unary(
      'GetManifests',
      GetManifestsRequestSchema,
      GetManifestsResponseSchema,
      create(GetManifestsRequestSchema),
    );
    const latest = res.Manifests.at(-1);
    const meshCaPem = Buffer.from(res.MeshCA).toString('utf8');
    return {
      manifests: res.Manifests,
      latestManifestSha256: latest ? sha256Hex(latest) : undefined,
      meshCaPem,
      history: historyIdentity(res.Manifests, res.LatestTransition?.TransitionHash),
    };
  }

  /**
   * Sends Recover. The serialized request (which contains the seed) is zeroed when the
   * call ends; grpc-js's framed copy of it is left to the garbage collector.
   */
  async recover(seed: Buffer, salt: Buffer, force: boolean): Promise<void> {
    const request = create(RecoverRequestSchema, { Seed: seed, Salt: salt, Force: force });
    try {
      await this.once('Recover', RecoverRequestSchema, RecoverResponseSchema, request, true);
    } finally {
      request.Seed = new Uint8Array(0);
    }
  }

  close(): void {
    this.client.close();
  }

  /** One call, no fallback: for an RPC that must not be sent twice (Recover). */
  private async once<I extends DescMessage, O extends DescMessage>(
    rpc: string,
    inSchema: I,
    outSchema: O,
    message: MessageShape<I>,
    secret: boolean,
  ): Promise<MessageShape<O>> {
    try {
      return await this.call(
        serviceByTarget.get(this.target) ?? USER_API_SERVICES[0],
        rpc,
        inSchema,
        outSchema,
        message,
        secret,
      );
    } catch (err) {
      throw this.translate(rpc, err as ServiceError);
    }
  }

  /** One read-only RPC on the endpoint's UserAPI package, falling back to the other package once on UNIMPLEMENTED. */
  private async unary<I extends DescMessage, O extends DescMessage>(
    rpc: string,
    inSchema: I,
    outSchema: O,
    message: MessageShape<I>,
    secret = false,
  ): Promise<MessageShape<O>> {
    const first = serviceByTarget.get(this.target) ?? USER_API_SERVICES[0];
    try {
      return await this.call(first, rpc, inSchema, outSchema, message, secret);
    } catch (err) {
      if ((err as ServiceError).code !== status.UNIMPLEMENTED) throw this.translate(rpc, err as ServiceError);
      const other = USER_API_SERVICES.find((s) => s !== first)!;
      try {
        const answer = await this.call(other, rpc, inSchema, outSchema, message, secret);
        serviceByTarget.set(this.target, other);
        return answer;
      } catch (again) {
        // Any answer but UNIMPLEMENTED (a stale Coordinator's refusal too) shows the package it serves: Recover goes there.
        if ((again as ServiceError).code !== status.UNIMPLEMENTED) serviceByTarget.set(this.target, other);
        throw this.translate(
          rpc,
          (again as ServiceError).code === status.UNIMPLEMENTED ? (err as ServiceError) : (again as ServiceError),
        );
      }
    }
  }

  private call<I extends DescMessage, O extends DescMessage>(
    service: string,
    rpc: string,
    inSchema: I,
    outSchema: O,
    message: MessageShape<I>,
    secret: boolean,
  ): Promise<MessageShape<O>> {
    const serialized: Buffer[] = [];
    return new Promise<MessageShape<O>>((resolve, reject) => {
      this.client.makeUnaryRequest(
        `${service}/${rpc}`,
        (m: MessageShape<I>) => {
          // A view, not a copy: zeroing it zeroes the only serialized copy we hold.
          const u8 = toBinary(inSchema, m);
          const buf = Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
          if (secret) serialized.push(buf);
          return buf;
        },
        (b: Buffer) => fromBinary(outSchema, b),
        message,
        { deadline: Date.now() + this.rpcTimeoutMs },
        (err: ServiceError | null, value?: MessageShape<O>) => {
          for (const b of serialized) b.fill(0);
          if (err) reject(err);
          else resolve(value as MessageShape<O>);
        },
      );
    });
  }

  private translate(rpc: string, err: ServiceError): RecoveryError {
    const refused = this.creds.lastError;
    if (refused && (err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED)) return refused;
    if (err.code === status.UNAVAILABLE && /\bECONNREFUSED\b/.test(err.details)) {
      return new CoordinatorNotListeningError(
        `${rpc}: nothing listens at the Coordinator's address ${this.target} (connection refused); a restarted Coordinator opens port 1313 shortly — check the endpoint if this persists`,
      );
    }
    if (err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED) {
      return new UnreachableError(
        `${rpc}: the Coordinator at ${this.target} could not be reached (${status[err.code]}: ${err.details}); check the endpoint, the PrivateLink endpoint and security groups`,
      );
    }
    return new CoordinatorRpcError(err.code, err.details, rpc);
  }
}
