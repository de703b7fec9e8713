/**
 * `audit` end to end over real recoveries: the function (createHandler) recovers the
 * Coordinator emulator through moto's KMS and Secrets Manager; its audit records land in its
 * log group (moto's CloudWatch Logs) and its calls — with the request IDs the services
 * answered — in CloudTrail's event history (stand-in, which also records the Decrypt Secrets
 * Manager makes on the bundle-secrets key for each read). The command reads both back and
 * must account for every use, and find each planted unaccounted one.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { KMSClient } from '@aws-sdk/client-kms';
import { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import type { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditOptions } from '../../cli/audit/command.ts';
import { UNACCOUNTED_EXIT_CODE, timeArg } from '../../cli/audit/command.ts';
import { auditCommand, auditTargetsOf, type AuditDeps } from '../../cli/audit/run.ts';
import { createAuditHandler } from '../../lambda/audit/handler.ts';
import { AUDIT_ENV, EVENTS, METRIC } from '../../lambda/shared/contract.ts';
import { stackOutputsOf } from '../../cli/manifests/stack-outputs.ts';
import { INCOMPLETE_EXIT_CODE } from '../../cli/outcome-help.ts';
import type { AuditReport } from '../../lambda/audit/run.ts';
import { CoordinatorSession } from '../../lambda/coordinator/client.ts';
import { ownerKeyContext } from '../../lambda/keys/context.ts';
import { decryptOwnerKey } from '../../lambda/keys/envelope.ts';
import { BundleStore } from '../../lambda/keys/store.ts';
import { scheduledEvent } from '../function/samples.ts';
import { awsClientConfig, motoAvailable, SKIP_REASON } from '../support/aws.ts';
import { runCliInProcess } from '../support/cli.ts';
import { ACCOUNT, NAMESPACE, startStack, type Stack } from './stack.ts';

let stack: Stack;
let secretArn: string;
const breakGlassRoleArn = `arn:aws:iam::${ACCOUNT}:role/contrast-autorecover-break-glass`;
const breakGlassCaller = `arn:aws:sts::${ACCOUNT}:assumed-role/contrast-autorecover-break-glass/alice`;

beforeAll(async () => {
  if (!motoAvailable) return;
  stack = await startStack({ state: 'healthy' });
  coordinatorLostKeys();
  secretArn = (await stack.clients.secrets.send(new DescribeSecretCommand({ SecretId: stack.secretId }))).ARN!;
}, 60_000);
/** The Coordinator restarted without its keys: not Ready (else it is a Ready peer) until recovered. */
function coordinatorLostKeys(): void {
  stack.emu.restart();
  for (const p of stack.kube.store.list('pods', NAMESPACE))
    if (p.metadata.labels?.['app.kubernetes.io/name'] === 'coordinator')
      p.status = { ...p.status, conditions: [{ type: 'Ready', status: 'False' }] };
}

afterAll(async () => {
  await stack?.stop();
});

function outputs() {
  return stackOutputsOf('ContrastAutorecover', 'us-east-1', [
    { OutputKey: 'RecoveryFunctionName1A2B3C4D', OutputValue: stack.functionName },
    { OutputKey: 'RecoveryFunctionLogGroupName0A1B2C3D', OutputValue: stack.logGroup },
    { OutputKey: 'RecoveryFunctionRoleArnA1B2C3D4', OutputValue: stack.roleArn },
    { OutputKey: 'RecoveryRecoveryKeyArn5E6F7A8B', OutputValue: stack.kmsKeyArn },
    { OutputKey: 'RecoveryBundleSecretsKeyArn9C0D1E2F', OutputValue: stack.secretsKeyArn },
    { OutputKey: 'RecoveryBreakGlassRoleArn3A4B5C6D', OutputValue: breakGlassRoleArn },
    { OutputKey: 'RecoveryDeployments7E8F9A0B', OutputValue: JSON.stringify([{ name: stack.deployment }]) },
    { OutputKey: 'RecoveryBundleSecret0Arn1C2D3E4F', OutputValue: secretArn },
  ]);
}

async function audit(
  o: Partial<AuditOptions> = {},
  deps: Partial<AuditDeps> = {},
): Promise<{ code: number; report: AuditReport & { stack: string }; progress: string[]; text: string }> {
  let text = '';
  const progress: string[] = [];
  const code = await auditCommand(
    // The events are made now: the window ends after them (the default ends 30 min before now).
    {
      stack: 'ContrastAutorecover',
      since: timeArg('30d'),
      until: Date.now() + 60_000,
      sourceTimeout: 20,
      json: true,
      ...o,
    },
    {
      aws: { ...stack.aws, endpoints: { ...stack.aws.endpoints, cloudtrail: stack.trail.endpoint } },
      outputs: outputs(),
      write: (t) => (text += t),
      progress: (l) => progress.push(l),
      lookupIntervalMs: 0,
      ...deps,
    },
  );
  const json = o.json ?? true;
  return { code, report: (json ? JSON.parse(text) : undefined) as AuditReport & { stack: string }, progress, text };
}

/** The owner key decrypted outside the function, by `callerArn`, as CloudTrail records it. */
async function decryptAs(callerArn: string): Promise<void> {
  const kms = new KMSClient(awsClientConfig());
  const secrets = new SecretsManagerClient(awsClientConfig());
  stack.trail.recordKmsCalls(kms, callerArn);
  stack.trail.recordSecretsManagerCalls(secrets, callerArn, { secretsKeyArn: stack.secretsKeyArn });
  const bundle = await new BundleStore(secrets).load(stack.secretId);
  const key = await decryptOwnerKey(
    kms,
    bundle.document.ownerKey,
    ownerKeyContext(stack.deployment, bundle.manifest, bundle.seedShares),
  );
  key.fill(0);
  kms.destroy();
  secrets.destroy();
}

describe.skipIf(!motoAvailable)(`audit ${motoAvailable ? '' : SKIP_REASON}`, () => {
  it('a clean month: every recovery has its line with its CloudTrail Decrypt by request ID, every read is explained, exit 0', async () => {
    // A recovery (the Coordinator lost its keys), then healthy ticks.
    const first = (await stack.invoke(scheduledEvent(), { awsRequestId: 'recovery-1' })) as { outcome: string };
    expect(first.outcome).toBe('recovered');
    for (let i = 0; i < 3; i++) await stack.invoke(scheduledEvent());

    const { code, report, progress } = await audit();
    expect(report.unreadable).toEqual([]);
    expect(report.findings).toEqual([]);
    expect(report.allAccounted).toBe(true);
    expect(code).toBe(0);
    const decrypts = stack.trail.records.filter(
      (r) => r.eventName === 'Decrypt' && r.resources?.[0]?.ARN === stack.kmsKeyArn,
    );
    expect(decrypts).toHaveLength(1);
    const line = report.lines.find((l) => l.requestId === 'recovery-1')!;
    expect(line).toMatchObject({
      deployment: stack.deployment,
      kind: 'recovery',
      outcome: 'recovered',
      trigger: expect.stringMatching(/^schedule/),
      decrypt: { eventId: decrypts[0]!.eventID, requestId: decrypts[0]!.requestID, by: 'request-id' },
      recover: expect.stringMatching(/^sent; mesh CA/),
      restarts: expect.stringMatching(/1 restarted/),
    });
    // Every bundle read by the function is in an audit record, and each Secrets Manager Decrypt has its read.
    expect(report.counts.bundleReadsByFunction).toBeGreaterThan(0);
    expect(report.counts.bundleReadsExplained).toBe(report.counts.bundleReadsByFunction);
    expect(report.counts.bundleKeyDecrypts).toBe(report.counts.bundleReadsByFunction);
    expect(progress.join('\n')).toMatch(/reading CloudTrail: recovery key/);

    // The human form says the same, without anything secret.
    const human = await audit({ json: false });
    expect(human.text).toContain(`Decrypt ${decrypts[0]!.eventID} (by request ID ${decrypts[0]!.requestID})`);
    expect(human.text).toMatch(/every use accounted for\n$/);
    expect(human.text).not.toMatch(/BEGIN|PRIVATE|ciphertext/i);
  }, 60_000);

  it('the default window ends 30 minutes before now and says so', async () => {
    const { report, progress } = await audit({ until: undefined, since: timeArg('2h') });
    expect(Date.now() - Date.parse(report.until)).toBeGreaterThanOrEqual(30 * 60_000 - 5_000);
    expect(progress[0]).toMatch(/30 minutes before now: CloudTrail delivers events about 5 minutes late/);
    // Everything of these tests happened after the window: nothing listed.
    expect(report.lines).toEqual([]);
  });

  it('paging: the same answer with one event per CloudTrail page and one record per log page', async () => {
    const whole = await audit();
    const before = stack.trail.lookups.length;
    const paged = await audit({}, { pageSize: 1 });
    expect(stack.trail.lookups.length - before).toBeGreaterThan(5);
    expect(stack.trail.lookups.slice(before).some((l) => typeof l.NextToken === 'string')).toBe(true);
    expect(paged.report.lines).toEqual(whole.report.lines);
    expect(paged.report.counts).toEqual(whole.report.counts);
    expect(paged.code).toBe(0);
  }, 60_000);

  it('an interrupted attempt, audited by the next invocation, accounts for its Decrypt by encryption context and time', async () => {
    coordinatorLostKeys();
    // The process dies the moment Recover's answer arrives: no audit record of its own.
    const killed = stack.invokeWith({
      ports: {
        openSession: (o) => {
          const session = new CoordinatorSession(o);
          if (o.clientIdentity) {
            const recover = session.recover.bind(session);
            session.recover = async (...args) => {
              await recover(...args);
              return new Promise<never>(() => {});
            };
          }
          return session;
        },
      },
    });
    void killed(scheduledEvent(), { awsRequestId: 'killed-request' });
    for (let i = 0; i < 300 && stack.emu.recoverCalls.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    // Its Decrypt is in CloudTrail, listed in no audit record yet: unaccounted.
    const before = await audit();
    expect(before.code).toBe(UNACCOUNTED_EXIT_CODE);
    const unaudited = before.report.findings.filter((f) => f.kind === 'owner-key-decrypt-unaudited');
    expect(unaudited).toHaveLength(1);
    // Its bundle read is in no record either.
    expect(before.report.findings.map((f) => f.kind).sort()).toEqual([
      'function-reads-unexplained',
      'owner-key-decrypt-unaudited',
    ]);

    // The next invocation (the dead lease expired) writes the interrupted attempt's record.
    const later = stack.invokeWith({ now: () => Date.now() + 361_000 });
    await later(scheduledEvent(), { awsRequestId: 'next-request' });
    const after = await audit();
    const line = after.report.lines.find((l) => l.kind === 'interrupted')!;
    expect(line).toMatchObject({
      requestId: 'killed-request',
      caller: 'recorded by next-request',
      outcome: 'unknown',
      recover: 'unknown (interrupted)',
      decrypt: { eventId: unaudited[0]!.eventId, by: 'encryption-context' },
    });
    expect(after.report.findings).toEqual([]);
    expect(after.code).toBe(0);
  }, 60_000);

  it('an owner-key Decrypt by the function role outside any audit record is unaccounted, with its CloudTrail event ID', async () => {
    await decryptAs(stack.functionCallerArn);
    const planted = stack.trail.records
      .filter((r) => r.eventName === 'Decrypt' && r.resources?.[0]?.ARN === stack.kmsKeyArn)
      .at(-1)!;
    const { code, report, text } = await audit();
    expect(code).toBe(UNACCOUNTED_EXIT_CODE);
    expect(report.allAccounted).toBe(false);
    expect(report.findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          kind: 'owner-key-decrypt-unaudited',
          eventId: planted.eventID,
          deployment: stack.deployment,
        }),
        // Its bundle read is in no audit record either.
        expect.objectContaining({ kind: 'function-reads-unexplained' }),
      ]),
    );
    expect(text).not.toMatch(/BEGIN|PRIVATE/);
  }, 60_000);

  it('a Decrypt by the break-glass role is a break-glass use, as is its read of the bundle', async () => {
    await decryptAs(breakGlassCaller);
    const planted = stack.trail.records.filter((r) => r.userIdentity.arn === breakGlassCaller);
    const { code, report } = await audit();
    expect(code).toBe(UNACCOUNTED_EXIT_CODE);
    const uses = report.findings.filter((f) => f.kind === 'break-glass-use');
    // GetSecretValue, Secrets Manager's Decrypt for it, and the owner-key Decrypt: three events, three findings.
    expect(uses.map((f) => f.eventId).sort()).toEqual(planted.map((r) => r.eventID).sort());
    expect(uses.every((f) => f.principal === breakGlassRoleArn)).toBe(true);
  }, 60_000);

  it('a key-policy change is unaccounted', async () => {
    stack.trail.record({
      ...stack.trail.records.find((r) => r.eventName === 'Decrypt' && r.resources?.[0]?.ARN === stack.kmsKeyArn)!,
      eventName: 'PutKeyPolicy',
      eventID: crypto.randomUUID(),
      requestID: crypto.randomUUID(),
      eventTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      userIdentity: {
        type: 'AssumedRole',
        arn: `arn:aws:sts::${ACCOUNT}:assumed-role/key-admins/bob`,
        accountId: ACCOUNT,
      },
      requestParameters: { keyId: stack.kmsKeyArn, policyName: 'default' },
      readOnly: false,
    });
    const { report } = await audit();
    expect(report.findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          kind: 'policy-change',
          eventName: 'PutKeyPolicy',
          detail: 'PutKeyPolicy on the recovery key',
        }),
      ]),
    );
  });

  it('the scheduled audit: a result event per finding, carrying its CloudTrail event ID, and the metrics its alarms watch', async () => {
    const sent: Record<string, unknown>[] = [];
    const events = {
      send: async (c: PutEventsCommand) => {
        sent.push(...(c.input.Entries ?? []).map((e) => ({ ...e, Detail: JSON.parse(e.Detail ?? '{}') as unknown })));
        return { FailedEntryCount: 0 };
      },
    } as unknown as EventBridgeClient;
    const metrics: [string, number][] = [];
    const handler = createAuditHandler({
      env: {
        [AUDIT_ENV.targets]: JSON.stringify(auditTargetsOf(outputs()).targets),
        [AUDIT_ENV.logGroup]: stack.logGroup,
        [AUDIT_ENV.intervalMinutes]: '60',
        EVENT_BUS_NAME: stack.busName,
      },
      sources: {
        logs: stack.clients.logs,
        cloudtrail: new CloudTrailClient({ ...awsClientConfig(), endpoint: stack.trail.endpoint }),
      },
      events,
      logger: new Logger({ logLevel: 'SILENT' }),
      metrics: {
        addMetric: (name: string, _unit: unknown, value: number) => void metrics.push([name, value]),
        publishStoredMetrics: () => undefined,
      } as unknown as Metrics,
      // Its window ends 30 minutes before "now": these tests' events are inside it.
      now: () => Date.now() + 31 * 60_000,
      lookupIntervalMs: 0,
    });
    const out = await handler();
    const cli = await audit({ since: Date.parse(out.since), until: Date.parse(out.until) });
    expect(out.findings).toBe(cli.report.findings.length);
    expect(sent.map((e) => e.DetailType)).toEqual(
      cli.report.findings.map(() => EVENTS.resultDetailTypes.unaccountedUse),
    );
    expect(sent.map((e) => (e.Detail as { cloudTrailEventId: string }).cloudTrailEventId).sort()).toEqual(
      cli.report.findings.map((f) => f.eventId).sort(),
    );
    expect(sent.every((e) => e.EventBusName === stack.busName && e.Source === EVENTS.resultSource)).toBe(true);
    expect(metrics).toEqual([
      [METRIC.auditUnaccounted, cli.report.findings.length],
      [METRIC.auditSourceUnreadable, 0],
    ]);
    // Two intervals: this window overlaps the previous run's.
    expect(Date.parse(out.until) - Date.parse(out.since)).toBe(2 * 3_600_000);
  }, 60_000);

  it('one source timing out: named, exit 3 when nothing else is found, never "all accounted for"', async () => {
    // A CloudTrail endpoint that accepts the connection and never answers.
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      const { code, report, text } = await audit(
        { sourceTimeout: 1, json: false },
        { aws: { ...stack.aws, endpoints: { ...stack.aws.endpoints, cloudtrail: `http://127.0.0.1:${port}` } } },
      );
      expect(report).toBeUndefined();
      expect(code).toBe(INCOMPLETE_EXIT_CODE);
      expect(text).toMatch(/SOURCES NOT READ/);
      expect(text).toMatch(/CloudTrail event history \(recovery key\): no complete answer within 1 s/);
      expect(text).not.toMatch(/every use accounted for/);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  }, 30_000);

  it('refuses a window CloudTrail event history does not hold, and says where to look', async () => {
    await expect(audit({ since: timeArg('120d') })).rejects.toThrow(/90 days.*Athena or CloudTrail Lake/);
  });
});

describe('audit --help and usage', () => {
  it('says what it reads, the window, and its exit codes', async () => {
    const r = await runCliInProcess(['audit', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--until defaults to 30 minutes before now/);
    expect(r.stdout).toMatch(/Athena or CloudTrail Lake/);
    expect(r.stdout).toMatch(
      new RegExp(
        `Exit codes: 0 every use accounted for .*; ${UNACCOUNTED_EXIT_CODE} unaccounted use found;\\n${INCOMPLETE_EXIT_CODE} a source could not be read`,
      ),
    );
    expect(r.stdout).toMatch(/Examples:\n {2}contrast-autorecover audit --stack ContrastAutorecover/);
    const top = await runCliInProcess(['--help']);
    expect(top.stdout).toMatch(/\n {2}audit \[options\]/);
  });

  it('refuses a malformed --since as a usage error', async () => {
    const r = await runCliInProcess(['audit', '--stack', 'S', '--since', 'last tuesday']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--since.*expected an ISO 8601 time .* or an age such as 90m, 36h, 7d/);
  });
});
