import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TransientOutcomeError, type HandlerResponse } from '../../lambda/function/handler.ts';
import { reconcile as realReconcile } from '../../lambda/reconcile/reconcile.ts';
import { CoordinatorSession } from '../../lambda/coordinator/client.ts';
import type { KubernetesSide } from '../../lambda/kubernetes/types.ts';
import type { RestartRequest, RestartSummary } from '../../lambda/kubernetes/types.ts';
import type { RecoverAttempt } from '../../lambda/reconcile/types.ts';
import { budgetsWith } from '../../lambda/shared/budgets.ts';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { motoAvailable, SKIP_REASON, uniqueName } from '../support/aws.ts';
import { alarmStateChange, directInvoke, lambdaContext, restartEvent, scheduledEvent } from './samples.ts';
import { auditRecords, captureOutput, emfRecords, setupFixture, type Fixture } from './handler-fixture.ts';

let fx: Fixture | undefined;
let out: ReturnType<typeof captureOutput>;
// Every test captures stdout/stderr: the Powertools logger and EMF metrics write there.
beforeEach(() => {
  out = captureOutput();
});
afterEach(async () => {
  out.restore();
  await fx?.stop();
  fx = undefined;
});

function detailOf(f: Fixture, detailType: string): Record<string, unknown>[] {
  return f.events
    .filter((e) => e.DetailType === detailType)
    .map((e) => JSON.parse(e.Detail!) as Record<string, unknown>);
}

function fakeKubernetes(
  opts: { readyPeers?: string[]; results?: RestartSummary['results']; complete?: boolean; stale?: number } = {},
) {
  const calls = { loads: 0, peers: 0, restarts: [] as RestartRequest[] };
  const loader = async (): Promise<KubernetesSide> => {
    calls.loads++;
    return {
      peers: {
        readyPeers: async () => (
          calls.peers++,
          { readyPeers: opts.readyPeers ?? [], coordinatorPods: ['coordinator-0'] }
        ),
      },
      restarts: {
        restartStale: async (req) => {
          calls.restarts.push(req);
          return {
            meshCaSpkiSha256: req.meshCa.spkiSha256,
            results: opts.results ?? [],
            complete: opts.complete ?? true,
            staleWorkloads: opts.stale ?? 0,
          };
        },
      },
    };
  };
  return { calls, loader };
}

describe.skipIf(!motoAvailable)(
  `handler against moto and the Coordinator emulator ${motoAvailable ? '' : SKIP_REASON}`,
  () => {
    it('recovers on a restart event, reports it, and then is an idempotent no-op', async () => {
      fx = await setupFixture();
      out.lines.length = 0;
      const ev = restartEvent(fx.deployment);
      const res = await fx.handler(ev, lambdaContext());
      expect(res.outcome).toBe('recovered');
      expect(res.correlationId).toBe(ev.id);
      expect(fx.emu.recoverCalls).toEqual([expect.objectContaining({ result: 'ok', force: false })]);
      expect(fx.kmsDecrypts).toHaveLength(1);

      const [recovered] = detailOf(fx, 'Coordinator Recovered');
      expect(recovered).toMatchObject({
        deployment: fx.deployment,
        outcome: 'recovered',
        recoverSent: true,
        correlationId: ev.id,
        trigger: { kind: 'event', pod: 'coordinator-0' },
      });
      expect(
        fx.events.every((e) => e.Source === 'contrast.autorecover' && e.EventBusName === fx!.config.eventBusName),
      ).toBe(true);

      const records = out.json();
      // Correlation id = event id on every line after the trigger was accepted.
      const afterTrigger = records.slice(records.findIndex((r) => r.message === 'trigger accepted'));
      expect(afterTrigger.filter((r) => r.level).every((r) => r.correlation_id === ev.id)).toBe(true);
      const [audit] = auditRecords(records);
      expect(audit).toMatchObject({
        deployment: fx.deployment,
        outcome: 'recovered',
        trigger: { kind: 'event', id: ev.id },
        caller: { kind: 'eventbridge' },
        kms: { decrypts: 1, keyId: fx.kmsKeyId },
        recover: { sent: true, force: false },
      });
      // The audit record's context is exactly the one KMS saw (what CloudTrail logs).
      expect((audit!.kms as { encryptionContext: unknown }).encryptionContext).toEqual(fx.kmsDecrypts[0]!.context);
      expect(fx.kmsDecrypts[0]!.context).toMatchObject({
        'contrast-autorecover:deployment': fx.deployment,
        'contrast-autorecover:purpose': 'seedshare-owner-key',
      });
      // The KMS and Secrets Manager request IDs of this reconcile (CloudTrail's `requestID`).
      expect(audit!.kms).toMatchObject({
        requests: [{ operation: 'Decrypt', requestId: expect.stringMatching(/\S{8,}/) }],
      });
      expect(audit!.secretsManager).toMatchObject({
        requests: [{ operation: 'GetSecretValue', requestId: expect.stringMatching(/\S{8,}/) }],
      });
      // The result event follows the audit record, tied to it by the request id.
      const put = records.find((r) => r.message === 'result event put');
      expect(put).toMatchObject({ requestId: audit!.requestId, eventIds: [expect.any(String)] });
      expect(records.indexOf(put!)).toBeGreaterThan(records.findIndex((r) => r.message === 'audit'));

      const emf = emfRecords(records);
      expect(emf).toHaveLength(1);
      const m = emf[0]!;
      expect(m._aws.CloudWatchMetrics[0]!.Namespace).toBe('ContrastAutorecover');
      expect(m._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['service', 'Deployment']]);
      expect(m).toMatchObject({
        service: 'contrast-autorecover',
        Deployment: fx.deployment,
        Attempts: 1,
        Failures: 0,
        'Outcome-recovered': 1,
        ReconcileDuration: expect.any(Number),
      });
      expect(m['StepDuration-recover']).toEqual(expect.any(Number));
      expect(m.StaleMinutes).toEqual(expect.any(Number));
      expect(fx.trace.annotations).toEqual(
        expect.arrayContaining([
          ['outcome', 'recovered'],
          ['deployment', fx.deployment],
          ['correlationId', ev.id],
        ]),
      );

      // A second restart event an instant later: the lease is free again, the Coordinator healthy.
      const again = await fx.handler(restartEvent(fx.deployment), lambdaContext());
      expect(again.outcome).toBe('already-healthy');
      expect(fx.emu.recoverCalls).toHaveLength(1);
      expect(fx.kmsDecrypts).toHaveLength(1);
      expect(detailOf(fx, 'Coordinator Recovery Skipped')).toEqual([
        expect.objectContaining({ outcome: 'already-healthy' }),
      ]);
    });

    it('handles a genuine second restart later (a lease, not a cached result)', async () => {
      fx = await setupFixture({ env: { MAX_RECOVERIES_PER_HOUR: '5' } });
      expect((await fx.handler(restartEvent(fx.deployment), lambdaContext())).outcome).toBe('recovered');
      fx.emu.restart();
      expect((await fx.handler(restartEvent(fx.deployment), lambdaContext())).outcome).toBe('recovered');
      expect(fx.emu.recoverCalls.filter((c) => c.result === 'ok')).toHaveLength(2);
    });

    it('turns a burst of 50 restart events into exactly one Recover', async () => {
      fx = await setupFixture();
      out.lines.length = 0;
      const responses = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          fx!.handler(restartEvent(fx!.deployment, { id: `burst-${i}` }), lambdaContext(`req-${i}`)),
        ),
      );
      expect(fx.emu.recoverCalls).toHaveLength(1);
      const outcomes = responses.map((r) => r.outcome);
      expect(outcomes.filter((o) => o === 'recovered')).toHaveLength(1);
      expect(outcomes.every((o) => ['recovered', 'in-progress', 'already-healthy'].includes(o))).toBe(true);
      expect(fx.kmsDecrypts).toHaveLength(1);
      // One result event per reconcile: 50 triggers plus the holder's follow-up reconcile(s),
      // which the held-off triggers requested and which found the Coordinator healthy.
      const followUps = responses.flatMap((r) => r.results.slice(1));
      expect(followUps.length).toBeGreaterThanOrEqual(1);
      expect(followUps.every((r) => r.outcome === 'already-healthy')).toBe(true);
      expect(fx.events).toHaveLength(50 + followUps.length);
    });

    it('a trigger that finds the lease held gets its restart handled by a follow-up of the holder', async () => {
      fx = await setupFixture({ state: 'healthy' });
      let blocked: Awaited<ReturnType<typeof fx.handler>> | undefined;
      // The holder has already probed "healthy" when the Coordinator restarts and the restart
      // event arrives: that event cannot take the lease and asks for a follow-up instead.
      const holder = fx.makeHandler({
        reconcile: async (target, ports, time, options) => {
          const r = await realReconcile(target, ports, time, options);
          if (!blocked) {
            fx!.emu.restart();
            blocked = await fx!.handler(restartEvent(fx!.deployment), lambdaContext());
          }
          return r;
        },
      });
      const res = await holder(scheduledEvent(), lambdaContext());
      expect(blocked?.outcome).toBe('in-progress');
      expect(blocked?.results[0]!.message).toMatch(/follow-up recorded/);
      expect(res.results.map((r) => r.outcome)).toEqual(['already-healthy', 'recovered']);
      expect(fx.emu.recoverCalls.filter((c) => c.result === 'ok')).toHaveLength(1);
      // The lease is gone afterwards: the next trigger acquires it.
      expect((await fx.lock.acquire(fx.deployment, 'next', 60)).acquired).toBe(true);
    });

    it('a Lambda retry with the same request id takes over the lease its dead attempt left', async () => {
      fx = await setupFixture();
      const dead = await fx.lock.acquire(fx.deployment, 'same-request', 960);
      expect(dead.acquired).toBe(true);
      const retried = await fx.handler(restartEvent(fx.deployment), lambdaContext('same-request'));
      expect(retried.outcome).toBe('recovered');
    });

    it('takes over a lease left by a dead invocation after it expired', async () => {
      fx = await setupFixture();
      const dead = await fx.lock.acquire(fx.deployment, 'dead-request', 960);
      expect(dead.acquired).toBe(true);
      const blocked = await fx.handler(restartEvent(fx.deployment), lambdaContext());
      expect(blocked.outcome).toBe('in-progress');
      expect(blocked.results[0]!.message).toMatch(/dead-request/);
      expect(fx.emu.recoverCalls).toHaveLength(0);
      // Another container, 961 s later.
      const later = fx.makeHandler({ now: () => Date.now() + 961_000 });
      expect((await later(restartEvent(fx.deployment), lambdaContext())).outcome).toBe('recovered');
    });

    it('stops at the crash-loop guard (paused + metric) but lets a human recover by direct invocation', async () => {
      fx = await setupFixture();
      await seedAttempts(fx, [Date.now() - 30 * 60_000, Date.now() - 10 * 60_000]);
      out.lines.length = 0;
      const res = await fx.handler(restartEvent(fx.deployment), lambdaContext());
      expect(res.outcome).toBe('paused');
      expect(res.results[0]!.message).toMatch(/crash-loop guard: 2 Recover attempts/);
      expect(res.results[0]!.kmsDecrypts).toBe(0);
      expect(fx.kmsDecrypts).toHaveLength(0);
      expect(fx.emu.recoverCalls).toHaveLength(0);
      expect(emfRecords(out.json())[0]).toMatchObject({ 'Outcome-paused': 1, Failures: 1 });
      expect(detailOf(fx, 'Coordinator Recovery Failed')).toEqual([
        expect.objectContaining({ outcome: 'paused', guard: expect.objectContaining({ kind: 'crash-loop-guard' }) }),
      ]);

      const human = await fx.handler(directInvoke(fx.deployment, 'recover'), lambdaContext());
      expect(human.outcome).toBe('recovered');
      const audit = auditRecords(out.json()).at(-1)!;
      expect(audit).toMatchObject({
        guardBypassed: true,
        caller: { kind: 'direct-invoke' },
        trigger: { kind: 'direct', reason: 'test: operator request' },
      });
      expect((await fx.lock.snapshot(fx.deployment)).recentAttempts).toHaveLength(3);
    });

    it('counts a Recover whose answer was lost for the crash-loop guard, and the retry finds the Coordinator recovered', async () => {
      fx = await setupFixture();
      fx.emu.misbehave = 'lost-recover-reply';
      await expect(fx.handler(restartEvent(fx.deployment), lambdaContext('lost-reply'))).rejects.toBeInstanceOf(
        TransientOutcomeError,
      );
      expect(fx.emu.recoverCalls).toEqual([expect.objectContaining({ result: 'ok' })]);
      const snap = await fx.lock.snapshot(fx.deployment);
      expect(snap.recentAttempts.map((a) => a.status)).toEqual(['unknown']);
      expect(snap.record.staleSince).toEqual(expect.any(Number)); // not known to be recovered yet
      // The Recover may still be under way at the Coordinator: the lease is kept, so another
      // trigger meanwhile sends no second Recover.
      expect((await fx.handler(restartEvent(fx.deployment), lambdaContext())).outcome).toBe('in-progress');
      fx.emu.misbehave = 'none';
      // Lambda retries the failed invocation with the same request id, which takes the lease over.
      const retry = await fx.handler(restartEvent(fx.deployment), lambdaContext('lost-reply'));
      expect(retry.outcome).toBe('already-healthy');
      expect(fx.emu.recoverCalls).toHaveLength(1);
      expect((await fx.lock.snapshot(fx.deployment)).record.staleSince).toBeUndefined();
    });

    it.each(['recover-then-unimplemented', 'recover-then-oversize', 'recover-then-garbage'] as const)(
      'a Coordinator that carries out Recover and then answers wrongly (%s) gets Recover once; the attempt may have succeeded, is counted, and the next run restarts the workloads',
      async (misbehave) => {
        fx = await setupFixture();
        fx.emu.misbehave = misbehave;
        const k = fakeKubernetes({
          results: [
            { kind: 'Deployment', namespace: 'app', name: 'web', status: 'restarted', method: 'rollout-restart' },
          ],
        });
        const h = fx.makeHandler({ kubernetes: k.loader });
        const err = await h(restartEvent(fx.deployment), lambdaContext('odd-answer')).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(TransientOutcomeError);
        expect((err as Error).message).toMatch(/Recover may have been carried out/);
        // Sent once: no second Recover on the older package name, although this Coordinator serves both.
        expect(fx.emu.recoverRequests).toBe(1);
        expect(fx.emu.recoverCalls).toEqual([expect.objectContaining({ result: 'ok' })]);
        const snap = await fx.lock.snapshot(fx.deployment);
        expect(snap.recentAttempts.map((a) => a.status)).toEqual(['unknown']);
        expect(k.calls.restarts).toEqual([]);
        // Lambda's retry (same request id, takes the lease over): the probe finds it recovered, the key is ours.
        fx.emu.misbehave = 'none';
        const retry = await h(restartEvent(fx.deployment), lambdaContext('odd-answer'));
        expect(retry.outcome).toBe('restarts-finished');
        expect(k.calls.restarts[0]!.mode).toBe('restart');
        expect(fx.emu.recoverRequests).toBe(1);
      },
    );

    it('a MeshCA field that is not a certificate after Recover is confirm-mismatch, not recovered', async () => {
      fx = await setupFixture();
      fx.emu.misbehave = 'invalid-mesh-ca';
      const k = fakeKubernetes({
        results: [
          { kind: 'Deployment', namespace: 'app', name: 'web', status: 'restarted', method: 'rollout-restart' },
        ],
      });
      const res = await fx.makeHandler({ kubernetes: k.loader })(restartEvent(fx.deployment), lambdaContext());
      expect(res.outcome).toBe('confirm-mismatch');
      expect(res.results[0]!.message).toMatch(/MeshCA field is not a PEM certificate.*no workload could be checked/);
      expect(fx.emu.recoverCalls).toEqual([expect.objectContaining({ result: 'ok' })]);
      expect((await fx.lock.snapshot(fx.deployment)).recentAttempts.map((a) => a.status)).toEqual(['accepted']);
    });

    it('obeys the pause switch (deployment and global) without touching the Coordinator; status still answers', async () => {
      fx = await setupFixture();
      await fx.lock.setPaused(fx.deployment, true, 'maintenance window');
      const res = await fx.handler(restartEvent(fx.deployment), lambdaContext());
      expect(res.outcome).toBe('paused');
      expect(res.results[0]!.message).toMatch(/pause#.*maintenance window/);
      expect(fx.emu.connections).toHaveLength(0);
      const status = await fx.handler(directInvoke(fx.deployment, 'status'), lambdaContext());
      expect(status.outcome).toBe('recovery-needed');
      expect(fx.kmsDecrypts).toHaveLength(0);
      await fx.lock.setPaused(fx.deployment, false);
      await fx.lock.setPaused('*', true);
      expect((await fx.handler(restartEvent(fx.deployment), lambdaContext())).outcome).toBe('paused');
      await fx.lock.setPaused('*', false);
      expect((await fx.handler(restartEvent(fx.deployment), lambdaContext())).outcome).toBe('recovered');
    });

    it('accepts force only from a direct invocation and audits it', async () => {
      fx = await setupFixture();
      const k = fakeKubernetes({ readyPeers: ['coordinator-1'] });
      const h = fx.makeHandler({ kubernetes: k.loader });
      expect((await h(restartEvent(fx.deployment), lambdaContext())).outcome).toBe('peers-available');
      const ev = await h(restartEvent(fx.deployment, {}, { force: true }), lambdaContext());
      expect(ev.outcome).toBe('event-invalid');
      out.lines.length = 0;
      const forced = await h(
        directInvoke(fx.deployment, 'recover', { force: true, reason: 'peers are wedged, ticket OPS-1' }),
        lambdaContext('req-force'),
      );
      // The emulator refuses Recover without Force while peers are Ready; with Force it accepts.
      expect(forced.outcome).toBe('recovered');
      expect(fx.emu.recoverCalls.at(-1)).toMatchObject({ force: true, result: 'ok' });
      const audit = auditRecords(out.json()).at(-1)!;
      expect(audit).toMatchObject({
        force: true,
        requestId: 'req-force',
        trigger: { kind: 'direct', force: true, reason: 'peers are wedged, ticket OPS-1' },
        recover: { sent: true, force: true },
      });
    });

    it('maps an alarm into ALARM to its deployment', async () => {
      fx = await setupFixture();
      const res = await fx.handler(alarmStateChange(`${fx.deployment}-restarted`), lambdaContext());
      expect(res).toMatchObject({ trigger: 'alarm', outcome: 'recovered' });
    });

    it('reports drift on a scheduled reconcile (metric + event)', async () => {
      fx = await setupFixture({ state: 'healthy' });
      await fx.emu.setManifest(
        Buffer.from(JSON.stringify({ ...JSON.parse(fx.ws.manifest.toString()), Changed: true })),
      );
      out.lines.length = 0;
      const res = await fx.handler(scheduledEvent(), lambdaContext());
      expect(res.outcome).toBe('already-healthy');
      expect(res.results[0]!.drift).toBe(true);
      const [drift] = detailOf(fx, 'Coordinator Manifest Drift');
      expect(drift).toMatchObject({
        deployment: fx.deployment,
        manifestHash: res.results[0]!.manifestHash,
        latestManifestHash: res.results[0]!.latestManifestHash,
      });
      expect(emfRecords(out.json())[0]).toMatchObject({ DriftDetected: 1 });
      expect(fx.kmsDecrypts).toHaveLength(0);
    });

    it('a rotation it did not cause is reported (result, event, StaleWorkloads); once none is stale, healthy reconciles need no Kubernetes', async () => {
      fx = await setupFixture({ state: 'healthy' });
      const stale = fakeKubernetes({
        results: [{ kind: 'Deployment', namespace: 'app', name: 'web', status: 'stale', reason: 'not restarted' }],
        complete: false,
        stale: 1,
      });
      out.lines.length = 0;
      const first = await fx.makeHandler({ kubernetes: stale.loader })(scheduledEvent(), lambdaContext());
      expect(first.outcome).toBe('already-healthy');
      expect(stale.calls.restarts[0]).toMatchObject({
        mode: 'report',
        meshCa: { spkiSha256: fx.emu.meshCaSpkiSha256 },
      });
      expect(first.results[0]).toMatchObject({
        staleWorkloads: 1,
        meshCa: { cause: 'observed' },
        message: expect.stringMatching(
          /1 workload\(s\) hold certificates of an earlier mesh CA and were reported, not restarted/,
        ),
      });
      expect(emfRecords(out.json())[0]).toMatchObject({ StaleWorkloads: 1, WorkloadsRestarted: 0 });
      expect(detailOf(fx, 'Coordinator Recovery Skipped')[0]).toMatchObject({
        staleWorkloads: 1,
        restarts: { staleWorkloads: 1, workloads: [expect.objectContaining({ name: 'web', status: 'stale' })] },
      });
      // Someone restarted it: nothing stale any more, recorded; afterwards no Kubernetes call at all.
      const clean = fakeKubernetes();
      expect((await fx.makeHandler({ kubernetes: clean.loader })(scheduledEvent(), lambdaContext())).outcome).toBe(
        'already-healthy',
      );
      expect((await fx.lock.snapshot(fx.deployment)).record.meshCa).toMatchObject({
        spkiSha256: fx.emu.meshCaSpkiSha256,
        cause: 'observed',
        restartsCompleteAt: expect.any(Number),
      });
      const fresh = fakeKubernetes();
      const third = await fx.makeHandler({ kubernetes: fresh.loader })(scheduledEvent(), lambdaContext());
      expect(third.outcome).toBe('already-healthy');
      expect(fresh.calls.loads).toBe(0);
      expect(fx.kmsDecrypts).toHaveLength(0);
    });

    it('restarts after a rotation it did not cause where the deployment opts in (restartAfterAnyRotation)', async () => {
      fx = await setupFixture({ state: 'healthy', deploymentExtra: { restartAfterAnyRotation: true } });
      const k = fakeKubernetes({
        results: [
          { kind: 'Deployment', namespace: 'app', name: 'web', status: 'restarted', method: 'rollout-restart' },
        ],
      });
      const res = await fx.makeHandler({ kubernetes: k.loader })(scheduledEvent(), lambdaContext());
      expect(res.outcome).toBe('restarts-finished');
      expect(k.calls.restarts[0]!.mode).toBe('restart');
    });

    it('an interrupted attempt is audited before it is marked: killed between the two, the next holder audits it again (at least once)', async () => {
      fx = await setupFixture();
      const killed = fx.makeHandler({
        ports: {
          openSession: (o) => {
            const session = new CoordinatorSession(o);
            if (o.clientIdentity) {
              const recover = session.recover.bind(session);
              session.recover = async (...args) => {
                await recover(...args);
                return new Promise<never>(() => {});
              };
            }
            return session;
          },
        },
      });
      void killed(restartEvent(fx.deployment), lambdaContext('killed-request'));
      for (let i = 0; i < 200 && fx.emu.recoverCalls.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      const [intent] = (await fx.lock.snapshot(fx.deployment)).record.attempts;
      expect(intent).toMatchObject({ status: 'pending' });
      expect(intent!.reported).not.toBe(true);

      // The next holder dies at its first write of the record (the mark): that write never returns.
      const recordKey = `record#${fx.deployment}`;
      const dynamodb = fx.clients.dynamodb;
      const hanging = {
        send: (cmd: { input?: { Item?: { pk?: { S?: string } } } }, ...rest: unknown[]) =>
          cmd.input?.Item?.pk?.S === recordKey
            ? new Promise<never>(() => {})
            : (dynamodb.send as (...a: unknown[]) => Promise<unknown>).call(dynamodb, cmd, ...rest),
      } as unknown as typeof dynamodb;
      void fx.makeHandler({ clients: { ...fx.clients, dynamodb: hanging }, now: () => Date.now() + 361_000 })(
        scheduledEvent(),
        lambdaContext('killed-at-mark'),
      );
      const byMarker = () =>
        auditRecords(out.json()).filter((a) => a.interrupted === true && a.recordedBy === 'killed-at-mark');
      for (let i = 0; i < 500 && byMarker().length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(byMarker()).toEqual([
        expect.objectContaining({
          requestId: 'killed-request',
          recover: expect.objectContaining({ attemptId: intent!.id }),
        }),
      ]);
      const unmarked = (await fx.lock.snapshot(fx.deployment)).record.attempts;
      expect(unmarked.map((a) => [a.id, a.status, a.reported === true])).toEqual([[intent!.id, 'pending', false]]);

      // Both dead leases expired: the third holder finds the attempt unmarked, audits it again and marks it.
      const k = fakeKubernetes({
        results: [
          { kind: 'Deployment', namespace: 'app', name: 'web', status: 'restarted', method: 'rollout-restart' },
        ],
      });
      await fx.makeHandler({ kubernetes: k.loader, now: () => Date.now() + 2 * 361_000 })(
        scheduledEvent(),
        lambdaContext('third-request'),
      );
      const again = auditRecords(out.json()).filter((a) => a.interrupted === true && a.recordedBy === 'third-request');
      expect(again).toEqual([
        expect.objectContaining({
          requestId: 'killed-request',
          recover: expect.objectContaining({ attemptId: intent!.id }),
        }),
      ]);
      expect((await fx.lock.snapshot(fx.deployment)).record.attempts).toEqual([
        expect.objectContaining({ id: intent!.id, status: 'interrupted', reported: true }),
      ]);
    });

    it("a kill after Recover is counted by the guard: the next invocation finds the intent and writes the interrupted attempt's audit record", async () => {
      fx = await setupFixture({ env: { MAX_RECOVERIES_PER_HOUR: '1' } });
      // The process dies the moment Recover's answer arrives: nothing after it runs (no answer
      // recorded, no restarts, no result, no audit record, the lease never released).
      const killed = fx.makeHandler({
        ports: {
          openSession: (o) => {
            const session = new CoordinatorSession(o);
            if (o.clientIdentity) {
              const recover = session.recover.bind(session);
              session.recover = async (...args) => {
                await recover(...args);
                return new Promise<never>(() => {});
              };
            }
            return session;
          },
        },
      });
      void killed(restartEvent(fx.deployment), lambdaContext('killed-request'));
      for (let i = 0; i < 200 && fx.emu.recoverCalls.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(fx.emu.recoverCalls).toEqual([expect.objectContaining({ result: 'ok' })]);
      const [intent] = (await fx.lock.snapshot(fx.deployment)).record.attempts;
      expect(intent).toMatchObject({ status: 'pending', requestId: 'killed-request', trigger: { kind: 'event' } });
      expect(auditRecords(out.json())).toEqual([]);

      // Later (the dead lease expired), another container: it audits the interrupted attempt,
      // counts it, and finishes the restarts of the key that Recover made.
      const k = fakeKubernetes({
        results: [
          { kind: 'Deployment', namespace: 'app', name: 'web', status: 'restarted', method: 'rollout-restart' },
        ],
      });
      // The dead lease lasted the function time (300 s) + 60 s.
      const later = fx.makeHandler({ kubernetes: k.loader, now: () => Date.now() + 361_000 });
      const next = await later(scheduledEvent(), lambdaContext('next-request'));
      expect(next.outcome).toBe('restarts-finished');
      expect(k.calls.restarts[0]).toMatchObject({
        mode: 'restart',
        meshCa: { spkiSha256: fx.emu.meshCaSpkiSha256, createdAt: new Date(intent!.at) },
      });
      const audits = auditRecords(out.json());
      const interrupted = audits.find((a) => a.interrupted === true)!;
      expect(interrupted).toMatchObject({
        requestId: 'killed-request',
        recordedBy: 'next-request',
        deployment: fx.deployment,
        outcome: 'unknown',
        recover: { attemptId: intent!.id, sent: 'unknown' },
        kms: { encryptionContext: fx.kmsDecrypts[0]!.context },
      });
      expect(audits.filter((a) => a.requestId === 'next-request')).toHaveLength(1);
      const snap = await fx.lock.snapshot(fx.deployment);
      expect(snap.recentAttempts.map((a: RecoverAttempt) => [a.id, a.status])).toEqual([[intent!.id, 'interrupted']]);
      // Counted: with MAX_RECOVERIES_PER_HOUR=1, the next restart is left to a human.
      fx.emu.restart();
      const guarded = await fx.makeHandler({ kubernetes: k.loader, now: () => Date.now() + 362_000 })(
        restartEvent(fx.deployment),
        lambdaContext(),
      );
      expect(guarded.outcome).toBe('paused');
      expect(guarded.results[0]!.message).toMatch(/crash-loop guard: 1 Recover attempts/);
      expect(fx.emu.recoverCalls).toHaveLength(1);
    });

    it('a restart event that arrives before the restarted Coordinator listens recovers it in the same invocation', async () => {
      fx = await setupFixture({ state: 'healthy' });
      const { back } = await fx.emu.restartProcess(1_200);
      const t0 = Date.now();
      const r = await fx.handler(restartEvent(fx.deployment), lambdaContext());
      await back;
      expect(r.outcome).toBe('recovered');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1_000); // it waited for the port, not for Lambda's retry
      expect(fx.emu.recoverCalls).toHaveLength(1);
    });

    it("a Coordinator that never listens is unreachable once the probe's wait (one handshake budget) is used up", async () => {
      fx = await setupFixture({ state: 'healthy' });
      await fx.emu.restartProcess(60_000);
      const t0 = Date.now();
      const r = await fx
        .makeHandler({ budgets: budgetsWith({ coordinator: { handshakeTimeoutMs: 800, rpcTimeoutMs: 1_000 } }) })(
          restartEvent(fx.deployment),
          lambdaContext(),
        )
        .catch((e: unknown) => e);
      const elapsed = Date.now() - t0;
      expect(r).toBeInstanceOf(Error); // transient: the invocation fails so Lambda retries it
      expect((r as Error).message).toMatch(/unreachable.*nothing listens at the Coordinator's address/);
      expect(elapsed).toBeGreaterThanOrEqual(700);
      expect(elapsed).toBeLessThan(10_000);
      expect(fx.kmsDecrypts).toHaveLength(0);
    });

    /** A handler whose confirming GetManifests hangs forever — as if the process died there. */
    function dyingInConfirm() {
      return fx!.makeHandler({
        ports: {
          openSession: (o) => {
            const session = new CoordinatorSession(o);
            if (o.clientIdentity) session.getManifests = () => new Promise<never>(() => {});
            return session;
          },
        },
      });
    }

    async function untilAttempt(status: RecoverAttempt['status']): Promise<RecoverAttempt> {
      for (let i = 0; i < 250; i++) {
        const a = (await fx!.lock.snapshot(fx!.deployment)).record.attempts[0];
        if (a?.status === status) return a;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`no attempt reached ${status}`);
    }

    it('a kill right after the KMS Decrypt finds the intent recorded before it: the next invocation audits it', async () => {
      fx = await setupFixture();
      // The process dies the moment KMS answers the Decrypt: nothing after it runs.
      fx.clients.kms.middlewareStack.add(
        (next, context) => async (args) => {
          const out = await next(args);
          if (context.commandName === 'DecryptCommand') return new Promise<never>(() => {});
          return out;
        },
        { step: 'initialize', name: 'dieAfterDecrypt', priority: 'high' },
      );
      void fx.handler(restartEvent(fx.deployment), lambdaContext('killed-after-decrypt'));
      for (let i = 0; i < 250 && fx.kmsDecrypts.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      fx.clients.kms.middlewareStack.remove('dieAfterDecrypt');
      expect(fx.kmsDecrypts).toHaveLength(1);
      const [intent] = (await fx.lock.snapshot(fx.deployment)).record.attempts;
      expect(intent).toMatchObject({
        status: 'pending',
        requestId: 'killed-after-decrypt',
        kmsEncryptionContext: fx.kmsDecrypts[0]!.context,
      });
      expect(fx.emu.recoverCalls).toEqual([]);
      expect(auditRecords(out.json())).toEqual([]);

      const next = await fx.makeHandler({ now: () => Date.now() + 361_000 })(
        scheduledEvent(),
        lambdaContext('after-decrypt-kill'),
      );
      expect(next.outcome).toBe('recovered');
      const interrupted = auditRecords(out.json()).filter((a) => a.interrupted === true);
      expect(interrupted).toEqual([
        expect.objectContaining({
          requestId: 'killed-after-decrypt',
          recordedBy: 'after-decrypt-kill',
          recover: expect.objectContaining({ attemptId: intent!.id, status: 'interrupted' }),
          kms: { encryptionContext: fx.kmsDecrypts[0]!.context },
        }),
      ]);
      expect(fx.emu.recoverCalls).toHaveLength(1);
    });

    it('a kill after Recover was answered and before the audit record: the next invocation writes it, naming the answer', async () => {
      fx = await setupFixture();
      void dyingInConfirm()(restartEvent(fx.deployment), lambdaContext('killed-in-confirm'));
      const accepted = await untilAttempt('accepted');
      expect(accepted.reported).toBeUndefined();
      expect(auditRecords(out.json())).toEqual([]);

      await fx.makeHandler({ now: () => Date.now() + 361_000 })(scheduledEvent(), lambdaContext('after-confirm-kill'));
      const interrupted = auditRecords(out.json()).filter((a) => a.interrupted === true);
      expect(interrupted).toEqual([
        expect.objectContaining({
          requestId: 'killed-in-confirm',
          recover: expect.objectContaining({ attemptId: accepted.id, status: 'accepted', sent: true }),
        }),
      ]);
      expect((await fx.lock.snapshot(fx.deployment)).record.attempts).toEqual([
        expect.objectContaining({ id: accepted.id, status: 'accepted', reported: true }),
      ]);
      expect(fx.emu.recoverCalls).toHaveLength(1);
    });

    it('a recovery that wrote its own audit record marks its attempt: later reconciles write no second record for it', async () => {
      fx = await setupFixture();
      expect((await fx.handler(restartEvent(fx.deployment), lambdaContext('recovering'))).outcome).toBe('recovered');
      const [attempt] = (await fx.lock.snapshot(fx.deployment)).record.attempts;
      expect(attempt).toMatchObject({ status: 'accepted', reported: true, requestId: 'recovering' });
      await fx.handler(scheduledEvent(), lambdaContext('later'));
      const audits = auditRecords(out.json());
      expect(audits.filter((a) => a.interrupted === true)).toEqual([]);
      expect(
        audits.filter((a) => (a.recover as { attemptId?: string } | undefined)?.attemptId === attempt!.id),
      ).toHaveLength(1);
    });

    it('a tripped crash-loop guard records no intent and decrypts nothing', async () => {
      fx = await setupFixture({ env: { MAX_RECOVERIES_PER_HOUR: '1' } });
      expect((await fx.handler(restartEvent(fx.deployment), lambdaContext())).outcome).toBe('recovered');
      fx.emu.restart();
      const guarded = await fx.handler(restartEvent(fx.deployment), lambdaContext());
      expect(guarded.outcome).toBe('paused');
      expect(guarded.results[0]).toMatchObject({ kmsDecrypts: 0 });
      expect(guarded.results[0]!.kmsEncryptionContext).toBeUndefined();
      expect((await fx.lock.snapshot(fx.deployment)).record.attempts).toHaveLength(1);
      expect(fx.kmsDecrypts).toHaveLength(1);
    });

    it('a missing or malformed kubeconfig secret is config-invalid (not bundle-invalid), and nothing is recovered', async () => {
      const secretId = uniqueName('kubeconfig');
      fx = await setupFixture({ env: { KUBE_AUTH: 'kubeconfig', KUBECONFIG_SECRET_ID: secretId } });
      const missing = await fx.handler(restartEvent(fx.deployment), lambdaContext());
      expect(missing.outcome).toBe('config-invalid');
      expect(missing.results[0]!.message).toMatch(/the kubeconfig secret .* \(KUBECONFIG_SECRET_ID\) does not exist/);
      await fx.clients.secrets.send(new CreateSecretCommand({ Name: secretId, SecretString: 'clusters: [' }));
      const malformed = await fx.handler(restartEvent(fx.deployment), lambdaContext());
      expect(malformed.outcome).toBe('config-invalid');
      expect(malformed.results[0]!.message).toMatch(/kubeconfig document cannot be parsed/);
      expect(fx.kmsDecrypts).toHaveLength(0);
      expect(fx.emu.recoverCalls).toHaveLength(0);
    });

    it('returns permanent failures without throwing', async () => {
      fx = await setupFixture({ state: 'no-state' });
      const noState = await fx.handler(restartEvent(fx.deployment), lambdaContext());
      expect(noState.outcome).toBe('no-state');
      // A refused Recover is no user recovery: the crash-loop guard does not count it.
      expect((await fx.lock.snapshot(fx.deployment)).recentAttempts).toHaveLength(0);
      expect((await fx.lock.snapshot(fx.deployment)).record.attempts.map((a) => a.status)).toEqual(['refused']);
      const decrypts = fx.kmsDecrypts.length;
      // Production verifier (the default): refuses the emulator's testing evidence.
      const prod = fx.makeHandler({ verifierFactory: undefined });
      fx.emu.state = 'stale';
      const refused = await prod(restartEvent(fx.deployment), lambdaContext());
      expect(refused.outcome).toBe('attestation-failed');
      expect(fx.kmsDecrypts).toHaveLength(decrypts);
      const missing = fx.makeHandler({
        config: { ...fx.config, deployments: [{ ...fx.config.deployments[0]!, secretId: 'contrast/does-not-exist' }] },
      });
      expect((await missing(restartEvent(fx.deployment), lambdaContext())).outcome).toBe('bundle-invalid');
      expect(detailOf(fx, 'Coordinator Recovery Failed').map((d) => d.outcome)).toEqual([
        'no-state',
        'attestation-failed',
        'bundle-invalid',
      ]);
    });

    it('confirm-mismatch when a manifest was set after enrollment', async () => {
      fx = await setupFixture();
      await fx.emu.setManifest(
        Buffer.from(JSON.stringify({ ...JSON.parse(fx.ws.manifest.toString()), Changed: true })),
      );
      const res = await fx.handler(restartEvent(fx.deployment), lambdaContext());
      expect(res.outcome).toBe('confirm-mismatch');
    });

    it('throws on transient outcomes for async triggers, returns them to a direct caller', async () => {
      fx = await setupFixture();
      await fx.emu.stop();
      const ev = restartEvent(fx.deployment);
      await expect(fx.handler(ev, lambdaContext())).rejects.toBeInstanceOf(TransientOutcomeError);
      expect(detailOf(fx, 'Coordinator Recovery Failed')).toEqual([
        expect.objectContaining({ outcome: 'unreachable', retryable: true }),
      ]);
      const direct = (await fx.handler(directInvoke(fx.deployment, 'status'), lambdaContext())) as HandlerResponse;
      expect(direct.outcome).toBe('unreachable');
      // The lease was released: the retry is not blocked.
      expect((await fx.lock.acquire(fx.deployment, 'probe', 10)).acquired).toBe(true);
    });

    it('restart-partial is transient (retried), and the next reconcile finishes restarts', async () => {
      fx = await setupFixture();
      const partial = fakeKubernetes({
        results: [{ kind: 'Deployment', namespace: 'app', name: 'web', status: 'failed', reason: '429' }],
        complete: false,
        stale: 1,
      });
      await expect(
        fx.makeHandler({ kubernetes: partial.loader })(restartEvent(fx.deployment), lambdaContext()),
      ).rejects.toThrow(/restart-partial/);
      const ok = fakeKubernetes({
        results: [{ kind: 'Deployment', namespace: 'app', name: 'web', status: 'restarted' }],
      });
      expect(
        (await fx.makeHandler({ kubernetes: ok.loader })(restartEvent(fx.deployment), lambdaContext())).outcome,
      ).toBe('restarts-finished');
      expect(fx.emu.recoverCalls).toHaveLength(1);
    });

    it('dry-run decrypts but sends nothing; malformed events are event-invalid', async () => {
      fx = await setupFixture();
      const dry = await fx.handler(directInvoke(fx.deployment, 'dry-run'), lambdaContext());
      expect(dry.outcome).toBe('dry-run-ok');
      expect(fx.emu.recoverCalls).toHaveLength(0);
      for (const bad of [
        {},
        { source: 'aws.s3' },
        restartEvent('unknown-deployment'),
        directInvoke(fx.deployment, 'recover', { reason: '' }),
      ]) {
        const r = await fx.handler(bad, lambdaContext());
        expect(r.outcome).toBe('event-invalid');
      }
      expect(detailOf(fx, 'Coordinator Recovery Failed').filter((d) => d.outcome === 'event-invalid')).toHaveLength(4);
    });
  },
);

/** Recover attempts as earlier invocations would have recorded them (accepted). */
async function seedAttempts(f: Fixture, times: number[]): Promise<void> {
  const store = f.lock.recordStore(f.deployment, await f.lock.snapshot(f.deployment));
  await store.update((r) => ({
    ...r,
    attempts: times.map((at, i) => ({ id: `seed-${i}`, at, status: 'accepted' as const, force: false })),
  }));
}
