/**
 * Decrypt drill: proves, without contacting the Coordinator, that the deployment's bundle
 * still decrypts — the KMS key is enabled, the role may use it under this deployment's
 * encryption context, the owner key matches the bundle's public key and its seed share
 * decrypts. Everything decrypted is zeroed before return; the result holds no secret.
 * It is one KMS Decrypt, recorded like a recovery's (audit record with action "drill").
 */
import { errorMessage } from '../shared/errors.ts';
import { METRIC, OPERATIONS } from '../shared/contract.ts';
import {
  decryptSeed,
  findShare,
  ownerKeyFromDer,
  parseSeedShareDocument,
  publicKeyHex,
} from '../coordinator/seedshares.ts';
import type { RecoveryBundle } from '../keys/bundle.ts';
import { ownerKeyContext } from '../keys/context.ts';
import { decryptOwnerKey } from '../keys/envelope.ts';
import type { DeploymentTarget } from '../reconcile/types.ts';
import { targetOf } from './config.ts';
import type { Trigger } from './events.ts';
import { AUDIT_SCHEMA } from './report.ts';
import { collectRequestIds, requestsOf } from './request-ids.ts';
import type { Runtime } from './runtime.ts';

export interface DrillDeps {
  loadBundle(secretId: string): Promise<RecoveryBundle>;
  decryptOwnerKey(bundle: RecoveryBundle, context: Record<string, string>): Promise<Buffer>;
}

export interface DrillResult {
  deployment: string;
  ok: boolean;
  /** What was proven, or what failed and what to do. Never contains secrets. */
  message: string;
  kmsEncryptionContext?: Record<string, string>;
  kmsKeyId?: string;
  kmsDecrypts: number;
  durationMs: number;
}

async function decryptDrill(target: DeploymentTarget, deps: DrillDeps): Promise<DrillResult> {
  const t0 = performance.now();
  const result: DrillResult = { deployment: target.name, ok: false, message: '', kmsDecrypts: 0, durationMs: 0 };
  try {
    const bundle = await deps.loadBundle(target.secretId);
    result.kmsKeyId = bundle.document.ownerKey.kmsKeyId;
    // The context comes from configuration (target.name) exactly as in reconcile step 4.
    const context = ownerKeyContext(target.name, bundle.manifest, bundle.seedShares);
    result.kmsEncryptionContext = context;
    result.kmsDecrypts = 1;
    const der = await deps.decryptOwnerKey(bundle, context);
    try {
      const key = ownerKeyFromDer(der);
      const pub = publicKeyHex(key);
      if (pub !== bundle.document.ownerPublicKey) {
        result.message = `the decrypted owner key does not match the bundle's ownerPublicKey; re-enroll ${target.name} from its workspace`;
        return result;
      }
      const doc = parseSeedShareDocument(bundle.seedShares, `the bundle's seed shares (${target.secretId})`);
      decryptSeed(findShare(doc, pub), key).fill(0);
    } finally {
      der.fill(0);
    }
    result.ok = true;
    result.message = `the owner key of ${target.name} decrypts under its encryption context and opens its seed share`;
    return result;
  } catch (err) {
    result.message = `decrypt drill failed: ${errorMessage(err)}`;
    return result;
  } finally {
    result.durationMs = performance.now() - t0;
  }
}

/**
 * The scheduled drill over every configured deployment: metric, log line and audit record each.
 * Only a tick of the drill's own rule drills (events.ts `drill`): the backstop schedule runs every
 * minute, and a Decrypt a minute would hide the recoveries in CloudTrail.
 */
export async function runDrills(rt: Runtime, trigger: Trigger, requestId: string): Promise<DrillResult[]> {
  if (trigger.kind !== 'schedule' || !trigger.drill) return [];
  const { logger, metrics, trace } = rt.telemetry;
  const deps: DrillDeps = {
    // A drill uses the owner key: read now, never the kept copy (keys/warm-bundles.ts).
    loadBundle: (id) => rt.bundles.readFresh(id),
    decryptOwnerKey: (bundle, ctx) => decryptOwnerKey(rt.clients.kms, bundle.document.ownerKey, ctx),
  };
  const out: DrillResult[] = [];
  for (const d of rt.config.deployments) {
    // The drill's Decrypt has the same encryption context as a recovery's (the envelope is the
    // same): its audit record ties it to CloudTrail by the request IDs of its calls.
    const { log, done } = collectRequestIds(() =>
      trace.span(`### decrypt drill ${d.name}`, () => decryptDrill(targetOf(d), deps)),
    );
    const r = await done;
    out.push(r);
    metrics.publish(d.name, (m) => m.count(METRIC.drillFailed, r.ok ? 0 : 1));
    const line = { deployment: d.name, ok: r.ok, detail: r.message, durationMs: Math.round(r.durationMs) };
    if (r.ok) logger.info('decrypt drill passed', line);
    else logger.error('decrypt drill failed', line);
    logger.info(OPERATIONS.logMessages.audit, {
      audit: {
        schema: AUDIT_SCHEMA,
        requestId,
        correlationId: trigger.id,
        deployment: d.name,
        action: 'decrypt-drill',
        trigger: { kind: trigger.kind, id: trigger.id, time: trigger.time },
        caller: trigger.caller,
        outcome: r.ok ? 'drill-passed' : 'drill-failed',
        message: r.message,
        kms: {
          decrypts: r.kmsDecrypts,
          keyId: r.kmsKeyId,
          encryptionContext: r.kmsEncryptionContext,
          requests: requestsOf(log, 'kms'),
        },
        secretsManager: { requests: requestsOf(log, 'secretsmanager') },
        recover: { sent: false },
      },
    });
  }
  return out;
}
