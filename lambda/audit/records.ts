/**
 * The function's log records that a rehearsal follows, parsed tolerantly: the `trigger
 * accepted` line each invocation starts with, and the `audit` record of each reconcile
 * (lambda/function/report.ts auditRecord). Unknown fields are ignored and missing optional
 * ones are fine, so a newer function still reads; a line that is neither is skipped.
 * `parseFunctionRecord` keeps the records of reconciles with an outcome of the shared
 * vocabulary (what `rehearse` follows); `parseAuditEntry` keeps every audit record — drills
 * and the records of interrupted attempts too — for `audit` (lambda/audit/ledger.ts).
 */
import * as z from 'zod';
import { OPERATIONS } from '../shared/contract.ts';
import { isOutcome, type Outcome } from '../shared/outcomes.ts';

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
        // An interrupted attempt's record may not know the dead invocation's id.
        requestId: z.string().default(''),
        correlationId: z.string().optional(),
        deployment: z.string(),
        outcome: z.string(),
        message: z.string().default(''),
        action: z.string().optional(),
        interrupted: z.boolean().optional(),
        recordedBy: z.string().optional(),
        dryRun: z.boolean().optional(),
        caller: z
          .object({
            kind: z.string().optional(),
            requestId: z.string().optional(),
            declaredCaller: z.string().optional(),
          })
          .loose()
          .optional(),
        trigger: triggerSchema.optional(),
        steps: z.array(z.object({ step: z.string(), ms: z.number() }).loose()).optional(),
        durationMs: z.number().optional(),
        recover: z
          .object({
            sent: z.union([z.boolean(), z.string()]).optional(),
            meshCaFingerprint: z.string().optional(),
            // The audit record's own form (lambda/function/report.ts): the new key's SPKI SHA-256.
            meshCa: z.object({ spkiSha256: z.string().optional() }).loose().optional(),
          })
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
          .object({
            decrypts: z.number().optional(),
            keyId: z.string().optional(),
            encryptionContext: z.record(z.string(), z.string()).optional(),
          })
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
  /** Decrypt attempts recorded without an ID (no answer: they may have reached KMS). */
  kmsUnanswered?: number;
  /** GetSecretValue attempts recorded without an ID. */
  secretsUnanswered?: number;
}

export type FunctionRecord = TriggerRecord | AuditRecord;

/** What a reconcile record is for the audit: a recovery, a dry run, a drill, an interrupted attempt, or routine. */
export type AuditKind = 'recovery' | 'dry-run' | 'drill' | 'interrupted' | 'routine';

/**
 * Every audit record, whatever its outcome (drills say `drill-passed`/`drill-failed`, an
 * interrupted attempt `unknown`): what the audit joins with CloudTrail.
 */
export interface AuditEntry extends Omit<AuditRecord, 'type' | 'outcome'> {
  type: 'audit-entry';
  kind: AuditKind;
  outcome: string;
  action?: string;
  /** The invocation that wrote the record of an interrupted attempt. */
  recordedBy?: string;
  caller?: { kind?: string; requestId?: string; declaredCaller?: string };
  /** KMS Decrypts this reconcile made of the owner key (0 or 1; undefined when the record does not say). */
  kmsDecrypts?: number;
  /** Whether Recover left the process: true, false, or 'unknown' (interrupted). */
  recoverSent?: boolean | 'unknown';
}

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
  return { type: 'audit', ...auditFields(a.data.audit, json, at), outcome: a.data.audit.outcome as Outcome };
}

/** Any audit record (drills and interrupted attempts included); undefined for any other line. */
export function parseAuditEntry(line: string, received: number): AuditEntry | undefined {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return undefined;
  }
  const a = auditLine.safeParse(json);
  if (!a.success) return undefined;
  const r = a.data.audit;
  const fields = auditFields(r, json, ownTime(json) ?? received);
  const kind: AuditKind = r.interrupted
    ? 'interrupted'
    : r.action === 'decrypt-drill'
      ? 'drill'
      : r.dryRun || r.action === 'dry-run'
        ? 'dry-run'
        : r.recover?.sent === true || (r.kms?.decrypts ?? 0) > 0
          ? 'recovery'
          : 'routine';
  return {
    type: 'audit-entry',
    ...fields,
    kind,
    outcome: r.outcome,
    ...(r.action ? { action: r.action } : {}),
    ...(r.recordedBy ? { recordedBy: r.recordedBy } : {}),
    ...(r.caller ? { caller: r.caller } : {}),
    ...(r.kms?.decrypts !== undefined ? { kmsDecrypts: r.kms.decrypts } : {}),
    ...(r.recover?.sent !== undefined
      ? { recoverSent: typeof r.recover.sent === 'boolean' ? r.recover.sent : ('unknown' as const) }
      : {}),
  };
}

function ownTime(json: unknown): number | undefined {
  const t = (json as { timestamp?: unknown })?.timestamp;
  const ms = typeof t === 'string' ? Date.parse(t) : NaN;
  return Number.isNaN(ms) ? undefined : ms;
}

type AuditLine = z.infer<typeof auditLine>['audit'];

function auditFields(r: AuditLine, json: unknown, at: number): Omit<AuditRecord, 'type' | 'outcome'> {
  const raw = (json as { audit: Record<string, unknown> }).audit;
  return {
    at,
    requestId: r.requestId,
    ...(r.correlationId ? { correlationId: r.correlationId } : {}),
    deployment: r.deployment,
    message: r.message,
    ...(r.trigger ? { trigger: r.trigger } : {}),
    steps: r.steps ?? [],
    durationMs: r.durationMs ?? 0,
    ...((r.recover?.meshCaFingerprint ?? r.recover?.meshCa?.spkiSha256 ?? r.restarts?.meshCaFingerprint)
      ? {
          meshCaFingerprint:
            r.recover?.meshCaFingerprint ?? r.recover?.meshCa?.spkiSha256 ?? r.restarts?.meshCaFingerprint,
        }
      : {}),
    ...(r.restarts?.complete !== undefined ? { restartsComplete: r.restarts.complete } : {}),
    ...(r.restarts?.counts ? { restartCounts: r.restarts.counts } : {}),
    ...(r.kms?.encryptionContext ? { encryptionContext: r.kms.encryptionContext } : {}),
    ...(r.kms?.keyId ? { kmsKeyId: r.kms.keyId } : {}),
    kmsRequestIds: collectRequestIds(raw.kms, 'Decrypt'),
    secretsRequestIds: collectRequestIds(raw.secretsManager ?? raw.secrets, 'GetSecretValue'),
    ...unanswered('kmsUnanswered', raw.kms, 'Decrypt'),
    ...unanswered('secretsUnanswered', raw.secretsManager ?? raw.secrets, 'GetSecretValue'),
  };
}

/** `{[field]: n}` for the n attempts of `operation` under `part.requests` that have no request ID (none: {}). */
function unanswered<K extends string>(field: K, part: unknown, operation: string): Partial<Record<K, number>> {
  const requests = (part as { requests?: unknown } | undefined)?.requests;
  if (!Array.isArray(requests)) return {};
  const n = requests.filter(
    (r) =>
      r &&
      typeof r === 'object' &&
      (r as { operation?: unknown }).operation === operation &&
      typeof (r as { requestId?: unknown }).requestId !== 'string',
  ).length;
  return n ? ({ [field]: n } as Partial<Record<K, number>>) : {};
}

/** When a step of an audited reconcile ended: reconcile start (log time − duration) + the steps up to it. */
export function stepEnd(r: AuditRecord, step: string): number | undefined {
  const i = r.steps.findIndex((s) => s.step === step);
  if (i < 0) return undefined;
  const start = r.at - r.durationMs;
  return start + r.steps.slice(0, i + 1).reduce((sum, s) => sum + s.ms, 0);
}
