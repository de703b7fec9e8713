/**
 * Where certificates and collateral come from when the evidence does not carry them:
 * the bundle's collateral cache (filled by `enroll`), then a configurable mirror laid out
 * like AMD KDS / Intel PCS. Sources only deliver bytes: every document is verified by the
 * SNP/TDX verifiers exactly like evidence (signature, issuer chain to a pinned root,
 * validity window), so a source can never add trust.
 */
import path from 'node:path';
import { AttestationError, UnreachableError } from '../../shared/errors.ts';
import { FileRefusedError, readRegularFile } from '../../shared/files.ts';
import type { SnpProduct } from '../roots.ts';

/** One piece of collateral; `path` is both the cache file name and the mirror URL path. */
export type CollateralKey =
  | { kind: 'snp-vcek'; product: SnpProduct; chipId: string; tcbQuery: string }
  | { kind: 'snp-cert-chain'; product: SnpProduct; signer: 'vcek' | 'vlek' }
  /** The product CRL that revokes ASKs (VCEK chain) or, with signer `vlek`, ASVKs. */
  | { kind: 'snp-crl'; product: SnpProduct; signer?: 'vlek' }
  /**
   * TDX TCB Info for an FMSPC. `evaluationDataNumber` > 0 pins it to that Intel TCB evaluation
   * data number (the manifest's MinTCBEvaluationDataNumber); absent, the newest Intel serves.
   */
  | { kind: 'tdx-tcb-info'; fmspc: string; evaluationDataNumber?: number }
  | { kind: 'tdx-qe-identity' }
  /** Intel PCK CRL of the PCK Platform or Processor CA (revokes PCK certificates). */
  | { kind: 'tdx-pck-crl'; ca: 'platform' | 'processor' }
  /** Intel SGX Root CA CRL (revokes the PCK Platform/Processor CAs). */
  | { kind: 'tdx-root-crl' };

export interface CollateralDocument {
  body: Uint8Array;
  /** PEM issuer chain for Intel PCS JSON documents (PCS sends it in a response header). */
  issuerChain?: Uint8Array;
}

export interface CollateralSource {
  /** Returns the document, or undefined when this source does not have it. */
  get(key: CollateralKey): Promise<CollateralDocument | undefined>;
}

/** The relative path of a key, as KDS/PCS serve it (query kept for the mirror). */
export function collateralPath(key: CollateralKey): string {
  switch (key.kind) {
    case 'snp-vcek':
      return `vcek/v1/${key.product}/${key.chipId}?${key.tcbQuery}`;
    case 'snp-cert-chain':
      return `${key.signer}/v1/${key.product}/cert_chain`;
    case 'snp-crl':
      return `${key.signer ?? 'vcek'}/v1/${key.product}/crl`;
    case 'tdx-tcb-info':
      // As go-tdx-guest (edgelesssys fork) pcs.TcbInfoURLWithEvaluationDataNumber asks Intel PCS.
      return `tdx/certification/v4/tcb?fmspc=${key.fmspc}${key.evaluationDataNumber ? `&tcbEvaluationDataNumber=${key.evaluationDataNumber}` : ''}`;
    case 'tdx-qe-identity':
      return `tdx/certification/v4/qe/identity`;
    case 'tdx-pck-crl':
      return `sgx/certification/v4/pckcrl?ca=${key.ca}&encoding=der`;
    case 'tdx-root-crl':
      // The PCCS path; Intel publishes the same CRL at certificates.trustedservices.intel.com/IntelSGXRootCA.der.
      return 'sgx/certification/v4/rootcacrl';
  }
}

/** File name inside a collateral directory: the path with `?`/`&`/`=` made file-safe. */
export function collateralFile(key: CollateralKey): string {
  return collateralPath(key).replace(/[?&=]/g, '_');
}

/** Suffix of the PEM issuer chain stored next to an Intel PCS document in a cache. */
export const ISSUER_CHAIN_SUFFIX = '.issuer-chain.pem';

const PRODUCTS = new Set(['Milan', 'Genoa', 'Turin']);

/**
 * The key whose `collateralFile()` is `file`, or undefined for any other name (issuer-chain
 * companions, unrelated files). Accepted only if it maps back to exactly the same
 * name, so a cache entry can never be re-labelled as another document.
 */
export function parseCollateralFile(file: string): CollateralKey | undefined {
  let key: CollateralKey | undefined;
  let m: RegExpExecArray | null;
  if (file === 'tdx/certification/v4/qe/identity') key = { kind: 'tdx-qe-identity' };
  else if (file === 'sgx/certification/v4/rootcacrl') key = { kind: 'tdx-root-crl' };
  else if ((m = /^sgx\/certification\/v4\/pckcrl_ca_(platform|processor)_encoding_der$/.exec(file)))
    key = { kind: 'tdx-pck-crl', ca: m[1] as 'platform' | 'processor' };
  else if (
    (m = /^tdx\/certification\/v4\/tcb_fmspc_([0-9a-fA-F]{12})(?:_tcbEvaluationDataNumber_([1-9]\d{0,8}))?$/.exec(file))
  )
    key = { kind: 'tdx-tcb-info', fmspc: m[1]!, ...(m[2] ? { evaluationDataNumber: Number(m[2]) } : {}) };
  else if ((m = /^(vcek|vlek)\/v1\/(\w+)\/cert_chain$/.exec(file)) && PRODUCTS.has(m[2]!)) {
    key = { kind: 'snp-cert-chain', product: m[2] as SnpProduct, signer: m[1] as 'vcek' | 'vlek' };
  } else if ((m = /^(vcek|vlek)\/v1\/(\w+)\/crl$/.exec(file)) && PRODUCTS.has(m[2]!)) {
    key = { kind: 'snp-crl', product: m[2] as SnpProduct, ...(m[1] === 'vlek' ? { signer: 'vlek' as const } : {}) };
  } else if ((m = /^vcek\/v1\/(\w+)\/([0-9a-fA-F]+)_((?:[A-Za-z]+SPL_\d+_?)+)$/.exec(file)) && PRODUCTS.has(m[1]!)) {
    // `blSPL_3_teeSPL_0_…` back to `blSPL=3&teeSPL=0&…` (the names and values hold no `_`).
    const parts = m[3]!.split('_');
    if (parts.length % 2 !== 0) return undefined;
    const pairs: string[] = [];
    for (let i = 0; i < parts.length; i += 2) pairs.push(`${parts[i]}=${parts[i + 1]}`);
    key = { kind: 'snp-vcek', product: m[1] as SnpProduct, chipId: m[2]!, tcbQuery: pairs.join('&') };
  }
  return key && collateralFile(key) === file ? key : undefined;
}

export function describeCollateral(key: CollateralKey): string {
  switch (key.kind) {
    case 'snp-vcek':
      return `the VCEK certificate of ${key.product} chip ${key.chipId.slice(0, 16)}… at TCB ${key.tcbQuery}`;
    case 'snp-cert-chain':
      return `the AMD ${key.signer === 'vlek' ? 'ASVK' : 'ASK'}/ARK chain of ${key.product}`;
    case 'snp-crl':
      return `the AMD ${key.signer === 'vlek' ? 'VLEK ' : ''}CRL of ${key.product}`;
    case 'tdx-tcb-info':
      return `the Intel TDX TCB Info for FMSPC ${key.fmspc}${key.evaluationDataNumber ? ` at TCB evaluation data number ${key.evaluationDataNumber}` : ''}`;
    case 'tdx-qe-identity':
      return 'the Intel TD QE Identity';
    case 'tdx-pck-crl':
      return `the Intel PCK CRL of the PCK ${key.ca === 'platform' ? 'Platform' : 'Processor'} CA`;
    case 'tdx-root-crl':
      return 'the Intel SGX Root CA CRL';
  }
}

/** Error for a piece no source could supply, naming it and how to supply it. */
export function missingCollateral(check: string, key: CollateralKey): AttestationError {
  return new AttestationError(
    check,
    `missing ${describeCollateral(key)}: the evidence does not carry it and no collateral source has it ` +
      `(file ${collateralFile(key)}); run \`enroll --collateral DIR\` with that file, or configure a collateral mirror`,
  );
}

/** Reads collateral from a directory (the bundle's cache or `--collateral DIR`). */
export class DirectoryCollateral implements CollateralSource {
  constructor(private readonly dir: string) {}

  async get(key: CollateralKey): Promise<CollateralDocument | undefined> {
    const file = path.join(this.dir, collateralFile(key));
    const body = await readOptional(file);
    if (!body) return undefined;
    const issuerChain = await readOptional(`${file}.issuer-chain.pem`);
    return issuerChain ? { body, issuerChain } : { body };
  }
}

/** Collateral documents are kilobytes; only regular files up to this are read (shared/files.ts). */
const MAX_COLLATERAL_FILE_BYTES = 1024 * 1024;

async function readOptional(file: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(
      await readRegularFile(file, {
        maxBytes: MAX_COLLATERAL_FILE_BYTES,
        what: 'collateral',
        outcome: 'event-invalid',
      }),
    );
  } catch (err) {
    if (err instanceof FileRefusedError && err.reason === 'missing') return undefined;
    throw err;
  }
}

/** Fetches from an HTTPS mirror (KDS/PCS layout) with a bounded timeout per request. */
export class MirrorCollateral implements CollateralSource {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 5_000,
  ) {
    if (!/^https:\/\//.test(baseUrl) && !/^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(baseUrl)) {
      throw new Error(`collateral mirror must be an https URL, got ${baseUrl}`);
    }
  }

  async get(key: CollateralKey): Promise<CollateralDocument | undefined> {
    const url = new URL(collateralPath(key), this.baseUrl.endsWith('/') ? this.baseUrl : `${this.baseUrl}/`);
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw new CollateralUnavailableError(
        'collateral',
        `collateral mirror ${url.origin} did not answer for ${describeCollateral(key)} within ${this.timeoutMs} ms: ${(err as Error).message}; it is retried`,
      );
    }
    if (res.status === 404) return undefined;
    // Intel PCS answers 410 Gone for a TCB evaluation data number it no longer serves.
    if (res.status === 410 && key.kind === 'tdx-tcb-info' && key.evaluationDataNumber)
      throw new CollateralUnavailableError(
        'tdx.tcb-evaluation-data-number',
        `collateral mirror ${url.origin} answered HTTP 410 Gone for ${describeCollateral(key)}: Intel no longer serves TCB Info at that number, so no current copy can be had; raise MinTCBEvaluationDataNumber in the manifest (contrast generate) and re-enroll`,
      );
    // A 5xx (or any other failure) is the mirror's trouble, not the evidence's: retried, never attestation-failed.
    if (!res.ok)
      throw new CollateralUnavailableError(
        'collateral',
        `collateral mirror ${url.origin} answered HTTP ${res.status} for ${describeCollateral(key)}; it is retried`,
      );
    const body = new Uint8Array(await res.arrayBuffer());
    const header =
      res.headers.get('TCB-Info-Issuer-Chain') ??
      res.headers.get('SGX-Enclave-Identity-Issuer-Chain') ??
      res.headers.get('SGX-PCK-CRL-Issuer-Chain');
    return header ? { body, issuerChain: new Uint8Array(Buffer.from(decodeURIComponent(header))) } : { body };
  }
}

/**
 * Collateral that could not be had: a mirror that timed out or answered 5xx, or no source with
 * a current copy (an AMD CRL past its nextUpdate). Outcome `unreachable`: the reconcile is
 * retried (Lambda/EventBridge back off) and the collateral refresh renews the cache; it is
 * never `attestation-failed`, which is kept for evidence that was refused.
 */
export class CollateralUnavailableError extends UnreachableError {
  constructor(
    readonly check: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Every copy of `key` the source can give, in order (the bundle's cache, then the mirror),
 * asked for lazily so a usable cached copy spares the mirror. A source that cannot be
 * reached yields its CollateralUnavailableError instead of a document.
 */
export async function* collateralCandidates(
  source: CollateralSource | undefined,
  key: CollateralKey,
): AsyncGenerator<CollateralDocument | CollateralUnavailableError> {
  if (!source) return;
  if (source instanceof ChainedCollateral) {
    for (const s of source.sources) yield* collateralCandidates(s, key);
    return;
  }
  try {
    const doc = await source.get(key);
    if (doc) yield doc;
  } catch (err) {
    if (err instanceof CollateralUnavailableError) yield err;
    else throw err;
  }
}

/**
 * A collateral document that is genuine but not current at the evaluation time (past its
 * nextUpdate, or its issuer certificate expired): the verifiers try the next source and,
 * when none has a current copy, report the document as unavailable (`unreachable`).
 */
export class StaleCollateralError extends AttestationError {}

/** Tries sources in order (cache first, then mirror). */
export class ChainedCollateral implements CollateralSource {
  constructor(readonly sources: readonly CollateralSource[]) {}

  async get(key: CollateralKey): Promise<CollateralDocument | undefined> {
    for (const s of this.sources) {
      const doc = await s.get(key);
      if (doc) return doc;
    }
    return undefined;
  }
}

/** An in-memory source (for evidence-carried collateral and tests). */
export class MemoryCollateral implements CollateralSource {
  private readonly docs = new Map<string, CollateralDocument>();

  set(key: CollateralKey, doc: CollateralDocument): this {
    this.docs.set(collateralPath(key), doc);
    return this;
  }

  async get(key: CollateralKey): Promise<CollateralDocument | undefined> {
    return this.docs.get(collateralPath(key));
  }
}
