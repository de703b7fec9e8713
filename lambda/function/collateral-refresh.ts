/**
 * Keeps the bundle's collateral cache current without internet at recovery time: every
 * cached document that expires within `renewBefore` (or already has) is fetched again from
 * the configured mirror, verified exactly like evidence collateral (signature and issuer
 * chain to a pinned root, via `verify`), and, when it is newer, a new secret version is put
 * with only the collateral map changed. Manifest, seed shares and the encrypted owner key are
 * copied byte for byte, so the KMS encryption context (keys/context.ts) is unchanged and
 * nothing is decrypted here.
 *
 * Cache entries are mapped back to their CollateralKey by name (`parseCollateralFile`);
 * entries that are no CollateralKey file (issuer-chain companions, PCK CRLs, other files an
 * operator cached with `enroll --collateral DIR`) are kept as they are.
 *
 * A TDX TCB Info pinned to an evaluation data number (the manifest's MinTCBEvaluationDataNumber,
 * `tcbEvaluationDataNumber=N`) is refreshed under that same number: Intel re-issues each
 * supported edition with a new nextUpdate, and the status must stay judged against edition N,
 * not the newest. A pinned edition the manifest names but the cache lacks (a bundle enrolled
 * before pinning, or a new FMSPC's) is fetched and added.
 */
import { errorMessage, InputError } from '../shared/errors.ts';
import { METRIC } from '../shared/contract.ts';
import {
  MirrorCollateral,
  MemoryCollateral,
  collateralFile,
  describeCollateral,
  parseCollateralFile,
  type CollateralDocument,
  type CollateralKey,
  type CollateralSource,
} from '../attestation/collateral/sources.ts';
import { BundleCollateral } from '../attestation/collateral/bundle-cache.ts';
import { fetchAll, putCollateral, type CollateralFailure } from '../attestation/collateral/needs.ts';
import {
  lookupWith,
  pinnedCollateralVerifier,
  verificationOrder,
  type CollateralVerify,
} from '../attestation/collateral/verify.ts';
import {
  collateralExpiry,
  expiresWithin,
  isIssuerChainFile,
  type CollateralExpiry,
} from '../attestation/collateral/expiry.ts';
import { sameEnrollment, serializeBundle, type BundleDocument, type RecoveryBundle } from '../keys/bundle.ts';
import { parseManifest } from '../coordinator/manifest.ts';
import { tdxEvaluationDataNumbers } from '../attestation/reference.ts';
import type { BundleStore } from '../keys/store.ts';
import type { Runtime } from './runtime.ts';

const DEFAULT_RENEW_BEFORE_MS = 7 * 24 * 3600 * 1000;
/** `failed[].file` when the secret changed under the refresh and nothing was written. */
export const BUNDLE_CHANGED = '(bundle)';
/** Secrets Manager's limit for one secret value. */
const SECRET_MAX_BYTES = 65_536;

export interface RefreshInput {
  store: Pick<BundleStore, 'load' | 'save'>;
  secretId: string;
  /** The bundle as loaded; it is loaded again just before writing (see below). */
  bundle: RecoveryBundle;
  /** Where newer documents come from (a MirrorCollateral: bounded timeout per request). */
  mirror: CollateralSource;
  /** `pinnedCollateralVerifier()` in production; tests pass one with test roots. */
  verify: CollateralVerify;
  now: Date;
  /** Refresh what expires within this many ms of `now`; default 7 days. */
  renewBefore?: number;
}

export interface CachedExpiry {
  file: string;
  /** ISO time, or null when the document never expires (a CRL without nextUpdate). */
  expiresAt: string | null;
  limitedBy: string;
}

export interface RefreshResult {
  /** Cache file names replaced by a newer, verified document. */
  refreshed: string[];
  /** Documents due for refresh that were not replaced, each with what to do. */
  failed: CollateralFailure[];
  /** Whether a new secret version was put. */
  written: boolean;
  /** The new secret version, when written. */
  versionId?: string;
  /** Every cached document's expiry after this run (for logs and metrics: the earliest one is the next deadline). */
  expiries: CachedExpiry[];
}

interface Cached {
  file: string;
  key: CollateralKey;
  doc: CollateralDocument;
  expiry: CollateralExpiry | Error;
}

/** A document the manifest needs that the cache lacks (its expiry: why it is due). */
interface Absent {
  file: string;
  key: CollateralKey;
  expiry: Error;
  absent: true;
}

/**
 * The pinned TCB Info editions the manifest names but the cache lacks, for each FMSPC whose
 * TCB Info is cached. A manifest that does not parse adds nothing (the cache is refreshed as it is).
 */
function absentPinnedTcbInfo(bundle: RecoveryBundle, cached: readonly Cached[]): Absent[] {
  let numbers: number[];
  try {
    numbers = tdxEvaluationDataNumbers(parseManifest(bundle.manifest, 'the bundle manifest').referenceValues.tdx);
  } catch {
    return [];
  }
  const have = new Set(cached.map((c) => c.file));
  const fmspcs = new Set(cached.flatMap((c) => (c.key.kind === 'tdx-tcb-info' ? [c.key.fmspc.toLowerCase()] : [])));
  const out: Absent[] = [];
  for (const fmspc of fmspcs)
    for (const n of numbers) {
      if (n === 0) continue;
      const key: CollateralKey = { kind: 'tdx-tcb-info', fmspc, evaluationDataNumber: n };
      const file = collateralFile(key);
      if (!have.has(file))
        out.push({
          file,
          key,
          expiry: new Error('it is not cached (the manifest pins TCB Info to this evaluation data number)'),
          absent: true,
        });
    }
  return out;
}

function cachedDocuments(collateral: Readonly<Record<string, unknown>>): Promise<Cached[]> {
  const source = new BundleCollateral(collateral);
  const out: Promise<Cached | undefined>[] = [];
  for (const file of Object.keys(collateral)) {
    if (isIssuerChainFile(file)) continue;
    const key = parseCollateralFile(file);
    if (!key) continue;
    out.push(
      source.get(key).then((doc) => {
        if (!doc) return undefined;
        let expiry: CollateralExpiry | Error;
        try {
          expiry = collateralExpiry(key, doc);
        } catch (err) {
          expiry = err as Error;
        }
        return { file, key, doc, expiry };
      }),
    );
  }
  return Promise.all(out).then((xs) => xs.filter((x): x is Cached => x !== undefined));
}

/**
 * Why `next` does not replace `old`, or undefined when it does. A replacement must expire
 * later and must not be older by issue date or Intel evaluation number: a mirror cannot
 * roll the cache back to an earlier, still-valid document.
 */
function notNewer(old: CollateralExpiry | Error, next: CollateralExpiry): string | undefined {
  if (old instanceof Error) return undefined;
  if (old.issuedAt && next.issuedAt && next.issuedAt < old.issuedAt)
    return `it was issued ${next.issuedAt.toISOString()}, before the cached one (${old.issuedAt.toISOString()})`;
  if (
    old.evaluationDataNumber !== undefined &&
    next.evaluationDataNumber !== undefined &&
    next.evaluationDataNumber < old.evaluationDataNumber
  ) {
    return `its tcbEvaluationDataNumber ${next.evaluationDataNumber} is below the cached one (${old.evaluationDataNumber})`;
  }
  const o = old.expiresAt?.getTime() ?? Infinity;
  const n = next.expiresAt?.getTime() ?? Infinity;
  if (n <= o)
    return `it expires ${next.expiresAt?.toISOString() ?? 'never'}, no later than the cached one (${old.expiresAt?.toISOString() ?? 'never'})`;
  return undefined;
}

function expiries(
  cached: readonly (Cached | Absent)[],
  replaced: ReadonlyMap<string, CollateralExpiry>,
): CachedExpiry[] {
  return cached.map((c) => {
    const e = replaced.get(c.file) ?? c.expiry;
    if (e instanceof Error)
      return { file: c.file, expiresAt: new Date(0).toISOString(), limitedBy: `unreadable: ${e.message}` };
    return { file: c.file, expiresAt: e.expiresAt?.toISOString() ?? null, limitedBy: e.limitedBy };
  });
}

export async function refreshBundleCollateral(input: RefreshInput): Promise<RefreshResult> {
  const renewBefore = input.renewBefore ?? DEFAULT_RENEW_BEFORE_MS;
  const collateral = input.bundle.document.collateral ?? {};
  const cached = (await cachedDocuments(collateral)).sort(
    (a, b) => verificationOrder(a.key) - verificationOrder(b.key),
  );
  // Unreadable cached documents are due like expired ones; pinned TCB Info the cache lacks too.
  const due: (Cached | Absent)[] = [
    ...cached.filter((c) => c.expiry instanceof Error || expiresWithin(c.expiry, input.now, renewBefore)),
    ...absentPinnedTcbInfo(input.bundle, cached),
  ].sort((a, b) => verificationOrder(a.key) - verificationOrder(b.key));
  const failed: CollateralFailure[] = [];
  const refreshed: string[] = [];
  const replaced = new Map<string, CollateralExpiry>();
  if (due.length === 0) return { refreshed, failed, written: false, expiries: expiries(cached, replaced) };

  // Fetch concurrently (each request bounded by the mirror's timeout); verify in issuer order,
  // issuers looked up among documents accepted in this run, then the cache, then the mirror.
  const fetched = await fetchAll(
    due.map((c) => c.key),
    input.mirror,
  );
  const accepted = new MemoryCollateral();
  const lookup = lookupWith(accepted, new BundleCollateral(collateral), input.mirror);
  for (const c of due) {
    const what = describeCollateral(c.key);
    const got = fetched.get(c.key);
    const stale =
      'absent' in c
        ? c.expiry.message
        : c.expiry instanceof Error
          ? 'it is unreadable'
          : `it expires ${c.expiry.expiresAt?.toISOString()} (${c.expiry.limitedBy})`;
    if (got === undefined) {
      failed.push({
        file: c.file,
        reason: `the mirror does not have ${what}, and ${stale}; check the mirror URL or refresh the cache with \`enroll --collateral DIR\``,
      });
      continue;
    }
    if (got instanceof Error) {
      failed.push({
        file: c.file,
        reason: `${got.message}; ${stale} — check that the mirror is reachable from the function's network, or refresh with \`enroll --collateral DIR\``,
      });
      continue;
    }
    try {
      await input.verify(c.key, got, { lookup });
    } catch (err) {
      failed.push({
        file: c.file,
        reason: `the mirror's document was refused: ${(err as Error).message}; the cached one was kept (${stale}) — check that the mirror serves genuine AMD KDS / Intel PCS documents`,
      });
      continue;
    }
    let next: CollateralExpiry;
    try {
      next = collateralExpiry(c.key, got);
    } catch (err) {
      failed.push({
        file: c.file,
        reason: `the mirror's document verified but its dates are unreadable: ${(err as Error).message}`,
      });
      continue;
    }
    const why = notNewer(c.expiry, next);
    if (why) {
      failed.push({
        file: c.file,
        reason: `the mirror has no newer ${what}: ${why}; ${stale} — check that the mirror is current, or refresh with \`enroll --collateral DIR\``,
      });
      continue;
    }
    accepted.set(c.key, got);
    replaced.set(c.file, next);
    refreshed.push(c.file);
  }
  if (refreshed.length === 0) return { refreshed, failed, written: false, expiries: expiries(cached, replaced) };

  // Load again and write only if nothing but the collateral changed since `bundle` was read:
  // a re-enrollment in between must never be overwritten with the old manifest and keys.
  // (Secrets Manager has no conditional put; the window left is this load → put.)
  const latest = await input.store.load(input.secretId);
  if (!sameEnrollment(latest.document, input.bundle.document)) {
    failed.push({
      file: BUNDLE_CHANGED,
      reason: `secret ${input.secretId} changed while its collateral was refreshed (re-enrolled?); nothing was written — the next refresh works on the new bundle`,
    });
    return { refreshed: [], failed, written: false, expiries: expiries(cached, new Map()) };
  }
  const merged: Record<string, unknown> = { ...(latest.document.collateral ?? {}) };
  for (const file of refreshed) {
    const key = parseCollateralFile(file)!;
    putCollateral(merged, key, (await accepted.get(key))!);
  }
  const doc: BundleDocument = { ...latest.document, collateral: merged };
  const size = Buffer.byteLength(serializeBundle(doc), 'utf8');
  if (size > SECRET_MAX_BYTES) {
    throw new InputError(
      `the refreshed bundle for ${input.secretId} would be ${size} bytes, over Secrets Manager's ${SECRET_MAX_BYTES}; re-enroll with only this platform's collateral (${refreshed.join(', ')})`,
      'bundle-invalid',
    );
  }
  // The secret exists (just loaded), so this puts a new version; the KMS key id is only
  // used by BundleStore to create a missing secret.
  const saved = await input.store.save(input.secretId, doc, doc.ownerKey.kmsKeyId);
  return {
    refreshed,
    failed,
    written: true,
    ...(saved.versionId ? { versionId: saved.versionId } : {}),
    // Documents added in this run (pinned TCB Info the cache lacked) are cached now too.
    expiries: expiries([...cached, ...due.filter((d): d is Absent => 'absent' in d && replaced.has(d.file))], replaced),
  };
}

/** What the scheduled refresh did for one deployment (part of the handler's response). */
export interface CollateralRefreshReport {
  deployment: string;
  refreshed: string[];
  failed: { file: string; reason: string }[];
  written: boolean;
}

/**
 * Scheduled refresh of each bundle's collateral cache from COLLATERAL_MIRROR_URL, before it
 * expires (the function has no internet; the mirror is its only egress). Every fetched
 * document is verified against the pinned roots; only the non-secret collateral map of the
 * bundle changes, so the KMS encryption context stays the same. The handler loads this
 * module only on a schedule with a mirror configured.
 */
export async function refreshAllCollateral(rt: Runtime, mirrorUrl: string): Promise<CollateralRefreshReport[]> {
  const { logger, metrics } = rt.telemetry;
  const mirror = new MirrorCollateral(mirrorUrl);
  const out: CollateralRefreshReport[] = [];
  for (const d of rt.config.deployments) {
    try {
      const bundle = await rt.bundles.load(d.secretId);
      const verify = rt.collateralVerify ?? pinnedCollateralVerifier();
      const r = await refreshBundleCollateral({
        store: rt.bundles,
        secretId: d.secretId,
        bundle,
        mirror,
        verify,
        now: new Date(rt.now()),
      });
      out.push({ deployment: d.name, refreshed: r.refreshed, failed: r.failed, written: r.written });
      metrics.publish(d.name, (m) => m.count(METRIC.collateralRefreshFailed, r.failed.length > 0 ? 1 : 0));
      const line = { deployment: d.name, refreshed: r.refreshed, failed: r.failed, written: r.written };
      if (r.failed.length)
        logger.warn(
          'collateral refresh incomplete; recoveries fall back to the mirror, fix it before the cache expires',
          line,
        );
      else logger.info('collateral cache checked', line);
    } catch (err) {
      out.push({
        deployment: d.name,
        refreshed: [],
        failed: [{ file: '(bundle)', reason: errorMessage(err) }],
        written: false,
      });
      metrics.publish(d.name, (m) => m.count(METRIC.collateralRefreshFailed, 1));
      logger.error('collateral refresh failed', { deployment: d.name, error: errorMessage(err) });
    }
  }
  return out;
}
