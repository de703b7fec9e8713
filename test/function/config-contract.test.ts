/**
 * The function's side of the rules the construct shares with it (lambda/shared/contract.ts,
 * lambda/shared/settings.ts): trigger detail field names as the exporter sends them, the
 * Coordinator's namespace as the default restart scope, the decrypt drill only on its own
 * rule, and the collateral mirror URL rule.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../lambda/function/config.ts';
import { parseTrigger } from '../../lambda/function/events.ts';
import { ENV, TRIGGER_DETAIL } from '../../lambda/shared/contract.ts';
import { coordinatorNlbName } from '../../lambda/shared/names.ts';
import { lambdaContext, restartEvent, scheduledEvent } from './samples.ts';

const base = {
  [ENV.deployments]: JSON.stringify([
    { name: 'prod', secretId: 's', coordinator: 'c.internal:1313', coordinatorNamespace: 'contrast-prod' },
  ]),
  [ENV.lockTable]: 'locks',
  [ENV.eventBus]: 'bus',
  [ENV.kubeAuth]: 'none',
};

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration shared with the construct', () => {
  it("restarts only the Coordinator's namespace unless namespaces are configured", () => {
    expect(loadConfig(base).deployments[0]).toMatchObject({
      coordinatorNamespace: 'contrast-prod',
      namespaces: ['contrast-prod'],
    });
  });
  it('refuses the decrypt drill without its own rule', () => {
    expect(configError({ ...base, [ENV.decryptDrill]: 'true' }).variable).toBe(ENV.decryptDrillRule);
  });
  it("refuses a plain-http collateral mirror with the shared rule's message", () => {
    expect(configError({ ...base, [ENV.collateralMirrorUrl]: 'http://mirror.example' }).message).toMatch(
      /expected an https URL/,
    );
    expect(loadConfig({ ...base, [ENV.collateralMirrorUrl]: 'https://mirror.example' }).collateralMirrorUrl).toBe(
      'https://mirror.example',
    );
  });
});

describe('triggers', () => {
  it("reads the pod UID under the exporter's field name", () => {
    const config = loadConfig(base);
    const ev = restartEvent('prod', {}, { [TRIGGER_DETAIL.podUid]: 'uid-1' });
    expect(TRIGGER_DETAIL.podUid).toBe('podUID');
    expect(parseTrigger(ev, config, lambdaContext())).toMatchObject({ kind: 'event', podUid: 'uid-1' });
  });
  it('drills only on a tick of the drill rule', () => {
    const config = loadConfig({ ...base, [ENV.decryptDrill]: 'true', [ENV.decryptDrillRule]: 'recovery-drill' });
    const backstop = scheduledEvent();
    const drill = { ...scheduledEvent(), resources: ['arn:aws:events:us-east-1:123456789012:rule/recovery-drill'] };
    expect(parseTrigger(backstop, config, lambdaContext())).toMatchObject({ kind: 'schedule', drill: false });
    expect(parseTrigger(drill, config, lambdaContext())).toMatchObject({ kind: 'schedule', drill: true });
    // A rule whose name merely ends like the drill rule's is not it.
    const lookalike = {
      ...scheduledEvent(),
      resources: ['arn:aws:events:us-east-1:123456789012:rule/not-recovery-drill'],
    };
    expect(parseTrigger(lookalike, config, lambdaContext())).toMatchObject({ drill: false });
  });
});

describe('coordinator NLB names', () => {
  it('keep short names readable and hash long ones into 32 characters', () => {
    expect(coordinatorNlbName('prod')).toBe('contrast-coordinator-prod');
    const long = coordinatorNlbName('payments-production-eu');
    expect(long).toMatch(/^contrast-coordinator-[0-9a-f]{11}$/);
    expect(coordinatorNlbName('Prod_1')).toMatch(/^contrast-coordinator-[0-9a-f]{11}$/);
    expect(long).not.toBe(coordinatorNlbName('payments-production-us'));
  });
});
