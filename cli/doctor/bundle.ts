/**
 * The recovery bundle: the secret exists with a current version (DescribeSecret), and the
 * function could load and parse it (the `load-bundle` step of its status answer). The
 * doctor never reads the secret's value itself: a GetSecretValue makes Secrets Manager
 * Decrypt with the secret's key, and every Decrypt near the recovery key should be a
 * recovery or a drill (docs/operate.md, audit trail).
 */
import { DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import { awsErrorName, describeAwsError, type OperatorAws } from '../operations/aws.ts';
import { result, type CheckResult } from './checks.ts';
import type { StatusAnswer } from './coordinator.ts';
import type { DeployedFunction } from '../operations/deployed-function.ts';

export async function bundleCheck(
  fn: DeployedFunction,
  aws: OperatorAws,
  status: StatusAnswer | undefined,
): Promise<{ check: CheckResult; secretKmsKeyId?: string }> {
  const id = fn.deployment.secretId;
  const enroll = `contrast-autorecover enroll --workspace ./workspace --deployment ${fn.deployment.name} --kms-key-id <RecoveryKeyArn> --secret-id ${id}`;
  let secretKmsKeyId: string | undefined;
  const details: string[] = [];
  try {
    const s = await aws.secrets.send(new DescribeSecretCommand({ SecretId: id }));
    if (s.DeletedDate)
      return {
        check: result(
          'bundle',
          'recovery bundle',
          'fail',
          [`secret ${id} is scheduled for deletion (${s.DeletedDate.toISOString()})`],
          `aws secretsmanager restore-secret --secret-id ${id}`,
        ),
      };
    const current = Object.values(s.VersionIdsToStages ?? {}).some((stages) => stages.includes('AWSCURRENT'));
    if (!current)
      return { check: result('bundle', 'recovery bundle', 'fail', [`secret ${id} has no current version`], enroll) };
    secretKmsKeyId = s.KmsKeyId;
    details.push(
      `secret ${s.ARN ?? id}, encrypted with ${s.KmsKeyId ?? 'aws/secretsmanager'}${s.LastChangedDate ? `, last changed ${s.LastChangedDate.toISOString()}` : ''}`,
    );
  } catch (err) {
    const fix =
      awsErrorName(err) === 'ResourceNotFoundException' ? enroll : 'allow secretsmanager:DescribeSecret for your role';
    return {
      check: result(
        'bundle',
        'recovery bundle',
        'fail',
        [`cannot describe secret ${id}: ${describeAwsError(err)}`],
        fix,
      ),
    };
  }
  const out = (check: CheckResult) => ({ check, ...(secretKmsKeyId ? { secretKmsKeyId } : {}) });
  if (!status)
    return out(
      result(
        'bundle',
        'recovery bundle',
        'warn',
        [...details, "well-formedness not known: the function's status did not answer (see the Coordinator check)"],
        'fix the Coordinator check, then run doctor again',
      ),
    );
  if (status.outcome === 'bundle-invalid')
    return out(
      result('bundle', 'recovery bundle', 'fail', [...details, `the function refused it: ${status.message}`], enroll),
    );
  const loaded = status.steps.some((s) => s.step === 'load-bundle' && s.detail !== 'failed');
  if (!loaded)
    return out(
      result(
        'bundle',
        'recovery bundle',
        'warn',
        [...details, `the function did not get to load it (${status.outcome})`],
        'fix the Coordinator check, then run doctor again',
      ),
    );
  const loadedLine = `the function loaded and parsed it (manifest ${status.manifestHash?.slice(0, 16) ?? '?'}…); its value was not read here`;
  const collateral = collateralFinding(fn, status);
  if (collateral)
    return out(
      result(
        'bundle',
        'recovery bundle',
        collateral.status,
        [...details, loadedLine, collateral.detail],
        collateral.fix,
      ),
    );
  return out(result('bundle', 'recovery bundle', 'pass', [...details, loadedLine]));
}

/** Warn this long before the cached collateral expires: time to fetch and re-enroll. */
export const COLLATERAL_WARN_DAYS = 14;

/** The collateral cache's expiry as the function's status reports it (lambda/function/pause-switch.ts operatorState). */
export function collateralFinding(
  fn: DeployedFunction,
  status: StatusAnswer,
  now: Date = new Date(),
): { status: 'warn' | 'fail'; detail: string; fix: string } | undefined {
  const c = status.operator?.collateral;
  if (!c) return undefined;
  const reenroll = `fetch current collateral and re-enroll: contrast-autorecover enroll … --coordinator <host:port> --collateral-mirror <url> (or --collateral DIR)`;
  const mirror = fn.config.collateralMirrorUrl;
  if (c.none) {
    // SEV-SNP always needs a current CRL, TDX its TCB Info and QE Identity (collateral-needs.ts); the testing evidence nothing.
    const needsCollateral = status.evidence !== undefined && status.evidence.kind !== 'testing';
    return mirror || !needsCollateral
      ? undefined
      : {
          status: 'warn',
          detail:
            'no collateral cached in the bundle and no collateralMirror: a recovery works only while the evidence carries a current CRL/TCB Info',
          fix: reenroll,
        };
  }
  if (!c.expiresAt) return undefined;
  const days = (Date.parse(c.expiresAt) - now.getTime()) / 86_400_000;
  const what = `cached collateral ${c.file} expires ${c.expiresAt} (${c.limitedBy})`;
  if (days <= 0)
    return {
      status: mirror ? 'warn' : 'fail',
      detail: `${what}: EXPIRED${mirror ? '; the function refreshes it from the mirror' : ''}`,
      fix: reenroll,
    };
  if (days <= COLLATERAL_WARN_DAYS && !mirror)
    return { status: 'warn', detail: `${what}: in ${Math.floor(days)} day(s)`, fix: reenroll };
  return undefined;
}
