/**
 * What the function's configuration sets on the Kubernetes side (lambda/function/kubernetes-access.ts):
 * the deployment's namespaces and Coordinator namespace, the kubeconfig from Secrets Manager, and the
 * request budget from the function's budgets — nothing else reaches it.
 */
import type { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lambda/function/config.ts';
import { lazyKubernetes } from '../../lambda/function/kubernetes-access.ts';
import type { AwsClients } from '../../lambda/function/runtime.ts';
import { COORDINATOR_LABEL } from '../../lambda/kubernetes/index.ts';
import { budgetsWith } from '../../lambda/shared/budgets.ts';
import { kubeconfigFor, RbacAuthorizer, startKubeApi, type KubeApi } from '../../testing/kube-api/index.ts';
import { request, TOKEN } from '../kubernetes/helpers.ts';

/** Secrets Manager holding one kubeconfig; records what was asked for. */
function secretsWith(kubeconfig: string, asked: string[]): AwsClients {
  const secrets = {
    send: (cmd: GetSecretValueCommand) => {
      asked.push(cmd.input.SecretId!);
      return Promise.resolve({ SecretString: kubeconfig });
    },
  } as unknown as SecretsManagerClient;
  return { secrets } as AwsClients;
}

describe("the function's Kubernetes side, from its configuration", () => {
  let api: KubeApi | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  it("uses the deployment's namespaces, the kubeconfig secret and the function's request budget", async () => {
    api = await startKubeApi({ tokens: [TOKEN], rbac: RbacAuthorizer.allowAll() });
    api.store.addNamespace('team-a', { restart: 'yes' });
    api.faults.push({ resource: 'pods', namespace: 'prod', status: 503, times: Infinity });
    const config = loadConfig({
      CONTRAST_DEPLOYMENTS: JSON.stringify([
        {
          name: 'prod',
          secretId: 's',
          coordinator: 'c.example:1313',
          coordinatorNamespace: 'prod',
          namespaceLabelSelector: 'restart=yes',
        },
      ]),
      LOCK_TABLE_NAME: 'locks',
      EVENT_BUS_NAME: 'bus',
      KUBE_AUTH: 'kubeconfig',
      KUBECONFIG_SECRET_ID: 'kubeconfig-prod',
    });
    const asked: string[] = [];
    const budgets = budgetsWith({ kubernetes: { attempts: 2, requestTimeoutMs: 2_000 } });
    const side = await lazyKubernetes(
      config,
      secretsWith(kubeconfigFor(api.url, TOKEN, api.caData), asked),
      undefined,
      budgets,
    )(config.deployments[0]!)!();
    try {
      expect(asked).toEqual(['kubeconfig-prod']);
      // The peer check asks the Coordinator's namespace by Contrast's label, with the budget's attempts.
      await expect(side.peers.readyPeers('prod')).rejects.toThrow(/503/);
      const peerLists = api.log.filter((r) => r.resource === 'pods');
      expect(peerLists.map((r) => [r.path, r.query.get('labelSelector')])).toEqual([
        ['/api/v1/namespaces/prod/pods', COORDINATOR_LABEL],
        ['/api/v1/namespaces/prod/pods', COORDINATOR_LABEL],
      ]);
      // The restarts look in the namespaces the selector names.
      api.resetStats();
      await side.restarts.restartStale(request('list'));
      expect(api.log.find((r) => r.resource === 'namespaces')!.query.get('labelSelector')).toBe('restart=yes');
      expect(new Set(api.log.filter((r) => r.resource !== 'namespaces').map((r) => r.namespace))).toEqual(
        new Set(['team-a']),
      );
    } finally {
      side.close?.();
    }
  });
});
