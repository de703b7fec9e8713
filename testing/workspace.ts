/**
 * Builds a Contrast workspace like `contrast generate` + `contrast set` leave behind:
 * seedshare-owner.pem (RSA-4096 PKCS#1), seed-shares.json and manifest.json, plus the
 * secrets a test needs to check the Coordinator emulator (seed, salt).
 */
import { constants, createHash, generateKeyPair, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeTestManifest } from './evidence/index.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

export interface Workspace {
  dir?: string;
  ownerKeyPem: Buffer;
  ownerPublicKeyHex: string;
  seed: Buffer;
  salt: Buffer;
  manifest: Buffer;
  seedShares: Buffer;
  coordinatorPolicyHash: string;
}

export interface WorkspaceOptions {
  /** RSA modulus size; Contrast uses 4096. Tests may use 2048 for speed. */
  modulusLength?: number;
  /** Extra manifest fields (e.g. ReferenceValues for real-format evidence). */
  manifestExtra?: Record<string, unknown>;
  /** Additional owner public keys (hex PKCS#1) that own shares (with random seeds encrypted to them). */
  extraOwners?: KeyObject[];
  coordinatorPolicyHash?: string;
  seed?: Buffer;
  salt?: Buffer;
}

const keyCache = new Map<number, { privateKey: KeyObject; publicKey: KeyObject }>();

/** One key per size per process: RSA-4096 generation takes a second or more. */
export async function cachedOwnerKey(modulusLength: number): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  let pair = keyCache.get(modulusLength);
  if (!pair) {
    pair = await generateKeyPairAsync('rsa', { modulusLength });
    keyCache.set(modulusLength, pair);
  }
  return pair;
}

export function encryptShare(publicKey: KeyObject, seed: Buffer): string {
  return publicEncrypt(
    {
      key: publicKey,
      padding: constants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: 'sha256',
      oaepLabel: Buffer.from('seedshare'),
    },
    seed,
  ).toString('base64');
}

export function pkcs1Hex(key: KeyObject): string {
  return key.export({ type: 'pkcs1', format: 'der' }).toString('hex');
}

export async function makeWorkspace(options: WorkspaceOptions = {}, fresh = false): Promise<Workspace> {
  const modulusLength = options.modulusLength ?? 2048;
  const { privateKey, publicKey } = fresh
    ? await generateKeyPairAsync('rsa', { modulusLength })
    : await cachedOwnerKey(modulusLength);
  const seed = options.seed ?? randomBytes(64);
  const salt = options.salt ?? randomBytes(32);
  const ownerHex = pkcs1Hex(publicKey);
  const shares = [{ PublicKey: ownerHex, EncryptedSeed: encryptShare(publicKey, seed) }];
  for (const other of options.extraOwners ?? [])
    shares.unshift({ PublicKey: pkcs1Hex(other), EncryptedSeed: encryptShare(other, seed) });
  const coordinatorPolicyHash =
    options.coordinatorPolicyHash ?? createHash('sha256').update(randomBytes(16)).digest('hex');
  const workloadPolicy = createHash('sha256').update(randomBytes(16)).digest('hex');
  const manifestDoc = {
    Policies: {
      [coordinatorPolicyHash]: {
        SANs: ['coordinator'],
        WorkloadSecretID: 'apps/v1/StatefulSet/default/coordinator',
        Role: 'coordinator',
      },
      [workloadPolicy]: { SANs: ['web'], WorkloadSecretID: 'apps/v1/Deployment/default/web' },
    },
    // A Coordinator refuses a manifest without reference values, and so does parseManifest.
    ReferenceValues: makeTestManifest().ReferenceValues,
    WorkloadOwnerKeyDigests: [],
    SeedshareOwnerPubKeys: [ownerHex, ...(options.extraOwners ?? []).map(pkcs1Hex)],
    ...options.manifestExtra,
  };
  return {
    ownerKeyPem: Buffer.from(privateKey.export({ type: 'pkcs1', format: 'pem' })),
    ownerPublicKeyHex: ownerHex,
    seed,
    salt,
    manifest: Buffer.from(JSON.stringify(manifestDoc, null, 2)),
    seedShares: Buffer.from(JSON.stringify({ SeedShares: shares, salt: salt.toString('base64') })),
    coordinatorPolicyHash,
  };
}

export async function writeWorkspace(ws: Workspace, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'manifest.json'), ws.manifest);
  await writeFile(join(dir, 'seed-shares.json'), ws.seedShares);
  await writeFile(join(dir, 'seedshare-owner.pem'), ws.ownerKeyPem, { mode: 0o600 });
  ws.dir = dir;
  return dir;
}
