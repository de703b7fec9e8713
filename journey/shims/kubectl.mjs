#!/usr/bin/env node
/**
 * kubectl for the deploy journey: the subset of kubectl that docs/deploy.md uses, served to the
 * Kubernetes API stand-in through @kubernetes/client-node (KubernetesObjectApi), with kubectl's
 * behaviour where a deploy meets it:
 *
 *   apply -f FILE|- [-n NS]   create each object, or merge-patch it when it exists; an empty
 *                             input is kubectl's "error: no objects passed to apply"
 *   create namespace NAME | create secret tls NAME --cert F --key F |
 *   create secret generic NAME (--from-file=[K=]F | --from-literal=K=V)…
 *   get KIND [NAME] [-n NS] [-o name|json|yaml]
 *   kustomize DIR             handed to a real kubectl of at least JOURNEY_KUBECTL_MIN, when
 *                             one is on PATH (JOURNEY_REAL_KUBECTL); otherwise an error
 *   version --client
 *
 * Anything else is an error naming what is not supported (never a silent success). Global
 * flags: -n/--namespace, --kubeconfig, --context. Exit codes as kubectl: 1 on any error.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { KubeConfig, KubernetesObjectApi, dumpYaml, PatchStrategy } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';

const args = process.argv.slice(2);
const fail = (msg) => {
  process.stderr.write(`error: ${msg}\n`);
  process.exit(1);
};

// Global flags, anywhere on the line (as kubectl allows).
const flags = {
  namespace: undefined,
  kubeconfig: process.env.KUBECONFIG,
  context: undefined,
  files: [],
  output: undefined,
  cert: undefined,
  key: undefined,
  fromFile: [],
  fromLiteral: [],
  client: false,
};
const words = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const value = (name) => {
    if (a.includes('=')) return a.slice(a.indexOf('=') + 1);
    const v = args[++i];
    if (v === undefined) fail(`flag needs an argument: ${name}`);
    return v;
  };
  if (a === '-n' || a === '--namespace' || a.startsWith('--namespace=')) flags.namespace = value('--namespace');
  else if (a === '--kubeconfig' || a.startsWith('--kubeconfig=')) flags.kubeconfig = value('--kubeconfig');
  else if (a === '--context' || a.startsWith('--context=')) flags.context = value('--context');
  else if (a === '-f' || a === '--filename' || a.startsWith('--filename=')) flags.files.push(value('--filename'));
  else if (a === '-o' || a === '--output' || a.startsWith('--output=')) flags.output = value('--output');
  else if (a === '--cert' || a.startsWith('--cert=')) flags.cert = value('--cert');
  else if (a === '--key' || a.startsWith('--key=')) flags.key = value('--key');
  else if (a.startsWith('--from-file')) flags.fromFile.push(value('--from-file'));
  else if (a.startsWith('--from-literal')) flags.fromLiteral.push(value('--from-literal'));
  else if (a === '--client') flags.client = true;
  else if (a.startsWith('-') && a !== '-')
    fail(`unknown flag: ${a} (the journey's kubectl serves: apply, create namespace|secret, get, kustomize, version)`);
  else words.push(a);
}

function api() {
  const kc = new KubeConfig();
  if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
  else kc.loadFromDefault();
  if (flags.context) kc.setCurrentContext(flags.context);
  return KubernetesObjectApi.makeApiClient(kc);
}

function resourceName(obj) {
  const [group] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : [''];
  return `${obj.kind.toLowerCase()}${group ? `.${group}` : ''}/${obj.metadata.name}`;
}

function errorText(err) {
  const body = err?.body;
  if (typeof body === 'string') {
    try {
      return JSON.parse(body).message ?? body;
    } catch {
      return body;
    }
  }
  return body?.message ?? err?.message ?? String(err);
}

async function namespacedKind(client, obj) {
  const r = await client.resource(obj.apiVersion, obj.kind);
  if (!r)
    fail(
      `resource mapping not found for name: "${obj.metadata?.name}" namespace: "" from "-": no matches for kind "${obj.kind}" in version "${obj.apiVersion}"\nensure CRDs are installed first`,
    );
  return r.namespaced;
}

async function apply() {
  if (flags.files.length === 0) fail('must specify one of -f and -k');
  let text = '';
  for (const f of flags.files) text += `${f === '-' ? readFileSync(0, 'utf8') : readFileSync(f, 'utf8')}\n---\n`;
  const parsed = parseAllDocuments(text);
  for (const d of parsed)
    if (d.errors.length > 0) fail(`error parsing ${flags.files.join(',')}: ${d.errors[0].message}`);
  const docs = parsed.map((d) => d.toJS()).filter((d) => d && typeof d === 'object');
  const objects = docs.flatMap((d) => (d.kind === 'List' ? (d.items ?? []) : [d]));
  if (objects.length === 0) fail('no objects passed to apply');
  const client = api();
  for (const obj of objects) {
    if (!obj.apiVersion || !obj.kind) fail(`error validating data: apiVersion or kind not set`);
    if (!obj.metadata?.name) fail(`error validating data: metadata.name not set (${obj.kind})`);
    if (await namespacedKind(client, obj)) {
      const ns = obj.metadata.namespace ?? flags.namespace ?? 'default';
      if (flags.namespace && obj.metadata.namespace && obj.metadata.namespace !== flags.namespace) {
        fail(
          `the namespace from the provided object "${obj.metadata.namespace}" does not match the namespace "${flags.namespace}". You must pass '--namespace=${obj.metadata.namespace}' to perform this operation.`,
        );
      }
      obj.metadata.namespace = ns;
    }
    let exists = true;
    try {
      await client.read({
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace },
      });
    } catch (err) {
      if (err?.code !== 404) fail(`${resourceName(obj)}: ${errorText(err)}`);
      exists = false;
    }
    try {
      if (exists)
        await client.patch(obj, undefined, undefined, 'kubectl-client-side-apply', undefined, PatchStrategy.MergePatch);
      else await client.create(obj);
    } catch (err) {
      fail(
        `${exists ? 'error when applying patch' : 'error when creating'} "${flags.files.join(',')}": ${errorText(err)}`,
      );
    }
    process.stdout.write(`${resourceName(obj)} ${exists ? 'configured' : 'created'}\n`);
  }
}

async function create() {
  const [what, ...rest] = words.slice(1);
  let obj;
  if (what === 'namespace' || what === 'ns') {
    obj = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: rest[0] } };
  } else if (what === 'secret' && rest[0] === 'tls') {
    if (!flags.cert || !flags.key) fail('create secret tls needs --cert and --key');
    obj = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: rest[1], namespace: flags.namespace ?? 'default' },
      data: {
        'tls.crt': readFileSync(flags.cert).toString('base64'),
        'tls.key': readFileSync(flags.key).toString('base64'),
      },
    };
  } else if (what === 'secret' && rest[0] === 'generic') {
    const data = {};
    for (const f of flags.fromFile) {
      const [k, file] = f.includes('=') ? f.split('=', 2) : [basename(f), f];
      data[k] = readFileSync(file).toString('base64');
    }
    for (const l of flags.fromLiteral) {
      const i = l.indexOf('=');
      data[l.slice(0, i)] = Buffer.from(l.slice(i + 1)).toString('base64');
    }
    obj = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: { name: rest[1], namespace: flags.namespace ?? 'default' },
      data,
    };
  } else fail(`the journey's kubectl cannot "create ${what ?? ''}"`);
  if (!obj.metadata.name) fail('a name is required');
  try {
    await api().create(obj);
  } catch (err) {
    fail(`failed to create ${what}: ${errorText(err)}`);
  }
  process.stdout.write(`${what === 'ns' ? 'namespace' : what}/${obj.metadata.name} created\n`);
}

async function get() {
  const [kindWord, name] = words.slice(1);
  if (!kindWord) fail('you must specify the type of resource to get');
  const kinds = {
    namespace: ['v1', 'Namespace'],
    namespaces: ['v1', 'Namespace'],
    ns: ['v1', 'Namespace'],
    secret: ['v1', 'Secret'],
    secrets: ['v1', 'Secret'],
    configmap: ['v1', 'ConfigMap'],
    configmaps: ['v1', 'ConfigMap'],
    cm: ['v1', 'ConfigMap'],
    pod: ['v1', 'Pod'],
    pods: ['v1', 'Pod'],
    service: ['v1', 'Service'],
    svc: ['v1', 'Service'],
    deployment: ['apps/v1', 'Deployment'],
    deployments: ['apps/v1', 'Deployment'],
    deploy: ['apps/v1', 'Deployment'],
    rolebinding: ['rbac.authorization.k8s.io/v1', 'RoleBinding'],
    rolebindings: ['rbac.authorization.k8s.io/v1', 'RoleBinding'],
    clusterrole: ['rbac.authorization.k8s.io/v1', 'ClusterRole'],
    clusterroles: ['rbac.authorization.k8s.io/v1', 'ClusterRole'],
    validatingadmissionpolicy: ['admissionregistration.k8s.io/v1', 'ValidatingAdmissionPolicy'],
    validatingadmissionpolicies: ['admissionregistration.k8s.io/v1', 'ValidatingAdmissionPolicy'],
  };
  const k = kinds[kindWord.split('/')[0]];
  if (!k) fail(`the journey's kubectl cannot get "${kindWord}"`);
  const client = api();
  const namespaced = await namespacedKind(client, { apiVersion: k[0], kind: k[1], metadata: {} });
  const ns = namespaced ? (flags.namespace ?? 'default') : undefined;
  let items;
  try {
    items = name
      ? [await client.read({ apiVersion: k[0], kind: k[1], metadata: { name, namespace: ns } })]
      : (await client.list(k[0], k[1], ns)).items;
  } catch (err) {
    fail(`Error from server (${err?.code === 404 ? 'NotFound' : 'Error'}): ${errorText(err)}`);
  }
  for (const o of items) {
    o.apiVersion ??= k[0];
    o.kind ??= k[1];
  }
  if (flags.output === 'json')
    process.stdout.write(`${JSON.stringify(name ? items[0] : { apiVersion: 'v1', kind: 'List', items }, null, 2)}\n`);
  else if (flags.output === 'yaml')
    process.stdout.write(dumpYaml(name ? items[0] : { apiVersion: 'v1', kind: 'List', items }));
  else if (flags.output === 'name' || flags.output === undefined)
    for (const o of items) process.stdout.write(`${resourceName(o)}\n`);
  else fail(`the journey's kubectl does not support -o ${flags.output}`);
}

function versionOf(bin) {
  const r = spawnSync(bin, ['version', '--client', '-o', 'json'], { encoding: 'utf8', timeout: 20_000 });
  try {
    const v = JSON.parse(r.stdout).clientVersion;
    return [Number(v.major), Number(String(v.minor).replace(/\D.*$/, ''))];
  } catch {
    return undefined;
  }
}

function kustomize() {
  const real = process.env.JOURNEY_REAL_KUBECTL;
  const min = (process.env.JOURNEY_KUBECTL_MIN ?? '1.30').split('.').map(Number);
  if (!real)
    fail(`kubectl kustomize needs a real kubectl ≥ ${min.join('.')}; none is on PATH (set JOURNEY_REAL_KUBECTL)`);
  const v = versionOf(real);
  if (!v || v[0] < min[0] || (v[0] === min[0] && v[1] < min[1]))
    fail(
      `kubectl kustomize: ${real} is ${v ? v.join('.') : 'of unknown version'}, older than the documented minimum ${min.join('.')}`,
    );
  const r = spawnSync(real, ['kustomize', ...words.slice(1)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const verb = words[0];
try {
  if (verb === 'apply') await apply();
  else if (verb === 'create') await create();
  else if (verb === 'get') await get();
  else if (verb === 'kustomize') kustomize();
  else if (verb === 'version')
    process.stdout.write('Client Version: journey-shim (apply, create, get through @kubernetes/client-node)\n');
  else
    fail(
      `the journey's kubectl does not serve "${verb ?? ''}" (it serves apply, create namespace|secret, get, kustomize, version); mark the block local-equivalent`,
    );
} catch (err) {
  fail(errorText(err));
}
