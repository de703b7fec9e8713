/**
 * `rehearse`: a real failure, on purpose. After a typed confirmation it deletes the
 * Coordinator pod(s), then follows the recovery through its stages (stages.ts) from the
 * cluster and the function's log records, and links the recovery's audit record to its
 * CloudTrail Decrypt by request id. Nothing here recovers anything: the deployed stack must.
 */
import { createInterface } from 'node:readline/promises';
import { COORDINATOR_LABEL } from '../../lambda/kubernetes/index.ts';
import { exitCodeFor, OUTCOMES } from '../../lambda/shared/outcomes.ts';
import { UsageError } from '../usage.ts';
import { describeAwsError, OperatorAws, type AwsSettings } from '../operations/aws.ts';
import { describeDeployedFunction, DeployedFunctionError } from '../operations/deployed-function.ts';
import { INCOMPLETE_EXIT_CODE } from '../outcome-help.ts';
import { KubeAccessError, operatorKube, type OperatorKube, type PodSummary } from '../operations/kube.ts';
import { findTrailEntry, type TrailLink } from './cloudtrail.ts';
import type { RehearseOptions } from './command.ts';
import { FunctionLogs } from '../operations/function-logs.ts';
import { DEFAULT_CLOCK_SKEW_MS, RehearsalTracker, STAGE_LABELS, STAGES, type Stage } from './stages.ts';

export interface RehearseDeps {
  aws?: AwsSettings;
  kube?: OperatorKube;
  /** Asks the question and returns the answer (default: the terminal). */
  confirm?: (question: string) => Promise<string>;
  write?: (text: string) => void;
  /** Poll intervals (tests shorten them). */
  pollMs?: number;
  trailPollMs?: number;
  /** How long to keep waiting for the event stages once the recovery is done. */
  eventGraceMs?: number;
  /** Clock difference to AWS tolerated when matching records (tests: 0, same clock). */
  clockSkewMs?: number;
}

export interface RehearsalReport {
  deployment: string;
  function: string;
  namespace: string;
  deletedPods: string[];
  startedAt: string;
  stages: { name: string; at: string; afterMs: number; detail: string }[];
  missing: string[];
  notes: string[];
  outcome?: string;
  cloudTrail?: TrailLink;
  /** The GetSecretValue of the bundle, when the function records its request id. */
  cloudTrailBundleRead?: TrailLink;
  complete: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Stages in their logical order (event times have one-second precision). */
const byStage = (a: Stage, b: Stage) => STAGES.indexOf(a.name) - STAGES.indexOf(b.name);

async function terminalConfirm(question: string): Promise<string> {
  if (!process.stdin.isTTY)
    throw new UsageError('rehearse deletes the Coordinator pod(s); it needs --yes when not run interactively');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

export async function rehearseCommand(o: RehearseOptions, deps: RehearseDeps = {}): Promise<number> {
  const write = deps.write ?? ((t: string) => process.stdout.write(t));
  const say = (line: string) => !o.json && write(`${line}\n`);
  const aws = new OperatorAws(deps.aws);
  try {
    await aws.requireRegion();
    let fn;
    try {
      fn = await describeDeployedFunction(aws, o.function, o.deployment);
    } catch (err) {
      if (!(err instanceof DeployedFunctionError)) throw err;
      write(`error: ${err.message}\n  fix: ${err.fix}\n`);
      return INCOMPLETE_EXIT_CODE;
    }
    const namespace = fn.deployment.coordinatorNamespace;
    const kubeFailed = (err: unknown) => {
      if (!(err instanceof KubeAccessError)) throw err;
      write(
        `error: ${err.message}\n  fix: check --kubeconfig/--kube-context; your identity needs list and delete on pods in namespace ${namespace}\n`,
      );
      return INCOMPLETE_EXIT_CODE;
    };
    let kube: OperatorKube;
    let before: PodSummary[];
    try {
      kube =
        deps.kube ??
        (await operatorKube({
          ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}),
          ...(o.kubeContext ? { kubeContext: o.kubeContext } : {}),
        }));
      before = await kube.pods(namespace, COORDINATOR_LABEL);
    } catch (err) {
      return kubeFailed(err);
    }
    if (before.length === 0) {
      write(
        `error: no Coordinator pod (${COORDINATOR_LABEL}) in namespace ${namespace} of ${kube.describe}\n  fix: check --kube-context and the deployment's coordinatorNamespace\n`,
      );
      return INCOMPLETE_EXIT_CODE;
    }

    if (!o.yes) {
      const answer = await (deps.confirm ?? terminalConfirm)(
        `This deletes Coordinator pod(s) ${before.map((p) => p.name).join(', ')} in namespace ${namespace} of ${kube.describe}.\n` +
          `The Coordinator restarts without its keys; ${fn.name} should recover it and restart the workloads (a new mesh CA).\n` +
          `Type the deployment name (${fn.deployment.name}) to go ahead: `,
      );
      if (answer.trim() !== fn.deployment.name) throw new UsageError('not confirmed; nothing was deleted');
    }

    const t0 = Date.now();
    const skew = deps.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;
    const tracker = new RehearsalTracker(fn.deployment.name, t0, new Set(before.map((p) => p.uid)), skew);
    // Times from AWS have one-second precision: never show one as before the deletion.
    const offset = (at: number) => `+${(Math.max(0, at - t0) / 1000).toFixed(1)} s`;
    const show = (stages: Stage[]) => {
      for (const s of stages.sort(byStage))
        say(`✔ ${STAGE_LABELS[s.name].padEnd(24)} ${offset(s.at).padStart(9)}  ${s.detail}`);
    };
    try {
      for (const p of before) await kube.deletePod(namespace, p.name);
    } catch (err) {
      return kubeFailed(err);
    }
    show(
      tracker.deleted(
        t0,
        before.map((p) => p.name),
      ),
    );

    const logs = new FunctionLogs(aws.logs, fn.logGroup, t0 - skew);
    const deadline = t0 + o.timeout * 1000;
    let graceUntil: number | undefined;
    let notesShown = 0;
    while (
      Date.now() < deadline &&
      !tracker.failure &&
      !tracker.complete &&
      !(graceUntil !== undefined && Date.now() > graceUntil)
    ) {
      const found: Stage[] = [];
      try {
        found.push(...tracker.pods(await kube.pods(namespace, COORDINATOR_LABEL), Date.now()));
      } catch (err) {
        tracker.notes.push(`cannot list the Coordinator pods: ${(err as Error).message}`);
      }
      let records;
      try {
        records = await logs.poll();
      } catch (err) {
        write(
          `error: cannot read the function's records in ${fn.logGroup}: ${describeAwsError(err)}\n  fix: allow logs:FilterLogEvents on that log group; the recovery goes on without you — follow it there\n`,
        );
        return INCOMPLETE_EXIT_CODE;
      }
      for (const r of records) found.push(...tracker.record(r));
      show(found);
      for (; notesShown < tracker.notes.length; notesShown++) say(`! ${tracker.notes[notesShown]}`);
      if (tracker.recovered && graceUntil === undefined) graceUntil = Date.now() + (deps.eventGraceMs ?? 60_000);
      if (!tracker.failure && !tracker.complete) await sleep(deps.pollMs ?? 3_000);
    }

    let link: TrailLink | undefined;
    let secretLink: TrailLink | undefined;
    const recovery = tracker.recovery;
    if (recovery && !tracker.failure) {
      const ids = recovery.kmsRequestIds;
      const secretIds = recovery.secretsRequestIds;
      say(
        `… searching CloudTrail event history ${ids.length ? `by request id ${ids.join(', ')}` : 'by encryption context (the function records no request ids)'}`,
      );
      const trailDeadline = Date.now() + o.trailTimeout * 1000;
      const poll = deps.trailPollMs ?? 20_000;
      for (;;) {
        link ??= await findTrailEntry(aws.cloudtrail, {
          eventName: 'Decrypt',
          since: t0,
          requestIds: ids,
          ...(recovery.encryptionContext ? { encryptionContext: recovery.encryptionContext } : {}),
        });
        if (secretIds.length)
          secretLink ??= await findTrailEntry(aws.cloudtrail, {
            eventName: 'GetSecretValue',
            since: t0,
            requestIds: secretIds,
          });
        if ((link && (secretLink || !secretIds.length)) || Date.now() + poll > trailDeadline) break;
        await sleep(poll);
      }
      const later = (name: string) =>
        `aws cloudtrail lookup-events --lookup-attributes AttributeKey=EventName,AttributeValue=${name} --start-time ${new Date(t0).toISOString()}`;
      if (link) {
        say(
          `✔ ${'Decrypt in CloudTrail'.padEnd(24)} ${offset(Date.parse(link.eventTime)).padStart(9)}  event ${link.eventId}, request ${link.requestId} ${link.by === 'request-id' ? "= the audit record's" : '(matched by encryption context)'}, by ${link.principal}${link.contextMatches ? ', encryption context as audited' : ', encryption context DIFFERS from the audit record'}`,
        );
      } else {
        say(
          `✘ Decrypt in CloudTrail      not found within ${o.trailTimeout} s; entries can take longer: ${later('Decrypt')}`,
        );
      }
      if (secretLink)
        say(
          `✔ ${'bundle read in CloudTrail'.padEnd(24)} ${offset(Date.parse(secretLink.eventTime)).padStart(9)}  GetSecretValue event ${secretLink.eventId}, request ${secretLink.requestId} = the audit record's, by ${secretLink.principal}`,
        );
      else if (secretIds.length)
        say(`! GetSecretValue request ${secretIds.join(', ')} not in CloudTrail yet: ${later('GetSecretValue')}`);
    }

    const missing = tracker.missing();
    const complete = tracker.complete && !tracker.failure && link !== undefined && link.contextMatches;
    const report: RehearsalReport = {
      deployment: fn.deployment.name,
      function: fn.name,
      namespace,
      deletedPods: before.map((p) => p.name),
      startedAt: new Date(t0).toISOString(),
      stages: [...tracker.stages.values()]
        .sort(byStage)
        .map((s) => ({ name: s.name, at: new Date(s.at).toISOString(), afterMs: s.at - t0, detail: s.detail })),
      missing,
      notes: tracker.notes,
      ...(tracker.failure ? { outcome: tracker.failure.outcome } : recovery ? { outcome: recovery.outcome } : {}),
      ...(link ? { cloudTrail: link } : {}),
      ...(secretLink ? { cloudTrailBundleRead: secretLink } : {}),
      complete,
    };
    if (o.json) write(`${JSON.stringify(report, null, 2)}\n`);
    else if (tracker.failure) say(`✘ the function gave up: ${tracker.failure.outcome} — ${tracker.failure.message}`);
    else if (missing.length)
      say(
        `✘ not seen within ${o.timeout} s: ${missing.map((m) => STAGE_LABELS[m]).join(', ')}${missing.includes('event-seen') ? ' — check the exporter with `contrast-autorecover doctor` (the schedule is only the backstop)' : ''}`,
      );
    else if (complete)
      say(`rehearsal complete: recovered ${offset(tracker.stages.get('restarts-done')!.at)} after the pod was deleted`);

    if (tracker.failure && !OUTCOMES[tracker.failure.outcome].ok) return exitCodeFor(tracker.failure.outcome);
    return complete ? 0 : INCOMPLETE_EXIT_CODE;
  } finally {
    aws.destroy();
  }
}
