/**
 * The recovery bundle: the secret exists with a current version (DescribeSecret), and the
 * function could load and parse it (the `load-bundle` step of its status answer). The
 * doctor never reads the secret's value itself: a GetSecretValue makes Secrets Manager
 * Decrypt with the secret's key, and every Decrypt near the recovery key should be a
 * recovery or a drill (docs/operate.md, audit trail).
 */
import { DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import type { ReconcileResult } from '../../lambda/reconcile/types.ts';
import { awsErrorName, describeAwsError, type OperatorAws } from '../operations/aws.ts';
import { result, type CheckResult } from './checks.ts';
import type { DeployedFunction } from '../operations/deployed-function.ts';

export async function bundleCheck(fn: DeployedFunction, aws: OperatorAws, status: ReconcileResult | undefined): Promise<{ check: CheckResult; secretKmsKeyId?: string }> {
  const id = fn.deployment.secretId;
  const enroll = `contrast-autorecover enroll --workspace ./workspace --deployment ${fn.deployment.name} --kms-key-id <RecoveryKeyArn> --secret-id ${id}`;
  let secretKmsKeyId: string | undefined;
  const details: string[] = [];
  try {
    const s = await aws.secrets.send(new DescribeSecretCommand({ SecretId: id }));
    if (s.DeletedDate) return { check: result('bundle', 'recovery bundle', 'fail', [`secret ${id} is scheduled for deletion (${s.DeletedDate.toISOString()})`], `aws secretsmanager restore-secret --secret-id ${id}`) };
    const current = Object.values(s.VersionIdsToStages ?? {}).some((stages) => stages.includes('AWSCURRENT'));
    if (!current) return { check: result('bundle', 'recovery bundle', 'fail', [`secret ${id} has no current version`], enroll) };
    secretKmsKeyId = s.KmsKeyId;
    details.push(`secret ${s.ARN ?? id}, encrypted with ${s.KmsKeyId ?? 'aws/secretsmanager'}${s.LastChangedDate ? `, last changed ${s.LastChangedDate.toISOString()}` : ''}`);
  } catch (err) {
    const fix = awsErrorName(err) === 'ResourceNotFoundException' ? enroll : 'allow secretsmanager:DescribeSecret for your role';
    return { check: result('bundle', 'recovery bundle', 'fail', [`cannot describe secret ${id}: ${describeAwsError(err)}`], fix) };
  }
  const out = (check: CheckResult) => ({ check, ...(secretKmsKeyId ? { secretKmsKeyId } : {}) });
  if (!status) return out(result('bundle', 'recovery bundle', 'warn', [...details, 'well-formedness not known: the function\'s status did not answer (see the Coordinator check)'], 'fix the Coordinator check, then run doctor again'));
  if (status.outcome === 'bundle-invalid') return out(result('bundle', 'recovery bundle', 'fail', [...details, `the function refused it: ${status.message}`], enroll));
  const loaded = status.steps.some((s) => s.step === 'load-bundle' && s.detail !== 'failed');
  if (!loaded) return out(result('bundle', 'recovery bundle', 'warn', [...details, `the function did not get to load it (${status.outcome})`], 'fix the Coordinator check, then run doctor again'));
  return out(result('bundle', 'recovery bundle', 'pass', [...details, `the function loaded and parsed it (manifest ${status.manifestHash?.slice(0, 16) ?? '?'}…); its value was not read here`]));
}
