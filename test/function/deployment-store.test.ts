/**
 * The deployments in Parameter Store (lambda/function/deployment-store.ts), against moto: one
 * parameter per deployment directly under the path, every page read, nothing outside the path
 * or below it, validated by the configuration's own schema with errors that name the parameter;
 * and the handler reads them once per container.
 */
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../lambda/function/config.ts';
import { loadConfigFromStore, readDeploymentParameters } from '../../lambda/function/deployment-store.ts';
import { deploymentsOf, EventInvalidError, parseTrigger } from '../../lambda/function/events.ts';
import { createHandler } from '../../lambda/function/handler.ts';
import { SCHEDULE_WAVE_SIZE } from '../../lambda/shared/budgets.ts';
import type { reconcile } from '../../lambda/reconcile/reconcile.ts';
import { ENV } from '../../lambda/shared/contract.ts';
import { awsClientConfig, motoAvailable, SKIP_REASON, uniqueName } from '../support/aws.ts';
import { captureOutput } from './handler-fixture.ts';
import { createLockTable } from './lock-table.ts';
import { lambdaContext, scheduledEvent } from './samples.ts';
import { healthyResult } from '../support/results.ts';

const entry = (name: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ name, secretId: `contrast/${name}`, coordinator: `${name}.internal:1313`, ...extra });

const settings = { [ENV.lockTable]: 'locks', [ENV.eventBus]: 'bus', [ENV.kubeAuth]: 'none' };

function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('deployments from stored parameters (the parser)', () => {
  const path = '/contrast-autorecover/Stack-1/deployments';
  const env = { ...settings, [ENV.deploymentsPath]: path };
  it('parses each parameter with the same schema as the inline list', () => {
    const c = loadConfig(env, [{ name: `${path}/prod`, value: entry('prod', { coordinatorNamespace: 'contrast' }) }]);
    expect(c.deployments).toEqual(
      loadConfig({ ...settings, [ENV.deployments]: `[${entry('prod', { coordinatorNamespace: 'contrast' })}]` })
        .deployments,
    );
  });
  it('names the parameter that is wrong', () => {
    const good = { name: `${path}/a`, value: entry('a') };
    expect(configError(() => loadConfig(env, [good, { name: `${path}/b`, value: '{' }])).variable).toBe(`${path}/b`);
    const bad = configError(() =>
      loadConfig(env, [good, { name: `${path}/b`, value: entry('b', { coordinator: 'no-port' }) }]),
    );
    expect(bad.variable).toBe(`${path}/b`);
    expect(bad.message).toMatch(/host:port/);
    expect(configError(() => loadConfig(env, [good, { name: `${path}/b`, value: entry('a') }])).message).toMatch(
      /duplicate deployment name a/,
    );
    // A parameter holds the deployment it is named after.
    expect(configError(() => loadConfig(env, [{ name: `${path}/b`, value: entry('a') }])).message).toMatch(
      /holds deployment a; its parameter must be .*\/deployments\/a/,
    );
    expect(configError(() => loadConfig(env, [])).message).toMatch(/at least one deployment/);
  });
  it('takes the deployments from one place only', () => {
    expect(configError(() => loadConfig({ ...env, [ENV.deployments]: `[${entry('a')}]` }, [])).message).toMatch(
      /either CONTRAST_DEPLOYMENTS or CONTRAST_DEPLOYMENTS_PATH, not both/,
    );
    expect(configError(() => loadConfig(env)).message).toMatch(/in Parameter Store under .*; read them first/);
  });
});

describe("a backstop wave's scheduled event", () => {
  const config = loadConfig({ ...settings, [ENV.deployments]: `[${entry('a')},${entry('b')},${entry('c')}]` });
  const wave = (detail: unknown) => parseTrigger({ ...scheduledEvent(), detail }, config, lambdaContext());
  it('reconciles exactly the deployments its detail names; a plain tick all of them', () => {
    expect(deploymentsOf(wave({ wave: 1, waves: 2, deployments: ['c'] }))).toEqual(['c']);
    expect(deploymentsOf(wave({}))).toEqual(['a', 'b', 'c']);
  });
  it('refuses a wave naming a deployment not configured, or larger than a wave can be', () => {
    expect(() => wave({ wave: 0, waves: 1, deployments: ['a', 'x'] })).toThrow(EventInvalidError);
    expect(() => wave({ wave: 0, waves: 1, deployments: ['a', 'x'] })).toThrow(
      /names deployment "x", which is not configured/,
    );
    const many = Array.from({ length: SCHEDULE_WAVE_SIZE + 1 }, () => 'a');
    expect(() => wave({ wave: 0, waves: 1, deployments: many })).toThrow(EventInvalidError);
    expect(() => wave({ wave: 0, deployments: ['a'] })).toThrow(/wave/);
  });
});

describe.skipIf(!motoAvailable)(`deployments in Parameter Store ${motoAvailable ? '' : SKIP_REASON}`, () => {
  const ssm = new SSMClient(awsClientConfig());
  const root = `/contrast-autorecover/${uniqueName('Stack')}`;
  const path = `${root}/deployments`;
  // More than two pages of ten (GetParametersByPath answers at most ten per call).
  const names = Array.from({ length: 23 }, (_, i) => `d${String(i).padStart(2, '0')}`);
  const put = (Name: string, Value: string) =>
    ssm.send(new PutParameterCommand({ Name, Value, Type: 'String', Overwrite: true }));

  beforeAll(async () => {
    for (const n of names) await put(`${path}/${n}`, entry(n));
    // Neither a sibling path nor a level below the deployments is read.
    await put(`${root}/deployments-old/x`, entry('x'));
    await put(`${path}/nested/y`, entry('y'));
  });

  it('reads every parameter directly under the path, across pages, in name order', async () => {
    const stored = await readDeploymentParameters(ssm, path);
    expect(stored.map((p) => p.name)).toEqual(names.map((n) => `${path}/${n}`));
    const config = await loadConfigFromStore({ ...settings, [ENV.deploymentsPath]: path }, () => ssm);
    expect(config.deployments.map((d) => d.name)).toEqual(names);
    expect(config.deployments[5]).toMatchObject({
      secretId: 'contrast/d05',
      coordinator: { host: 'd05.internal', port: 1313 },
    });
  });

  it('the handler reads them once per container and reconciles what they name', async () => {
    const cfg = awsClientConfig();
    const { client: dynamodb, tableName } = await createLockTable();
    const events = new EventBridgeClient(cfg);
    const bus = uniqueName('bus');
    await events.send(new CreateEventBusCommand({ Name: bus }));
    let reads = 0;
    const counting = new SSMClient(cfg);
    counting.middlewareStack.add(
      (next) => (args) => {
        reads++;
        return next(args);
      },
      { step: 'initialize' },
    );
    const reconciled: string[] = [];
    const fake: typeof reconcile = async (target) => {
      reconciled.push(target.name);
      return healthyResult(target.name);
    };
    const handler = createHandler({
      env: { [ENV.deploymentsPath]: path, [ENV.lockTable]: tableName, [ENV.eventBus]: bus, [ENV.kubeAuth]: 'none' },
      ssm: counting,
      clients: { dynamodb, events, kms: new KMSClient(cfg), secrets: new SecretsManagerClient(cfg) },
      reconcile: fake,
    });
    const out = captureOutput();
    try {
      await handler(scheduledEvent(), lambdaContext());
      await handler(scheduledEvent(), lambdaContext());
    } finally {
      out.restore();
    }
    expect(reads).toBe(3); // one read of 23 parameters: three pages, at the first invocation only
    expect([...reconciled].sort()).toEqual([...names, ...names].sort());
  });
});
