/**
 * `rehearse` end to end: the Coordinator pod is deleted in the Kubernetes stand-in, and the
 * stack reacts as deployed: the StatefulSet brings a new pod, the Coordinator (emulator)
 * comes back without its keys, the exporter puts `Coordinator Restarted` on the bus (moto),
 * the rule invokes the function (createHandler, test verifier) which recovers it and
 * restarts the workloads, its records land in its log group (moto) and its KMS calls in
 * CloudTrail's event history (stand-in). The command only observes.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RehearsalReport, RehearseDeps } from '../../cli/rehearse/run.ts';
import { rehearseCommand } from '../../cli/rehearse/run.ts';
import { collectRequestIds } from '../../cli/operations/records.ts';
import type { RehearseOptions } from '../../cli/rehearse/command.ts';
import { exitCodeFor } from '../../lambda/shared/outcomes.ts';
import { RbacAuthorizer } from '../../testing/kube-api/index.ts';
import { scheduledEvent } from '../function/samples.ts';
import { motoAvailable, SKIP_REASON } from '../support/aws.ts';
import { exportRestart, NAMESPACE, startStack, type Stack } from './stack.ts';

let stack: Stack;
let watcher: { stop(): void; done: Promise<unknown> } | undefined;

beforeAll(async () => {
  if (motoAvailable) stack = await startStack({ state: 'healthy' });
}, 60_000);
afterAll(async () => {
  await stack?.stop();
});
afterEach(() => {
  watcher?.stop();
  watcher = undefined;
});

type Path = 'event' | 'schedule' | 'none';

/**
 * The deployed stack's reaction to a new Coordinator pod: the Coordinator restarts without
 * its keys; on the event path the exporter's event reaches the function, on the schedule
 * path only the backstop's next tick does.
 */
function reactLikeTheStack(path: Path, before?: () => void): { stop(): void; done: Promise<unknown> } {
  const known = new Set(
    stack.kube.store
      .list('pods', NAMESPACE)
      .filter((p) => p.metadata.labels?.['app.kubernetes.io/name'] === 'coordinator')
      .map((p) => p.metadata.uid),
  );
  let stopped = false;
  let resolve!: (v: unknown) => void;
  const done = new Promise((r) => (resolve = r));
  const tick = async (): Promise<void> => {
    if (stopped) return;
    const fresh = stack.kube.store
      .list('pods', NAMESPACE)
      .find((p) => p.metadata.labels?.['app.kubernetes.io/name'] === 'coordinator' && !known.has(p.metadata.uid));
    if (!fresh) {
      setTimeout(() => void tick(), 25);
      return;
    }
    // A restarted Coordinator has lost its keys and is not Ready until recovered.
    fresh.status = { ...fresh.status, conditions: [{ type: 'Ready', status: 'False' }] };
    stack.emu.restart();
    before?.();
    if (path === 'event')
      resolve(await stack.invoke(await exportRestart(stack, { name: fresh.metadata.name, uid: fresh.metadata.uid })));
    else if (path === 'schedule') resolve(await stack.invoke(scheduledEvent()));
    else resolve(undefined);
  };
  void tick();
  return { stop: () => (stopped = true), done };
}

function options(extra: Partial<RehearseOptions> = {}): RehearseOptions {
  return {
    deployment: stack.deployment,
    function: stack.functionName,
    kubeconfig: stack.kubeconfigFile,
    timeout: 20,
    trailTimeout: 5,
    json: true,
    yes: true,
    ...extra,
  };
}

async function rehearse(
  o: RehearseOptions,
  deps: Partial<RehearseDeps> = {},
): Promise<{ code: number; report?: RehearsalReport; text: string }> {
  let text = '';
  const code = await rehearseCommand(o, {
    aws: { ...stack.aws, endpoints: { ...stack.aws.endpoints, cloudtrail: stack.trail.endpoint } },
    write: (t) => (text += t),
    pollMs: 50,
    trailPollMs: 100,
    eventGraceMs: 1_000,
    // One clock: a record from before the deletion (an earlier test's) never counts.
    clockSkewMs: 0,
    ...deps,
  });
  return {
    code,
    text,
    ...(o.json && text.trim().startsWith('{') ? { report: JSON.parse(text) as RehearsalReport } : {}),
  };
}

describe.skipIf(!motoAvailable)(`rehearse ${motoAvailable ? '' : SKIP_REASON}`, () => {
  it('follows the event-driven recovery through every stage and links the audit record to its CloudTrail Decrypt', async () => {
    const webBefore = stack.kube.store.workloadPods('deployments', NAMESPACE, 'web').map((p) => p.metadata.uid);
    stack.trail.deliveryDelayMs = 300; // CloudTrail shows entries late
    const reaction = reactLikeTheStack('event');
    watcher = reaction;
    const asked: string[] = [];
    const { code, report } = await rehearse(options({ json: true, yes: false }), {
      confirm: async (q) => (asked.push(q), stack.deployment),
    });
    await reaction.done;

    expect(asked[0]).toMatch(new RegExp(`deletes Coordinator pod\\(s\\) coordinator-0 in namespace ${NAMESPACE}`));
    expect(code).toBe(0);
    expect(report!.complete).toBe(true);
    expect(report!.stages.map((s) => s.name)).toEqual([
      'pod-deleted',
      'pod-replaced',
      'event-seen',
      'function-invoked',
      'recover-confirmed',
      'restarts-done',
    ]);
    // Each stage at or after the one before it.
    const at = report!.stages.map((s) => Date.parse(s.at));
    for (let i = 1; i < at.length; i++) expect(at[i]!).toBeGreaterThanOrEqual(at[i - 1]! - 1_000);
    expect(report!.stages.find((s) => s.name === 'recover-confirmed')!.detail).toMatch(
      /by event trigger .*the new pod's event/,
    );
    expect(report!.stages.find((s) => s.name === 'restarts-done')!.detail).toMatch(/1 restarted/);
    expect(report!.outcome).toBe('recovered');

    // The link: the one Decrypt the function made, with the audited context.
    const decrypts = stack.trail.records.filter(
      (r) => r.eventName === 'Decrypt' && r.resources?.[0]?.ARN === stack.kmsKeyArn,
    );
    expect(decrypts).toHaveLength(1);
    expect(report!.cloudTrail).toMatchObject({
      eventId: decrypts[0]!.eventID,
      requestId: decrypts[0]!.requestID,
      contextMatches: true,
    });
    expect(report!.cloudTrail!.principal).toMatch(/assumed-role/);
    // By request id: the function's audit record carries the ids of its calls (lambda/function/request-ids.ts).
    const recovered = stack.logger.lines
      .map(
        (l) =>
          JSON.parse(l) as { message?: string; audit?: { outcome?: string; kms?: unknown; secretsManager?: unknown } },
      )
      .find((l) => l.message === 'audit' && l.audit?.outcome === 'recovered')!.audit!;
    expect(report!.cloudTrail!.by).toBe('request-id');
    expect(collectRequestIds(recovered.kms, 'Decrypt')).toEqual([decrypts[0]!.requestID]);
    // And the bundle's read, by its Secrets Manager request id.
    const secretIds = collectRequestIds(recovered.secretsManager, 'GetSecretValue');
    const reads = stack.trail.records.filter(
      (r) => r.eventName === 'GetSecretValue' && secretIds.includes(r.requestID),
    );
    expect(reads).toHaveLength(1);
    expect(report!.cloudTrailBundleRead).toMatchObject({
      by: 'request-id',
      eventId: reads[0]!.eventID,
      requestId: reads[0]!.requestID,
    });

    // What really happened: one Recover, the workload's pods replaced.
    expect(stack.emu.recoverCalls).toHaveLength(1);
    expect(stack.emu.state).toBe('healthy');
    const webAfter = stack.kube.store.workloadPods('deployments', NAMESPACE, 'web').map((p) => p.metadata.uid);
    expect(webAfter.some((u) => webBefore.includes(u))).toBe(false);
  }, 60_000);

  it('prints each stage with its time as it happens', async () => {
    stack.trail.deliveryDelayMs = 0;
    watcher = reactLikeTheStack('event');
    const { code, text } = await rehearse(options({ json: false, yes: true }));
    expect(code).toBe(0);
    const lines = text.split('\n');
    for (const label of [
      'Coordinator pod deleted',
      'new Coordinator pod',
      'event seen',
      'function invoked',
      'Recover confirmed',
      'restarts done',
      'Decrypt in CloudTrail',
    ]) {
      expect(lines.find((l) => l.includes(label))).toMatch(/^✔ .* \+\d+\.\d s {2}\S/);
    }
    expect(text).toMatch(/rehearsal complete: recovered \+\d+\.\d s after the pod was deleted/);
  }, 60_000);

  it('deletes nothing unless the deployment name is typed', async () => {
    const before = stack.kube.store.list('pods', NAMESPACE).map((p) => p.metadata.uid);
    stack.kube.resetStats();
    await expect(rehearse(options({ yes: false }), { confirm: async () => 'yes' })).rejects.toThrow(
      /not confirmed; nothing was deleted/,
    );
    expect(stack.kube.store.list('pods', NAMESPACE).map((p) => p.metadata.uid)).toEqual(before);
    expect(stack.kube.log.some((r) => r.method === 'DELETE')).toBe(false);
  });

  it('says the event path is broken when only the schedule recovered the Coordinator', async () => {
    watcher = reactLikeTheStack('schedule');
    const { code, report, text } = await rehearse(options({ json: false, yes: true }));
    expect(code).toBe(3);
    expect(text).toMatch(/✔ Recover confirmed .*not by the event: the schedule trigger recovered it/);
    expect(text).toMatch(/✘ not seen within 20 s: event seen, function invoked — check the exporter/);
    expect(report).toBeUndefined();
  }, 60_000);

  it("ends with the outcome's exit code when the function gives up", async () => {
    watcher = reactLikeTheStack('event', () => {
      stack.emu.misbehave = 'wrong-nonce';
    });
    try {
      const { code, report } = await rehearse(options());
      expect(code).toBe(exitCodeFor('attestation-failed'));
      expect(report).toMatchObject({ outcome: 'attestation-failed', complete: false });
      expect(report!.missing).toEqual(['recover-confirmed', 'restarts-done']);
    } finally {
      stack.emu.misbehave = 'none';
      // Leave the Coordinator recovered for the other tests.
      await stack.invoke(scheduledEvent());
    }
  }, 60_000);

  it('reports a stage that never comes as incomplete, with what to check', async () => {
    watcher = reactLikeTheStack('none');
    const { code, report } = await rehearse(options({ timeout: 2 }));
    expect(code).toBe(3);
    expect(report!.missing).toEqual(['event-seen', 'function-invoked', 'recover-confirmed', 'restarts-done']);
    expect(report!.stages.map((s) => s.name)).toEqual(['pod-deleted', 'pod-replaced']);
    await stack.invoke(scheduledEvent());
  }, 60_000);

  it('stops with the permission to grant when the operator may not delete the pod', async () => {
    stack.kube.setRbac(
      new RbacAuthorizer([
        { namespace: NAMESPACE, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }] },
      ]),
    );
    try {
      const { code, text } = await rehearse(options({ json: false }));
      expect(code).toBe(3);
      expect(text).toMatch(
        /^error: delete pod coordinator-0 in namespace contrast: HTTP 403: .*forbidden.*\n {2}fix: check --kubeconfig\/--kube-context; your identity needs list and delete on pods in namespace contrast\n$/,
      );
    } finally {
      stack.kube.setRbac(RbacAuthorizer.allowAll());
    }
  });

  it("stops with the permission to grant when the function's records cannot be read", async () => {
    watcher = reactLikeTheStack('event');
    const f = stack.lambda.functions.get(stack.functionName)!;
    const logGroup = f.logGroup;
    f.logGroup = '/aws/lambda/not-there';
    try {
      const { code, text } = await rehearse(options({ json: false }));
      expect(code).toBe(3);
      expect(text).toMatch(
        /error: cannot read the function's records in \/aws\/lambda\/not-there: ResourceNotFoundException.*\n {2}fix: allow logs:FilterLogEvents on that log group/,
      );
    } finally {
      f.logGroup = logGroup;
      await watcher?.done;
    }
  });

  it('refuses a function that does not look after the deployment, with the fix', async () => {
    const { code, text } = await rehearse(options({ deployment: 'other', yes: true, json: false }));
    expect(code).toBe(3);
    expect(text).toMatch(/does not look after deployment other .*\n {2}fix: use one of these names/);
  });
});
