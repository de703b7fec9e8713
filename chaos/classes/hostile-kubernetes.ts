/**
 * A hostile or broken Kubernetes API (the stand-in's hostile modes, testing/kube-api/server.ts),
 * reached the way the function reaches it: KUBE_AUTH=kubeconfig, the kubeconfig in Secrets
 * Manager. A 600 MB list, continue tokens without end, an answer trickled a byte at a time —
 * at the peer check they are `unreachable` with nothing decrypted; in the restart step after a
 * Recover they are `restart-partial`. A 410 Gone on a continue token restarts the list, and a
 * PATCH answered 200 with a body that is not JSON counts as applied: both end `recovered`.
 * Every case: an outcome in time, an audit record, at most one Recover, no secret in any output.
 */
import { randomUUID } from 'node:crypto';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { recoverMs, stepBudgetsOf } from '../../lambda/shared/budgets.ts';
import {
  contrastTemplate,
  coordinatorTemplate,
  kubeconfigFor,
  plainTemplate,
  startKubeApi,
  type Hostile,
  type KubeApi,
} from '../../testing/kube-api/index.ts';
import {
  CHAOS_BUDGETS,
  checkAll,
  chaosHandler,
  invoke,
  makeWorld,
  outcomeOf,
  REGION,
  runCase,
  summarize,
  triggers,
  type Checks,
  type ClassResult,
  type Env,
  type World,
} from '../harness.ts';

const TOKEN = 'chaos-kube-token';
const NS = 'contrast';
const MiB = 1024 * 1024;
const OLD = () => new Date(Date.now() - 3_600_000);
/** Two stale Deployments: a Recover restarts both. */
const WORKLOADS = ['web', 'api'];

/** Time for everything that does not misbehave (moto, the emulator, the process itself). */
const SLACK_MS = 3_000;
/** Attempts of a Kubernetes request, each ended by its deadline, with the transport's backoff between. */
const KUBERNETES_BOUND =
  CHAOS_BUDGETS.kubernetes.attempts * (CHAOS_BUDGETS.kubernetes.requestTimeoutMs + 200) + SLACK_MS;
const AFTER_RECOVER_BOUND = KUBERNETES_BOUND + recoverMs(stepBudgetsOf(CHAOS_BUDGETS)) + SLACK_MS;

/** The stand-in with a Coordinator that is not Ready and two stale workloads; its kubeconfig in Secrets Manager. */
async function cluster(env: Env): Promise<{ api: KubeApi; secretId: string }> {
  const api = await startKubeApi({ tokens: [TOKEN] });
  api.store.addStatefulSet(NS, 'coordinator', {
    template: coordinatorTemplate(),
    replicas: 1,
    startedAt: new Date(),
    updateStrategy: 'RollingUpdate',
    ready: false,
  });
  for (const name of WORKLOADS)
    api.store.addDeployment(NS, name, {
      template: contrastTemplate(name),
      replicas: 2,
      startedAt: OLD(),
      initializerFinishedAt: OLD(),
    });
  const secretId = `kubeconfig-${randomUUID().slice(0, 8)}`;
  const secrets = new SecretsManagerClient({
    region: REGION,
    endpoint: env.moto,
    credentials: { accessKeyId: 'chaos', secretAccessKey: 'chaos' },
  });
  await secrets.send(
    new CreateSecretCommand({ Name: secretId, SecretString: kubeconfigFor(api.url, TOKEN, api.caData) }),
  );
  return { api, secretId };
}

interface Case {
  name: string;
  hostile: Hostile;
  /** Filler pods, so the workloads' pod list has pages. */
  fillerPods?: number;
  outcome: 'unreachable' | 'restart-partial' | 'recovered';
  bound: number;
  more?: (c: Checks, world: World, api: KubeApi) => void;
}

const patches = (api: KubeApi) => api.log.filter((r) => r.method === 'PATCH');

const CASES: Case[] = [
  {
    name: 'a 600 MB pod list at the peer check: unreachable, nothing decrypted, the list not read to its end',
    hostile: { kind: 'huge-list', resource: 'pods', bytes: 600 * MiB },
    outcome: 'unreachable',
    bound: KUBERNETES_BOUND,
    more: (c, world, api) => {
      c.that(world.emu.recoverRequests === 0, 'Recover without knowing the peers');
      c.that(
        api.hostileBytesSent < 128 * MiB,
        `the function read ${Math.round(api.hostileBytesSent / MiB)} MiB of the huge list`,
      );
    },
  },
  {
    name: 'pod lists whose continue tokens never end, at the peer check: unreachable, nothing decrypted',
    hostile: { kind: 'endless-continue', resource: 'pods', itemsPerPage: 100 },
    outcome: 'unreachable',
    bound: KUBERNETES_BOUND + 10_000,
    more: (c, world) => c.that(world.emu.recoverRequests === 0, 'Recover without knowing the peers'),
  },
  {
    name: 'pod lists trickled a byte every 50 ms, at the peer check: unreachable at the request deadline',
    hostile: { kind: 'trickle', resource: 'pods', intervalMs: 50 },
    outcome: 'unreachable',
    bound: KUBERNETES_BOUND,
    more: (c, world) => c.that(world.emu.recoverRequests === 0, 'Recover without knowing the peers'),
  },
  {
    name: 'a 600 MB Deployment list in the restart step after a Recover: restart-partial, nothing patched',
    hostile: { kind: 'huge-list', resource: 'deployments', bytes: 600 * MiB },
    outcome: 'restart-partial',
    bound: AFTER_RECOVER_BOUND,
    more: (c, _world, api) =>
      c.that(patches(api).length === 0, `${patches(api).length} PATCHes without knowing the workloads`),
  },
  {
    name: 'ReplicaSet lists without end in the restart step after a Recover: restart-partial',
    hostile: { kind: 'endless-continue', resource: 'replicasets', itemsPerPage: 0 },
    outcome: 'restart-partial',
    bound: AFTER_RECOVER_BOUND + 10_000,
  },
  {
    name: 'Deployment lists trickled in the restart step after a Recover: restart-partial at the request deadline',
    hostile: { kind: 'trickle', resource: 'deployments', intervalMs: 50 },
    outcome: 'restart-partial',
    bound: AFTER_RECOVER_BOUND,
  },
  {
    name: 'a 410 Gone on the pod list continue token in the restart step: the list starts over, one PATCH per stale workload',
    hostile: { kind: 'expire-continue', resource: 'pods', times: 1 },
    fillerPods: 150,
    outcome: 'recovered',
    bound: AFTER_RECOVER_BOUND,
    more: (c, _world, api) => {
      c.that(
        api.log.some((r) => r.status === 410),
        'the 410 never came (the pod list had one page)',
      );
      c.that(
        patches(api).length === WORKLOADS.length,
        `${patches(api).length} PATCHes for ${WORKLOADS.length} stale workloads`,
      );
    },
  },
  {
    name: 'PATCHes answered 200 with a body that is not JSON: applied, recovered',
    hostile: { kind: 'non-json-patch', method: 'PATCH' },
    outcome: 'recovered',
    bound: AFTER_RECOVER_BOUND,
    more: (c, _world, api) =>
      c.that(
        patches(api).length === WORKLOADS.length && patches(api).every((p) => p.status === 200),
        `PATCHes ${JSON.stringify(patches(api).map((p) => p.status))}`,
      ),
  },
];

export async function hostileKubernetesClass(env: Env): Promise<ClassResult> {
  const results = [];
  for (const k of CASES) {
    env.proxy.clear();
    results.push(
      await runCase(k.name, async (c) => {
        const { api, secretId } = await cluster(env);
        const world = await makeWorld(env, {
          configEnv: { KUBE_AUTH: 'kubeconfig', KUBECONFIG_SECRET_ID: secretId },
          deploymentExtra: { coordinatorNamespace: NS },
        });
        try {
          for (let i = 0; i < (k.fillerPods ?? 0); i++)
            api.store.addPod(NS, `filler-${i}`, { template: plainTemplate('filler'), startedAt: OLD() });
          api.hostile.push(k.hostile);
          const inv = await invoke(chaosHandler(world), triggers.restart(world.deployment));
          c.that(
            outcomeOf(inv) === k.outcome,
            `outcome ${outcomeOf(inv)}, expected ${k.outcome}: ${inv.error?.message ?? inv.response?.results[0]?.message ?? ''}`,
          );
          checkAll(c, env, world, inv, { outcome: k.outcome }, k.bound);
          if (k.outcome !== 'unreachable')
            c.that(
              world.emu.recoverCalls.filter((r) => r.result === 'ok').length === 1,
              'the Coordinator was not recovered',
            );
          k.more?.(c, world, api);
        } finally {
          await world.stop();
          await api.close();
        }
      }),
    );
  }
  env.proxy.clear();
  return summarize('hostile-kubernetes-api', results);
}
