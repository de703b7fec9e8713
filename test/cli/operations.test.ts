/**
 * The operator commands' parts on their own: key-policy reading, exporter-config inspection,
 * the trail check (each case in its own moto account), the stage tracker and record
 * parsing, the SubjectAccessReview stand-in, and the help text generated from the outcomes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CloudTrailClient, PutEventSelectorsCommand, StopLoggingCommand } from '@aws-sdk/client-cloudtrail';
import { describe, expect, it } from 'vitest';
import { OperatorAws } from '../../cli/operations/aws.ts';
import { inspectExporterConfig } from '../../cli/doctor/exporter.ts';
import { outcomeTable } from '../../cli/outcome-help.ts';
import { readKeyPolicy } from '../../cli/doctor/key-policy.ts';
import { trailCheck } from '../../cli/doctor/trail.ts';
import { collectRequestIds, parseFunctionRecord, stepEnd, type AuditRecord } from '../../cli/operations/records.ts';
import { RehearsalTracker } from '../../cli/rehearse/stages.ts';
import { findTrailEntry } from '../../cli/rehearse/cloudtrail.ts';
import { CloudTrailStub, type CloudTrailRecord } from '../../testing/aws-stubs/cloudtrail.ts';
import { OUTCOME_NAMES, OUTCOMES } from '../../lambda/shared/outcomes.ts';
import { RbacAuthorizer, SAR_PATH, startKubeApi } from '../../testing/kube-api/index.ts';
import { awsClientConfig, motoAvailable, motoEndpoint, SKIP_REASON, TEST_REGION } from '../support/aws.ts';
import { REPO_ROOT, runCliInProcess } from '../support/cli.ts';
import { createTrail } from './stack.ts';

describe('key policy reading', () => {
  const policy = (statements: unknown[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });

  it('follows IAM wildcards, NotAction and principal forms', () => {
    const r = readKeyPolicy(
      policy([
        {
          Sid: 'Admins',
          Effect: 'Allow',
          Principal: { AWS: ['arn:aws:iam::111122223333:role/a', 'arn:aws:iam::111122223333:role/b'] },
          Action: 'kms:Put*',
          Resource: '*',
        },
        {
          Sid: 'AllButDecrypt',
          Effect: 'Allow',
          Principal: { AWS: 'arn:aws:iam::111122223333:role/c' },
          NotAction: ['kms:Decrypt', 'kms:ReEncrypt*'],
          Resource: '*',
        },
        { Sid: 'Everything', Effect: 'Allow', Principal: { AWS: '111122223333' }, Action: 'kms:*', Resource: '*' },
        {
          Sid: 'Service',
          Effect: 'Allow',
          Principal: { Service: 'logs.amazonaws.com' },
          Action: ['KMS:decrypt'],
          Resource: '*',
          Condition: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': 'x' } },
        },
        { Effect: 'Deny', Principal: '*', Action: 'kms:*', Resource: '*' },
      ]),
    );
    expect(r.decrypt.map((g) => g.principal)).toEqual([
      '111122223333',
      'service:logs.amazonaws.com'.replace('service', 'Service'),
    ]);
    expect(r.decrypt[1]!.conditions).toEqual(['ArnLike kms:EncryptionContext:aws:logs:arn']);
    expect(r.administer.map((g) => g.principal)).toEqual([
      'arn:aws:iam::111122223333:role/a',
      'arn:aws:iam::111122223333:role/b',
      'arn:aws:iam::111122223333:role/c',
      '111122223333',
    ]);
    expect(r.createGrant.map((g) => g.principal)).toEqual(['arn:aws:iam::111122223333:role/c', '111122223333']);
    expect(r.denies).toBe(1);
  });
});

describe('exporter config inspection', () => {
  const expectation = {
    deployment: 'prod',
    config: { eventBusName: 'contrast-bus', eventSource: 'contrast.coordinator' },
    region: 'eu-central-1',
  };
  const doc = (
    receiver: Record<string, unknown>,
    match: Record<string, unknown> = { receiver: 'r', kind: '^Pod$', reason: '^Started$' },
  ) =>
    JSON.stringify({
      route: { routes: [{ match: [match] }] },
      receivers: [
        {
          name: 'r',
          eventbridge: {
            eventBusName: 'contrast-bus',
            region: 'eu-central-1',
            source: 'contrast.coordinator',
            detailType: 'Coordinator Restarted',
            details: { deployment: 'prod', pod: 'p', podUID: 'u' },
            ...receiver,
          },
        },
      ],
    });

  it('accepts a config that sends what the function accepts (a bus ARN too)', () => {
    expect(inspectExporterConfig(doc({}), 'cm', expectation)).toEqual({
      receivers: ['cm receiver r'],
      problems: [],
      warnings: [],
    });
    expect(
      inspectExporterConfig(
        doc({ eventBusName: 'arn:aws:events:eu-central-1:111122223333:event-bus/contrast-bus' }),
        'cm',
        expectation,
      ).problems,
    ).toEqual([]);
  });

  it('ignores receivers of other deployments', () => {
    expect(inspectExporterConfig(doc({ details: { deployment: 'staging' } }), 'cm', expectation).receivers).toEqual([]);
  });

  it('names each mistake', () => {
    const f = inspectExporterConfig(
      doc(
        { region: 'us-east-1', detailType: 'Pod Started', details: { deployment: 'prod' } },
        { receiver: 'r', kind: 'Pod', reason: 'Started' },
      ),
      'cm',
      expectation,
    );
    expect(f.problems).toEqual([
      'cm receiver r: detailType "Pod Started", the function accepts Coordinator Restarted or Coordinator Recovery Requested',
      "cm receiver r: region us-east-1, the function's bus is in eu-central-1",
    ]);
    expect(f.warnings).toEqual([
      'cm receiver r: details lack pod (the function and `rehearse` read it)',
      'cm receiver r: details lack podUID (the function and `rehearse` read it)',
      'cm receiver r: route kind/reason "Pod"/"Started" are unanchored regular expressions; use "^Pod$" and "^Started$"',
    ]);
    expect(
      inspectExporterConfig(doc({}, { receiver: 'other', kind: '^Pod$', reason: '^Started$' }), 'cm', expectation)
        .problems,
    ).toEqual(['cm receiver r: no route sends events to it']);
  });
});

describe.skipIf(!motoAvailable)(`trail check ${motoAvailable ? '' : SKIP_REASON}`, () => {
  /** An OperatorAws whose CloudTrail calls land in a moto account of their own. */
  function isolated(): { aws: OperatorAws; cloudtrail: CloudTrailClient } {
    const account = String(100000000000 + Math.floor(Math.random() * 899999999999));
    const aws = new OperatorAws({
      region: TEST_REGION,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      endpoints: { cloudtrail: motoEndpoint },
    });
    const cloudtrail = new CloudTrailClient(awsClientConfig());
    for (const c of [aws.cloudtrail, cloudtrail]) {
      c.middlewareStack.add(
        (next) => (args) => {
          (args.request as { headers: Record<string, string> }).headers['x-moto-account-id'] = account;
          return next(args);
        },
        { step: 'build', name: 'motoAccount' },
      );
    }
    return { aws, cloudtrail };
  }

  it('fails without a trail, with the create command', async () => {
    const { aws } = isolated();
    const c = await trailCheck(aws, TEST_REGION);
    expect(c).toMatchObject({
      status: 'fail',
      details: [`no trail logs ${TEST_REGION} (0 trail(s) seen)`],
      fix: expect.stringMatching(/^aws cloudtrail create-trail .*--is-multi-region-trail/),
    });
  });

  it('warns on a single-region trail, fails when it stopped logging or excludes KMS events', async () => {
    const { aws, cloudtrail } = isolated();
    const name = await createTrail(cloudtrail, { multiRegion: false });
    expect(await trailCheck(aws, TEST_REGION)).toMatchObject({
      status: 'warn',
      fix: `make it multi-region so IAM and STS events are kept too: aws cloudtrail update-trail --name ${name} --is-multi-region-trail`,
    });
    await cloudtrail.send(
      new PutEventSelectorsCommand({
        TrailName: name,
        EventSelectors: [
          { ReadWriteType: 'All', IncludeManagementEvents: true, ExcludeManagementEventSources: ['kms.amazonaws.com'] },
        ],
      }),
    );
    const noKms = await trailCheck(aws, TEST_REGION);
    expect(noKms).toMatchObject({
      status: 'fail',
      details: [expect.stringMatching(/KMS Decrypt NOT logged/)],
      fix: expect.stringMatching(/put-event-selectors/),
    });
    await cloudtrail.send(
      new PutEventSelectorsCommand({
        TrailName: name,
        EventSelectors: [{ ReadWriteType: 'WriteOnly', IncludeManagementEvents: true }],
      }),
    );
    expect((await trailCheck(aws, TEST_REGION)).details[0]).toMatch(/KMS Decrypt NOT logged/);
    await cloudtrail.send(new StopLoggingCommand({ Name: name }));
    await cloudtrail.send(
      new PutEventSelectorsCommand({
        TrailName: name,
        EventSelectors: [{ ReadWriteType: 'All', IncludeManagementEvents: true }],
      }),
    );
    expect(await trailCheck(aws, TEST_REGION)).toMatchObject({
      status: 'fail',
      details: [expect.stringMatching(/NOT logging/)],
      fix: `aws cloudtrail start-logging --name ${name}`,
    });
  });

  it('accepts advanced selectors that keep KMS read events, not those that drop them', async () => {
    const { aws, cloudtrail } = isolated();
    const name = await createTrail(cloudtrail, { multiRegion: true });
    const put = (fields: { Field: string; Equals?: string[]; NotEquals?: string[] }[]) =>
      cloudtrail.send(
        new PutEventSelectorsCommand({
          TrailName: name,
          AdvancedEventSelectors: [{ Name: 'mgmt', FieldSelectors: fields }],
        }),
      );
    await put([{ Field: 'eventCategory', Equals: ['Management'] }]);
    expect((await trailCheck(aws, TEST_REGION)).status).toBe('pass');
    await put([
      { Field: 'eventCategory', Equals: ['Management'] },
      { Field: 'eventSource', NotEquals: ['kms.amazonaws.com'] },
    ]);
    expect((await trailCheck(aws, TEST_REGION)).status).toBe('fail');
    await put([
      { Field: 'eventCategory', Equals: ['Management'] },
      { Field: 'readOnly', Equals: ['false'] },
    ]);
    expect((await trailCheck(aws, TEST_REGION)).status).toBe('fail');
  });
});

describe('function records and stages', () => {
  const audit = (over: Record<string, unknown>) =>
    JSON.stringify({
      level: 'INFO',
      message: 'audit',
      timestamp: '2030-01-01T00:00:10.000Z',
      audit: {
        requestId: 'req-1',
        deployment: 'prod',
        outcome: 'recovered',
        message: 'recovered',
        trigger: { kind: 'event', id: 'ev-1', time: '2030-01-01T00:00:02Z', podUid: 'new-uid' },
        steps: [
          { step: 'load-bundle', ms: 100 },
          { step: 'probe', ms: 200 },
          { step: 'decrypt', ms: 300 },
          { step: 'recover', ms: 400 },
          { step: 'confirm', ms: 500 },
          { step: 'restarts', ms: 1000 },
        ],
        durationMs: 3000,
        // The shape of lambda/function/request-ids.ts: one entry per call.
        kms: {
          decrypts: 1,
          encryptionContext: { a: 'b' },
          requests: [
            { operation: 'Decrypt', requestId: 'kms-req-1' },
            { operation: 'Decrypt', error: 'TimeoutError' },
          ],
        },
        secretsManager: {
          requests: [
            { operation: 'GetSecretValue', requestId: 'sm-req-1' },
            { operation: 'DescribeSecret', requestId: 'sm-req-2' },
          ],
        },
        recover: { sent: true, meshCaFingerprint: 'ab'.repeat(32) },
        restarts: { complete: true, counts: { restarted: 2 } },
        ...over,
      },
    });

  it('reads the audit record tolerantly, request ids included', () => {
    const r = parseFunctionRecord(audit({ somethingNew: { nested: true } }), 0) as AuditRecord;
    expect(r).toMatchObject({
      type: 'audit',
      at: Date.parse('2030-01-01T00:00:10.000Z'),
      outcome: 'recovered',
      kmsRequestIds: ['kms-req-1'],
      secretsRequestIds: ['sm-req-1'],
      restartsComplete: true,
    });
    // Reconcile start = 10 s − 3 s; confirm ends after 1.5 s of steps, restarts after 2.5 s.
    expect(stepEnd(r, 'confirm')).toBe(Date.parse('2030-01-01T00:00:08.500Z'));
    expect(stepEnd(r, 'restarts')).toBe(Date.parse('2030-01-01T00:00:09.500Z'));
    expect(parseFunctionRecord(audit({ outcome: 'no-such-outcome' }), 0)).toBeUndefined();
    expect(parseFunctionRecord('not json', 0)).toBeUndefined();
    expect(parseFunctionRecord(JSON.stringify({ message: 'reconcile finished' }), 0)).toBeUndefined();
    expect(collectRequestIds({ requestIds: ['a', 'b'], nested: { requestId: 'c' } })).toEqual(['a', 'b', 'c']);
  });

  it('orders the stages and tells which reconcile recovered', () => {
    const t0 = Date.parse('2030-01-01T00:00:00Z');
    const tracker = new RehearsalTracker('prod', t0, new Set(['old-uid']));
    tracker.deleted(t0, ['coordinator-0']);
    expect(tracker.pods([{ name: 'coordinator-0', uid: 'old-uid', ready: false, deleting: true }], t0 + 10)).toEqual(
      [],
    );
    expect(
      tracker.pods(
        [{ name: 'coordinator-0', uid: 'new-uid', ready: false, deleting: false, created: new Date(t0 - 400) }],
        t0 + 20,
      ),
    ).toEqual([{ name: 'pod-replaced', at: t0, detail: 'coordinator-0 (uid new-uid)' }]);
    const trigger = JSON.stringify({
      message: 'trigger accepted',
      timestamp: '2030-01-01T00:00:06.000Z',
      function_request_id: 'req-1',
      trigger: { kind: 'event', id: 'ev-1', time: '2030-01-01T00:00:02Z' },
      deployments: ['prod'],
    });
    // A trigger for another deployment and one from before the deletion do not count.
    expect(tracker.record(parseFunctionRecord(trigger.replace('["prod"]', '["staging"]'), 0)!)).toEqual([]);
    expect(
      tracker.record(
        parseFunctionRecord(
          trigger.replace('00:00:02Z', '1999-01-01T00:00:00Z').replace('2030-01-01T1999', '1999'),
          0,
        )!,
      ),
    ).toEqual([]);
    expect(tracker.record(parseFunctionRecord(trigger, 0)!).map((s) => [s.name, s.at])).toEqual([
      ['event-seen', Date.parse('2030-01-01T00:00:02Z')],
      ['function-invoked', Date.parse('2030-01-01T00:00:06Z')],
    ]);
    const stages = tracker.record(parseFunctionRecord(audit({}), 0)!);
    expect(stages.map((s) => s.name)).toEqual(['recover-confirmed', 'restarts-done']);
    expect(stages[0]!.detail).toBe(`by event trigger ev-1, the new pod's event, new mesh CA ${'ab'.repeat(8)}…`);
    expect(stages[1]!.detail).toBe('2 restarted (event trigger ev-1)');
    expect(tracker.complete).toBe(true);
    expect(tracker.recovery?.kmsRequestIds).toEqual(['kms-req-1']);
  });

  it('keeps waiting on retried failures and stops on permanent ones', () => {
    const tracker = new RehearsalTracker('prod', Date.parse('2030-01-01T00:00:00Z'), new Set());
    tracker.record(parseFunctionRecord(audit({ outcome: 'unreachable', message: 'timed out' }), 0)!);
    expect(tracker.failure).toBeUndefined();
    expect(tracker.notes).toEqual(['event trigger ev-1: unreachable — timed out (retried)']);
    tracker.record(parseFunctionRecord(audit({ outcome: 'wrong-seed', message: 'seed does not match' }), 0)!);
    expect(tracker.failure).toEqual({ outcome: 'wrong-seed', message: 'event trigger ev-1: seed does not match' });
  });
});

describe('CloudTrail link', () => {
  const record = (over: Partial<CloudTrailRecord>): CloudTrailRecord => ({
    eventVersion: '1.08',
    userIdentity: {
      type: 'AssumedRole',
      arn: 'arn:aws:sts::111122223333:assumed-role/fn-role/fn',
      accountId: '111122223333',
    },
    eventTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    eventSource: 'kms.amazonaws.com',
    eventName: 'Decrypt',
    awsRegion: TEST_REGION,
    sourceIPAddress: '10.0.0.1',
    userAgent: 'x',
    requestParameters: { encryptionContext: { d: 'prod' } },
    responseElements: null,
    requestID: 'r-1',
    eventID: 'e-1',
    readOnly: true,
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: '111122223333',
    eventCategory: 'Management',
    ...over,
  });

  it('links by request id, else by an unambiguous encryption context from the rehearsal on', async () => {
    const trail = await new CloudTrailStub().start();
    const client = new CloudTrailClient({
      region: TEST_REGION,
      endpoint: trail.endpoint,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    try {
      const since = Date.now() - 10_000;
      trail.record(
        record({
          eventTime: new Date(since - 30_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
          requestID: 'r-old',
          eventID: 'e-old',
        }),
      );
      trail.record(record({}));
      trail.record(
        record({ requestID: 'r-2', eventID: 'e-2', requestParameters: { encryptionContext: { d: 'staging' } } }),
      );
      expect(await findTrailEntry(client, { eventName: 'Decrypt', since, requestIds: ['r-2'] })).toMatchObject({
        by: 'request-id',
        eventId: 'e-2',
        contextMatches: false,
      });
      // An id is exact: found even from shortly before the rehearsal; a context match is not.
      expect(await findTrailEntry(client, { eventName: 'Decrypt', since, requestIds: ['r-old'] })).toMatchObject({
        by: 'request-id',
        eventId: 'e-old',
      });
      expect(
        await findTrailEntry(client, { eventName: 'Decrypt', since, requestIds: [], encryptionContext: { d: 'prod' } }),
      ).toMatchObject({ by: 'encryption-context', eventId: 'e-1', contextMatches: true });
      // Two Decrypts with that context since the rehearsal began: no guess.
      trail.record(record({ requestID: 'r-3', eventID: 'e-3' }));
      expect(
        await findTrailEntry(client, { eventName: 'Decrypt', since, requestIds: [], encryptionContext: { d: 'prod' } }),
      ).toBeUndefined();
      expect(await findTrailEntry(client, { eventName: 'Decrypt', since, requestIds: ['r-unknown'] })).toBeUndefined();
    } finally {
      client.destroy();
      await trail.close();
    }
  });
});

describe('SubjectAccessReview stand-in', () => {
  it('validates like the API server, needs create permission, and answers per subject', async () => {
    const api = await startKubeApi({ plainHttp: true });
    try {
      const post = (body: unknown) =>
        fetch(`${api.url}${SAR_PATH}`, {
          method: 'POST',
          headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const noSubject = await post({ spec: { resourceAttributes: { verb: 'list', resource: 'pods' } } });
      expect(noSubject.status).toBe(422);
      expect(((await noSubject.json()) as { message: string }).message).toMatch(
        /spec.user: Invalid value: "": at least one of user or group must be specified/,
      );
      expect((await post({ spec: { groups: ['g'] } })).status).toBe(422);

      api.reviews.grantGroup(
        'g',
        new RbacAuthorizer([
          { namespace: 'ns', rules: [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['patch'] }] },
        ]),
      );
      const ask = async (attrs: Record<string, string>, groups = ['g']) =>
        (
          (await (
            await post({
              apiVersion: 'authorization.k8s.io/v1',
              kind: 'SubjectAccessReview',
              spec: { groups, resourceAttributes: attrs },
            })
          ).json()) as { status: { allowed: boolean } }
        ).status.allowed;
      expect(await ask({ verb: 'patch', group: 'apps', resource: 'deployments', namespace: 'ns' })).toBe(true);
      expect(await ask({ verb: 'patch', group: 'apps', resource: 'deployments', namespace: 'other' })).toBe(false);
      // Cluster scope ("") needs a cluster-wide grant.
      expect(await ask({ verb: 'patch', group: 'apps', resource: 'deployments', namespace: '' })).toBe(false);
      expect(await ask({ verb: 'patch', group: 'apps', resource: 'deployments', namespace: 'ns' }, ['h'])).toBe(false);

      api.setRbac(new RbacAuthorizer([]));
      expect(
        (await post({ spec: { groups: ['g'], resourceAttributes: { verb: 'list', resource: 'pods' } } })).status,
      ).toBe(403);
    } finally {
      await api.close();
    }
  });
});

describe('help text', () => {
  it('lists the outcomes and their exit codes from lambda/shared/outcomes.ts', async () => {
    const doctor = await runCliInProcess(['doctor', '--help']);
    const rehearse = await runCliInProcess(['rehearse', '--help']);
    expect(doctor.code).toBe(0);
    expect(rehearse.code).toBe(0);
    for (const o of OUTCOME_NAMES) {
      expect(doctor.stdout).toContain(`${o}`);
      if (!OUTCOMES[o].ok && !OUTCOMES[o].retry)
        expect(rehearse.stdout).toMatch(
          new RegExp(`\\n  ${o} +${OUTCOMES[o].exitCode}  ${OUTCOMES[o].summary.replace(/[()]/g, '\\$&')}`),
        );
    }
    expect(outcomeTable({ exitCodes: true, filter: (x) => !x.ok && !x.retry }).split('\n')).toHaveLength(
      OUTCOME_NAMES.filter((o) => !OUTCOMES[o].ok && !OUTCOMES[o].retry).length,
    );
    expect(rehearse.stdout).not.toMatch(/\n {2}unreachable +14/);
    expect(doctor.stdout).toMatch(/Examples:\n {2}contrast-autorecover doctor --deployment prod/);
    expect(rehearse.stdout).toMatch(/Examples:\n {2}contrast-autorecover rehearse --deployment prod/);
  });

  it('says a missing region is config-invalid, before any call', async () => {
    for (const command of ['doctor', 'rehearse']) {
      const r = await runCliInProcess([command, '--deployment', 'prod'], {
        AWS_REGION: '',
        AWS_DEFAULT_REGION: '',
        AWS_CONFIG_FILE: '/nonexistent',
        AWS_PROFILE: '',
      });
      expect(r.stderr).toMatch(/config-invalid.*no AWS region is configured: export AWS_REGION/);
      expect(r.code).toBe(OUTCOMES['config-invalid'].exitCode);
    }
  });

  it('refuses a bad --timeout as a usage error', async () => {
    const r = await runCliInProcess(['rehearse', '--deployment', 'prod', '--timeout', 'soon']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--timeout.*expected a positive whole number of seconds/);
  });
});

describe('loading', () => {
  /** Bare packages a compiled module imports statically, following its static chunk imports. */
  function staticPackages(file: string, seen = new Set<string>()): Set<string> {
    const packages = new Set<string>();
    if (seen.has(file)) return packages;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(
      /(?:^|[;\n])\s*(?:import|export)\s[^;'"]*?from\s*"([^"]+)"|(?:^|[;\n])\s*import\s*"([^"]+)"/g,
    )) {
      const spec = m[1] ?? m[2]!;
      if (spec.startsWith('.')) for (const p of staticPackages(join(dirname(file), spec), seen)) packages.add(p);
      else packages.add(spec);
    }
    return packages;
  }

  it('loads the CLI-only AWS clients and the YAML parser only when doctor or rehearse runs', () => {
    const main = join(REPO_ROOT, 'dist', 'cli', 'main.js');
    const eager = staticPackages(main);
    expect(eager.has('commander')).toBe(true);
    for (const pkg of [
      '@aws-sdk/client-eks',
      '@aws-sdk/client-cloudtrail',
      '@aws-sdk/client-cloudwatch-logs',
      '@aws-sdk/client-cloudformation',
      'yaml',
      '@kubernetes/client-node',
    ])
      expect(eager.has(pkg), pkg).toBe(false);
    // They are in the bundle, behind the commands' dynamic imports.
    const chunks = readdirSync(join(REPO_ROOT, 'dist', 'chunks'))
      .map((f) => readFileSync(join(REPO_ROOT, 'dist', 'chunks', f), 'utf8'))
      .join('\n');
    for (const pkg of [
      '@aws-sdk/client-eks',
      '@aws-sdk/client-cloudtrail',
      '@aws-sdk/client-cloudwatch-logs',
      '@aws-sdk/client-cloudformation',
      'yaml',
    ])
      expect(chunks).toContain(`from "${pkg}"`);
  });
});
