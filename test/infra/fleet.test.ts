/**
 * Many deployments from one stack (issue 25): the per-stack maximum counted from what each
 * deployment adds to a synthesized template, a stack at that maximum under CloudFormation's 500
 * resources and clean under cdk-nag; the deployments' configuration in Parameter Store (the
 * environment keeps only the path, the role reads only that path); and the backstop's fan-out
 * on EventBridge, one target per wave, each invocation reconciling exactly its wave — the
 * template's parameters put into moto and the template's wave inputs rendered as EventBridge does.
 */
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { createHandler } from '../../lambda/function/handler.ts';
import type { reconcile } from '../../lambda/reconcile/reconcile.ts';
import { SCHEDULE_WAVE_SIZE } from '../../lambda/shared/budgets.ts';
import { ENV } from '../../lambda/shared/contract.ts';
import {
  MAX_DEPLOYMENTS_PER_STACK,
  PropsError,
  RESOURCES_PER_DEPLOYMENT,
  STACK_OWN_RESOURCES_MAX,
  type ContrastRecoveryProps,
} from '../../infra/props.ts';
import { scheduleWaves } from '../../infra/triggers.ts';
import { awsClientConfig, motoAvailable, SKIP_REASON, uniqueName } from '../support/aws.ts';
import { captureOutput } from '../function/handler-fixture.ts';
import { createLockTable } from '../function/lock-table.ts';
import { lambdaContext, scheduledEvent } from '../function/samples.ts';
import {
  ACCOUNT,
  ARN,
  eksHybridHub,
  functionEnv,
  identityStatements,
  nagFindings,
  REGION,
  resourcesOfType,
  selfManagedOwnVpc,
  storedDeployments,
  synth,
  type Synthesized,
} from './synth.ts';
import { healthyResult } from '../support/results.ts';

/** CloudFormation's quota of resources per stack. */
const STACK_RESOURCES = 500;

/** n deployments of the heaviest kind: an NLB the construct fronts, an alarm each, the drill on. */
function fleet(base: (stack: Stack) => ContrastRecoveryProps, n: number) {
  return (stack: Stack): ContrastRecoveryProps => ({
    ...base(stack),
    decryptDrill: true,
    deployments: Array.from({ length: n }, (_, i) => ({
      name: `deployment-${String(i).padStart(2, '0')}`,
      coordinator: { nlbArn: `${ARN.nlb.slice(0, -2)}${String(i).padStart(2, '0')}` },
      coordinatorNamespace: `ns-${i}`,
      alarmArns: [`arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:coordinator-not-ready-${i}`],
    })),
  });
}

const count = (s: Synthesized) => Object.keys(s.json.Resources).length;

const topologies = [
  ['own VPC, self-managed cluster', selfManagedOwnVpc],
  ['hub VPC, EKS Hybrid Nodes', eksHybridHub],
] as const;

describe.each(topologies)('%s at the per-stack maximum', (_name, base) => {
  const one = synth(fleet(base, 1));
  const max = synth(fleet(base, MAX_DEPLOYMENTS_PER_STACK));

  it(`holds ${MAX_DEPLOYMENTS_PER_STACK} deployments under ${STACK_RESOURCES} resources, each adding at most ${RESOURCES_PER_DEPLOYMENT}`, () => {
    const perDeployment = (count(max) - count(one)) / (MAX_DEPLOYMENTS_PER_STACK - 1);
    // The count infra/props.ts states; the maximum follows from it and the stack's own resources.
    expect(perDeployment).toBe(RESOURCES_PER_DEPLOYMENT);
    const own = count(one) - perDeployment;
    expect(own, "the stack's own resources, as docs/deploy.md states them").toBeGreaterThanOrEqual(62);
    expect(own, "the stack's own resources, as docs/deploy.md states them").toBeLessThanOrEqual(70);
    expect(count(max)).toBeLessThan(STACK_RESOURCES);
    expect(resourcesOfType(max, 'AWS::SSM::Parameter')).toHaveLength(MAX_DEPLOYMENTS_PER_STACK);
    // With the audit schedule on, the stack's own resources still fit the room the maximum leaves.
    const audited = synth((stack) => ({ ...fleet(base, 1)(stack), auditSchedule: true }));
    expect(count(audited) - perDeployment).toBeLessThanOrEqual(STACK_OWN_RESOURCES_MAX);
    expect(STACK_OWN_RESOURCES_MAX + RESOURCES_PER_DEPLOYMENT * MAX_DEPLOYMENTS_PER_STACK).toBeLessThanOrEqual(
      STACK_RESOURCES,
    );
  });

  it('passes cdk-nag', () => {
    expect(nagFindings(max.app)).toEqual([]);
  });

  it('keeps the deployments out of the environment: only the path, the same for one or many', () => {
    const env = functionEnv(max);
    expect(env[ENV.deployments]).toBeUndefined();
    expect(env).toEqual(functionEnv(one));
    const path = env[ENV.deploymentsPath] as string;
    expect(storedDeployments(max).every((p) => p.name.startsWith(`${path}/`))).toBe(true);
  });

  it('lets the function read its own path and nothing else of Parameter Store', () => {
    const path = functionEnv(max)[ENV.deploymentsPath] as string;
    const ssm = identityStatements(max).filter(({ statement }) => JSON.stringify(statement.Action).includes('ssm:'));
    expect(ssm).toHaveLength(1);
    expect(ssm[0]!.statement.Action).toBe('ssm:GetParametersByPath');
    expect(JSON.stringify(ssm[0]!.statement.Resource)).toMatch(new RegExp(`:parameter${path}"\\]\\]\\}$`));
  });

  it(`fans the backstop out in waves of ${SCHEDULE_WAVE_SIZE}, every deployment in exactly one`, () => {
    const waves = waveTargets(max);
    expect(waves.map((w) => w.input.detail.wave)).toEqual(waves.map((_, i) => i));
    expect(waves.every((w) => w.input.detail.waves === waves.length)).toBe(true);
    expect(waves.every((w) => w.input.detail.deployments.length <= SCHEDULE_WAVE_SIZE)).toBe(true);
    expect(waves.flatMap((w) => w.input.detail.deployments)).toEqual(
      storedDeployments(max).map((p) => JSON.parse(p.value).name),
    );
    expect(waves).toHaveLength(Math.ceil(MAX_DEPLOYMENTS_PER_STACK / SCHEDULE_WAVE_SIZE));
    // A rule takes at most five targets; each wave's target retries into the dead-letter queue.
    for (const [, r] of scheduleRules(max)) {
      expect(r.Properties.Targets.length).toBeLessThanOrEqual(5);
      for (const t of r.Properties.Targets) expect(t.DeadLetterConfig).toBeDefined();
    }
  });
});

it(`refuses more than ${MAX_DEPLOYMENTS_PER_STACK} deployments in one stack, pointing to several stacks`, () => {
  expect(() => synth(fleet(selfManagedOwnVpc, MAX_DEPLOYMENTS_PER_STACK + 1))).toThrow(PropsError);
  expect(() => synth(fleet(selfManagedOwnVpc, MAX_DEPLOYMENTS_PER_STACK + 1))).toThrow(
    new RegExp(`at most ${MAX_DEPLOYMENTS_PER_STACK} .*several stacks, each with its own deployments`),
  );
});

it('refuses a deployment whose configuration would not fit its parameter (4 KB, standard tier)', () => {
  const wide = (stack: Stack): ContrastRecoveryProps => {
    const p = fleet(selfManagedOwnVpc, 1)(stack);
    return {
      ...p,
      deployments: [{ ...p.deployments[0]!, namespaces: Array.from({ length: 200 }, (_, i) => `team-namespace-${i}`) }],
    };
  };
  expect(() => synth(wide)).toThrow(/its parameter holds 4096 .*namespaceLabelSelector/);
});

it('cuts the deployments into waves in configuration order, the last one the rest', () => {
  const names = Array.from({ length: 5 * SCHEDULE_WAVE_SIZE + 1 }, (_, i) => `d${i}`);
  const waves = scheduleWaves(names);
  expect(waves).toHaveLength(6);
  expect(waves.flat()).toEqual(names);
  expect(waves[5]).toEqual([names.at(-1)]);
});

function scheduleRules(s: Synthesized) {
  return resourcesOfType(s, 'AWS::Events::Rule').filter(([id]) => id.includes('ScheduleRule'));
}

interface WaveInput {
  detail: { wave: number; waves: number; deployments: string[] };
  [k: string]: unknown;
}

/** Each backstop target's input, rendered from its input transformer as EventBridge renders it. */
function waveTargets(s: Synthesized, event: Record<string, unknown> = scheduledEvent()) {
  return scheduleRules(s)
    .flatMap(([, r]) => r.Properties.Targets as any[])
    .map((t) => ({ target: t, input: render(t.InputTransformer, event) }));
}

/**
 * EventBridge's input transformer: each `<key>` of a JSON template takes the JSON value at its
 * path (a string value is quoted; EventBridge API reference, InputTransformer).
 */
function render(t: { InputPathsMap: Record<string, string>; InputTemplate: string }, event: Record<string, unknown>) {
  const text = t.InputTemplate.replace(/<([A-Za-z0-9_-]+)>/g, (_, key: string) => {
    const path = t.InputPathsMap[key];
    if (!path?.startsWith('$.')) throw new Error(`unexpected input path ${path} for <${key}>`);
    return JSON.stringify(event[path.slice(2)]);
  });
  return JSON.parse(text) as WaveInput;
}

describe.skipIf(!motoAvailable)(`the handler, once per wave ${motoAvailable ? '' : SKIP_REASON}`, () => {
  it("reads the template's parameters from Parameter Store and reconciles exactly its wave's deployments", async () => {
    const s = synth(fleet(selfManagedOwnVpc, MAX_DEPLOYMENTS_PER_STACK));
    const cfg = awsClientConfig();
    const ssm = new SSMClient(cfg);
    // A path of this run's own (moto is shared), the parameters as the template writes them.
    const prefix = `/${uniqueName('fleet')}`;
    const path = `${prefix}${functionEnv(s)[ENV.deploymentsPath] as string}`;
    for (const p of storedDeployments(s))
      await ssm.send(new PutParameterCommand({ Name: `${prefix}${p.name}`, Value: p.value, Type: 'String' }));
    const { client: dynamodb, tableName } = await createLockTable();
    const events = new EventBridgeClient(cfg);
    const bus = uniqueName('bus');
    await events.send(new CreateEventBusCommand({ Name: bus }));
    let current: string[] = [];
    const fake: typeof reconcile = async (target) => {
      current.push(target.name);
      return healthyResult(target.name);
    };
    const handler = createHandler({
      env: { [ENV.deploymentsPath]: path, [ENV.lockTable]: tableName, [ENV.eventBus]: bus, [ENV.kubeAuth]: 'none' },
      ssm,
      clients: { dynamodb, events, kms: new KMSClient(cfg), secrets: new SecretsManagerClient(cfg) },
      reconcile: fake,
    });
    const tick = scheduledEvent();
    const waves = waveTargets(s, tick);
    expect(waves.length).toBeGreaterThan(1);
    const out = captureOutput();
    try {
      for (const w of waves) {
        current = [];
        const res = await handler(w.input, lambdaContext());
        expect(res.trigger).toBe('schedule');
        expect([...current].sort()).toEqual([...w.input.detail.deployments].sort());
        expect(res.results.map((r) => r.deployment)).toEqual(w.input.detail.deployments);
        expect(res.correlationId).toBe(tick.id);
      }
    } finally {
      out.restore();
    }
  });
});
