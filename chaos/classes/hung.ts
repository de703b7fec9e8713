/**
 * One class per dependency: its endpoint accepts the connection and never answers. KMS,
 * Secrets Manager, DynamoDB and EventBridge hang per operation behind the fault proxy; the
 * Coordinator and the Kubernetes API hang as servers that accept TCP and say nothing.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { KubernetesSide } from '../../lambda/kubernetes/types.ts';
import { awsCallMs, recoverMs, stepBudgetsOf } from '../../lambda/shared/budgets.ts';
import { kubeconfigFor, servingCert } from '../../testing/kube-api/index.ts';
import {
  CHAOS_BUDGETS,
  checkAll,
  checkAudit,
  checkInTime,
  checkNoSecret,
  checkOneRecover,
  chaosHandler,
  invoke,
  lambdaContext,
  makeWorld,
  outcomeOf,
  outputsOf,
  runCase,
  summarize,
  triggers,
  type CaseBody,
  type ClassResult,
  type Env,
  type World,
} from '../harness.ts';

/** Accepts TCP and never answers a byte. */
export async function silentServer(): Promise<{ port: number; url: string; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

type Case = [name: string, body: (env: Env) => CaseBody];

/** Time for everything that does not hang (moto, the emulator, the process itself). */
const SLACK_MS = 3_000;
const STEPS = stepBudgetsOf(CHAOS_BUDGETS);
/** One hung AWS call, plus the result event's own budget. */
const AWS_BOUND = awsCallMs(CHAOS_BUDGETS.aws) + CHAOS_BUDGETS.resultEventMs + SLACK_MS;
/** A probe or a Recover that runs into its Coordinator budget. */
const COORDINATOR_BOUND = recoverMs(STEPS) + SLACK_MS;
/** A Kubernetes request with its attempts and the transport's backoff (2 attempts: one wait, below 200 ms). */
const KUBERNETES_BOUND =
  CHAOS_BUDGETS.kubernetes.attempts * (CHAOS_BUDGETS.kubernetes.requestTimeoutMs + 200) + SLACK_MS;

async function runClass(name: string, env: Env, cases: Case[]): Promise<ClassResult> {
  const results = [];
  for (const [caseName, body] of cases) {
    env.proxy.clear();
    results.push(await runCase(caseName, body(env)));
  }
  env.proxy.clear();
  return summarize(name, results);
}

/** A case against one fresh deployment; the world is stopped afterwards. */
function withWorld(
  opts: Parameters<typeof makeWorld>[1],
  body: (env: Env, world: World) => CaseBody,
): (env: Env) => CaseBody {
  return (env) => async (c) => {
    const world = await makeWorld(env, opts);
    try {
      await body(env, world)(c);
    } finally {
      await world.stop();
    }
  };
}

const decrypted = (env: Env) => env.proxy.ops().includes('TrentService.Decrypt');

export async function kmsClass(env: Env): Promise<ClassResult> {
  return runClass('hung-kms', env, [
    [
      'Decrypt never answers (restart event): unreachable, both attempts in the audit record, no Recover',
      withWorld({}, (env, world) => async (c) => {
        env.proxy.faults.push({ op: 'TrentService.Decrypt', kind: 'hang' });
        const inv = await invoke(chaosHandler(world), triggers.restart(world.deployment));
        c.that(outcomeOf(inv) === 'unreachable', `outcome ${outcomeOf(inv)}, expected unreachable`);
        const audit = checkAll(c, env, world, inv, undefined, AWS_BOUND);
        const kms = audit?.kms as { decrypts?: number; requests?: { error?: string }[] } | undefined;
        c.that(
          kms?.decrypts === 1,
          `audit kms.decrypts ${kms?.decrypts}, expected 1 (the attempt may have reached KMS)`,
        );
        c.that(
          kms?.requests?.length === CHAOS_BUDGETS.aws.maxAttempts &&
            kms.requests.every((r) => r.error === 'TimeoutError'),
          `audit kms.requests ${JSON.stringify(kms?.requests)}`,
        );
        c.that(world.emu.recoverRequests === 0, 'a Recover was sent without a decrypted share');
      }),
    ],
    [
      'Decrypt never answers (direct dry run): the caller gets unreachable',
      withWorld({}, (env, world) => async (c) => {
        env.proxy.faults.push({ op: 'TrentService.Decrypt', kind: 'hang' });
        const inv = await invoke(chaosHandler(world), triggers.direct(world.deployment, 'dry-run'));
        c.that(inv.response?.outcome === 'unreachable', `response ${inv.response?.outcome ?? inv.error?.message}`);
        checkAll(c, env, world, inv, undefined, AWS_BOUND);
      }),
    ],
    [
      'Decrypt never answers in the scheduled decrypt drill: the drill fails with its own audit record',
      withWorld(
        {
          emulator: { state: 'healthy' },
          configEnv: { DECRYPT_DRILL: 'true', DECRYPT_DRILL_RULE: 'contrast-autorecover-drill' },
        },
        (env, world) => async (c) => {
          env.proxy.faults.push({ op: 'TrentService.Decrypt', kind: 'hang' });
          const inv = await invoke(chaosHandler(world), triggers.schedule('contrast-autorecover-drill'));
          checkAll(c, env, world, inv, undefined, AWS_BOUND);
          c.that(inv.response?.drills?.[0]?.ok === false, `drill result ${JSON.stringify(inv.response?.drills)}`);
          c.that(
            inv.audits.some((a) => a.action === 'decrypt-drill' && a.deployment === world.deployment),
            'no audit record for the drill',
          );
        },
      ),
    ],
  ]);
}

export async function secretsManagerClass(env: Env): Promise<ClassResult> {
  const hang = (env: Env) => env.proxy.faults.push({ op: 'secretsmanager.GetSecretValue', kind: 'hang' });
  return runClass('hung-secrets-manager', env, [
    [
      'GetSecretValue never answers (restart event): unreachable, no Decrypt',
      withWorld({}, (env, world) => async (c) => {
        hang(env);
        const inv = await invoke(chaosHandler(world), triggers.restart(world.deployment));
        c.that(outcomeOf(inv) === 'unreachable', `outcome ${outcomeOf(inv)}`);
        checkAll(c, env, world, inv, undefined, AWS_BOUND);
        c.that(!decrypted(env), 'KMS Decrypt without a bundle');
      }),
    ],
    [
      'GetSecretValue never answers (direct status)',
      withWorld({}, (env, world) => async (c) => {
        hang(env);
        const inv = await invoke(chaosHandler(world), triggers.direct(world.deployment, 'status'));
        c.that(inv.response?.outcome === 'unreachable', `response ${inv.response?.outcome ?? inv.error?.message}`);
        checkAll(c, env, world, inv, undefined, AWS_BOUND);
      }),
    ],
    [
      'GetSecretValue never answers (scheduled run of a healthy Coordinator)',
      withWorld({ emulator: { state: 'healthy' } }, (env, world) => async (c) => {
        hang(env);
        const inv = await invoke(chaosHandler(world), triggers.schedule());
        c.that(outcomeOf(inv) === 'unreachable', `outcome ${outcomeOf(inv)}`);
        checkAll(c, env, world, inv, undefined, AWS_BOUND);
      }),
    ],
  ]);
}

export async function dynamodbClass(env: Env): Promise<ClassResult> {
  const op = (name: string) => `DynamoDB_20120810.${name}`;
  return runClass('hung-dynamodb', env, [
    [
      'PutItem never answers (taking the lease): unreachable, nothing decrypted or sent',
      withWorld({}, (env, world) => async (c) => {
        env.proxy.faults.push({ op: op('PutItem'), kind: 'hang' });
        const inv = await invoke(chaosHandler(world), triggers.restart(world.deployment));
        c.that(outcomeOf(inv) === 'unreachable', `outcome ${outcomeOf(inv)}`);
        checkAll(c, env, world, inv, undefined, AWS_BOUND);
        c.that(!decrypted(env) && world.emu.recoverRequests === 0, 'decrypted or recovered without a lease');
      }),
    ],
    [
      'BatchGetItem never answers (pause switch and crash-loop guard): unreachable, nothing decrypted',
      withWorld({}, (env, world) => async (c) => {
        env.proxy.faults.push({ op: op('BatchGetItem'), kind: 'hang' });
        const inv = await invoke(chaosHandler(world), triggers.restart(world.deployment));
        c.that(outcomeOf(inv) === 'unreachable', `outcome ${outcomeOf(inv)}`);
        checkAll(c, env, world, inv, undefined, AWS_BOUND);
        c.that(
          !decrypted(env) && world.emu.recoverRequests === 0,
          'decrypted or recovered without knowing the pause switch',
        );
      }),
    ],
    [
      'DeleteItem never answers (releasing the lease after a Recover): recovered, reported in time',
      withWorld({}, (env, world) => async (c) => {
        env.proxy.faults.push({ op: op('DeleteItem'), kind: 'hang' });
        const inv = await invoke(chaosHandler(world), triggers.restart(world.deployment));
        c.that(outcomeOf(inv) === 'recovered', `outcome ${outcomeOf(inv)}`);
        checkAll(c, env, world, inv, { outcome: 'recovered' }, AWS_BOUND);
      }),
    ],
    [
      'UpdateItem never answers (recording the recovery): recovered, reported in time',
      withWorld({}, (env, world) => async (c) => {
        env.proxy.faults.push({ op: op('UpdateItem'), kind: 'hang' });
        const inv = await invoke(chaosHandler(world), triggers.restart(world.deployment));
        c.that(outcomeOf(inv) === 'recovered', `outcome ${outcomeOf(inv)}`);
        checkAll(c, env, world, inv, { outcome: 'recovered' }, AWS_BOUND);
      }),
    ],
  ]);
}

export async function eventBridgeClass(env: Env): Promise<ClassResult> {
  const hang = (env: Env) => env.proxy.faults.push({ op: 'AWSEvents.PutEvents', kind: 'hang' });
  return runClass('hung-eventbridge', env, [
    [
      'PutEvents never answers after a Recover: the audit record is written anyway, in time',
      withWorld({}, (env, world) => async (c) => {
        hang(env);
        const inv = await invoke(chaosHandler(world), triggers.restart(world.deployment));
        c.that(outcomeOf(inv) === 'recovered', `outcome ${outcomeOf(inv)}`);
        const audit = checkAll(c, env, world, inv, { outcome: 'recovered' }, AWS_BOUND);
        c.that((audit?.kms as { decrypts?: number })?.decrypts === 1, 'the audit record does not count the Decrypt');
      }),
    ],
    [
      'PutEvents never answers for an invalid event',
      withWorld({}, (env, world) => async (c) => {
        hang(env);
        const inv = await invoke(chaosHandler(world), { action: 'recover', deployment: world.deployment });
        c.that(inv.response?.outcome === 'event-invalid', `response ${inv.response?.outcome}`);
        checkInTime(c, inv, AWS_BOUND);
        c.that(inv.audits.length === 1, `${inv.audits.length} audit records`);
        checkOneRecover(c, world, 0);
        checkNoSecret(c, world, outputsOf(inv, env.proxy));
      }),
    ],
    [
      'PutEvents never answers for a scheduled run of a healthy Coordinator',
      withWorld({ emulator: { state: 'healthy' } }, (env, world) => async (c) => {
        hang(env);
        const inv = await invoke(chaosHandler(world), triggers.schedule());
        c.that(outcomeOf(inv) === 'already-healthy', `outcome ${outcomeOf(inv)}`);
        checkAll(c, env, world, inv, undefined, AWS_BOUND);
      }),
    ],
  ]);
}

export async function coordinatorClass(env: Env): Promise<ClassResult> {
  return runClass('hung-coordinator', env, [
    [
      'the Coordinator accepts TCP and never answers (restart event): unreachable, nothing decrypted',
      withWorld({ emulator: { misbehave: 'silent' } }, (env, world) => async (c) => {
        const inv = await invoke(chaosHandler(world), triggers.restart(world.deployment));
        c.that(outcomeOf(inv) === 'unreachable', `outcome ${outcomeOf(inv)}`);
        checkAll(c, env, world, inv, undefined, COORDINATOR_BOUND);
        c.that(!decrypted(env), 'KMS Decrypt for a Coordinator that never answered');
      }),
    ],
    [
      'the Coordinator accepts TCP and never answers (direct recover)',
      withWorld({ emulator: { misbehave: 'silent' } }, (env, world) => async (c) => {
        const inv = await invoke(chaosHandler(world), triggers.direct(world.deployment));
        c.that(inv.response?.outcome === 'unreachable', `response ${inv.response?.outcome ?? inv.error?.message}`);
        checkAll(c, env, world, inv, undefined, COORDINATOR_BOUND);
      }),
    ],
    [
      'Recover is never answered in time: unreachable, counted by the crash-loop guard, and the retry sends no second Recover',
      withWorld(
        { emulator: { recoverDelayMs: 3 * CHAOS_BUDGETS.coordinator.rpcTimeoutMs } },
        (env, world) => async (c) => {
          const requestId = 'chaos-recover-timeout';
          const inv = await invoke(chaosHandler(world), triggers.restart(world.deployment), lambdaContext(requestId));
          c.that(outcomeOf(inv) === 'unreachable', `outcome ${outcomeOf(inv)}`);
          const audit = checkAll(c, env, world, inv, undefined, COORDINATOR_BOUND);
          c.that(
            (audit?.recover as { sent?: boolean })?.sent === true,
            'the audit record does not say Recover was sent',
          );
          const snap = await world.lock.snapshot(world.deployment);
          c.that(
            snap.recentAttempts.length === 1,
            `the crash-loop guard counted ${snap.recentAttempts.length} recoveries`,
          );
          // Lambda retries a failed asynchronous invocation a minute later, with the same request id.
          while (world.emu.recoverCalls.length === 0) await new Promise((r) => setTimeout(r, 50));
          const retry = await invoke(chaosHandler(world), triggers.restart(world.deployment), lambdaContext(requestId));
          c.that(outcomeOf(retry) === 'already-healthy', `retry outcome ${outcomeOf(retry)}`);
          checkInTime(c, retry, COORDINATOR_BOUND);
          checkAudit(c, retry, world.deployment);
          checkOneRecover(c, world);
          checkNoSecret(c, world, outputsOf(retry, env.proxy));
        },
      ),
    ],
  ]);
}

export async function kubernetesClass(env: Env): Promise<ClassResult> {
  const api = await silentServer();
  const { createKubernetesSide } = await import('../../lambda/kubernetes/index.ts');
  // The function's kubeconfig: https with a pinned CA (the silent server never completes the handshake).
  const caData = (await servingCert()).caData;
  const hungSide = () =>
    createKubernetesSide({
      auth: {
        kind: 'kubeconfig',
        kubeconfig: kubeconfigFor(api.url.replace('http:', 'https:'), 'chaos-token', caData),
      },
      coordinatorNamespace: 'default',
      namespaces: { kind: 'all' },
      budget: CHAOS_BUDGETS.kubernetes,
    });
  /** Peers answer (none Ready); the workload API hangs. */
  const restartsHang = async (): Promise<KubernetesSide> => ({
    peers: { readyPeers: async () => ({ readyPeers: [], coordinatorPods: ['coordinator-0'] }) },
    restarts: (await hungSide()).restarts,
  });
  try {
    return await runClass('hung-kubernetes-api', env, [
      [
        'the API server never answers at the peer check: unreachable, nothing decrypted or sent',
        withWorld({}, (env, world) => async (c) => {
          const inv = await invoke(chaosHandler(world, { kubernetes: hungSide }), triggers.restart(world.deployment));
          c.that(outcomeOf(inv) === 'unreachable', `outcome ${outcomeOf(inv)}`);
          checkAll(c, env, world, inv, undefined, KUBERNETES_BOUND);
          c.that(!decrypted(env) && world.emu.recoverRequests === 0, 'recovered without knowing the peers');
        }),
      ],
      [
        'the API server never answers at the restarts after a Recover: restart-partial, one Recover',
        withWorld({}, (env, world) => async (c) => {
          const inv = await invoke(
            chaosHandler(world, { kubernetes: restartsHang }),
            triggers.restart(world.deployment),
          );
          c.that(outcomeOf(inv) === 'restart-partial', `outcome ${outcomeOf(inv)}`);
          checkAll(c, env, world, inv, { outcome: 'restart-partial' }, KUBERNETES_BOUND + COORDINATOR_BOUND);
          c.that(
            world.emu.recoverCalls.filter((r) => r.result === 'ok').length === 1,
            'the Coordinator was not recovered',
          );
        }),
      ],
      [
        'the API server never answers at the pending restarts of a healthy Coordinator',
        withWorld({ emulator: { state: 'healthy' } }, (env, world) => async (c) => {
          const inv = await invoke(chaosHandler(world, { kubernetes: restartsHang }), triggers.schedule());
          c.that(outcomeOf(inv) === 'unreachable', `outcome ${outcomeOf(inv)}`);
          checkAll(c, env, world, inv, undefined, KUBERNETES_BOUND);
        }),
      ],
    ]);
  } finally {
    await api.stop();
  }
}
