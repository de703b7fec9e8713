/** A deployment enrolled into moto (real KMS + Secrets Manager API), ready to reconcile. */
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createInsecureTestingVerifier } from '../../testing/attestation/insecure-verifier.ts';
import { awsPorts } from '../../lambda/reconcile/aws-deps.ts';
import { buildBundle } from '../../lambda/reconcile/enroll.ts';
import { countKmsCalls } from '../../lambda/keys/kms-calls.ts';
import { BundleStore } from '../../lambda/keys/store.ts';
import type { BundleVerifierFactory, ReconcilePorts, ReconcileTime } from '../../lambda/reconcile/reconcile.ts';
import { stepBudgetsOf, type StepBudgets } from '../../lambda/shared/budgets.ts';
import type { DeploymentTarget } from '../../lambda/reconcile/types.ts';
import { awsClientConfig, uniqueName } from './aws.ts';
import type { CoordinatorEmulator } from '../../testing/coordinator-emulator.ts';
import type { Workspace } from '../../testing/workspace.ts';

export interface Enrolled {
  kms: KMSClient;
  secrets: SecretsManagerClient;
  kmsKeyId: string;
  secretId: string;
  deployment: string;
  kmsCalls: Map<string, number>;
}

export async function createTestKey(kms: KMSClient): Promise<string> {
  const out = await kms.send(new CreateKeyCommand({ Description: 'contrast-autorecover test' }));
  return out.KeyMetadata!.Arn!;
}

export async function enroll(ws: Workspace, deployment = uniqueName('dep')): Promise<Enrolled> {
  const kms = new KMSClient(awsClientConfig());
  const secrets = new SecretsManagerClient(awsClientConfig());
  const kmsKeyId = await createTestKey(kms);
  const secretId = uniqueName(`contrast-autorecover/${deployment}`);
  const { document } = await buildBundle({
    deployment,
    kmsKeyId,
    kms,
    files: { manifest: ws.manifest, seedShares: ws.seedShares, ownerKeyPem: Buffer.from(ws.ownerKeyPem) },
  });
  await new BundleStore(secrets).save(secretId, document, kmsKeyId);
  const kmsCalls = countKmsCalls(kms);
  return { kms, secrets, kmsKeyId, secretId, deployment, kmsCalls };
}

/** Reconcile's ports for an enrolled deployment (moto's KMS and Secrets Manager), plus what a test adds. */
export function portsFor(
  e: Enrolled,
  verifierFactory: BundleVerifierFactory = () => createInsecureTestingVerifier(),
  extra: Partial<ReconcilePorts> = {},
): ReconcilePorts {
  return { ...awsPorts({ kms: e.kms, secrets: e.secrets }, verifierFactory), ...extra };
}

/** The tests' time: the production step budgets with shorter Coordinator timeouts, and any changes a test makes. */
export function testTime(changes: Partial<StepBudgets> = {}, deadline?: number): ReconcileTime {
  return {
    budgets: { ...stepBudgetsOf(), handshakeTimeoutMs: 2000, rpcTimeoutMs: 4000, ...changes },
    ...(deadline !== undefined ? { deadline } : {}),
  };
}

export const TEST_TIME = testTime();

export function targetFor(e: Enrolled, emu: CoordinatorEmulator, name = e.deployment): DeploymentTarget {
  return { name, secretId: e.secretId, coordinator: emu.endpoint };
}
