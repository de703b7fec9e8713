/**
 * `pause`, `resume` and `status` end to end: the CLI invokes the deployed function (Lambda
 * stand-in running the real handler in this process), which writes the switch into the lock
 * table in moto with who, since when and why, and its audit record; a Coordinator restart
 * while paused is not recovered; after `resume` the next trigger recovers it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENTS, TRIGGER_DETAIL } from '../../lambda/shared/contract.ts';
import { motoAvailable, motoEndpoint, SKIP_REASON } from '../support/aws.ts';
import { runCliInProcess } from '../support/cli.ts';
import { collateralFinding, COLLATERAL_WARN_DAYS } from '../../cli/doctor/bundle.ts';
import { startStack, type Stack } from './stack.ts';

let stack: Stack;
beforeAll(async () => {
  if (motoAvailable) stack = await startStack({ state: 'stale' });
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

const env = () => ({
  AWS_REGION: 'eu-central-1',
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_ENDPOINT_URL: motoEndpoint,
  AWS_ENDPOINT_URL_LAMBDA: stack.lambda.endpoint,
});

const restartEvent = () => ({
  version: '0',
  id: crypto.randomUUID(),
  source: EVENTS.triggerSource,
  account: '123456789012',
  time: new Date().toISOString(),
  region: 'eu-central-1',
  resources: [],
  'detail-type': EVENTS.triggerDetailTypes[0],
  detail: { [TRIGGER_DETAIL.deployment]: stack.deployment, [TRIGGER_DETAIL.pod]: 'coordinator-0' },
});

const audits = () =>
  stack.logger.lines
    .map((l) => JSON.parse(l) as { message?: string; audit?: Record<string, any> })
    .filter((l) => l.message === 'audit' && l.audit)
    .map((l) => l.audit!);

describe.skipIf(!motoAvailable)(
  `pause, resume, status through the function ${motoAvailable ? '' : SKIP_REASON}`,
  () => {
    it('pause needs a reason; then the switch is set with who, since and why, audited, and a restart is not recovered', async () => {
      const noReason = await runCliInProcess(
        ['pause', '--deployment', stack.deployment, '--function', stack.functionName],
        env(),
      );
      expect(noReason.code).toBe(2);
      expect(noReason.stderr).toMatch(/required option '--reason <text>'/);

      const before = Date.now();
      const paused = await runCliInProcess(
        [
          'pause',
          '--deployment',
          stack.deployment,
          '--function',
          stack.functionName,
          '--reason',
          'node maintenance CHG-1234',
        ],
        env(),
      );
      expect(paused.code, paused.stderr).toBe(0);
      expect(paused.stdout).toMatch(new RegExp(`paused automatic recovery of ${stack.deployment}`));
      const record = audits().find((a) => a.action === 'pause');
      expect(record).toMatchObject({
        deployment: stack.deployment,
        caller: { kind: 'direct-invoke', declaredCaller: expect.stringMatching(/contrast-autorecover CLI/) },
        trigger: { reason: 'node maintenance CHG-1234' },
      });
      expect(record!.pauseSwitch.after).toMatchObject({
        scope: 'deployment',
        reason: 'node maintenance CHG-1234',
        requestId: record!.requestId,
      });
      expect(Date.parse(record!.pauseSwitch.after.since)).toBeGreaterThanOrEqual(before - 1000);

      // The Coordinator restarted and is stale: while paused nothing is decrypted or sent.
      const r = (await stack.invoke(restartEvent())) as { outcome: string };
      expect(r.outcome).toBe('paused');
      expect(stack.emu.recoverCalls).toHaveLength(0);

      const status = await runCliInProcess(
        ['status', '--deployment', stack.deployment, '--via-function', stack.functionName],
        env(),
      );
      expect(status.code).toBe(20); // recovery-needed: stale, and paused
      expect(status.stdout).toMatch(
        new RegExp(
          `PAUSED \\(pause#${stack.deployment}\\) by \\S+@\\S+ \\(contrast-autorecover CLI\\) since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z: node maintenance CHG-1234 \\(request ${record!.requestId}\\)`,
        ),
      );
      expect(status.stdout).toMatch(/collateral: none cached in the bundle/);
      const json = await runCliInProcess(
        ['status', '--deployment', stack.deployment, '--via-function', stack.functionName, '--json'],
        env(),
      );
      expect(JSON.parse(json.stdout).operator).toMatchObject({
        deployment: stack.deployment,
        paused: [{ scope: 'deployment', reason: 'node maintenance CHG-1234' }],
        collateral: { none: true },
      });
    });

    it('resume clears the switch, says who had paused it, shows the status, and the next trigger recovers', async () => {
      const resumed = await runCliInProcess(
        ['resume', '--deployment', stack.deployment, '--function', stack.functionName, '--reason', 'maintenance done'],
        env(),
      );
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stdout).toMatch(
        new RegExp(
          `resumed automatic recovery of ${stack.deployment} \\(paused by \\S+@\\S+ \\(contrast-autorecover CLI\\) since `,
        ),
      );
      expect(resumed.stdout).toMatch(/outcome: recovery-needed/);
      expect(resumed.stdout).toMatch(/automatic recovery: on \(not paused\)/);
      expect(audits().find((a) => a.action === 'resume')).toMatchObject({
        trigger: { reason: 'maintenance done' },
        pauseSwitch: { after: null, before: { reason: 'node maintenance CHG-1234' } },
      });

      const again = await runCliInProcess(
        ['resume', '--deployment', stack.deployment, '--function', stack.functionName, '--reason', 'twice'],
        env(),
      );
      expect(again.stdout).toMatch(/was not paused by its own switch; nothing to resume/);

      const r = (await stack.invoke(restartEvent())) as { outcome: string };
      expect(r.outcome).toBe('recovered');
      expect(stack.emu.recoverCalls).toHaveLength(1);
    });
  },
);

describe("doctor warns ahead of the cached collateral's expiry (from the function's status answer)", () => {
  const fn = (mirror?: string) =>
    ({ config: { ...(mirror ? { collateralMirrorUrl: mirror } : {}) } }) as unknown as Parameters<
      typeof collateralFinding
    >[0];
  const answer = (collateral: Record<string, unknown>, kind = 'snp') =>
    ({ evidence: { kind }, operator: { deployment: 'prod', paused: [], collateral } }) as unknown as Parameters<
      typeof collateralFinding
    >[1];
  const now = new Date('2026-12-01T00:00:00Z');
  const at = (days: number) => new Date(now.getTime() + days * 86_400_000).toISOString();
  const crl = { file: 'vcek/v1/Milan/crl', limitedBy: 'CRL nextUpdate' };

  it(`warns within ${COLLATERAL_WARN_DAYS} days, fails once expired, is quiet before and with a mirror`, () => {
    expect(collateralFinding(fn(), answer({ ...crl, expiresAt: at(30) }), now)).toBeUndefined();
    expect(collateralFinding(fn(), answer({ ...crl, expiresAt: at(5) }), now)).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/expires .* in 5 day\(s\)/),
      fix: expect.stringMatching(/re-enroll/),
    });
    expect(collateralFinding(fn(), answer({ ...crl, expiresAt: at(-1) }), now)).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/EXPIRED/),
    });
    expect(collateralFinding(fn('https://mirror.example'), answer({ ...crl, expiresAt: at(5) }), now)).toBeUndefined();
  });
  it('warns when nothing is cached for evidence that needs collateral and there is no mirror', () => {
    expect(collateralFinding(fn(), answer({ none: true }), now)).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/no collateral cached/),
    });
    expect(collateralFinding(fn(), answer({ none: true }, 'testing'), now)).toBeUndefined();
    expect(collateralFinding(fn('https://mirror.example'), answer({ none: true }), now)).toBeUndefined();
  });
});
