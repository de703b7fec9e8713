/**
 * Ready-to-apply Kubernetes manifests for one deployment, from the templates in infra/k8s/
 * (their comments say why each rule is there) and the deployed stack's values: no envsubst,
 * no exported variables, no kustomize. Placeholders `${NAME}` are filled in the parsed
 * documents' string values only (never in the YAML text), every value is checked first, and
 * an unknown or unfilled placeholder is refused, so a rendered document is either complete
 * or not printed at all.
 *
 * Order matters to `kubectl apply -f -`, which creates in document order: the exporter's
 * Namespace comes first, before anything inside it.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { coordinatorNlbName, DEPLOYMENT_NAME } from '../../lambda/shared/names.ts';
import { UsageError } from '../usage.ts';

export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
};

/** The parts `manifests` can render. */
export type Part = 'rbac' | 'pod-deletion' | 'restart-policy' | 'coordinator-endpoint' | 'exporter';

export type ExporterValues =
  | { kind: 'irsa'; roleArn: string }
  | { kind: 'roles-anywhere'; roleArn: string; profileArn: string; trustAnchorArn: string; signingHelperImage: string };

export interface ManifestValues {
  deployment: string;
  coordinatorNamespace: string;
  /** Namespaces whose workloads are restarted (a RoleBinding in each); default: the Coordinator's. */
  namespaces?: string[];
  /** The deployment selects namespaces by label: the cluster-wide namespace list is bound too. */
  namespaceSelector?: boolean;
  /** How the Coordinator is exposed: the AWS Load Balancer Controller's NLB (EKS), or a NodePort (self-managed). */
  coordinatorEndpoint?: { kind: 'aws-load-balancer-controller' } | { kind: 'node-port'; nodePort: number };
  exporter?: ExporterValues & { eventBusName: string; region: string; clusterName: string };
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const ARN = /^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{12}:[A-Za-z0-9/_+=,.@:-]+$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;
const BUS_NAME = /^[A-Za-z0-9._\-/:]{1,256}$/;
/** An image reference pinned by digest: the exporter's credentials pass through it. */
const PINNED_IMAGE = /^[a-z0-9.-]+(:\d+)?\/[a-z0-9._/-]+(:[A-Za-z0-9._-]+)?@sha256:[a-f0-9]{64}$/;
const CLUSTER_LABEL = /^[A-Za-z0-9._-]{1,100}$/;

function check(value: string, pattern: RegExp, what: string, example: string): string {
  if (!pattern.test(value)) throw new UsageError(`${what} ${JSON.stringify(value)} is not valid (e.g. ${example})`);
  return value;
}

/** The directory of the templates, from sources or the compiled CLI alike. */
export function templatesDir(from: string = import.meta.url): string {
  let dir = path.dirname(fileURLToPath(from));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir)
      throw new Error('contrast-autorecover: package.json not found above the CLI; reinstall the package');
    dir = up;
  }
  return path.join(dir, 'infra', 'k8s');
}

function load(file: string): KubeObject[] {
  const text = readFileSync(path.join(templatesDir(), file), 'utf8');
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length) throw new Error(`infra/k8s/${file}: ${d.errors[0]!.message}`);
      return d.toJS() as KubeObject | null;
    })
    .filter((d): d is KubeObject => d !== null);
}

/** Fills `${NAME}` in every string value; unknown names are refused. */
function fill<T>(value: T, vars: Record<string, string>, where: string): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      return v.replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (_, name: string) => {
        const x = vars[name];
        if (x === undefined)
          throw new Error(`${where}: placeholder \${${name}} has no value (a template and the renderer disagree)`);
        return x;
      });
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

const byKind = (docs: KubeObject[], kind: string, name?: string): KubeObject => {
  const d = docs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (!d) throw new Error(`template has no ${kind}${name ? ` ${name}` : ''}`);
  return d;
};

function rbac(v: ManifestValues, podDeletion: boolean): KubeObject[] {
  const docs = load('rbac.yaml');
  const out: KubeObject[] = [byKind(docs, 'ClusterRole', 'contrast-autorecover-workloads')];
  const binding = byKind(docs, 'RoleBinding', 'contrast-autorecover');
  // One RoleBinding per namespace the function restarts in (the template's own namespace is a placeholder).
  for (const ns of v.namespaces ?? [v.coordinatorNamespace])
    out.push({ ...binding, metadata: { ...binding.metadata, namespace: ns } });
  if (v.namespaceSelector)
    out.push(
      byKind(docs, 'ClusterRole', 'contrast-autorecover-namespaces'),
      byKind(docs, 'ClusterRoleBinding', 'contrast-autorecover-namespaces'),
    );
  if (podDeletion) {
    const del = load('rbac-pod-deletion.yaml');
    const delBinding = byKind(del, 'RoleBinding');
    out.push(byKind(del, 'ClusterRole'));
    for (const ns of v.namespaces ?? [v.coordinatorNamespace])
      out.push({ ...delBinding, metadata: { ...delBinding.metadata, namespace: ns } });
  }
  return out;
}

function coordinatorEndpoint(v: ManifestValues): KubeObject[] {
  const e = v.coordinatorEndpoint!;
  const [svc] = fill(
    load('coordinator-endpoint.yaml'),
    { NLB_NAME: coordinatorNlbName(v.deployment) },
    'coordinator-endpoint.yaml',
  );
  const service: KubeObject = { ...svc!, metadata: { ...svc!.metadata, namespace: v.coordinatorNamespace } };
  if (e.kind === 'aws-load-balancer-controller') return [service];
  // Self-managed: no controller; a NodePort on every node, which the NLB's IP targets name.
  // publishNotReadyAddresses stays: kube-proxy forwards to the NotReady (recovering) Coordinator.
  const spec = service.spec as { ports: Record<string, unknown>[]; [k: string]: unknown };
  const { loadBalancerClass: _, ...rest } = spec;
  return [
    {
      ...service,
      metadata: { name: service.metadata.name, namespace: v.coordinatorNamespace, labels: service.metadata.labels },
      spec: { ...rest, type: 'NodePort', ports: spec.ports.map((p) => ({ ...p, nodePort: e.nodePort })) },
    },
  ];
}

/** The credential helper as a native sidecar (aws/rolesanywhere-credential-helper `serve`). */
function signingHelper(
  x: Extract<ExporterValues, { kind: 'roles-anywhere' }>,
  region: string,
): Record<string, unknown> {
  return {
    name: 'signing-helper',
    image: x.signingHelperImage,
    // A restartable init container (native sidecar, Kubernetes >= 1.29): starts before the exporter and keeps running.
    restartPolicy: 'Always',
    args: [
      'serve',
      '--certificate=/certificate/tls.crt',
      '--private-key=/certificate/tls.key',
      `--trust-anchor-arn=${x.trustAnchorArn}`,
      `--profile-arn=${x.profileArn}`,
      `--role-arn=${x.roleArn}`,
      `--region=${region}`,
    ],
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
    volumeMounts: [{ name: 'certificate', mountPath: '/certificate', readOnly: true }],
  };
}

function exporter(v: ManifestValues): KubeObject[] {
  const x = v.exporter!;
  const vars = {
    COORDINATOR_NAMESPACE: v.coordinatorNamespace,
    DEPLOYMENT: v.deployment,
    CLUSTER_NAME: x.clusterName,
    EVENT_BUS_NAME: x.eventBusName,
    AWS_REGION: x.region,
  };
  const docs = [
    ...fill(load('exporter/rbac.yaml'), vars, 'exporter/rbac.yaml'),
    ...fill(load('exporter/config.yaml'), vars, 'exporter/config.yaml'),
    ...fill(load('exporter/deployment.yaml'), vars, 'exporter/deployment.yaml'),
  ];
  const sa = byKind(docs, 'ServiceAccount');
  const deployment = byKind(docs, 'Deployment');
  if (x.kind === 'irsa') {
    // IRSA: the ServiceAccount names the exporter role; EKS's webhook injects the web identity token.
    sa.metadata.annotations = {
      'eks.amazonaws.com/role-arn': x.roleArn,
      'eks.amazonaws.com/sts-regional-endpoints': 'true',
    };
  } else {
    const pod = (deployment.spec as { template: { spec: Record<string, unknown> } }).template.spec;
    pod.initContainers = [signingHelper(x, x.region)];
    const container = (pod.containers as { env: unknown[] }[])[0]!;
    // aws-sdk-go v1 in the exporter finds the helper's IMDSv2-compatible endpoint here (aws/aws-sdk-go aws/session/env_config.go).
    container.env.push({ name: 'AWS_EC2_METADATA_SERVICE_ENDPOINT', value: 'http://127.0.0.1:9911/' });
    (pod.volumes as unknown[]).push({ name: 'certificate', secret: { secretName: 'exporter-certificate' } });
  }
  // The Namespace first: everything else of the exporter lives in it.
  return [byKind(docs, 'Namespace'), ...docs.filter((d) => d.kind !== 'Namespace')];
}

function checkValues(v: ManifestValues): void {
  check(v.deployment, DEPLOYMENT_NAME, 'deployment', 'prod');
  for (const ns of [v.coordinatorNamespace, ...(v.namespaces ?? [])]) check(ns, DNS_LABEL, 'namespace', 'prod');
  if (v.namespaces?.includes('*'))
    throw new UsageError(
      'the deployment restarts in all namespaces ("*"): bind the workloads ClusterRole cluster-wide yourself (infra/k8s/rbac.yaml says why this is not rendered)',
    );
  const e = v.coordinatorEndpoint;
  if (e?.kind === 'node-port' && !(Number.isInteger(e.nodePort) && e.nodePort >= 30000 && e.nodePort <= 32767)) {
    throw new UsageError(`--node-port ${e.nodePort}: expected a port of the default NodePort range 30000–32767`);
  }
  const x = v.exporter;
  if (x) {
    check(x.eventBusName, BUS_NAME, 'event bus name', 'contrast-autorecover');
    check(x.region, REGION, 'region', 'eu-central-1');
    check(x.clusterName, CLUSTER_LABEL, 'cluster name', 'prod');
    check(x.roleArn, ARN, 'exporter role ARN', 'arn:aws:iam::123456789012:role/…');
    if (x.kind === 'roles-anywhere') {
      check(
        x.profileArn,
        ARN,
        'Roles Anywhere profile ARN',
        'arn:aws:rolesanywhere:eu-central-1:123456789012:profile/…',
      );
      check(
        x.trustAnchorArn,
        ARN,
        'Roles Anywhere trust anchor ARN',
        'arn:aws:rolesanywhere:eu-central-1:123456789012:trust-anchor/…',
      );
      check(
        x.signingHelperImage,
        PINNED_IMAGE,
        '--signing-helper-image',
        'registry.example/aws-signing-helper@sha256:<64 hex digits> (pinned by digest)',
      );
    }
  }
}

/** The objects of the chosen parts, in the order `kubectl apply -f -` must create them. */
export function renderObjects(v: ManifestValues, parts: readonly Part[]): KubeObject[] {
  checkValues(v);
  const out: KubeObject[] = [];
  if (parts.includes('exporter')) {
    if (!v.exporter)
      throw new UsageError(
        "the exporter needs the stack's exporter identity (--exporter irsa|roles-anywhere with --stack)",
      );
    out.push(...exporter(v));
  }
  if (parts.includes('rbac')) out.push(...rbac(v, parts.includes('pod-deletion')));
  if (parts.includes('restart-policy')) out.push(...load('restart-only-policy.yaml'));
  if (parts.includes('coordinator-endpoint')) {
    if (!v.coordinatorEndpoint)
      throw new UsageError(
        'the Coordinator endpoint needs --coordinator-endpoint aws-load-balancer-controller|node-port',
      );
    out.push(...coordinatorEndpoint(v));
  }
  for (const o of out) {
    const leftover = JSON.stringify(o).match(/\$\{[A-Za-z_][A-Za-z0-9_]*\}/);
    if (leftover) throw new Error(`${o.kind} ${o.metadata.name}: ${leftover[0]} left unfilled`);
  }
  // The Namespace before everything, then cluster-scoped objects, then namespaced ones keep their order.
  return [...out.filter((o) => o.kind === 'Namespace'), ...out.filter((o) => o.kind !== 'Namespace')];
}

/** The objects as one multi-document YAML stream for `kubectl apply -f -`. */
export function renderYaml(objects: KubeObject[], header: string): string {
  return `# ${header}\n${objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n')}`;
}
