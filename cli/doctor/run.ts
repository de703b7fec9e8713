/**
 * `doctor`: read-only preflight of one deployment of a deployed stack. Reads the function's
 * configuration first (every other check follows from it), then checks the cluster access,
 * RBAC, the Coordinator, the bundle and its key, the exporter and the trail, and prints one
 * checklist. Test seams (AWS endpoints, the cluster, the status call) are code-only.
 */
import { ENV } from '../../lambda/shared/contract.ts';
import { bundleCheck } from './bundle.ts';
import { result, worst, formatChecklist, type CheckResult } from './checks.ts';
import { clusterAccessChecks } from './cluster-access.ts';
import type { DoctorOptions } from './command.ts';
import { coordinatorCheck, invokeStatus, type StatusAsker } from './coordinator.ts';
import { OperatorAws, type AwsSettings } from '../operations/aws.ts';
import {
  describeDeployedFunction,
  DeployedFunctionError,
  type DeployedFunction,
} from '../operations/deployed-function.ts';
import { exporterCheck } from './exporter.ts';
import { INCOMPLETE_EXIT_CODE } from '../outcome-help.ts';
import { keyPolicyCheck } from './key-policy.ts';
import { operatorKube, type OperatorKube } from '../operations/kube.ts';
import { rbacCheck } from './rbac.ts';
import { trailCheck } from './trail.ts';
import { FunctionLogs } from '../operations/function-logs.ts';

export interface DoctorDeps {
  aws?: AwsSettings;
  /** The cluster as the operator reaches it (default: from --kubeconfig/--kube-context). */
  kube?: OperatorKube;
  askStatus?: StatusAsker;
  write?: (text: string) => void;
  /** How long to wait for the status call's audit record in the function's logs. */
  auditWaitMs?: number;
}

/**
 * The recovery key (the owner key's KMS key), as the function's audit record of the status
 * call names it (`kms.keyId`, from the bundle it loaded): the doctor never reads the bundle.
 * Undefined when the record cannot be read in time (logs:FilterLogEvents, delivery delay).
 */
async function recoveryKeyFromAudit(
  aws: OperatorAws,
  fn: DeployedFunction,
  requestId: string,
  since: number,
  waitMs = 10_000,
): Promise<string | undefined> {
  const logs = new FunctionLogs(aws.logs, fn.logGroup, since - 1_000);
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const found = (await logs.poll()).find((r) => r.type === 'audit' && r.requestId === requestId);
      if (found?.type === 'audit') return found.kmsKeyId;
    } catch {
      return undefined;
    }
    if (Date.now() + 1_000 > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

export interface DoctorReport {
  deployment: string;
  function: string;
  ok: boolean;
  checks: CheckResult[];
}

function functionCheck(fn: DeployedFunction): CheckResult {
  const d = fn.deployment;
  return result('function', 'function configuration', 'pass', [
    `${fn.arn}, role ${fn.roleArn}`,
    `deployment ${d.name}: Coordinator ${d.coordinator.host}:${d.coordinator.port}, bundle ${d.secretId}, ${ENV.kubeAuth}=${fn.config.kube.auth}${fn.config.allowPodDeletion ? ', pod deletion opted in' : ''}`,
    `bus ${fn.config.eventBusName}, trigger source ${fn.config.eventSource}, logs ${fn.logGroup}`,
  ]);
}

export async function runDoctor(o: DoctorOptions, deps: DoctorDeps = {}): Promise<DoctorReport> {
  const aws = new OperatorAws(deps.aws);
  const started = Date.now();
  try {
    await aws.requireRegion();
    let fn: DeployedFunction;
    try {
      fn = await describeDeployedFunction(aws, o.function, o.deployment);
    } catch (err) {
      if (!(err instanceof DeployedFunctionError)) throw err;
      return {
        deployment: o.deployment,
        function: o.function,
        ok: false,
        checks: [result('function', 'function configuration', 'fail', [err.message], err.fix)],
      };
    }

    let kube: OperatorKube | undefined = deps.kube;
    let kubeProblem: string | undefined;
    if (!kube) {
      try {
        kube = await operatorKube({
          ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}),
          ...(o.kubeContext ? { kubeContext: o.kubeContext } : {}),
        });
      } catch (err) {
        kubeProblem = (err as Error).message;
      }
    }
    const noCluster = (id: string, title: string) =>
      result(
        id,
        title,
        'fail',
        [`no cluster access: ${kubeProblem}`],
        'pass --kubeconfig/--kube-context for the cluster of this deployment',
      );

    const clusterSide = (async () => {
      const access = await clusterAccessChecks(fn, aws, {
        group: o.kubeGroup,
        ...(o.kubeUser ? { user: o.kubeUser } : {}),
      });
      if (!access.identity) return [...access.checks, result('rbac', 'RBAC', 'skip', ['no cluster access configured'])];
      const rbac = kube
        ? await rbacCheck(fn.deployment, fn.config.allowPodDeletion, access.identity, kube)
        : noCluster('rbac', 'RBAC');
      return [...access.checks, rbac];
    })();
    const coordinatorSide = (async () => {
      const { check, status } = await coordinatorCheck(fn, deps.askStatus ?? invokeStatus(aws));
      const bundle = await bundleCheck(fn, aws, status);
      const audited =
        o.kmsKeyId || !status?.requestId
          ? undefined
          : await recoveryKeyFromAudit(aws, fn, status.requestId, started, deps.auditWaitMs);
      const keyId = o.kmsKeyId ?? audited ?? bundle.secretKmsKeyId;
      const keySource = o.kmsKeyId
        ? '--kms-key-id'
        : audited
          ? "named by the function's audit record of the status call"
          : "the bundle secret's key: the status call's audit record was not readable; pass --kms-key-id <RecoveryKeyArn>";
      const key = await keyPolicyCheck(keyId, { aws, functionRoleArn: fn.roleArn, account: fn.account, keySource });
      return {
        checks: [check, bundle.check, key],
        keyRegion: keyId?.startsWith('arn:') ? keyId.split(':')[3]! : fn.region,
      };
    })();
    const exporter = kube
      ? exporterCheck(fn, kube, o.exporterNamespace)
      : Promise.resolve(noCluster('exporter', 'exporter config in the cluster'));

    const [cluster, coordinator, exporterResult] = await Promise.all([clusterSide, coordinatorSide, exporter]);
    const trail = await trailCheck(aws, coordinator.keyRegion);
    const checks = [functionCheck(fn), ...cluster, ...coordinator.checks, exporterResult, trail];
    return { deployment: o.deployment, function: fn.name, ok: worst(checks.map((c) => c.status)) !== 'fail', checks };
  } finally {
    aws.destroy();
  }
}

export async function doctorCommand(o: DoctorOptions, deps: DoctorDeps = {}): Promise<number> {
  const write = deps.write ?? ((t: string) => process.stdout.write(t));
  const report = await runDoctor(o, deps);
  if (o.json) {
    write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    const failed = report.checks.filter((c) => c.status === 'fail').length;
    const warned = report.checks.filter((c) => c.status === 'warn').length;
    write(`doctor: deployment ${report.deployment}, function ${report.function}\n${formatChecklist(report.checks)}\n`);
    write(
      failed
        ? `${failed} of ${report.checks.length} checks failed${warned ? `, ${warned} with warnings` : ''}: apply the fixes and run doctor again\n`
        : `all ${report.checks.length} checks passed${warned ? ` (${warned} with warnings)` : ''}\n`,
    );
  }
  return report.ok ? 0 : INCOMPLETE_EXIT_CODE;
}
