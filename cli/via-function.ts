/**
 * `recover|status --via-function NAME`: asks the deployed function to reconcile instead of
 * doing it locally, so the operator needs no KMS or Secrets Manager access — only
 * lambda:InvokeFunction. The function records the request in its audit record; the
 * authenticated principal is in CloudTrail's Lambda Invoke data event (docs/operate.md).
 */
import { hostname, userInfo } from 'node:os';
import { InvokeCommand, LambdaClient, type LambdaClientConfig } from '@aws-sdk/client-lambda';
import * as z from 'zod';
import { BUDGETS, FUNCTION_TIMEOUT_SECONDS } from '../lambda/shared/budgets.ts';
import { RecoveryError } from '../lambda/shared/errors.ts';
import { isOutcome } from '../lambda/shared/outcomes.ts';
import type { ReconcileResult } from '../lambda/reconcile/types.ts';
import type { OperatorState, PauseSwitchResult } from '../lambda/shared/operator-answers.ts';

export interface ViaFunctionRequest {
  functionName: string;
  action: 'recover' | 'status' | 'dry-run' | 'pause' | 'resume';
  deployment: string;
  force: boolean;
  reason: string;
  region?: string;
  /** Test seam: client settings (endpoint, credentials). */
  clientConfig?: LambdaClientConfig;
}

/** The function could not be asked (`unreachable`, retry) or is not the one this CLI speaks to (`config-invalid`). */
export class ViaFunctionError extends RecoveryError {
  constructor(message: string, outcome: 'unreachable' | 'config-invalid', options?: { cause?: unknown }) {
    super(outcome, message, options);
  }
}

const resultSchema = z
  .object({
    deployment: z.string(),
    outcome: z.string().refine(isOutcome, 'not an outcome of this version; upgrade the CLI'),
    message: z.string(),
    coordinatorState: z.string(),
    kmsDecrypts: z.number(),
    recoverSent: z.boolean(),
    force: z.boolean(),
    dryRun: z.boolean(),
    steps: z.array(z.object({ step: z.string(), ms: z.number() }).loose()),
    durationMs: z.number(),
  })
  .loose();

const responseSchema = z.object({ requestId: z.string(), results: z.array(resultSchema).min(1) }).loose();

/** Self-declared, for the audit record's `declaredCaller`; the authenticated identity is CloudTrail's. */
function clientContext(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  return Buffer.from(
    JSON.stringify({ custom: { caller: `${user}@${hostname()} (contrast-autorecover CLI)` } }),
  ).toString('base64');
}

/** What the function answers besides the result: pause switches and collateral expiry (status, resume), the switch change (pause, resume). */
export interface OperatorAnswer {
  operator?: OperatorState;
  pauseSwitch?: PauseSwitchResult;
}

export async function invokeViaFunction(
  req: ViaFunctionRequest,
): Promise<ReconcileResult & { requestId?: string } & OperatorAnswer> {
  // One attempt only: a retried invoke could run a forced recovery twice. The function ends
  // within its timeout; the answer is waited for that long and a little more, never forever.
  const requestHandler = {
    connectionTimeout: BUDGETS.aws.connectionTimeoutMs,
    requestTimeout: FUNCTION_TIMEOUT_SECONDS * 1000 + 15_000,
    throwOnRequestTimeout: true,
  };
  const client = new LambdaClient({
    ...(req.region ? { region: req.region } : {}),
    maxAttempts: 1,
    requestHandler,
    ...req.clientConfig,
  });
  const payload = { action: req.action, deployment: req.deployment, force: req.force, reason: req.reason };
  let out;
  try {
    out = await client.send(
      new InvokeCommand({
        FunctionName: req.functionName,
        InvocationType: 'RequestResponse',
        Payload: Buffer.from(JSON.stringify(payload)),
        ClientContext: clientContext(),
      }),
    );
  } catch (err) {
    const name = (err as { name?: string }).name ?? 'Error';
    throw new ViaFunctionError(
      `could not invoke function ${req.functionName} (${name}: ${(err as Error).message}); check the name, the region and that your role may lambda:InvokeFunction it`,
      'unreachable',
      { cause: err },
    );
  } finally {
    client.destroy();
  }
  const text = out.Payload ? Buffer.from(out.Payload).toString('utf8') : '';
  if (out.FunctionError) {
    let detail = text;
    try {
      const e = JSON.parse(text) as { errorType?: string; errorMessage?: string };
      detail = `${e.errorType ?? 'Error'}: ${e.errorMessage ?? text}`;
    } catch {
      /* not JSON */
    }
    throw new ViaFunctionError(
      `function ${req.functionName} failed (${out.FunctionError}): ${detail}; see its logs`,
      'unreachable',
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ViaFunctionError(
      `function ${req.functionName} returned no JSON result; is it contrast-autorecover?`,
      'config-invalid',
    );
  }
  const parsed = responseSchema.safeParse(json);
  if (!parsed.success) {
    throw new ViaFunctionError(
      `function ${req.functionName} returned an unexpected result (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}); is it contrast-autorecover of a matching version?`,
      'config-invalid',
    );
  }
  const result = parsed.data.results[0] as unknown as ReconcileResult;
  const extra = parsed.data as { operator?: OperatorState; pauseSwitch?: PauseSwitchResult };
  return {
    ...result,
    requestId: parsed.data.requestId,
    ...(extra.operator ? { operator: extra.operator } : {}),
    ...(extra.pauseSwitch ? { pauseSwitch: extra.pauseSwitch } : {}),
  };
}
