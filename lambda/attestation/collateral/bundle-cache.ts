/**
 * The bundle's collateral cache as a CollateralSource. `enroll --collateral DIR` stores each
 * file of DIR under its relative path (the names `collateralFile()` gives), base64-encoded;
 * `<file>.issuer-chain.pem` holds an Intel PCS issuer chain. Bytes only: the verifiers check
 * every document as they check evidence, so the cache cannot add trust.
 */
import { collateralFile, type CollateralDocument, type CollateralKey, type CollateralSource } from './sources.ts';

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
