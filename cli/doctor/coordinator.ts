/**
 * The Coordinator, reached and attested from where it matters: the function's own network
 * path (PrivateLink, VPN or Direct Connect), by asking the deployed function for `status`.
 * That is the production status path: the bundle is loaded and parsed, the Coordinator's
 * evidence is verified against pinned roots, and nothing is decrypted or sent (reconcile
 * with statusOnly). The invocation is audited by the function like any other.
 */
import type { ReconcileResult } from '../../lambda/reconcile/types.ts';
import { OUTCOMES, type Outcome } from '../../lambda/shared/outcomes.ts';
import { invokeViaFunction, type OperatorAnswer } from '../via-function.ts';
import type { OperatorAws } from '../operations/aws.ts';
import { result, type CheckResult } from './checks.ts';
import type { DeployedFunction } from '../operations/deployed-function.ts';

/** What to do per failing outcome (the function's message says the specifics). */
const FIXES: Partial<Record<Outcome, string>> = {
  unreachable:
    'check the Coordinator endpoint (NLB and PrivateLink, or the route over VPN/Direct Connect), its security groups and that the coordinator Service exposes port 1313',
  'attestation-failed':
    'the message names the failed check; after a Contrast or node image update re-run `contrast generate`/`set` and re-enroll — never trust more',
  'bundle-invalid': 'run `contrast-autorecover enroll` for this deployment (see the message for the exact reason)',
  'no-state': 'the Coordinator has no history: run `contrast set` first',
  unauthorized: "enroll with the workspace's seedshare-owner.pem",
  'event-invalid': 'upgrade the CLI or the function so both speak the same version',
};

/** The function's status answer; `requestId` is the invocation's, which its audit record carries. */
export type StatusAnswer = ReconcileResult & { requestId?: string } & OperatorAnswer;
export type StatusAsker = (fn: DeployedFunction) => Promise<StatusAnswer>;

/** The default asker: a direct `status` invocation of the deployed function. */
export function invokeStatus(aws: OperatorAws): StatusAsker {
  return (fn) =>
    invokeViaFunction({
      functionName: fn.arn,
      action: 'status',
      deployment: fn.deployment.name,
      force: false,
      reason: 'contrast-autorecover doctor (preflight status)',
      clientConfig: aws.lambdaClientConfig(),
    });
}

function evidenceLine(r: ReconcileResult): string {
  const e = r.evidence;
  if (!e) return 'attested';
  return `attested: ${e.kind}${e.platform ? ` (${e.platform})` : ''}${e.measurement ? `, measurement ${e.measurement.slice(0, 16)}…` : ''}${e.tcb ? `, TCB ${e.tcb}` : ''}`;
}

export async function coordinatorCheck(
  fn: DeployedFunction,
  ask: StatusAsker,
): Promise<{ check: CheckResult; status?: StatusAnswer }> {
  const where = `${fn.deployment.coordinator.host}:${fn.deployment.coordinator.port}`;
  let r: StatusAnswer;
  try {
    r = await ask(fn);
  } catch (err) {
    return {
      check: result(
        'coordinator',
        'Coordinator reachable and attested',
        'fail',
        [`asking ${fn.name} for status failed: ${(err as Error).message}`],
        `allow lambda:InvokeFunction on ${fn.arn} for your role; read the function's logs in ${fn.logGroup}`,
      ),
    };
  }
  const head = `${where} via ${fn.name}: ${r.outcome} — ${r.message}`;
  if (r.outcome === 'recovery-needed') {
    return {
      status: r,
      check: result(
        'coordinator',
        'Coordinator reachable and attested',
        'warn',
        [head, evidenceLine(r)],
        'the Coordinator is stale and waits for Recover: the function recovers it on the next trigger (or run `contrast-autorecover recover --via-function`)',
      ),
    };
  }
  if (!OUTCOMES[r.outcome].ok) {
    return {
      status: r,
      check: result(
        'coordinator',
        'Coordinator reachable and attested',
        'fail',
        [head],
        FIXES[r.outcome] ?? 'see README "Troubleshooting by outcome"',
      ),
    };
  }
  const manifest = r.manifestHash ? `serves the enrolled manifest ${r.manifestHash.slice(0, 16)}…` : 'healthy';
  if (r.drift) {
    return {
      status: r,
      check: result(
        'coordinator',
        'Coordinator reachable and attested',
        'warn',
        [head, evidenceLine(r), `serves manifest ${r.latestManifestHash}, not the enrolled ${r.manifestHash}`],
        'someone ran `contrast set` after enrollment: check who, then re-enroll',
      ),
    };
  }
  return {
    status: r,
    check: result('coordinator', 'Coordinator reachable and attested', 'pass', [
      `${where} via ${fn.name}: ${r.outcome}`,
      evidenceLine(r),
      manifest,
      'no KMS Decrypt, nothing sent (status)',
    ]),
  };
}
