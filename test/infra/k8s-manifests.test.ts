/**
 * The Kubernetes side in infra/k8s/: the exporter's configuration agrees with the function
 * (names from lambda/shared/contract.ts) and with what the exporter's EventBridge sink accepts;
 * the admission policy lets the function's group do a rollout restart and nothing else (its CEL
 * evaluated with @bufbuild/cel, the way the API server evaluates `object`/`oldObject` as
 * dynamic values); RBAC and the Coordinator endpoint follow the least-privilege and naming rules.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { run, type CelInput } from '@bufbuild/cel';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lambda/function/config.ts';
import { parseTrigger } from '../../lambda/function/events.ts';
import { RESTARTED_AT_ANNOTATION } from '../../lambda/kubernetes/restart.ts';
import { DEFAULTS, ENV, EVENTS, EXPORTER_IMAGE, TRIGGER_DETAIL } from '../../lambda/shared/contract.ts';
import { lambdaContext } from '../function/samples.ts';
import { ROOT } from './synth.ts';

const k8s = (file: string) => readFileSync(path.join(ROOT, 'infra', 'k8s', file), 'utf8');
const docs = (file: string) => parseAllDocuments(k8s(file)).map((d) => d.toJS());

/** envsubst: every ${NAME} from `values`; a placeholder left over is a test failure. */
function envsubst(text: string, values: Record<string, string>): string {
  return text.replace(/\$\{([A-Z_]+)\}/g, (_m, name: string) => {
    if (!(name in values)) throw new Error(`placeholder \${${name}} has no value`);
    return values[name]!;
  });
}

const VALUES = {
  COORDINATOR_NAMESPACE: 'contrast-prod',
  DEPLOYMENT: 'prod',
  CLUSTER_NAME: 'prod-hybrid',
  EVENT_BUS_NAME: 'contrast-bus',
  AWS_REGION: 'eu-central-1',
};
const configMap = () => parse(envsubst(k8s('exporter/config.yaml'), VALUES));
const exporterConfig = () => parse(configMap().data['config.yaml']);
/** The raw, not yet substituted exporter configuration (the text envsubst sees). */
const rawExporterConfig = () => parse(k8s('exporter/config.yaml')).data['config.yaml'] as string;

describe('exporter configuration', () => {
  it('uses only keys the EventBridge sink has', () => {
    const sink = exporterConfig().receivers[0].eventbridge;
    expect(
      Object.keys(sink).filter((k) => !['detailType', 'details', 'source', 'eventBusName', 'region'].includes(k)),
    ).toEqual([]);
  });
  it('sends the trigger source and detail type the function matches', () => {
    const sink = exporterConfig().receivers[0].eventbridge;
    expect(sink.source).toBe(EVENTS.triggerSource);
    expect(EVENTS.triggerDetailTypes).toContain(sink.detailType);
  });
  it('sends exactly the detail fields the function reads (podUID, not podUid)', () => {
    expect(Object.keys(exporterConfig().receivers[0].eventbridge.details).sort()).toEqual(
      Object.values(TRIGGER_DETAIL).sort(),
    );
  });
  it('anchors every match pattern (the exporter matches unanchored regexps)', () => {
    const match = exporterConfig().route.routes[0].match[0];
    const patterns = [
      match.kind,
      match.reason,
      match.namespace,
      ...Object.values(match.labels as Record<string, string>),
    ];
    expect(patterns.length).toBe(4);
    for (const p of patterns) expect(p).toMatch(/^\^.*\$$/);
    expect(new RegExp(match.namespace).test('contrast-prod-2')).toBe(false);
  });
  it('quotes every templated value', () => {
    const templated = rawExporterConfig()
      .split('\n')
      .filter((l) => /\$\{|\{\{/.test(l) && !l.trim().startsWith('#'));
    expect(templated.length).toBeGreaterThanOrEqual(7);
    for (const line of templated) expect(line).toMatch(/:\s*"[^"]*"\s*$/);
  });
  it("is one configuration per deployment: its objects are named after the Coordinator's namespace", () => {
    const deployment = docs('exporter/deployment.yaml')[0];
    expect(configMap().metadata.name).toBe(
      'event-exporter-${COORDINATOR_NAMESPACE}'.replace('${COORDINATOR_NAMESPACE}', VALUES.COORDINATOR_NAMESPACE),
    );
    expect(deployment.metadata.name).toBe('event-exporter-${COORDINATOR_NAMESPACE}');
    expect(deployment.spec.selector.matchLabels['app.kubernetes.io/instance']).toBe('${COORDINATOR_NAMESPACE}');
    expect(deployment.spec.template.spec.volumes[0].configMap.name).toBe('event-exporter-${COORDINATOR_NAMESPACE}');
  });
  it('pins the exporter image version', () => {
    expect(docs('exporter/deployment.yaml')[0].spec.template.spec.containers[0].image).toBe(EXPORTER_IMAGE);
    expect(EXPORTER_IMAGE).toMatch(/:v\d+\.\d+(\.\d+)?$|@sha256:/);
  });
  it('produces an event the function accepts, with the pod UID', () => {
    // What the sink sends: each details value rendered as a string (pkg/sinks/tmpl.go).
    const rendered = Object.fromEntries(
      Object.entries(exporterConfig().receivers[0].eventbridge.details as Record<string, string>).map(([k, v]) => [
        k,
        v
          .replace('{{ .InvolvedObject.Name }}', 'coordinator-0')
          .replace('{{ .InvolvedObject.UID }}', '5f0b6a4e-3c2d-4c1e-9d2e-1b7d3f1e2a10'),
      ]),
    );
    const config = loadConfig({
      [ENV.deployments]: JSON.stringify([{ name: 'prod', secretId: 's', coordinator: 'c.internal:1313' }]),
      [ENV.lockTable]: 't',
      [ENV.eventBus]: VALUES.EVENT_BUS_NAME,
      [ENV.kubeAuth]: 'none',
    });
    const event = {
      version: '0',
      id: 'e1',
      account: '123456789012',
      region: VALUES.AWS_REGION,
      time: '2026-01-01T00:00:00Z',
      resources: [],
      source: exporterConfig().receivers[0].eventbridge.source,
      'detail-type': exporterConfig().receivers[0].eventbridge.detailType,
      detail: rendered,
    };
    expect(parseTrigger(event, config, lambdaContext())).toMatchObject({
      kind: 'event',
      deployment: 'prod',
      pod: 'coordinator-0',
      podUid: '5f0b6a4e-3c2d-4c1e-9d2e-1b7d3f1e2a10',
      cluster: 'prod-hybrid',
    });
  });
  it('ships no kustomization (the CLI renders the identity variants: cli/manifests/render.ts)', () => {
    for (const dir of ['exporter', 'exporter/irsa', 'exporter/roles-anywhere'])
      expect(existsSync(path.join(ROOT, 'infra', 'k8s', dir, 'kustomization.yaml'))).toBe(false);
  });
});

/** CEL input: maps as Map (the evaluator's documented input), lists as arrays. */
function cel(value: unknown): CelInput {
  if (Array.isArray(value)) return value.map(cel);
  if (value && typeof value === 'object')
    return new Map(Object.entries(value).map(([k, v]) => [k, cel(v)])) as unknown as CelInput;
  return value as CelInput;
}

const policy = () => docs('restart-only-policy.yaml').find((d) => d.kind === 'ValidatingAdmissionPolicy');

/** What the API server would decide for an UPDATE from `oldObject` to `object` by a user in `groups`. */
function admit(oldObject: object, object: object, groups: string[]): { applies: boolean; denied: string[] } {
  const spec = policy().spec;
  const request = cel({ userInfo: { username: 'arn:aws:sts::111122223333:assumed-role/fn/fn', groups } });
  const base = { object: cel(object), oldObject: cel(oldObject), request };
  const applies = spec.matchConditions.every((c: any) => run(c.expression, base) === true);
  if (!applies) return { applies, denied: [] };
  const variables = new Map<string, unknown>();
  const bound = () => ({ ...base, variables: variables as unknown as CelInput });
  for (const v of spec.variables) variables.set(v.name, run(v.expression, bound()));
  const denied = spec.validations.filter((v: any) => run(v.expression, bound()) !== true).map((v: any) => v.message);
  return { applies, denied };
}

const deployment = () => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name: 'web',
    namespace: 'contrast-prod',
    uid: 'u1',
    resourceVersion: '10',
    generation: 3,
    labels: { app: 'web' },
    annotations: { 'deployment.kubernetes.io/revision': '3' },
    managedFields: [{ manager: 'kubectl' }],
  },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'web' } },
    strategy: { type: 'RollingUpdate' },
    template: {
      metadata: { labels: { app: 'web' }, annotations: { 'contrast.edgeless.systems/pod-role': 'contrast-node' } },
      spec: {
        runtimeClassName: 'contrast-cc',
        serviceAccountName: 'web',
        containers: [{ name: 'web', image: 'registry.example/web:1.0' }],
      },
    },
  },
});

/** The function's strategic-merge patch applied (lambda/kubernetes/restart.ts), plus what the server changes on every write. */
function restarted(old: ReturnType<typeof deployment>, at = '2026-01-01T00:00:00Z') {
  const next = structuredClone(old);
  (next.spec.template.metadata as { annotations?: Record<string, string> }).annotations = {
    ...next.spec.template.metadata.annotations,
    [RESTARTED_AT_ANNOTATION]: at,
  };
  next.metadata.resourceVersion = '11';
  next.metadata.generation = 4;
  next.metadata.managedFields = [{ manager: 'contrast-autorecover' }];
  return next;
}

const GROUP = [DEFAULTS.kubernetesGroup, 'system:authenticated'];

describe("admission policy: the function's group may only restart", () => {
  it("is about the function's group, with the annotation the function sets", () => {
    expect(policy().spec.matchConditions[0].expression).toContain(`'${DEFAULTS.kubernetesGroup}'`);
    expect(JSON.stringify(policy().spec.validations)).toContain(RESTARTED_AT_ANNOTATION);
    expect(docs('restart-only-policy.yaml').find((d) => d.kind === 'ValidatingAdmissionPolicyBinding').spec).toEqual({
      policyName: policy().metadata.name,
      validationActions: ['Deny'],
    });
  });
  it('admits the rollout restart patch', () => {
    expect(admit(deployment(), restarted(deployment()), GROUP)).toEqual({ applies: true, denied: [] });
  });
  it('admits a second restart (restartedAt changes)', () => {
    const once = restarted(deployment());
    expect(admit(once, restarted(once, '2026-02-01T00:00:00Z'), GROUP).denied).toEqual([]);
  });
  it('admits a restart of a workload whose template had no annotations', () => {
    const bare = deployment();
    delete (bare.spec.template.metadata as { annotations?: unknown }).annotations;
    expect(admit(bare, restarted(bare), GROUP).denied).toEqual([]);
  });
  it.each([
    ['an image', (d: any) => (d.spec.template.spec.containers[0].image = 'evil/web:1.0'), /pod spec/],
    ['the service account', (d: any) => (d.spec.template.spec.serviceAccountName = 'admin'), /pod spec/],
    ['the runtime class', (d: any) => delete d.spec.template.spec.runtimeClassName, /pod spec/],
    ['the replica count', (d: any) => (d.spec.replicas = 0), /only the pod template/],
    ['the strategy', (d: any) => delete d.spec.strategy, /only the pod template/],
    ['a pod template label', (d: any) => (d.spec.template.metadata.labels.extra = 'x'), /labels/],
    [
      'another template annotation',
      (d: any) => (d.spec.template.metadata.annotations['contrast.edgeless.systems/pod-role'] = 'none'),
      /restartedAt/,
    ],
    ['a workload label', (d: any) => (d.metadata.labels.app = 'other'), /metadata/],
    ['an owner reference', (d: any) => (d.metadata.ownerReferences = [{ kind: 'X', name: 'y' }]), /metadata/],
  ])('denies a restart that also changes %s', (_what, change, message) => {
    const next = restarted(deployment());
    change(next);
    const { denied } = admit(deployment(), next, GROUP);
    expect(denied.length).toBeGreaterThan(0);
    expect(denied.join('; ')).toMatch(message);
  });
  it('denies removing restartedAt', () => {
    const once = restarted(deployment());
    const removed = restarted(deployment());
    delete (removed.spec.template.metadata.annotations as Record<string, string>)[RESTARTED_AT_ANNOTATION];
    expect(admit(once, removed, GROUP).denied.join()).toMatch(/restartedAt/);
  });
  it('does not apply to anyone else', () => {
    const next = restarted(deployment());
    next.spec.template.spec.containers[0]!.image = 'registry.example/web:2.0';
    expect(admit(deployment(), next, ['ops', 'system:authenticated'])).toEqual({ applies: false, denied: [] });
  });
});

describe('RBAC and the Coordinator endpoint', () => {
  it("grants the function's group patch on workloads and no pod deletion in the main RBAC", () => {
    const rules = docs('rbac.yaml')
      .filter((d) => d.kind === 'ClusterRole')
      .flatMap((r) => r.rules);
    expect(rules.filter((r: any) => r.verbs.includes('delete'))).toEqual([]);
    expect(rules.find((r: any) => r.resources.includes('deployments')).verbs).toEqual(['list', 'patch']);
    for (const b of docs('rbac.yaml').filter((d) => d.kind.endsWith('Binding')))
      expect(b.subjects[0].name).toBe(DEFAULTS.kubernetesGroup);
  });
  it('keeps pod deletion in its own opt-in file', () => {
    const [role] = docs('rbac-pod-deletion.yaml').filter((d) => d.kind === 'ClusterRole');
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['delete'] }]);
  });
  it("binds the workload RBAC in the Coordinator's namespace (the default restart scope)", () => {
    expect(docs('rbac.yaml').find((d) => d.kind === 'RoleBinding').metadata.namespace).toBe('${COORDINATOR_NAMESPACE}');
  });
  it('names the NLB by the 32-character rule, not a literal that can overflow', () => {
    const [service] = docs('coordinator-endpoint.yaml');
    expect(service.metadata.annotations['service.beta.kubernetes.io/aws-load-balancer-name']).toBe('${NLB_NAME}');
    expect(service.spec.publishNotReadyAddresses).toBe(true);
    expect(service.metadata.annotations['service.beta.kubernetes.io/aws-load-balancer-nlb-target-type']).toBe('ip');
  });
});

describe('docs/deploy.md', () => {
  const doc = readFileSync(path.join(ROOT, 'docs', 'deploy.md'), 'utf8');
  it('refers only to manifests and overlays that exist', () => {
    const refs = [...new Set([...doc.matchAll(/infra\/k8s\/[\w./-]*\w/g)].map((m) => m[0]))];
    expect(refs.length).toBeGreaterThan(5);
    for (const ref of refs) expect(existsSync(path.join(ROOT, ref)), ref).toBe(true);
  });
  it('exposes the Coordinator before deploying the stack, and enrolls before the rehearsal', () => {
    const at = (heading: string) => doc.indexOf(heading);
    const order = [
      '## 1. Prerequisites',
      '## 2. Expose the Coordinator',
      '## 3. Deploy the stack',
      '## 4. RBAC',
      '## 5. Enroll',
      '## 6. Install the exporter',
      '## 7. Preflight, then rehearse',
    ].map(at);
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });
  it('marks every block for the journey harness, uses no envsubst, kustomize or exported variables', () => {
    const blocks = [...doc.matchAll(/(?:<!-- journey: ([^>]*?) -->\n)?```(\w+)\n([\s\S]*?)```/g)];
    expect(blocks.length).toBeGreaterThan(15);
    for (const [, marker, lang, body] of blocks) {
      expect(marker, `${lang} block ${body!.slice(0, 60)}`).toMatch(
        /^(run shape=(eks|vpn|both)|local-equivalent [a-z-]+ shape=(eks|vpn|both)|app shape=both|output)$/,
      );
      if (marker!.startsWith('run')) expect(body).not.toMatch(/(?:^|[\s|;&(])(aws [a-z]|cdk (deploy|bootstrap))/m);
    }
    expect(doc).not.toMatch(/envsubst|kubectl kustomize|^export /m);
  });
  it('runs only CLI commands that exist, with the collateral on enroll', async () => {
    const { runCliInProcess } = await import('../support/cli.ts');
    const used = [...new Set([...doc.matchAll(/contrast-autorecover ([a-z]+) --/g)].map((m) => m[1]!))];
    expect(used).toEqual(
      expect.arrayContaining([
        'manifests',
        'output',
        'enroll',
        'doctor',
        'rehearse',
        'pause',
        'status',
        'resume',
        'scp',
      ]),
    );
    for (const c of used) expect((await runCliInProcess([c, '--help'])).code, c).toBe(0);
    const enroll = doc.match(/contrast-autorecover enroll[^`]*?(?=\n```)/)![0];
    expect(enroll).toMatch(/--coordinator \S+ --collateral(-mirror)? \S+/);
  });
  it('names the preflight and rehearsal commands and the authentication-mode prerequisite', () => {
    expect(doc).toContain('contrast-autorecover doctor --deployment');
    expect(doc).toContain('contrast-autorecover rehearse');
    expect(doc).toContain('--access-config authenticationMode=API_AND_CONFIG_MAP');
  });
});
