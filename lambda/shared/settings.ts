/**
 * Values operators set that both sides check with the same rule: the CDK construct when it
 * synthesizes (infra/), the function when it starts (lambda/function/config.ts), and the CLI.
 * Dependency-free, so the construct can load it without the function's runtime packages.
 */

/** TDX TCB statuses accepted when a deployment names none: only an up-to-date platform. */
export const DEFAULT_TDX_TCB_STATUSES: readonly string[] = Object.freeze(['UpToDate']);

/**
 * Intel TCB statuses an operator may accept besides UpToDate. `Revoked` is never acceptable,
 * whatever a setting says.
 */
export const ACCEPTABLE_TDX_TCB_STATUSES = Object.freeze([
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
] as const);

export type TdxTcbStatus = (typeof ACCEPTABLE_TDX_TCB_STATUSES)[number];

/** The statuses of `values` that are not acceptable (empty when all are). */
export function unacceptableTdxTcbStatuses(values: readonly string[]): string[] {
  return values.filter((v) => !(ACCEPTABLE_TDX_TCB_STATUSES as readonly string[]).includes(v));
}

/**
 * What is wrong with a collateral mirror URL, or undefined when it is acceptable: https only
 * (plain http only to a loopback test mirror). Collateral is verified anyway, but a mirror must
 * not be spoofable into denial of service.
 */
export function collateralMirrorUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${JSON.stringify(value)} is not a URL; expected an https URL such as https://collateral.internal.example`;
  }
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && /^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(value)) return undefined;
  return `${JSON.stringify(value)}: expected an https URL (plain http only to a loopback test mirror)`;
}
