/**
 * `contrast-autorecover manifests` and `scp`: rendered from a deployed stack's outputs, read
 * with DescribeStacks from moto's CloudFormation (a stack whose outputs are named as CDK names
 * the construct's). The YAML is checked three ways:
 *
 * - against the Kubernetes object schemas of `kubernetes-models` (JSON schemas generated from
 *   the Kubernetes OpenAPI, compiled to validators; chosen because it ships schemas with
 *   validation for every built-in kind, ValidatingAdmissionPolicy included — kubernetes-types
 *   is types only, and @kubernetes/client-node's ObjectSerializer maps fields without checking);
 * - applied in document order to the Kubernetes API stand-in through @kubernetes/client-node,
 *   which refuses an object in a namespace that does not exist yet (as the API server does);
 * - by what the pieces must say: publishNotReadyAddresses, the node port, one RoleBinding per
 *   namespace, the exporter's identity, no `${…}` left.
 */
import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import { KubeConfig, KubernetesObjectApi, PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import * as admission from 'kubernetes-models/admissionregistration.k8s.io/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as rbac from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as core from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stackOutputsOf } from '../../cli/manifests/stack-outputs.ts';
import { kubeconfigFor, startKubeApi, type KubeApi } from '../../testing/kube-api/index.ts';
import { awsClientConfig, motoAvailable, motoEndpoint, SKIP_REASON, uniqueName } from '../support/aws.ts';
import { runCliInProcess } from '../support/cli.ts';

const ACCOUNT = '123456789012';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const HELPER = `registry.example/aws-signing-helper@${DIGEST}`;

/** Outputs as the construct `Recovery` writes them (CDK: path ids + name + 8 hex digits). */
function outputs(o: { profile: boolean; podDeletion: boolean }): Record<string, string> {
  return {
    RecoveryFunctionName0A1B2C3D: 'contrast-autorecover-fn',
    RecoveryFunctionArnAB12CD34: `arn:aws:lambda:eu-central-1:${ACCOUNT}:function:contrast-autorecover-fn`,
    RecoveryFunctionRoleArn11AA22BB: `arn:aws:iam::${ACCOUNT}:role/contrast-autorecover-fn-role`,
    RecoveryRecoveryKeyArn5E6F7A8B: `arn:aws:kms:eu-central-1:${ACCOUNT}:key/0b9e6d0c-0000-4000-8000-000000000001`,
    RecoveryBundleSecretsKeyArn9C0D1E2F: `arn:aws:kms:eu-central-1:${ACCOUNT}:key/0b9e6d0c-0000-4000-8000-000000000002`,
    RecoveryBundleSecret0Arn3A4B5C6D: `arn:aws:secretsmanager:eu-central-1:${ACCOUNT}:secret:contrast-autorecover/prod-AbCdEf`,
    RecoveryBundleSecret1Arn7E8F9A0B: `arn:aws:secretsmanager:eu-central-1:${ACCOUNT}:secret:contrast-autorecover/staging-GhIjKl`,
    RecoveryEventBusName1C2D3E4F: 'contrast-autorecover',
    RecoveryExporterRoleArn5A6B7C8D: `arn:aws:iam::${ACCOUNT}:role/contrast-autorecover-exporter`,
    ...(o.profile
      ? {
          RecoveryExporterProfileArn9E0F1A2B: `arn:aws:rolesanywhere:eu-central-1:${ACCOUNT}:profile/6f1c0d1e-0000-4000-8000-000000000003`,
          RecoveryExporterTrustAnchorArn3C4D5E6F: `arn:aws:rolesanywhere:eu-central-1:${ACCOUNT}:trust-anchor/6f1c0d1e-0000-4000-8000-000000000004`,
        }
      : { RecoveryClusterName7A8B9C0D: 'prod-hybrid' }),
    RecoveryDeployments1E2F3A4B: JSON.stringify([
      { name: 'prod', coordinatorNamespace: 'contrast-prod', namespaces: ['contrast-prod', 'contrast-apps'] },
      { name: 'staging', coordinatorNamespace: 'contrast-staging' },
    ]),
    RecoveryAllowPodDeletion5C6D7E8F: String(o.podDeletion),
  };
}

/** A stack in moto's CloudFormation with these outputs (a WaitConditionHandle as its one resource). */
async function createStack(name: string, values: Record<string, string>): Promise<void> {
  const cfn = new CloudFormationClient(awsClientConfig());
  const template = {
    Resources: { Placeholder: { Type: 'AWS::CloudFormation::WaitConditionHandle' } },
    Outputs: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { Value: v }])),
  };
  try {
    await cfn.send(new CreateStackCommand({ StackName: name, TemplateBody: JSON.stringify(template) }));
  } finally {
    cfn.destroy();
  }
}

const env = () => ({
  AWS_ENDPOINT_URL: motoEndpoint,
  AWS_REGION: 'eu-central-1',
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
});

type Obj = KubernetesObject & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
};
const docsOf = (yaml: string): Obj[] => parseAllDocuments(yaml).map((d) => d.toJS() as Obj);

/** Each kind the renderer emits, validated by its kubernetes-models class (throws with the schema's complaint). */
const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  'v1/Namespace': core.Namespace,
  'v1/ServiceAccount': core.ServiceAccount,
  'v1/ConfigMap': core.ConfigMap,
  'v1/Service': core.Service,
  'apps/v1/Deployment': apps.Deployment,
  'rbac.authorization.k8s.io/v1/Role': rbac.Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': rbac.RoleBinding,
  'rbac.authorization.k8s.io/v1/ClusterRole': rbac.ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': rbac.ClusterRoleBinding,
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy': admission.ValidatingAdmissionPolicy,
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding': admission.ValidatingAdmissionPolicyBinding,
};

function validate(o: Obj): void {
  const Model = MODELS[`${o.apiVersion}/${o.kind}`];
  if (!Model)
    throw new Error(`no schema for ${o.apiVersion} ${o.kind}: the renderer emits a kind the test does not know`);
  new Model(o as never).validate();
}

/** `kubectl apply -f -` as client-node does it: server-side apply of each document, in order. */
async function apply(api: KubeApi, docs: Obj[]): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfigFor(api.url, 'admin-token', api.caData));
  const client = KubernetesObjectApi.makeApiClient(kc);
  for (const d of docs) await client.patch(d, undefined, undefined, 'kubectl', true, PatchStrategy.ServerSideApply);
}

describe('schema validation catches what it must', () => {
  it('refuses a Service whose publishNotReadyAddresses is not a boolean and a port that is not a number', () => {
    expect(() =>
      validate({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'x' },
        spec: { publishNotReadyAddresses: 'yes', ports: [{ port: 'a' }] },
      } as Obj),
    ).toThrow(/publishNotReadyAddresses must be boolean/);
  });
});

describe('manifests --coordinator-endpoint (before the stack; no AWS call)', () => {
  let api: KubeApi;
  beforeAll(async () => {
    api = await startKubeApi();
  });
  afterAll(() => api.close());

  it("EKS: the controller's NLB Service with not-ready addresses published, named for the deployment", async () => {
    const r = await runCliInProcess([
      'manifests',
      '--deployment',
      'prod',
      '--coordinator-endpoint',
      'aws-load-balancer-controller',
      '--coordinator-namespace',
      'contrast-prod',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const [svc, ...rest] = docsOf(r.stdout);
    expect(rest).toEqual([]);
    validate(svc!);
    expect(svc).toMatchObject({
      kind: 'Service',
      metadata: {
        namespace: 'contrast-prod',
        annotations: { 'service.beta.kubernetes.io/aws-load-balancer-name': 'contrast-coordinator-prod' },
      },
      spec: { type: 'LoadBalancer', publishNotReadyAddresses: true, ports: [{ port: 1313, targetPort: 1313 }] },
    });
  });

  it('self-managed: a NodePort Service on the chosen node port, still publishing not-ready addresses; applies once the namespace exists', async () => {
    const r = await runCliInProcess([
      'manifests',
      '--deployment',
      'prod',
      '--coordinator-endpoint',
      'node-port',
      '--coordinator-namespace',
      'contrast-prod',
      '--node-port',
      '31313',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const docs = docsOf(r.stdout);
    for (const d of docs) validate(d);
    expect(docs[0]).toMatchObject({
      spec: {
        type: 'NodePort',
        publishNotReadyAddresses: true,
        ports: [{ port: 1313, targetPort: 1313, nodePort: 31313 }],
      },
    });
    expect((docs[0]!.spec as Record<string, unknown>).loadBalancerClass).toBeUndefined();
    await expect(apply(api, docs)).rejects.toThrow(/namespaces \W*contrast-prod\W* not found/);
    api.store.addNamespace('contrast-prod');
    await apply(api, docs);
    expect(api.store.get('services', 'contrast-prod', 'coordinator-privatelink')).toMatchObject({
      spec: { publishNotReadyAddresses: true },
    });
  });

  it('refuses a node port outside the NodePort range and a missing namespace, as usage errors', async () => {
    const bad = await runCliInProcess([
      'manifests',
      '--deployment',
      'prod',
      '--coordinator-endpoint',
      'node-port',
      '--coordinator-namespace',
      'p',
      '--node-port',
      '1313',
    ]);
    expect(bad).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--node-port 1313: expected a port of the default NodePort range 30000–32767/),
    });
    const noNs = await runCliInProcess(['manifests', '--deployment', 'prod', '--coordinator-endpoint', 'node-port']);
    expect(noNs).toMatchObject({ code: 2, stderr: expect.stringMatching(/needs --coordinator-namespace/) });
  });
});

describe.skipIf(!motoAvailable)(`manifests and scp from the deployed stack ${motoAvailable ? '' : SKIP_REASON}`, () => {
  let api: KubeApi;
  const irsaStack = uniqueName('ContrastAutorecoverIrsa');
  const raStack = uniqueName('ContrastAutorecoverRa');
  beforeAll(async () => {
    api = await startKubeApi();
    await createStack(irsaStack, outputs({ profile: false, podDeletion: false }));
    await createStack(raStack, outputs({ profile: true, podDeletion: true }));
  });
  afterAll(() => api.close());

  it('IRSA: RBAC per namespace, the admission policy and the exporter — schema-valid, Namespace first, applied in order', async () => {
    const r = await runCliInProcess(
      ['manifests', '--deployment', 'prod', '--stack', irsaStack, '--exporter', 'irsa'],
      env(),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/\$\{/);
    const docs = docsOf(r.stdout);
    for (const d of docs) validate(d);
    expect(docs[0]).toMatchObject({ kind: 'Namespace', metadata: { name: 'contrast-autorecover-exporter' } });
    const sa = docs.find((d) => d.kind === 'ServiceAccount')!;
    expect(sa.metadata.annotations).toEqual({
      'eks.amazonaws.com/role-arn': `arn:aws:iam::${ACCOUNT}:role/contrast-autorecover-exporter`,
      'eks.amazonaws.com/sts-regional-endpoints': 'true',
    });
    const bindings = docs
      .filter((d) => d.kind === 'RoleBinding' && d.metadata.name === 'contrast-autorecover')
      .map((d) => d.metadata.namespace);
    expect(bindings).toEqual(['contrast-prod', 'contrast-apps']);
    expect(docs.some((d) => d.kind === 'ClusterRoleBinding')).toBe(false); // no namespace selector
    expect(docs.some((d) => d.metadata.name === 'contrast-autorecover-pod-deletion')).toBe(false);
    expect(docs.map((d) => d.kind)).toEqual(
      expect.arrayContaining([
        'ValidatingAdmissionPolicy',
        'ValidatingAdmissionPolicyBinding',
        'ConfigMap',
        'Deployment',
      ]),
    );
    const config = docs.find((d) => d.kind === 'ConfigMap')!;
    const exporter = parseAllDocuments((config.data as Record<string, string>)['config.yaml']!)[0]!.toJS();
    expect(exporter.receivers[0].eventbridge).toMatchObject({
      eventBusName: 'contrast-autorecover',
      region: 'eu-central-1',
      details: { deployment: 'prod', cluster: 'prod-hybrid' },
    });
    expect(exporter.namespace).toBe('contrast-prod');

    for (const ns of ['contrast-prod', 'contrast-apps']) api.store.addNamespace(ns);
    // The order is what makes one `kubectl apply -f -` work: with the Namespace last, the exporter's first object fails.
    const other = await startKubeApi();
    try {
      for (const ns of ['contrast-prod', 'contrast-apps']) other.store.addNamespace(ns);
      await expect(apply(other, [...docs.slice(1), docs[0]!])).rejects.toThrow(
        /namespaces \W*contrast-autorecover-exporter\W* not found/,
      );
    } finally {
      await other.close();
    }
    await apply(api, docs);
    expect(api.store.get('rolebindings', 'contrast-apps', 'contrast-autorecover')).toBeDefined();
    expect(api.store.get('validatingadmissionpolicies', undefined, 'contrast-autorecover-restart-only')).toBeDefined();
    expect(api.store.get('deployments', 'contrast-autorecover-exporter', 'event-exporter-contrast-prod')).toBeDefined();
    // Applying again changes nothing that fails (kubectl apply is idempotent).
    await apply(api, docs);
  });

  it("Roles Anywhere: the signing helper as a native sidecar with the stack's ARNs, and pod deletion when the stack opted in", async () => {
    const r = await runCliInProcess(
      [
        'manifests',
        '--deployment',
        'prod',
        '--stack',
        raStack,
        '--exporter',
        'roles-anywhere',
        '--signing-helper-image',
        HELPER,
        '--with',
        'pod-deletion',
        '--cluster-name',
        'metal-1',
      ],
      env(),
    );
    expect(r.code, r.stderr).toBe(0);
    const docs = docsOf(r.stdout);
    for (const d of docs) validate(d);
    const pod = (docs.find((d) => d.kind === 'Deployment')!.spec as any).template.spec;
    expect(pod.initContainers[0]).toMatchObject({ name: 'signing-helper', image: HELPER, restartPolicy: 'Always' });
    expect(pod.initContainers[0].args).toEqual(
      expect.arrayContaining([
        `--trust-anchor-arn=arn:aws:rolesanywhere:eu-central-1:${ACCOUNT}:trust-anchor/6f1c0d1e-0000-4000-8000-000000000004`,
        '--region=eu-central-1',
      ]),
    );
    expect(pod.containers[0].env).toContainEqual({
      name: 'AWS_EC2_METADATA_SERVICE_ENDPOINT',
      value: 'http://127.0.0.1:9911/',
    });
    expect(pod.volumes).toContainEqual({ name: 'certificate', secret: { secretName: 'exporter-certificate' } });
    expect(
      docs
        .filter((d) => d.metadata.name === 'contrast-autorecover-pod-deletion')
        .map((d) => `${d.kind}/${d.metadata.namespace ?? ''}`),
    ).toEqual(['ClusterRole/', 'RoleBinding/contrast-prod', 'RoleBinding/contrast-apps']);
  });

  it('refuses what the stack does not back: another exporter identity, pod deletion not opted in, an unpinned helper image, an unknown deployment', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['--stack', irsaStack, '--exporter', 'roles-anywhere', '--signing-helper-image', HELPER],
        /set up the exporter identity for irsa/,
      ],
      [['--stack', irsaStack, '--with', 'pod-deletion'], /does not allow pod deletion/],
      [
        [
          '--stack',
          raStack,
          '--exporter',
          'roles-anywhere',
          '--signing-helper-image',
          'registry.example/aws-signing-helper:latest',
        ],
        /pinned by digest/,
      ],
      [['--stack', raStack, '--exporter', 'roles-anywhere'], /needs --signing-helper-image/],
    ];
    for (const [args, message] of cases) {
      const r = await runCliInProcess(['manifests', '--deployment', 'prod', ...args], env());
      expect(r, args.join(' ')).toMatchObject({ code: 2, stderr: expect.stringMatching(message) });
    }
    const unknown = await runCliInProcess(['manifests', '--deployment', 'nope', '--stack', irsaStack], env());
    expect(unknown).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/has no deployment nope \(it has: prod, staging\)/),
    });
    const missing = await runCliInProcess(
      ['manifests', '--deployment', 'prod', '--stack', uniqueName('NoSuchStack')],
      env(),
    );
    expect(missing.code).toBe(21);
    expect(missing.stderr).toMatch(/cannot read stack NoSuchStack-/);
  });

  it('output: one output by its name, for a shell step; a missing one says so', async () => {
    const r = await runCliInProcess(['output', '--stack', irsaStack, 'FunctionName'], env());
    expect(r).toMatchObject({ code: 0, stdout: 'contrast-autorecover-fn\n' });
    const missing = await runCliInProcess(['output', '--stack', irsaStack, 'TrailBucketName'], env());
    expect(missing).toMatchObject({ code: 21, stderr: expect.stringMatching(/has no output TrailBucketName/) });
  });

  it("scp: the SCP with the stack's concrete ARNs — every bundle secret, the function with and without qualifier, no intrinsics", async () => {
    const r = await runCliInProcess(['scp', '--stack', irsaStack], env());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/Fn::|Ref|\$\{Token/);
    const o = outputs({ profile: false, podDeletion: false });
    const fn = o.RecoveryFunctionArnAB12CD34!;
    expect(JSON.parse(r.stdout)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'ContrastAutorecoverRoleOnlyInsideItsFunction',
          Effect: 'Deny',
          Action: ['kms:Decrypt', 'secretsmanager:GetSecretValue'],
          Resource: [
            o.RecoveryRecoveryKeyArn5E6F7A8B,
            o.RecoveryBundleSecret0Arn3A4B5C6D,
            o.RecoveryBundleSecret1Arn7E8F9A0B,
          ],
          Condition: {
            ArnEquals: { 'aws:PrincipalArn': o.RecoveryFunctionRoleArn11AA22BB },
            ArnNotLike: { 'lambda:SourceFunctionArn': [fn, `${fn}:*`] },
          },
        },
      ],
    });
  });
});

describe('stack outputs by name', () => {
  it('finds an output with or without the construct prefix and hash, and refuses two of one name', () => {
    const out = stackOutputsOf('S', 'eu-central-1', [
      { OutputKey: 'RecoveryFunctionArnAB12CD34', OutputValue: 'a' },
      { OutputKey: 'RecoveryFunctionRoleArn11AA22BB', OutputValue: 'b' },
      { OutputKey: 'EventBusName', OutputValue: 'c' },
    ]);
    expect([
      out.get('FunctionArn'),
      out.get('FunctionRoleArn'),
      out.get('EventBusName'),
      out.get('ClusterName'),
    ]).toEqual(['a', 'b', 'c', undefined]);
    expect(() => out.require('ClusterName', 'names the cluster')).toThrow(
      /stack S has no output ClusterName, which names the cluster/,
    );
    const twice = stackOutputsOf('S', 'r', [
      { OutputKey: 'AFunctionArnAB12CD34', OutputValue: 'a' },
      { OutputKey: 'BFunctionArnAB12CD35', OutputValue: 'b' },
    ]);
    expect(() => twice.get('FunctionArn')).toThrow(/one ContrastRecovery per stack/);
  });
});
