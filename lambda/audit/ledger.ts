/**
 * The reconciliation of `audit`: the function's audit records joined with CloudTrail's
 * management events on the recovery key, the bundle-secrets key and the bundle secrets. Pure:
 * what was read goes in, one line per recovery, dry run and drill and every unaccounted use
 * come out. Nothing here holds or prints key material: CloudTrail records none (KMS omits
 * plaintext and ciphertext, Secrets Manager the value) and the audit records none.
 *
 * Which events explain which (each rule names its upstream source):
 * - An owner-key `Decrypt` is accounted for by the audit record listing its `requestID` in
 *   `kms.requests` (the ID KMS answered; CloudTrail records the same one). Else by encryption
 *   context and time: a record with the same `kms.encryptionContext` whose reconcile ran then
 *   and that has no ID for it (an attempt that got no answer, or an interrupted attempt,
 *   whose record the next invocation writes later). Else it is unaccounted.
 * - A Secrets Manager `GetSecretValue` of a bundle secret by the function role is explained by
 *   the record listing its `requestID` in `secretsManager.requests`; the rest are counted per
 *   day against the attempts recorded without an ID. By any other principal it is unaccounted.
 * - A bundle-key `Decrypt` made by Secrets Manager for a caller carries the encryption context
 *   `SecretARN` (and `SecretVersionId`), and the caller as `userIdentity` with `invokedBy`
 *   Secrets Manager (AWS Secrets Manager User Guide, "Secret encryption and decryption"): it
 *   has its own request ID, so it is matched to the caller's `GetSecretValue` of that secret
 *   by time. By any principal but the function role it is unaccounted.
 * - Every use by the break-glass role, and every key-policy, grant or secret-policy change,
 *   is listed as unaccounted: the audit records never explain them.
 */
import { CONTEXT_KEYS } from '../shared/contract.ts';
import type { AuditEntry, AuditKind } from './records.ts';
import { principalOf, sameContext, sameRole, type TrailEvent } from './trail.ts';

/** What the audit looks at: from the stack's outputs (CLI) or the construct's environment (schedule). */
export interface AuditTargets {
  functionRoleArn: string;
  recoveryKeyArn: string;
  bundleKeyArn: string;
  breakGlassRoleArn?: string;
  /** Deployments and their bundle secrets (ARNs). */
  deployments: { name: string; secretArn: string }[];
}

export interface AuditInput {
  targets: AuditTargets;
  /** Only this deployment's lines and findings (the key and policy changes concern every deployment). */
  deployment?: string;
  since: number;
  until: number;
  /** Audit records of a margin around the window (a record may be written after its Decrypt). */
  entries: AuditEntry[];
  /** Management events of the window (duplicates by eventID are fine). */
  events: TrailEvent[];
  /** Whether the audit records could be read: without them no Decrypt is called unaudited. */
  recordsRead: boolean;
  /** Whether the Secrets Manager events could be read: without them no read is counted. */
  secretEventsRead: boolean;
}

/** One recovery, dry run, drill or interrupted attempt, with its CloudTrail Decrypt. */
export interface AuditLine {
  time: string;
  deployment: string;
  kind: Exclude<AuditKind, 'routine'>;
  requestId: string;
  trigger: string;
  /** The caller as the function saw it; the authenticated principal is in the trail's Invoke data event. */
  caller: string;
  outcome: string;
  /** The owner-key Decrypt's CloudTrail event, when found. */
  decrypt?: { eventId: string; requestId: string; by: 'request-id' | 'encryption-context'; principal: string };
  /** Recover's answer: sent or not, and the new mesh CA key. */
  recover: string;
  restarts: string;
  note?: string;
}

export type FindingKind =
  | 'owner-key-decrypt-unaudited'
  | 'break-glass-use'
  | 'bundle-read-by-other-principal'
  | 'bundle-key-decrypt-by-other-principal'
  | 'bundle-key-decrypt-without-read'
  | 'function-reads-unexplained'
  | 'policy-change';

/** An unaccounted use: what, when, by whom, and its CloudTrail event. */
export interface Finding {
  kind: FindingKind;
  eventId: string;
  eventTime: string;
  eventName: string;
  principal: string;
  deployment?: string;
  detail: string;
}

export interface AuditResult {
  lines: AuditLine[];
  findings: Finding[];
  counts: {
    auditRecords: number;
    ownerKeyDecrypts: number;
    bundleReadsByFunction: number;
    bundleReadsExplained: number;
    bundleKeyDecrypts: number;
  };
}

/** How far a Decrypt may lie outside its reconcile's logged span (clock and one-second event times). */
const SLACK_MS = 60_000;
/** An interrupted attempt's record is written by a later invocation: this long after its Decrypt at most. */
const INTERRUPTED_SPAN_MS = 2 * 3_600_000;
/** Secrets Manager's Decrypt for a GetSecretValue happens within the call. */
const SECRETS_DECRYPT_MS = 10_000;

const KEY_POLICY_EVENTS = new Set(['PutKeyPolicy', 'CreateGrant']);
const SECRET_POLICY_EVENTS = new Set(['PutResourcePolicy', 'DeleteResourcePolicy']);
const SECRETS_MANAGER = 'secretsmanager.amazonaws.com';

const t = (e: TrailEvent) => Date.parse(e.eventTime ?? '') || 0;
const iso = (ms: number) => new Date(ms).toISOString();

function keyOf(e: TrailEvent): string | undefined {
  return e.resources?.find((r) => r.ARN?.includes(':key/'))?.ARN ?? e.requestParameters?.keyId;
}

/** A key ARN or id names `arn` (KMS records the ARN; a caller may have passed the id). */
function isKey(id: string | undefined, arn: string): boolean {
  return id !== undefined && (id === arn || arn.endsWith(`/${id}`));
}

/** A secret id (ARN, name or partial ARN) names `arn` (`…:secret:NAME-XXXXXX`). */
function isSecret(id: string | undefined, arn: string): boolean {
  if (!id) return false;
  if (id === arn) return true;
  const name = /:secret:(.+)-[A-Za-z0-9]{6}$/.exec(arn)?.[1];
  return id === name || arn.startsWith(`${id}-`);
}

function describeTrigger(e: AuditEntry): string {
  const tr = e.trigger;
  if (!tr) return e.action ?? '?';
  const extra =
    (tr as Record<string, unknown>).pod ??
    (tr as Record<string, unknown>).rule ??
    (tr as Record<string, unknown>).alarmName;
  return `${tr.kind}${typeof extra === 'string' ? ` ${extra}` : ''} (${tr.id})`;
}

function describeCaller(e: AuditEntry): string {
  const c = e.caller;
  if (!c) return e.kind === 'interrupted' ? `recorded by ${e.recordedBy ?? '?'}` : '?';
  return `${c.kind ?? '?'}${c.declaredCaller ? ` declared ${c.declaredCaller}` : ''}`;
}

function describeRecover(e: AuditEntry): string {
  if (e.kind === 'drill') return 'not sent (drill)';
  if (e.recoverSent === 'unknown') return 'unknown (interrupted)';
  if (!e.recoverSent) return 'not sent';
  return e.meshCaFingerprint ? `sent; mesh CA ${e.meshCaFingerprint.slice(0, 16)}…` : 'sent';
}

function describeRestarts(e: AuditEntry): string {
  if (!e.restartCounts) return '-';
  const parts = Object.entries(e.restartCounts).map(([k, v]) => `${v} ${k}`);
  return `${parts.join(', ') || 'none'}${e.restartsComplete === false ? ' (incomplete)' : ''}`;
}

export function reconcileAudit(input: AuditInput): AuditResult {
  const { targets } = input;
  const inScope = (d: string | undefined) => !input.deployment || d === undefined || d === input.deployment;
  const isFunction = (e: TrailEvent) => sameRole(principalOf(e), targets.functionRoleArn);
  const isBreakGlass = (e: TrailEvent) =>
    targets.breakGlassRoleArn !== undefined && sameRole(principalOf(e), targets.breakGlassRoleArn);
  const inWindow = (ms: number) => ms >= input.since && ms <= input.until;

  // One event per eventID (the lookups overlap).
  const events = [...new Map(input.events.map((e) => [e.eventID ?? JSON.stringify(e), e])).values()]
    .filter((e) => inWindow(t(e)))
    .sort((a, b) => t(a) - t(b));
  const findings: Finding[] = [];
  const finding = (kind: FindingKind, e: TrailEvent, detail: string, deployment?: string) => {
    if (!inScope(deployment)) return;
    findings.push({
      kind,
      eventId: e.eventID ?? '?',
      eventTime: e.eventTime ?? '?',
      eventName: e.eventName ?? '?',
      principal: principalOf(e),
      ...(deployment ? { deployment } : {}),
      detail: `${detail}${e.errorCode ? ` (failed: ${e.errorCode})` : ''}`,
    });
  };
  const deploymentOfContext = (ctx: Record<string, string> | undefined) => ctx?.[CONTEXT_KEYS.deployment];
  const deploymentOfSecret = (id: string | undefined) => targets.deployments.find((d) => isSecret(id, d.secretArn));

  // --- Owner-key Decrypts ---
  const byKmsRequest = new Map<string, AuditEntry>();
  for (const e of input.entries) for (const id of e.kmsRequestIds) byKmsRequest.set(id, e);
  const decryptOf = new Map<AuditEntry, NonNullable<AuditLine['decrypt']>>();
  const ownerDecrypts = events.filter((e) => e.eventName === 'Decrypt' && isKey(keyOf(e), targets.recoveryKeyArn));
  for (const e of ownerDecrypts) {
    const ctx = e.requestParameters?.encryptionContext;
    const deployment = deploymentOfContext(ctx);
    if (isBreakGlass(e)) {
      finding(
        'break-glass-use',
        e,
        'owner-key Decrypt by the break-glass role (an operator recovering by hand)',
        deployment,
      );
      continue;
    }
    const byId = e.requestID ? byKmsRequest.get(e.requestID) : undefined;
    const at = t(e);
    const byContext = byId
      ? undefined
      : input.entries.find(
          (r) =>
            !decryptOf.has(r) &&
            sameContext(r.encryptionContext, ctx) &&
            (r.kind === 'interrupted'
              ? at <= r.at + SLACK_MS && at >= r.at - INTERRUPTED_SPAN_MS
              : (r.kmsRequestIds.length === 0 || (r.kmsUnanswered ?? 0) > 0) &&
                at >= r.at - r.durationMs - SLACK_MS &&
                at <= r.at + SLACK_MS),
        );
    const entry = byId ?? byContext;
    if (entry && isFunction(e)) {
      decryptOf.set(entry, {
        eventId: e.eventID ?? '?',
        requestId: e.requestID ?? '?',
        by: byId ? 'request-id' : 'encryption-context',
        principal: principalOf(e),
      });
      continue;
    }
    if (!input.recordsRead && isFunction(e)) continue; // no records read: not called unaudited (the source is reported)
    finding(
      'owner-key-decrypt-unaudited',
      e,
      entry
        ? `owner-key Decrypt with an audited request ID but made by ${principalOf(e)}, not the function role`
        : `owner-key Decrypt with no audit record (request ID ${e.requestID ?? '?'}, context ${JSON.stringify(ctx ?? {})})`,
      deployment,
    );
  }

  // --- Policy and grant changes ---
  for (const e of events) {
    if (
      KEY_POLICY_EVENTS.has(e.eventName ?? '') &&
      (isKey(keyOf(e), targets.recoveryKeyArn) || isKey(keyOf(e), targets.bundleKeyArn))
    )
      finding(
        'policy-change',
        e,
        `${e.eventName} on ${isKey(keyOf(e), targets.recoveryKeyArn) ? 'the recovery key' : 'the bundle-secrets key'}`,
      );
    if (e.eventSource === SECRETS_MANAGER && SECRET_POLICY_EVENTS.has(e.eventName ?? '')) {
      const d = deploymentOfSecret(e.requestParameters?.secretId);
      if (d) finding('policy-change', e, `${e.eventName} on the bundle secret of ${d.name}`, d.name);
    }
  }

  // --- Bundle reads ---
  const bySecretsRequest = new Set(input.entries.flatMap((e) => e.secretsRequestIds));
  const reads = events.filter(
    (e) =>
      e.eventSource === SECRETS_MANAGER &&
      e.eventName === 'GetSecretValue' &&
      deploymentOfSecret(e.requestParameters?.secretId),
  );
  const functionReads: TrailEvent[] = [];
  let explained = 0;
  for (const e of reads) {
    const d = deploymentOfSecret(e.requestParameters?.secretId)!;
    if (isBreakGlass(e)) finding('break-glass-use', e, `bundle of ${d.name} read by the break-glass role`, d.name);
    else if (!isFunction(e))
      finding('bundle-read-by-other-principal', e, `bundle of ${d.name} read by ${principalOf(e)}`, d.name);
    else {
      functionReads.push(e);
      if (e.requestID && bySecretsRequest.has(e.requestID)) explained++;
    }
  }
  // Per day and deployment: reads without a recorded ID beyond the recorded attempts that got no answer.
  if (input.recordsRead) {
    const unexplained = new Map<string, TrailEvent[]>();
    for (const e of functionReads) {
      if (e.requestID && bySecretsRequest.has(e.requestID)) continue;
      const d = deploymentOfSecret(e.requestParameters?.secretId)!.name;
      const k = `${(e.eventTime ?? '').slice(0, 10)} ${d}`;
      unexplained.set(k, [...(unexplained.get(k) ?? []), e]);
    }
    for (const [k, list] of unexplained) {
      const [day, d] = k.split(' ') as [string, string];
      // An interrupted invocation's reads are in no record: each such record allows one.
      const allowance = input.entries
        .filter((r) => r.deployment === d && iso(r.at).startsWith(day))
        .reduce((n, r) => n + (r.secretsUnanswered ?? 0) + (r.kind === 'interrupted' ? 1 : 0), 0);
      if (list.length > allowance)
        finding(
          'function-reads-unexplained',
          list[0]!,
          `${list.length} GetSecretValue of ${d}'s bundle by the function role on ${day} have no audit record (${allowance} recorded attempts of that day have none); the first is shown`,
          d,
        );
    }
  }

  // --- Bundle-key Decrypts (Secrets Manager's own, for the caller of GetSecretValue) ---
  const bundleKeyDecrypts = events.filter((e) => e.eventName === 'Decrypt' && isKey(keyOf(e), targets.bundleKeyArn));
  for (const e of bundleKeyDecrypts) {
    const secretArn = e.requestParameters?.encryptionContext?.SecretARN;
    const d = deploymentOfSecret(secretArn);
    if (isBreakGlass(e)) {
      finding(
        'break-glass-use',
        e,
        `bundle-secrets key Decrypt by the break-glass role${d ? ` (${d.name})` : ''}`,
        d?.name,
      );
      continue;
    }
    if (!isFunction(e)) {
      finding('bundle-key-decrypt-by-other-principal', e, `bundle-secrets key Decrypt by ${principalOf(e)}`, d?.name);
      continue;
    }
    if (!input.secretEventsRead) continue;
    const viaSecretsManager = e.userIdentity?.invokedBy === SECRETS_MANAGER || e.sourceIPAddress === SECRETS_MANAGER;
    const read =
      d &&
      viaSecretsManager &&
      functionReads.some(
        (r) => isSecret(r.requestParameters?.secretId, d.secretArn) && Math.abs(t(r) - t(e)) <= SECRETS_DECRYPT_MS,
      );
    if (!read)
      finding(
        'bundle-key-decrypt-without-read',
        e,
        d
          ? `bundle-secrets key Decrypt for ${d.name}'s secret with no GetSecretValue by the function role around it`
          : `bundle-secrets key Decrypt by the function role outside Secrets Manager (context ${JSON.stringify(e.requestParameters?.encryptionContext ?? {})})`,
        d?.name,
      );
  }

  // --- One line per recovery, dry run, drill and interrupted attempt ---
  const lines: AuditLine[] = input.entries
    .filter((r) => r.kind !== 'routine' && inWindow(r.at) && inScope(r.deployment))
    .map((r) => {
      const decrypt = decryptOf.get(r);
      const wantsDecrypt = (r.kmsDecrypts ?? 0) > 0 || r.kind === 'interrupted';
      return {
        time: iso(r.at),
        deployment: r.deployment,
        kind: r.kind as AuditLine['kind'],
        requestId: r.requestId,
        trigger: describeTrigger(r),
        caller: describeCaller(r),
        outcome: r.outcome,
        ...(decrypt ? { decrypt } : {}),
        recover: describeRecover(r),
        restarts: describeRestarts(r),
        ...(!decrypt && wantsDecrypt
          ? {
              note:
                r.kind === 'interrupted'
                  ? 'no Decrypt in CloudTrail with its context: the attempt ended before decrypting'
                  : 'its Decrypt is not (yet) in CloudTrail event history',
            }
          : {}),
      };
    });

  return {
    lines,
    findings: findings.sort((a, b) => a.eventTime.localeCompare(b.eventTime)),
    counts: {
      auditRecords: input.entries.filter((r) => inWindow(r.at) && inScope(r.deployment)).length,
      ownerKeyDecrypts: ownerDecrypts.length,
      bundleReadsByFunction: functionReads.length,
      bundleReadsExplained: explained,
      bundleKeyDecrypts: bundleKeyDecrypts.length,
    },
  };
}
