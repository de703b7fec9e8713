/**
 * What collateral a Coordinator's evidence leaves for the verifier to find, and fetching it
 * (verified) into the bundle's cache format. `enroll` uses this online, where the operator
 * has internet: the Lambda in a private VPC later finds everything in the bundle.
 *
 * Cache format (bundle-cache.ts): `collateralFile(key)` → base64 body, and
 * `collateralFile(key) + '.issuer-chain.pem'` → base64 PEM issuer chain (Intel PCS JSON).
 * The key of an entry is recovered from its name with `parseCollateralFile`.
 */
import { AttestationError, RecoveryError } from '../../shared/errors.ts';
import { hex } from '../bytes.ts';
import {
  ISSUER_CHAIN_SUFFIX,
  MemoryCollateral,
  collateralFile,
  describeCollateral,
  type CollateralDocument,
  type CollateralKey,
  type CollateralSource,
} from './sources.ts';
import { lookupWith, verificationOrder, type CollateralVerify } from './verify.ts';
import type { SnpProduct } from '../roots.ts';
import { cpuidProduct, decodeSnpAttestation, decodeTcb, parseSignerInfo, vcekHwid } from '../snp/abi.ts';
import { productFromCert, tcbQuery } from '../snp/verify.ts';
import { decodeTdxEvidence, quoteParts } from '../tdx/abi.ts';
import { parsePckExtensions } from '../tdx/pck.ts';
import { pckCaOf } from '../tdx/revocation.ts';
import { ATTESTATION_OIDS } from '../verifier.ts';
import { Cert, pemBlocks } from '../x509.ts';

/** The attestation extension as the Coordinator's certificate presents it. */
export interface AttestationExtensionInput {
  oid: string;
  value: Uint8Array;
}

function snpProduct(att: ReturnType<typeof decodeSnpAttestation>): SnpProduct {
  const leaf = att.vcek ?? att.vlek;
  const product =
    att.product ??
    cpuidProduct(att.report) ??
    (leaf ? productFromCert(Cert.parse(leaf, 'signer certificate')) : undefined);
  if (!product)
    throw new AttestationError(
      'snp.product',
      'cannot tell the SEV-SNP product (Milan/Genoa/Turin) of the evidence, so its collateral cannot be named; supply it with `enroll --collateral DIR`',
    );
  return product;
}

/**
 * The CollateralKeys a verifier needs for this evidence that the evidence does not carry:
 *  - SNP: the VCEK (if absent), the ASK/ASVK+ARK chain (if absent), the product CRL (always:
 *    one carried in the evidence may be stale by the time the Coordinator restarts);
 *  - TDX: the TCB Info for the PCK's FMSPC — one per evaluation data number the manifest's
 *    TDX entries name (`tdxEvaluationDataNumbers`; 0, the default, is the newest edition) —
 *    and the TD QE Identity (never carried verifiably), the PCK CRL of the quote's PCK CA
 *    (platform/processor) and the Intel SGX Root CA CRL. Only the TCB Info is pinned: QE
 *    Identity and CRLs are always the current ones (go-tdx-guest `obtainCollateral`).
 * The insecure testing OID needs nothing. Throws when a needed piece cannot be fetched at all
 * (a VLEK, a VCEK of a masked chip), naming it and how to supply it.
 */
export function collateralNeeds(
  ext: AttestationExtensionInput,
  tdxEvaluationDataNumbers: readonly number[] = [0],
): CollateralKey[] {
  if (ext.oid === ATTESTATION_OIDS.testing) return [];
  if (ext.oid === ATTESTATION_OIDS.snp) {
    const att = decodeSnpAttestation(ext.value);
    const r = att.report;
    const { signingKey, maskChipKey } = parseSignerInfo(r.signerInfo);
    const product = snpProduct(att);
    const needs: CollateralKey[] = [];
    if (signingKey === 'VLEK') {
      if (!att.vlek)
        throw new AttestationError(
          'snp.chain',
          'the report is signed by a VLEK the evidence does not carry; AMD KDS serves VLEKs only to the cloud provider — ask it for the VLEK and pass it with `enroll --collateral DIR`',
        );
    } else if (!att.vcek) {
      if (maskChipKey || r.chipId.every((b) => b === 0)) {
        throw new AttestationError(
          'snp.chain',
          'the report masks CHIP_ID and the evidence carries no VCEK, so the VCEK cannot be looked up; pass it with `enroll --collateral DIR`',
        );
      }
      needs.push({
        kind: 'snp-vcek',
        product,
        chipId: hex(vcekHwid(r.chipId, product)),
        tcbQuery: tcbQuery(decodeTcb(r.reportedTcb, product), product),
      });
    }
    if (!att.ask || !att.ark)
      needs.push({ kind: 'snp-cert-chain', product, signer: signingKey === 'VLEK' ? 'vlek' : 'vcek' });
    // Always: a CRL the evidence carries may be past its nextUpdate when the Coordinator restarts.
    needs.push({ kind: 'snp-crl', product, ...(signingKey === 'VLEK' ? { signer: 'vlek' as const } : {}) });
    return needs;
  }
  if (ext.oid === ATTESTATION_OIDS.tdx) {
    const { quote } = decodeTdxEvidence(ext.value);
    const [pckDer, interDer] = pemBlocks(quoteParts(quote).pckChain.pckCertChain);
    if (!pckDer)
      throw new AttestationError(
        'tdx.chain',
        'the quote carries no PCK certificate, so its FMSPC (and TCB Info) cannot be named',
      );
    const { fmspc } = parsePckExtensions(Cert.parse(pckDer, 'PCK certificate'));
    const ca = interDer ? pckCaOf(Cert.parse(interDer, 'PCK intermediate CA')) : undefined;
    const numbers = tdxEvaluationDataNumbers.length ? [...new Set(tdxEvaluationDataNumbers)] : [0];
    return [
      ...numbers.map((n): CollateralKey => ({
        kind: 'tdx-tcb-info',
        fmspc,
        ...(n > 0 ? { evaluationDataNumber: n } : {}),
      })),
      { kind: 'tdx-qe-identity' },
      ...(ca ? [{ kind: 'tdx-pck-crl', ca } as const] : []),
      { kind: 'tdx-root-crl' },
    ];
  }
  // The Coordinator's evidence, refused by name as the verifier refuses it (core.ts).
  throw new AttestationError(
    'verifier',
    `unknown attestation OID ${ext.oid}: expected ${ATTESTATION_OIDS.snp} (SEV-SNP) or ${ATTESTATION_OIDS.tdx} (TDX)`,
  );
}

/**
 * The issuers SNP evidence carries (its ASK/ASVK + ARK as a cert_chain document), so a
 * fetched VCEK or CRL can be verified without asking the mirror for the chain. Unverified
 * bytes, like every source: the verifier checks the chain to the pinned ARK.
 */
export function carriedCollateral(ext: AttestationExtensionInput): CollateralSource {
  const mem = new MemoryCollateral();
  if (ext.oid !== ATTESTATION_OIDS.snp) return mem;
  const att = decodeSnpAttestation(ext.value);
  if (att.ask && att.ark) {
    const pem = (der: Uint8Array) =>
      `-----BEGIN CERTIFICATE-----\n${Buffer.from(der)
        .toString('base64')
        .replace(/(.{64})/g, '$1\n')
        .replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
    const body = new Uint8Array(Buffer.from(pem(att.ask) + pem(att.ark), 'latin1'));
    mem.set(
      {
        kind: 'snp-cert-chain',
        product: snpProduct(att),
        signer: parseSignerInfo(att.report.signerInfo).signingKey === 'VLEK' ? 'vlek' : 'vcek',
      },
      { body },
    );
  }
  return mem;
}

/** Adds one document to a bundle-cache record (base64 body and, when present, issuer chain). */
export function putCollateral(record: Record<string, unknown>, key: CollateralKey, doc: CollateralDocument): void {
  const file = collateralFile(key);
  record[file] = Buffer.from(doc.body).toString('base64');
  if (doc.issuerChain) record[`${file}${ISSUER_CHAIN_SUFFIX}`] = Buffer.from(doc.issuerChain).toString('base64');
  else delete record[`${file}${ISSUER_CHAIN_SUFFIX}`];
}

export interface CollateralFailure {
  /** The cache file name of the document (`collateralFile(key)`). */
  file: string;
  reason: string;
  /** `refused`: the mirror served a document that does not verify; otherwise it could not be had. */
  refused?: boolean;
}

/**
 * Some documents could not be fetched or were refused; `failures` names each. A document that
 * did not verify is `attestation-failed`; one that could not be had (missing, timeout, 5xx) is
 * `unreachable` — a mirror's trouble is never blamed on the evidence.
 */
export class CollateralFetchError extends RecoveryError {
  readonly failures: readonly CollateralFailure[];

  constructor(failures: CollateralFailure[]) {
    super(
      failures.some((f) => f.refused) ? 'attestation-failed' : 'unreachable',
      `collateral could not be fetched: ${failures.map((f) => `${f.file}: ${f.reason}`).join('; ')}`,
    );
    this.failures = failures;
  }
}

/** Fetches every key concurrently (each bounded by the source's own timeout). */
export async function fetchAll(
  keys: readonly CollateralKey[],
  source: CollateralSource,
): Promise<Map<CollateralKey, CollateralDocument | Error | undefined>> {
  const results = await Promise.all(
    keys.map((k) =>
      source.get(k).then(
        (d) => d,
        (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
      ),
    ),
  );
  return new Map(keys.map((k, i) => [k, results[i]]));
}

/**
 * Fetches `keys` from `mirror`, verifies each with `verify` (issuers first, looking them up
 * among the documents accepted so far, then the mirror), and returns the bundle-cache record.
 * All or nothing: throws CollateralFetchError naming every document that is missing, timed
 * out or refused, and how to supply it.
 */
export async function fetchCollateral(
  keys: readonly CollateralKey[],
  mirror: CollateralSource,
  verify: CollateralVerify,
  /** Issuers known otherwise, e.g. `carriedCollateral(ext)`: consulted before the mirror. */
  issuers?: CollateralSource,
): Promise<Record<string, string>> {
  const ordered = [...keys].sort((a, b) => verificationOrder(a) - verificationOrder(b));
  const fetched = await fetchAll(ordered, mirror);
  const accepted = new MemoryCollateral();
  const lookup = lookupWith(accepted, issuers, mirror);
  const record: Record<string, string> = {};
  const failures: CollateralFailure[] = [];
  for (const key of ordered) {
    const file = collateralFile(key);
    const got = fetched.get(key);
    if (got === undefined) {
      failures.push({
        file,
        reason: `the mirror does not have ${describeCollateral(key)}; check the mirror URL, or supply the file with \`enroll --collateral DIR\``,
      });
      continue;
    }
    if (got instanceof Error) {
      failures.push({ file, reason: `${got.message}; retry, or supply the file with \`enroll --collateral DIR\`` });
      continue;
    }
    try {
      await verify(key, got, { lookup });
    } catch (err) {
      failures.push({
        file,
        refused: true,
        reason: `${(err as Error).message}; the mirror serves a document that does not verify — check that it mirrors AMD KDS / Intel PCS`,
      });
      continue;
    }
    accepted.set(key, got);
    putCollateral(record, key, got);
  }
  if (failures.length) throw new CollateralFetchError(failures);
  return record;
}
