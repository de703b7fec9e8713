/**
 * How production paths (handler, CLI recover/status) build the verifier for one reconcile:
 * the native SNP/TDX verifier pinned to the AMD and Intel roots, with collateral from the
 * evidence first, then the bundle's cache, then the configured mirror. The settings here
 * choose where bytes come from and which TDX TCB statuses are acceptable; none of them can
 * add a root or skip a check.
 */
import type { Verifier } from '../attestation/verifier.ts';
import { BundleCollateral } from '../attestation/collateral/bundle-cache.ts';
import { ChainedCollateral, MirrorCollateral, type CollateralSource } from '../attestation/collateral/sources.ts';
import { createProductionVerifier } from '../attestation/production.ts';
import type { BundleVerifierFactory } from './reconcile.ts';

export interface ProductionVerifierSettings {
  /** HTTPS mirror laid out like AMD KDS / Intel PCS (e.g. Contrast's collateral proxy). */
  collateralMirrorUrl?: string;
  /** TDX TCB statuses accepted besides nothing: default ['UpToDate']. Repeated in every audit record. */
  acceptedTdxTcbStatuses?: string[];
}

export function productionVerifierFactory(settings: ProductionVerifierSettings = {}): BundleVerifierFactory {
  // The mirror's own request timeout (5 s) sits inside the aTLS handshake's budget, which bounds the verification.
  const mirror = settings.collateralMirrorUrl ? new MirrorCollateral(settings.collateralMirrorUrl) : undefined;
  return (reference, bundle): Verifier => {
    const sources: CollateralSource[] = [];
    if (bundle?.document.collateral) sources.push(new BundleCollateral(bundle.document.collateral));
    if (mirror) sources.push(mirror);
    return createProductionVerifier(reference, {
      ...(sources.length ? { collateral: new ChainedCollateral(sources) } : {}),
      ...(settings.acceptedTdxTcbStatuses?.length ? { acceptedTdxTcbStatuses: settings.acceptedTdxTcbStatuses } : {}),
    });
  };
}
