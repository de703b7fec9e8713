/**
 * The scheduled audit in the stack (infra/audit-schedule.ts): off by default; when on, a
 * function of its own (its own bundle: the recovery function's code is unchanged) whose role
 * holds exactly the permissions docs/security.md lists, an alarm per finding kind, and cdk-nag
 * passes.
 */
import type { Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { AUDIT_ENV, METRIC } from '../../lambda/shared/contract.ts';
import { asArray, eksHybridHub, nagFindings, resourcesOfType, synthOnce, type Synthesized } from './synth.ts';

const withAudit = (stack: Stack) => ({ ...eksHybridHub(stack), auditSchedule: true });
const on = () => synthOnce(withAudit);

function auditFunction(s: Synthesized) {
  const found = resourcesOfType(s, 'AWS::Lambda::Function').filter(
    ([, r]) => r.Properties.Environment?.Variables?.[AUDIT_ENV.targets] !== undefined,
  );
  expect(found).toHaveLength(1);
  return found[0]!;
}

describe('scheduled audit', () => {
  it('is off by default', () => {
    const off = synthOnce(eksHybridHub);
    expect(
      resourcesOfType(off, 'AWS::Lambda::Function').filter(
        ([, r]) => r.Properties.Environment?.Variables?.[AUDIT_ENV.targets] !== undefined,
      ),
    ).toEqual([]);
  });

  it('runs hourly in a function of its own, with its own bundle, reading two intervals', () => {
    const s = on();
    const [id, fn] = auditFunction(s);
    const recovery = resourcesOfType(s, 'AWS::Lambda::Function').find(([other]) =>
      other.startsWith('RecoveryHandler'),
    )!;
    expect(fn.Properties.Code.S3Key).not.toEqual(recovery[1].Properties.Code.S3Key);
    expect(fn.Properties.Environment.Variables[AUDIT_ENV.intervalMinutes]).toBe('60');
    const rules = resourcesOfType(s, 'AWS::Events::Rule').filter(([, r]) =>
      JSON.stringify(r.Properties.Targets ?? []).includes(`"${id}"`),
    );
    expect(rules.map(([, r]) => r.Properties.ScheduleExpression)).toEqual(['rate(1 hour)']);
  });

  it("holds exactly the permissions it needs: its logs, the records' log group, LookupEvents, PutEvents on the bus", () => {
    const s = on();
    const [, fn] = auditFunction(s);
    const roleId = fn.Properties.Role['Fn::GetAtt'][0] as string;
    const statements = resourcesOfType(s, 'AWS::IAM::Policy')
      .filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(`"${roleId}"`))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as any[]);
    const actions = statements.flatMap((st) => asArray(st.Action)).sort();
    expect(actions).toEqual([
      'cloudtrail:LookupEvents',
      'events:PutEvents',
      'logs:CreateLogStream',
      'logs:FilterLogEvents',
      'logs:PutLogEvents',
    ]);
    // Only LookupEvents is unscoped (it has no resource-level permissions).
    for (const st of statements)
      if (!asArray(st.Action).includes('cloudtrail:LookupEvents')) expect(st.Resource).not.toBe('*');
    const filter = statements.find((st) => asArray(st.Action).includes('logs:FilterLogEvents'));
    expect(JSON.stringify(filter.Resource)).toContain('RecoveryHandlerLogs');
    // No key, secret or bucket anywhere in its role.
    const role = resourcesOfType(s, 'AWS::IAM::Role').find(([rid]) => rid === roleId)![1];
    expect(role.Properties.ManagedPolicyArns ?? []).toEqual([]);
  });

  it('alarms on a finding, on a source it could not read, and on its own failure', () => {
    const s = on();
    const names = resourcesOfType(s, 'AWS::CloudWatch::Alarm')
      .map(([, a]) => a.Properties.MetricName as string | undefined)
      .filter((n) => n === METRIC.auditUnaccounted || n === METRIC.auditSourceUnreadable);
    expect(names.sort()).toEqual([METRIC.auditSourceUnreadable, METRIC.auditUnaccounted]);
    expect(
      resourcesOfType(s, 'AWS::CloudWatch::Alarm').some(([aid]) => aid.startsWith('RecoveryAuditScheduleErrors')),
    ).toBe(true);
  });

  it('passes cdk-nag', () => {
    expect(nagFindings(on().app)).toEqual([]);
  });
});
