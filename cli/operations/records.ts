/**
 * The function's log records that a rehearsal follows, parsed tolerantly: the `trigger
 * accepted` line each invocation starts with, and the `audit` record of each reconcile
 * (lambda/function/report.ts auditRecord). Unknown fields are ignored and missing optional
 * ones are fine, so a newer function still reads; a line that is neither is skipped.
 */
import * as z from 'zod';
import { OPERATIONS } from '../../lambda/shared/contract.ts';
import { isOutcome, type Outcome } from '../../lambda/shared/outcomes.ts';

const triggerSchema = z
  .object({
    kind: z.string(),
    id: z.string(),
    time: z.string().optional(),
    detailType: z.string().optional(),
    pod: z.string().optional(),
    podUid: z.string().optional(),
    podUID: z.string().optional(),
  })
  .loose();

const triggerLine = z
  .object({
    message: z.literal(OPERATIONS.logMessages.triggerAccepted),
    trigger: triggerSchema,
    deployments: z.array(z.string()).default([]),
    function_request_id: z.string().optional(),
  })
  .loose();

const auditLine = z
  .object({
    message: z.literal(OPERATIONS.logMessages.audit),
    audit: z
      .object({
        requestId: z.string(),
        correlationId: z.string().optional(),
        deployment: z.string(),
        outcome: z.string(),
        message: z.string().default(''),
        trigger: triggerSchema.optional(),
        steps: z.array(z.object({ step: z.string(), ms: z.number() }).loose()).optional(),
        durationMs: z.number().optional(),
        recover: z
          .object({ sent: z.boolean().optional(), meshCaFingerprint: z.string().optional() })
          .loose()
          .optional(),
        restarts: z
          .object({
            complete: z.boolean().optional(),
            counts: z.record(z.string(), z.number()).optional(),
            meshCaFingerprint: z.string().optional(),
          })
          .loose()
          .optional(),
        kms: z
          .object({ keyId: z.string().optional(), encryptionContext: z.record(z.string(), z.string()).optional() })
          .loose()
          .optional(),
      })
      .loose(),
  })
  .loose();

export interface TriggerRecord {
  type: 'trigger';
  /** When CloudWatch Logs received the line (ms). */
  at: number;
  requestId?: string;
  trigger: z.infer<typeof triggerSchema>;
  deployments: string[];
}

export interface AuditRecord {
  type: 'audit';
  at: number;
  requestId: string;
  correlationId?: string;
  deployment: string;
  outcome: Outcome;
  message: string;
  trigger?: z.infer<typeof triggerSchema>;
  steps: { step: string; ms: number }[];
  durationMs: number;
  meshCaFingerprint?: string;
  restartsComplete?: boolean;
  restartCounts?: Record<string, number>;
  encryptionContext?: Record<string, string>;
  kmsKeyId?: string;
  /** AWS request ids of this reconcile's KMS Decrypt calls (CloudTrail `requestID`). */
  kmsRequestIds: string[];
  /** AWS request ids of its Secrets Manager GetSecretValue calls. */
  secretsRequestIds: string[];
}

export type FunctionRecord = TriggerRecord | AuditRecord;

/**
 * AWS request ids under one service's part of the audit record (`kms.requests`,
 * `secretsManager.requests`: `[{operation, requestId?, error?}]`), whatever the nesting:
 * every `requestId`/`requestIds` string, from entries of `operation` when they name one.
 */
export function collectRequestIds(v: unknown, operation?: string): string[] {
  const out: string[] = [];
  const visit = (x: unknown, key?: string): void => {
    if (typeof x === 'string') {
      if (key && /^requestIds?$/.test(key)) out.push(x);
    } else if (Array.isArray(x)) {
      for (const y of x) visit(y, key);
    } else if (x && typeof x === 'object') {
      const op = (x as { operation?: unknown }).operation;
      if (operation && typeof op === 'string' && op !== operation) return;
      for (const [k, y] of Object.entries(x)) visit(y, k);
    }
  };
  visit(v);
  return [...new Set(out)];
}

/** `at`: when CloudWatch Logs took the line; the record's own `timestamp` wins when present. */
export function parseFunctionRecord(line: string, received: number): FunctionRecord | undefined {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return undefined;
  }
  const own =
    typeof (json as { timestamp?: unknown })?.timestamp === 'string'
      ? Date.parse((json as { timestamp: string }).timestamp)
      : NaN;
  const at = Number.isNaN(own) ? received : own;
  const t = triggerLine.safeParse(json);
  if (t.success)
    return {
      type: 'trigger',
      at,
      ...(t.data.function_request_id ? { requestId: t.data.function_request_id } : {}),
      trigger: t.data.trigger,
      deployments: t.data.deployments,
    };
  const a = auditLine.safeParse(json);
  if (!a.success || !isOutcome(a.data.audit.outcome)) return undefined;
  const r = a.data.audit;
  const raw = (json as { audit: Record<string, unknown> }).audit;
  return {
    type: 'audit',
    at,
    requestId: r.requestId,
    ...(r.correlationId ? { correlationId: r.correlationId } : {}),
    deployment: r.deployment,
    outcome: r.outcome as Outcome,
    message: r.message,
    ...(r.trigger ? { trigger: r.trigger } : {}),
    steps: r.steps ?? [],
    durationMs: r.durationMs ?? 0,
    ...((r.recover?.meshCaFingerprint ?? r.restarts?.meshCaFingerprint)
      ? { meshCaFingerprint: r.recover?.meshCaFingerprint ?? r.restarts?.meshCaFingerprint }
      : {}),
    ...(r.restarts?.complete !== undefined ? { restartsComplete: r.restarts.complete } : {}),
    ...(r.restarts?.counts ? { restartCounts: r.restarts.counts } : {}),
    ...(r.kms?.encryptionContext ? { encryptionContext: r.kms.encryptionContext } : {}),
    ...(r.kms?.keyId ? { kmsKeyId: r.kms.keyId } : {}),
    kmsRequestIds: collectRequestIds(raw.kms, 'Decrypt'),
    secretsRequestIds: collectRequestIds(raw.secretsManager ?? raw.secrets, 'GetSecretValue'),
  };
}

/** When a step of an audited reconcile ended: reconcile start (log time − duration) + the steps up to it. */
export function stepEnd(r: AuditRecord, step: string): number | undefined {
  const i = r.steps.findIndex((s) => s.step === step);
  if (i < 0) return undefined;
  const start = r.at - r.durationMs;
  return start + r.steps.slice(0, i + 1).reduce((sum, s) => sum + s.ms, 0);
}
