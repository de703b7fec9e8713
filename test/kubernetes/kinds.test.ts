/**
 * Issue #19 item 6: every kind Contrast injects the initializer into, restarted (or not) as its
 * controller allows — over a real socket to the stand-in, which models Jobs' backoffLimit,
 * CronJobs' Jobs and ReplicationControllers as Kubernetes does.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { JOB_POD_DELETION_ANNOTATION } from '../../lambda/kubernetes/index.ts';
import { contrastTemplate, manifestRbac, type KubeObject } from '../../testing/kube-api/index.ts';
import { OLD, request, setup, teardown, writes, type Env } from './helpers.ts';

const NS = 'contrast';
const OPT_IN = { [JOB_POD_DELETION_ANNOTATION]: 'true' };

function result(summary: { results: { name: string; status: string; reason?: string }[] }, name: string) {
  return summary.results.find((r) => r.name === name);
}

function podsOf(env: Env, resource: string, name: string): KubeObject[] {
  return env.api.store.podsOf(env.api.store.get(resource, NS, name)!);
}

describe('every workload kind (issue #19 item 6)', () => {
  let env: Env | undefined;
  afterEach(async () => {
    await teardown(env);
    env = undefined;
  });

  it('a stale running Job pod needs a manual restart unless the Job opts in, even where pod deletion is allowed', async () => {
    env = await setup({ rbac: manifestRbac([NS], { podDeletion: true }) }, { allowPodDeletion: true });
    env.api.store.addJob(NS, 'etl', { template: contrastTemplate('etl'), startedAt: OLD() });
    const summary = await env.side.restarts.restartStale(request('restart'));
    expect(result(summary, 'etl')).toMatchObject({
      kind: 'Job',
      status: 'needs-manual-restart',
      reason: expect.stringMatching(/reruns its work and counts as a failure against its backoffLimit \(6, 0 failed/),
    });
    expect(summary.complete).toBe(false);
    expect(writes(env.api)).toEqual([]);
  });

  it('deletes an opted-in Job pod within its backoffLimit; the Job reruns it and counts the failure', async () => {
    env = await setup({ rbac: manifestRbac([NS], { podDeletion: true }) }, { allowPodDeletion: true });
    env.api.store.addJob(NS, 'etl', {
      template: contrastTemplate('etl'),
      startedAt: OLD(),
      backoffLimit: 2,
      annotations: OPT_IN,
    });
    const [before] = podsOf(env, 'jobs', 'etl');
    const summary = await env.side.restarts.restartStale(request('restart'));
    expect(result(summary, 'etl')).toMatchObject({ status: 'deleted', method: 'delete-pods' });
    expect(writes(env.api).map((w) => `${w.method} ${w.resource} ${w.name}`)).toEqual([
      `DELETE pods ${before!.metadata.name}`,
    ]);
    const job = env.api.store.get('jobs', NS, 'etl')!;
    expect(job.status!.failed).toBe(1);
    expect(job.status!.conditions).toBeUndefined();
    const after = podsOf(env, 'jobs', 'etl');
    expect(after).toHaveLength(1);
    expect(after[0]!.metadata.name).not.toBe(before!.metadata.name);
  });

  it('never deletes where that would fail the Job (backoffLimit 0), and the stand-in fails such a Job as Kubernetes does', async () => {
    env = await setup({ rbac: manifestRbac([NS], { podDeletion: true }) }, { allowPodDeletion: true });
    env.api.store.addJob(NS, 'once', {
      template: contrastTemplate('once'),
      startedAt: OLD(),
      backoffLimit: 0,
      annotations: OPT_IN,
    });
    const summary = await env.side.restarts.restartStale(request('restart'));
    expect(result(summary, 'once')).toMatchObject({
      status: 'needs-manual-restart',
      reason: expect.stringMatching(/would exceed it and fail the Job/),
    });
    expect(writes(env.api)).toEqual([]);
    // What the refusal avoids: a deleted pod past backoffLimit fails the Job, nothing reruns.
    const [pod] = podsOf(env, 'jobs', 'once');
    env.api.store.podDeleted(pod!);
    const job = env.api.store.get('jobs', NS, 'once')!;
    expect(job.status!.conditions).toEqual([
      expect.objectContaining({ type: 'Failed', reason: 'BackoffLimitExceeded' }),
    ]);
    expect(podsOf(env, 'jobs', 'once')).toEqual([]);
  });

  it("a finished Job needs nothing; a CronJob's next run fetches a new certificate, its running Job is listed on its own", async () => {
    env = await setup({ rbac: manifestRbac([NS], { podDeletion: true }) }, { allowPodDeletion: true });
    const s = env.api.store;
    s.addJob(NS, 'done', { template: contrastTemplate('done'), startedAt: OLD(), finished: 'Complete' });
    s.addJob(NS, 'broke', { template: contrastTemplate('broke'), startedAt: OLD(), finished: 'Failed' });
    // The CronJob opts in for the Jobs it makes.
    const cron = s.addCronJob(NS, 'nightly', { template: contrastTemplate('nightly'), annotations: OPT_IN });
    s.addJob(NS, 'nightly-28', { template: contrastTemplate('nightly'), startedAt: OLD(), owner: cron });
    const summary = await env.side.restarts.restartStale(request('restart'));
    expect(result(summary, 'done')).toMatchObject({ status: 'skipped', reason: 'Job Complete: it runs nothing' });
    expect(result(summary, 'broke')).toMatchObject({ status: 'skipped', reason: 'Job Failed: it runs nothing' });
    expect(result(summary, 'nightly')).toMatchObject({
      kind: 'CronJob',
      status: 'skipped',
      reason: expect.stringMatching(/each run's pods fetch their certificate from the current Coordinator/),
    });
    expect(result(summary, 'nightly-28')).toMatchObject({ kind: 'Job', status: 'deleted' });
    expect(writes(env.api)).toHaveLength(1);
    expect(summary.pods!.filter((p) => p.workload === 'Job/done').map((p) => p.status)).toEqual(['finished']);
    expect(summary.complete).toBe(true);
  });

  it('restarts a ReplicationController by pod deletion only where allowed; its controller recreates the pod', async () => {
    env = await setup({ rbac: manifestRbac([NS]) });
    env.api.store.addReplicationController(NS, 'legacy', { template: contrastTemplate('legacy'), startedAt: OLD() });
    const first = await env.side.restarts.restartStale(request('restart'));
    expect(result(first, 'legacy')).toMatchObject({
      kind: 'ReplicationController',
      status: 'needs-manual-restart',
      reason: expect.stringMatching(/ReplicationController \(rollout restart does not apply to it\)/),
    });
    await teardown(env);
    env = await setup({ rbac: manifestRbac([NS], { podDeletion: true }) }, { allowPodDeletion: true });
    env.api.store.addReplicationController(NS, 'legacy', { template: contrastTemplate('legacy'), startedAt: OLD() });
    const [before] = podsOf(env, 'replicationcontrollers', 'legacy');
    const second = await env.side.restarts.restartStale(request('restart'));
    expect(result(second, 'legacy')).toMatchObject({ status: 'deleted' });
    const after = podsOf(env, 'replicationcontrollers', 'legacy');
    expect(after.map((p) => p.metadata.name)).not.toContain(before!.metadata.name);
    expect(Date.parse(after[0]!.status!.startTime as string)).toBeGreaterThan(Date.now() - 60_000);
  });

  it("a ReplicaSet or pod an operator's controller owns is listed and left to that controller", async () => {
    env = await setup({ rbac: manifestRbac([NS], { podDeletion: true }) }, { allowPodDeletion: true });
    const owner: KubeObject = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'canary', namespace: NS, uid: 'uid-canary', resourceVersion: '1', creationTimestamp: '' },
    };
    env.api.store.addReplicaSet(NS, 'canary-7f', { template: contrastTemplate('canary'), startedAt: OLD(), owner });
    env.api.store.addPod(NS, 'managed', { template: contrastTemplate('managed'), startedAt: OLD(), owner });
    const summary = await env.side.restarts.restartStale(request('restart'));
    for (const name of ['canary-7f', 'managed'])
      expect(result(summary, name)).toMatchObject({
        status: 'needs-manual-restart',
        reason: expect.stringMatching(/controlled by Rollout canary, a kind this service does not restart/),
      });
    expect(writes(env.api)).toEqual([]);
  });
});
