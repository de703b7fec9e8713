/**
 * `doctor` against a deployed stack (stack.ts): every check passing, and each one failing
 * for the reason it exists, with the fix it prints. One stack for the file; each test
 * breaks one thing and puts it back.
 */
import { DeleteSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { PutKeyPolicyCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckResult } from '../../cli/doctor/checks.ts';
import type { DoctorOptions } from '../../cli/doctor/command.ts';
import { doctorCommand, runDoctor, type DoctorDeps } from '../../cli/doctor/run.ts';
import { DEFAULTS, OPERATIONS } from '../../lambda/shared/contract.ts';
import { RbacAuthorizer } from '../../testing/kube-api/index.ts';
import { manifestRbac, RBAC_GROUP } from '../../testing/kube-api/manifests.ts';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { OperatorAws } from '../../cli/operations/aws.ts';
import { describeDeployedFunction } from '../../cli/operations/deployed-function.ts';
import { awsClientConfig, motoAvailable, motoEndpoint, SKIP_REASON } from '../support/aws.ts';
import { runCli } from '../support/cli.ts';
import { ACCOUNT, CLUSTER, NAMESPACE, stackKeyPolicy, startStack, type Stack } from './stack.ts';

let stack: Stack;

beforeAll(async () => {
  if (motoAvailable) stack = await startStack({ state: 'healthy' });
}, 60_000);
afterAll(async () => {
  await stack?.stop();
});

function options(extra: Partial<DoctorOptions> = {}): DoctorOptions {
  return {
    deployment: stack.deployment,
    function: stack.functionName,
    kubeconfig: stack.kubeconfigFile,
    kubeGroup: DEFAULTS.kubernetesGroup,
    exporterNamespace: OPERATIONS.exporterNamespace,
    ...extra,
  };
}

async function check(id: string, extra: Partial<DoctorOptions> = {}, deps: DoctorDeps = {}): Promise<CheckResult> {
  const report = await runDoctor(options(extra), { aws: stack.aws, ...deps });
  const c = report.checks.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id} in ${report.checks.map((x) => x.id).join(', ')}`);
  return c;
}

/** Runs fn with the function's configuration changed (what GetFunctionConfiguration returns). */
async function withEnv<T>(change: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const f = stack.lambda.functions.get(stack.functionName)!;
  const saved = f.env;
  f.env = Object.fromEntries(
    Object.entries({ ...saved, ...change }).filter((e): e is [string, string] => e[1] !== undefined),
  );
  try {
    return await fn();
  } finally {
    f.env = saved;
  }
}

function deploymentsWith(extra: Record<string, unknown>): string {
  const list = JSON.parse(stack.env.CONTRAST_DEPLOYMENTS!) as Record<string, unknown>[];
  return JSON.stringify(list.map((d) => ({ ...d, ...extra })));
}

describe.skipIf(!motoAvailable)(`doctor ${motoAvailable ? '' : SKIP_REASON}`, () => {
  it('passes every check on a well-set-up stack and prints the checklist', async () => {
    let out = '';
    const code = await doctorCommand(options(), { aws: stack.aws, write: (t) => (out += t) });
    const report = await runDoctor(options(), { aws: stack.aws });
    expect(report.checks.map((c) => [c.id, c.status])).toEqual([
      ['function', 'pass'],
      ['auth-mode', 'pass'],
      ['access-entry', 'pass'],
      ['rbac', 'pass'],
      ['coordinator', 'pass'],
      ['bundle', 'pass'],
      ['key-policy', 'pass'],
      ['exporter', 'pass'],
      ['trail', 'pass'],
    ]);
    expect(code).toBe(0);
    expect(out).toMatch(/^doctor: deployment prod-\w+, function contrast-autorecover-\w+\n✔ function configuration/);
    expect(out).toMatch(/all 9 checks passed/);
    // Read-only: no Decrypt, no Recover, no pod touched.
    expect(
      stack.trail.records.filter((r) => r.eventName === 'Decrypt' && r.resources?.[0]?.ARN === stack.kmsKeyArn),
    ).toHaveLength(0);
    expect(stack.emu.recoverCalls).toHaveLength(0);
    expect(stack.kube.log.filter((r) => r.method !== 'GET' && !r.path.includes('subjectaccessreviews'))).toEqual([]);
  });

  it('runs as the installed command, configured by the standard AWS_ENDPOINT_URL_<SERVICE> variables; rehearse asks before it deletes', async () => {
    const env = {
      AWS_REGION: 'eu-central-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_ENDPOINT_URL: motoEndpoint,
      AWS_ENDPOINT_URL_LAMBDA: stack.lambda.endpoint,
      AWS_ENDPOINT_URL_EKS: stack.eks.endpoint,
      KUBECONFIG: stack.kubeconfigFile,
    };
    const doctor = await runCli(['doctor', '--deployment', stack.deployment, '--function', stack.functionName], env);
    expect(doctor.stderr).toBe('');
    expect(doctor.stdout).toMatch(/all 9 checks passed/);
    expect(doctor.code).toBe(0);
    stack.kube.resetStats();
    const rehearse = await runCli(
      ['rehearse', '--deployment', stack.deployment, '--function', stack.functionName],
      env,
    );
    expect(rehearse.code).toBe(2);
    expect(rehearse.stderr).toMatch(
      /rehearse deletes the Coordinator pod\(s\); it needs --yes when not run interactively/,
    );
    expect(stack.kube.log.filter((r) => r.method === 'DELETE')).toEqual([]);
  }, 60_000);

  it('prints JSON and exits 3 when a check fails', async () => {
    let out = '';
    const code = await doctorCommand(options({ function: 'no-such-function', json: true }), {
      aws: stack.aws,
      write: (t) => (out += t),
    });
    expect(code).toBe(3);
    const report = JSON.parse(out) as { ok: boolean; checks: CheckResult[] };
    expect(report.ok).toBe(false);
    expect(report.checks).toEqual([
      expect.objectContaining({
        id: 'function',
        status: 'fail',
        details: [expect.stringMatching(/cannot read function no-such-function: ResourceNotFoundException/)],
        fix: expect.stringMatching(/--function with the stack output FunctionName/),
      }),
    ]);
  });

  it("function: reads the deployments from the Parameter Store path the function's environment names", async () => {
    const path = `/contrast-autorecover/${stack.functionName}/deployments`;
    const [entry] = JSON.parse(stack.env.CONTRAST_DEPLOYMENTS!) as { name: string }[];
    const ssm = new SSMClient(awsClientConfig());
    await ssm.send(
      new PutParameterCommand({ Name: `${path}/${entry!.name}`, Value: JSON.stringify(entry), Type: 'String' }),
    );
    const aws = new OperatorAws(stack.aws);
    const fromStore = { CONTRAST_DEPLOYMENTS: undefined, CONTRAST_DEPLOYMENTS_PATH: path };
    const described = await withEnv(fromStore, () =>
      describeDeployedFunction(aws, stack.functionName, stack.deployment),
    );
    expect(described.deployment).toMatchObject({ name: stack.deployment, coordinatorNamespace: NAMESPACE });
    await expect(
      withEnv(fromStore, () => describeDeployedFunction(aws, stack.functionName, 'staging')),
    ).rejects.toThrow(`does not look after deployment staging (${path}: ${stack.deployment})`);
    // Nothing under the path: the function's own parser says so.
    await expect(
      withEnv({ ...fromStore, CONTRAST_DEPLOYMENTS_PATH: `${path}-none` }, () =>
        describeDeployedFunction(aws, stack.functionName, stack.deployment),
      ),
    ).rejects.toThrow(/configure at least one deployment/);
  });

  it('function: names the configured deployments when --deployment is not one of them', async () => {
    const c = await check('function', { deployment: 'staging' });
    expect(c).toMatchObject({ status: 'fail', fix: expect.stringMatching(/use one of these names/) });
    expect(c.details[0]).toMatch(
      new RegExp(`does not look after deployment staging \\(CONTRAST_DEPLOYMENTS: ${stack.deployment}\\)`),
    );
  });

  it('function: a configuration the function would refuse fails with the variable named', async () => {
    const c = await withEnv({ KUBE_AUTH: 'iam' }, () => check('function'));
    expect(c).toMatchObject({
      status: 'fail',
      details: [expect.stringMatching(/misconfigured: configuration: KUBE_AUTH/)],
    });
  });

  it('auth-mode: CONFIG_MAP fails with the update command, and so does the access entry', async () => {
    stack.eks.clusters.get(CLUSTER)!.authenticationMode = 'CONFIG_MAP';
    try {
      const report = await runDoctor(options(), { aws: stack.aws });
      const mode = report.checks.find((c) => c.id === 'auth-mode')!;
      expect(mode).toMatchObject({
        status: 'fail',
        details: [expect.stringMatching(/CONFIG_MAP; access entries need API or API_AND_CONFIG_MAP/)],
      });
      expect(mode.fix).toBe(
        `aws eks update-cluster-config --name ${CLUSTER} --access-config authenticationMode=API_AND_CONFIG_MAP (one-way: CONFIG_MAP → API_AND_CONFIG_MAP → API)`,
      );
      expect(report.checks.find((c) => c.id === 'access-entry')).toMatchObject({
        status: 'fail',
        details: [expect.stringMatching(/InvalidRequestException/)],
        fix: mode.fix,
      });
    } finally {
      stack.eks.clusters.get(CLUSTER)!.authenticationMode = 'API_AND_CONFIG_MAP';
    }
  });

  it('auth-mode: an endpoint the cluster does not have fails', async () => {
    const c = await withEnv({ EKS_ENDPOINT: 'https://other.example.eks.amazonaws.com' }, () => check('auth-mode'));
    expect(c).toMatchObject({
      status: 'fail',
      details: [
        expect.anything(),
        expect.stringMatching(/EKS_ENDPOINT https:\/\/other\.example.* is not the cluster's endpoint/),
      ],
    });
  });

  it('access-entry: a missing entry fails with the create command; a wrong group with the update command', async () => {
    const key = `${CLUSTER} ${stack.roleArn}`;
    const entry = stack.eks.accessEntries.get(key)!;
    stack.eks.accessEntries.delete(key);
    try {
      const c = await check('access-entry');
      expect(c).toMatchObject({ status: 'fail', details: [expect.stringMatching(/ResourceNotFoundException/)] });
      expect(c.fix).toMatch(
        new RegExp(
          `^aws eks create-access-entry --cluster-name ${CLUSTER} --principal-arn ${stack.roleArn.replace(/[/]/g, '\\/')} --kubernetes-groups ${RBAC_GROUP}`,
        ),
      );
      stack.eks.accessEntries.set(key, { ...entry, kubernetesGroups: ['viewers'] });
      const wrong = await check('access-entry');
      expect(wrong).toMatchObject({
        status: 'fail',
        details: [expect.stringMatching(/maps to groups \[viewers\], not contrast-autorecover/)],
        fix: expect.stringMatching(/^aws eks update-access-entry/),
      });
    } finally {
      stack.eks.accessEntries.set(key, entry);
    }
  });

  it('kubeconfig-secret (self-managed): passes when the secret has a current version, fails when it is missing', async () => {
    const selfManaged = {
      KUBE_AUTH: 'kubeconfig',
      KUBECONFIG_SECRET_ID: stack.secretId,
      EKS_CLUSTER_NAME: undefined,
      EKS_ENDPOINT: undefined,
      EKS_CA_DATA: undefined,
    };
    const ok = await withEnv(selfManaged, () => runDoctor(options(), { aws: stack.aws }));
    expect(ok.checks.map((c) => c.id)).not.toContain('auth-mode');
    expect(ok.checks.find((c) => c.id === 'kubeconfig-secret')).toMatchObject({
      status: 'pass',
      details: [expect.stringMatching(/exists with a current version \(content not read/)],
    });
    // The RBAC question is then asked for the configured group.
    expect(ok.checks.find((c) => c.id === 'rbac')).toMatchObject({
      status: 'pass',
      details: [expect.stringMatching(/asked for group contrast-autorecover \(self-managed/), expect.anything()],
    });
    const missing = await withEnv({ ...selfManaged, KUBECONFIG_SECRET_ID: 'contrast-autorecover/no-kubeconfig' }, () =>
      check('kubeconfig-secret'),
    );
    expect(missing).toMatchObject({
      status: 'fail',
      details: [expect.stringMatching(/ResourceNotFoundException/)],
      fix: expect.stringMatching(/create-secret --name contrast-autorecover\/no-kubeconfig/),
    });
  });

  it("rbac: asks a SubjectAccessReview per verb the restarts need, as the access entry's user and groups", async () => {
    stack.kube.reviews.reviews.length = 0;
    const c = await check('rbac');
    expect(c.status).toBe('pass');
    const asked = stack.kube.reviews.reviews
      .map((r) => `${r.resourceAttributes!.verb} ${r.resourceAttributes!.resource} ${r.resourceAttributes!.namespace}`)
      .sort();
    expect(asked).toEqual(
      [
        'list pods contrast',
        'list deployments contrast',
        'list statefulsets contrast',
        'list daemonsets contrast',
        'list replicasets contrast',
        'list replicationcontrollers contrast',
        'list jobs contrast',
        'list cronjobs contrast',
        'patch deployments contrast',
        'patch statefulsets contrast',
        'patch daemonsets contrast',
        // not opted in: asked only to warn about a surplus grant
        'delete pods contrast',
      ].sort(),
    );
    const r = stack.kube.reviews.reviews[0]!;
    expect(r.groups).toEqual([RBAC_GROUP, 'system:authenticated']);
    expect(r.user).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/${stack.functionName}-role/${stack.functionName}`);
  });

  it('rbac: a namespace without the RoleBinding fails with the namespaces named', async () => {
    const c = await withEnv({ CONTRAST_DEPLOYMENTS: deploymentsWith({ namespaces: [NAMESPACE, 'payments'] }) }, () =>
      check('rbac'),
    );
    expect(c.status).toBe('fail');
    expect(c.details.filter((d) => d.startsWith('cannot'))).toEqual([
      'cannot list pods in namespace payments (restarts)',
      'cannot list deployments.apps in namespace payments (restarts)',
      'cannot list statefulsets.apps in namespace payments (restarts)',
      'cannot list daemonsets.apps in namespace payments (restarts)',
      'cannot list replicasets.apps in namespace payments (restarts)',
      'cannot list replicationcontrollers in namespace payments (restarts)',
      'cannot list jobs.batch in namespace payments (restarts)',
      'cannot list cronjobs.batch in namespace payments (restarts)',
      'cannot patch deployments.apps in namespace payments (restarts)',
      'cannot patch statefulsets.apps in namespace payments (restarts)',
      'cannot patch daemonsets.apps in namespace payments (restarts)',
    ]);
    expect(c.fix).toBe('apply infra/k8s/rbac.yaml with its RoleBinding copied into namespace(s) payments');
  });

  it('rbac: pod deletion opted in needs its RoleBinding; granted without the opt-in it warns', async () => {
    const optedIn = await withEnv({ ALLOW_POD_DELETION: 'true' }, () => check('rbac'));
    expect(optedIn).toMatchObject({
      status: 'fail',
      fix: 'apply infra/k8s/rbac-pod-deletion.yaml in the same namespaces (pod deletion is opted in)',
    });
    expect(optedIn.details).toContain('cannot delete pods in namespace contrast (pod deletion (opted in))');
    stack.kube.reviews.grantGroup(RBAC_GROUP, manifestRbac([NAMESPACE], { podDeletion: true }));
    try {
      expect(await withEnv({ ALLOW_POD_DELETION: 'true' }, () => check('rbac'))).toMatchObject({ status: 'pass' });
      const surplus = await check('rbac');
      expect(surplus).toMatchObject({
        status: 'warn',
        fix: expect.stringMatching(/remove the RoleBindings of infra\/k8s\/rbac-pod-deletion.yaml/),
      });
      expect(surplus.details).toContain('may delete pods (namespace contrast) although pod deletion is not opted in');
    } finally {
      stack.kube.reviews.grantGroup(RBAC_GROUP, manifestRbac([NAMESPACE]));
    }
  });

  it('rbac and exporter: a kubeconfig context that does not exist fails both with the flag to fix', async () => {
    const report = await runDoctor(options({ kubeContext: 'nope' }), { aws: stack.aws });
    for (const id of ['rbac', 'exporter']) {
      expect(report.checks.find((c) => c.id === id)).toMatchObject({
        status: 'fail',
        details: [
          expect.stringMatching(/no cluster access: the kubeconfig has no context "nope" \(it has: stand-in\)/),
        ],
        fix: 'pass --kubeconfig/--kube-context for the cluster of this deployment',
      });
    }
    // The AWS side is still checked.
    expect(report.checks.find((c) => c.id === 'coordinator')!.status).toBe('pass');
  });

  it('rbac: an operator who may not create SubjectAccessReviews is told so', async () => {
    stack.kube.setRbac(
      new RbacAuthorizer([
        {
          namespace: undefined,
          rules: [{ apiGroups: [''], resources: ['configmaps', 'namespaces'], verbs: ['list'] }],
        },
      ]),
    );
    try {
      const c = await check('rbac');
      expect(c).toMatchObject({
        status: 'fail',
        details: [expect.stringMatching(/HTTP 403: subjectaccessreviews.authorization.k8s.io is forbidden/)],
        fix: expect.stringMatching(/may create subjectaccessreviews.authorization.k8s.io/),
      });
    } finally {
      stack.kube.setRbac(RbacAuthorizer.allowAll());
    }
  });

  it("coordinator: stale is a warning, refused evidence fails; both are the function's own status answer", async () => {
    stack.emu.restart();
    try {
      const stale = await check('coordinator');
      expect(stale).toMatchObject({
        status: 'warn',
        details: [expect.stringMatching(/: recovery-needed — /), expect.stringMatching(/^attested: testing/)],
      });
      stack.emu.misbehave = 'wrong-nonce';
      const refused = await check('coordinator');
      expect(refused).toMatchObject({
        status: 'fail',
        details: [expect.stringMatching(/: attestation-failed — /)],
        fix: expect.stringMatching(/never trust more/),
      });
      expect(stack.emu.recoverCalls).toHaveLength(0);
    } finally {
      stack.emu.misbehave = 'none';
      // Recover it again for the other tests.
      await stack.invoke({ action: 'recover', deployment: stack.deployment, reason: 'test: restore' });
    }
  });

  it('coordinator: a function that cannot be invoked fails with the permission to grant', async () => {
    const f = stack.lambda.functions.get(stack.functionName)!;
    const invoke = f.invoke;
    delete f.invoke;
    try {
      const c = await check('coordinator');
      expect(c).toMatchObject({ status: 'fail', fix: expect.stringMatching(/lambda:InvokeFunction/) });
      // The bundle's well-formedness is then unknown, not assumed.
      expect(await check('bundle')).toMatchObject({ status: 'warn' });
    } finally {
      f.invoke = invoke;
    }
  });

  it('bundle: a missing secret fails with the enroll command; one the function refuses fails with its reason', async () => {
    const missing = await withEnv(
      { CONTRAST_DEPLOYMENTS: deploymentsWith({ secretId: 'contrast-autorecover/missing' }) },
      () => check('bundle'),
    );
    expect(missing).toMatchObject({
      status: 'fail',
      details: [expect.stringMatching(/ResourceNotFoundException/)],
      fix: expect.stringMatching(/^contrast-autorecover enroll .*--secret-id contrast-autorecover\/missing/),
    });

    const good = await stack.clients.secrets.send(
      new (await import('@aws-sdk/client-secrets-manager')).GetSecretValueCommand({ SecretId: stack.secretId }),
    );
    await stack.clients.secrets.send(
      new PutSecretValueCommand({ SecretId: stack.secretId, SecretString: '{"format":"something else","version":1}' }),
    );
    try {
      const refused = await check('bundle');
      expect(refused).toMatchObject({
        status: 'fail',
        details: [
          expect.anything(),
          expect.stringMatching(/the function refused it: .*does not hold a recovery bundle/),
        ],
        fix: expect.stringMatching(/^contrast-autorecover enroll/),
      });
    } finally {
      await stack.clients.secrets.send(
        new PutSecretValueCommand({ SecretId: stack.secretId, SecretString: good.SecretString! }),
      );
    }
  });

  it('bundle: a secret scheduled for deletion fails with the restore command', async () => {
    const id = `contrast-autorecover/doomed-${Date.now()}`;
    const { CreateSecretCommand } = await import('@aws-sdk/client-secrets-manager');
    await stack.clients.secrets.send(new CreateSecretCommand({ Name: id, SecretString: '{}' }));
    await stack.clients.secrets.send(new DeleteSecretCommand({ SecretId: id, RecoveryWindowInDays: 7 }));
    const c = await withEnv({ CONTRAST_DEPLOYMENTS: deploymentsWith({ secretId: id }) }, () => check('bundle'));
    expect(c).toMatchObject({
      status: 'fail',
      details: [expect.stringMatching(/scheduled for deletion/)],
      fix: `aws secretsmanager restore-secret --secret-id ${id}`,
    });
  });

  it('key-policy: finds the recovery key in the audit record of its status call, not in the secret', async () => {
    const c = await check('key-policy');
    expect(c.details[0]).toBe(`key ${stack.kmsKeyArn} (named by the function's audit record of the status call)`);
    expect(c.status).toBe('pass');
    // Without the function's logs: the secret's key, said as such, with what to pass.
    const f = stack.lambda.functions.get(stack.functionName)!;
    const logGroup = f.logGroup;
    f.logGroup = '/aws/lambda/unreadable';
    try {
      const fallback = await check('key-policy', {}, { auditWaitMs: 0 });
      expect(fallback.details[0]).toBe(
        `key ${stack.secretsKeyArn} (the bundle secret's key: the status call's audit record was not readable; pass --kms-key-id <RecoveryKeyArn>)`,
      );
    } finally {
      f.logGroup = logGroup;
    }
  });

  it('key-policy: lists who may Decrypt and who administers; fails when the function may not Decrypt, warns on the account root', async () => {
    const ok = await check('key-policy', { kmsKeyId: stack.kmsKeyArn });
    expect(ok.status).toBe('pass');
    expect(ok.details[1]).toBe(
      `may Decrypt: ${stack.roleArn} (if StringEquals kms:EncryptionContext:contrast-autorecover:deployment, StringEquals kms:EncryptionContext:contrast-autorecover:purpose, Null kms:EncryptionContext:contrast-autorecover:bundle-sha256) [FunctionDecryptOwnerKey]; ${stack.roleArn} (if StringEquals kms:ViaService) [SecretsManagerDecrypt]`,
    );
    expect(ok.details[2]).toBe(`administer (PutKeyPolicy): ${stack.adminArn} (unconditional) [KeyAdministration]`);

    const put = (policy: string) =>
      stack.clients.kms.send(
        new PutKeyPolicyCommand({ KeyId: stack.kmsKeyArn, PolicyName: 'default', Policy: policy }),
      );
    const original = stackKeyPolicy({ roleArn: stack.roleArn, adminArn: stack.adminArn, deployment: stack.deployment });
    try {
      await put(
        stackKeyPolicy({
          roleArn: `arn:aws:iam::${ACCOUNT}:role/someone-else`,
          adminArn: stack.adminArn,
          deployment: stack.deployment,
        }),
      );
      const lost = await check('key-policy', { kmsKeyId: stack.kmsKeyArn });
      expect(lost.status).toBe('fail');
      expect(lost.details).toContain(
        `the function role ${stack.roleArn} may not Decrypt: recovery fails with config-invalid`,
      );

      const rootAdmin = {
        Sid: 'EnableIamPolicies',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
        Action: 'kms:*',
        Resource: '*',
      };
      await put(
        stackKeyPolicy({
          roleArn: stack.roleArn,
          adminArn: stack.adminArn,
          deployment: stack.deployment,
          extra: [rootAdmin],
        }),
      );
      const root = await check('key-policy', { kmsKeyId: stack.kmsKeyArn });
      expect(root.status).toBe('warn');
      expect(root.details).toContain(
        'the account root may Decrypt: IAM policies decide who can, so any IAM administrator can grant it',
      );
      expect(root.details).toContain(
        "CreateGrant hands out Decrypt without the policy's encryption-context conditions",
      );

      await put(
        stackKeyPolicy({
          roleArn: stack.roleArn,
          adminArn: stack.adminArn,
          deployment: stack.deployment,
          extra: [{ Effect: 'Allow', Principal: '*', Action: 'kms:Decrypt', Resource: '*' }],
        }),
      );
      expect((await check('key-policy', { kmsKeyId: stack.kmsKeyArn })).details).toContain(
        'anyone may Decrypt without a condition',
      );
    } finally {
      await put(original);
    }
  });

  it('exporter: fails without a config for the deployment, and names what a config gets wrong', async () => {
    const empty = await check('exporter', { exporterNamespace: 'nowhere' });
    expect(empty).toMatchObject({
      status: 'fail',
      details: [expect.stringMatching(/no exporter config in namespace nowhere sends deployment/)],
      fix: expect.stringMatching(
        /contrast-autorecover manifests --deployment \S+ --stack <stack> --exporter irsa\|roles-anywhere \| kubectl apply -f -/,
      ),
    });

    try {
      stack.putExporterConfig(
        stack.exporterConfig({ source: 'contrast.other', eventBusName: '${EVENT_BUS_NAME}', sentUpdateEvent: true }),
      );
      const wrong = await check('exporter');
      expect(wrong.status).toBe('fail');
      expect(wrong.details.join('\n')).toMatch(/unexpanded \$\{…\} placeholders/);
      expect(wrong.details.join('\n')).toMatch(/source "contrast.other", the function accepts contrast.coordinator/);
      expect(wrong.details.join('\n')).toMatch(/eventBusName "\$\{EVENT_BUS_NAME\}", the function's bus is bus-/);
      expect(wrong.details.join('\n')).toMatch(/sentUpdateEvent is not a key of the eventbridge sink and is ignored/);
    } finally {
      stack.putExporterConfig(stack.exporterConfig());
    }
  });

  it('exporter: accepts the exporter config `contrast-autorecover manifests` renders from the stack', async () => {
    const { renderObjects } = await import('../../cli/manifests/render.ts');
    const rendered = renderObjects(
      {
        deployment: stack.deployment,
        coordinatorNamespace: NAMESPACE,
        exporter: {
          kind: 'irsa',
          roleArn: 'arn:aws:iam::123456789012:role/exporter',
          eventBusName: stack.busName,
          region: 'eu-central-1',
          clusterName: CLUSTER,
        },
      },
      ['exporter'],
    ).find((o) => o.kind === 'ConfigMap')!;
    const manifest = rendered as unknown as {
      metadata: { name: string; namespace: string };
      data: Record<string, string>;
    };
    expect(manifest.metadata.namespace).toBe(OPERATIONS.exporterNamespace);
    try {
      stack.putExporterConfig(manifest.data['config.yaml']!);
      expect(await check('exporter')).toMatchObject({
        status: 'pass',
        details: [expect.stringMatching(/receiver contrast-coordinator-restarts → bus /)],
      });
    } finally {
      stack.putExporterConfig(stack.exporterConfig());
    }
  });

  it('trail: passes with a logging multi-region trail (stack.ts creates one in the test account)', async () => {
    const c = await check('trail');
    expect(c).toMatchObject({
      status: 'pass',
      details: [expect.stringMatching(/\(multi-region\): logging, KMS read events included/)],
    });
  });
});
