/**
 * The bundle's collateral cache as a CollateralSource. `enroll --collateral DIR` stores each
 * file of DIR under its relative path (the names `collateralFile()` gives), base64-encoded;
 * `<file>.issuer-chain.pem` holds an Intel PCS issuer chain. Bytes only: the verifiers check
 * every document as they check evidence, so the cache cannot add trust.
 */
import { errorMessage } from '../../shared/errors.ts';
import { collateralExpiry, isIssuerChainFile, type CollateralExpiry } from './expiry.ts';
import {
  ISSUER_CHAIN_SUFFIX,
  collateralFile,
  parseCollateralFile,
  type CollateralDocument,
  type CollateralKey,
  type CollateralSource,
} from './sources.ts';

export class BundleCollateral implements CollateralSource {
  constructor(private readonly files: Readonly<Record<string, unknown>>) {}

  async get(key: CollateralKey): Promise<CollateralDocument | undefined> {
    const name = collateralFile(key);
    const body = this.bytes(name);
    if (!body) return undefined;
    const issuerChain = this.bytes(`${name}.issuer-chain.pem`);
    return issuerChain ? { body, issuerChain } : { body };
  }

  private bytes(name: string): Uint8Array | undefined {
    const v = this.files[name];
    return typeof v === 'string' ? new Uint8Array(Buffer.from(v, 'base64')) : undefined;
  }
}

/** The earliest expiry of a bundle's collateral cache (bundle-cache.ts format: file → base64). */
export function cacheExpiry(record: Record<string, unknown>): {
  earliest?: { file: string; expiry: CollateralExpiry };
  unreadable: string[];
} {
  let earliest: { file: string; expiry: CollateralExpiry } | undefined;
  const unreadable: string[] = [];
  for (const [file, b64] of Object.entries(record)) {
    if (isIssuerChainFile(file) || typeof b64 !== 'string') continue;
    const key = parseCollateralFile(file);
    if (!key) continue;
    const chain = record[`${file}${ISSUER_CHAIN_SUFFIX}`];
    try {
      const expiry = collateralExpiry(key, {
        body: Buffer.from(b64, 'base64'),
        ...(typeof chain === 'string' ? { issuerChain: Buffer.from(chain, 'base64') } : {}),
      });
      if (expiry.expiresAt && (!earliest?.expiry.expiresAt || expiry.expiresAt < earliest.expiry.expiresAt))
        earliest = { file, expiry };
    } catch (err) {
      unreadable.push(`${file} (${errorMessage(err)})`);
    }
  }
  return { ...(earliest ? { earliest } : {}), unreadable };
}
