/** The Kubernetes API stand-in answers as the API server does where our code relies on it. */
import { afterEach, describe, expect, it } from 'vitest';
import { contrastTemplate, startKubeApi, type KubeApi } from '../../testing/kube-api/index.ts';

describe('Kubernetes API stand-in', () => {
  let api: KubeApi | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  async function send(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await fetch(`${api!.url}${path}`, {
      method,
      headers: { authorization: 'Bearer t', 'content-type': contentType },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  it("accepts the API server's patch types, needs fieldManager for apply, and refuses others with its 415 Status", async () => {
    api = await startKubeApi({ plainHttp: true });
    api.store.addDeployment('apps', 'web', { template: contrastTemplate('web'), startedAt: new Date() });
    const path = '/apis/apps/v1/namespaces/apps/deployments/web';
    const json = await send(
      'PATCH',
      path,
      [
        { op: 'add', path: '/metadata/annotations', value: { a: '1' } },
        { op: 'test', path: '/metadata/name', value: 'web' },
      ],
      'application/json-patch+json',
    );
    expect(json.status).toBe(200);
    expect((json.json.metadata as { annotations: Record<string, string> }).annotations).toEqual({ a: '1' });
    const failedTest = await send(
      'PATCH',
      path,
      [{ op: 'test', path: '/metadata/name', value: 'other' }],
      'application/json-patch+json',
    );
    expect(failedTest.status).toBe(422);
    const apply = await send('PATCH', path, { metadata: { labels: { b: '2' } } }, 'application/apply-patch+yaml');
    expect(apply).toMatchObject({
      status: 422,
      json: { kind: 'Status', reason: 'Invalid', message: expect.stringMatching(/fieldManager: Required value/) },
    });
    expect(
      (
        await send(
          'PATCH',
          `${path}?fieldManager=test`,
          { metadata: { labels: { b: '2' } } },
          'application/apply-patch+yaml',
        )
      ).status,
    ).toBe(200);
    const other = await send('PATCH', path, {}, 'application/yaml');
    expect(other).toMatchObject({
      status: 415,
      json: { kind: 'Status', status: 'Failure', reason: 'UnsupportedMediaType', code: 415 },
    });
    expect(other.json.message).toBe(
      'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml',
    );
  });

  it('reports pods as the kubelet does: in Init while the initializer waits, then its terminated state with finishedAt', async () => {
    api = await startKubeApi({ plainHttp: true });
    const coordinator = { since: undefined as Date | undefined };
    api.store.coordinator = { servingSince: () => coordinator.since };
    api.store.initializerRetryMs = 100;
    api.store.addPod('apps', 'p', { template: contrastTemplate('p'), startedAt: new Date(Date.now() - 1000) });
    const get = async () =>
      (await send('GET', '/api/v1/namespaces/apps/pods/p')).json.status as Record<string, unknown>;
    expect(await get()).toMatchObject({
      phase: 'Pending',
      conditions: expect.arrayContaining([expect.objectContaining({ type: 'Initialized', status: 'False' })]),
      initContainerStatuses: [
        { name: 'contrast-initializer', state: { running: { startedAt: expect.any(String) } }, ready: false },
      ],
      containerStatuses: [expect.objectContaining({ state: { waiting: { reason: 'PodInitializing' } } })],
    });
    coordinator.since = new Date();
    await new Promise((r) => setTimeout(r, 600));
    const status = await get();
    expect(status).toMatchObject({
      phase: 'Running',
      initContainerStatuses: [
        {
          name: 'contrast-initializer',
          state: {
            terminated: {
              exitCode: 0,
              reason: 'Completed',
              finishedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
            },
          },
        },
      ],
    });
  });
});
