/**
 * The in-cluster exporter's configuration (kubernetes-event-exporter, infra/k8s/exporter/):
 * a ConfigMap in the exporter's namespace whose config routes the Coordinator's `Started`
 * events to an `eventbridge` receiver that sends exactly what the function accepts.
 * Upstream facts (resmoio/kubernetes-event-exporter): the eventbridge sink knows only
 * detailType, details, source, eventBusName and region (pkg/sinks/eventbridge.go), unknown
 * keys are ignored silently (pkg/setup/setup.go, non-strict YAML), the whole file is
 * env-expanded first (main.go: os.ExpandEnv), and route fields are unanchored regular
 * expressions (pkg/exporter/rule.go).
 */
import { parse } from 'yaml';
import type { HandlerConfig } from '../../lambda/function/config.ts';
import { EVENTS, OPERATIONS, TRIGGER_DETAIL } from '../../lambda/shared/contract.ts';
import { result, type CheckResult } from './checks.ts';
import type { DeployedFunction } from '../operations/deployed-function.ts';
import type { OperatorKube } from '../operations/kube.ts';

const SINK_KEYS = ['detailType', 'details', 'source', 'eventBusName', 'region'];

export interface ExporterExpectation {
  deployment: string;
  config: Pick<HandlerConfig, 'eventBusName' | 'eventSource'>;
  region: string;
}

export interface ExporterFinding {
  /** `configmap/key receiver` of each receiver sending this deployment. */
  receivers: string[];
  problems: string[];
  warnings: string[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Match rules with their receiver, from the route tree (routes nest). */
function matchRules(route: unknown): Obj[] {
  if (!isObj(route)) return [];
  const own = Array.isArray(route.match) ? route.match.filter(isObj) : [];
  const nested = Array.isArray(route.routes) ? route.routes.flatMap(matchRules) : [];
  return [...own, ...nested];
}

function anchored(v: unknown): boolean {
  return typeof v === 'string' && v.startsWith('^') && v.endsWith('$');
}

/** Inspects one exporter config document for the receiver(s) sending `e.deployment`. */
export function inspectExporterConfig(text: string, where: string, e: ExporterExpectation): ExporterFinding {
  const finding: ExporterFinding = { receivers: [], problems: [], warnings: [] };
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    finding.problems.push(`${where}: not YAML (${(err as Error).message.split('\n')[0]})`);
    return finding;
  }
  if (!isObj(doc) || !Array.isArray(doc.receivers)) return finding;
  const receivers = doc.receivers
    .filter(isObj)
    .filter(
      (r) =>
        isObj(r.eventbridge) &&
        isObj((r.eventbridge as Obj).details) &&
        ((r.eventbridge as Obj).details as Obj)[TRIGGER_DETAIL.deployment] === e.deployment,
    );
  if (receivers.length === 0) return finding;
  if (/\$\{[A-Za-z_][A-Za-z0-9_]*\}/.test(text))
    finding.problems.push(
      `${where}: unexpanded \${…} placeholders (the exporter expands them from its own environment, mostly to ""): render them with \`contrast-autorecover manifests --stack … --exporter …\``,
    );
  const rules = matchRules(doc.route);
  for (const r of receivers) {
    const name = String(r.name ?? '?');
    const at = `${where} receiver ${name}`;
    finding.receivers.push(at);
    const sink = r.eventbridge as Obj;
    const details = sink.details as Obj;
    const bus = String(sink.eventBusName ?? '');
    if (bus !== e.config.eventBusName && !bus.endsWith(`:event-bus/${e.config.eventBusName}`))
      finding.problems.push(
        `${at}: eventBusName ${JSON.stringify(bus)}, the function's bus is ${e.config.eventBusName}`,
      );
    if (sink.source !== e.config.eventSource)
      finding.problems.push(
        `${at}: source ${JSON.stringify(sink.source)}, the function accepts ${e.config.eventSource}`,
      );
    if (!(EVENTS.triggerDetailTypes as readonly unknown[]).includes(sink.detailType))
      finding.problems.push(
        `${at}: detailType ${JSON.stringify(sink.detailType)}, the function accepts ${EVENTS.triggerDetailTypes.join(' or ')}`,
      );
    if (sink.region === undefined || sink.region === '')
      finding.warnings.push(`${at}: no region; set region: ${e.region}`);
    else if (sink.region !== e.region)
      finding.problems.push(`${at}: region ${String(sink.region)}, the function's bus is in ${e.region}`);
    for (const f of [TRIGGER_DETAIL.pod, TRIGGER_DETAIL.podUid])
      if (!(f in details)) finding.warnings.push(`${at}: details lack ${f} (the function and \`rehearse\` read it)`);
    const unknown = Object.keys(sink).filter((k) => !SINK_KEYS.includes(k));
    if (unknown.length)
      finding.warnings.push(`${at}: ${unknown.join(', ')} is not a key of the eventbridge sink and is ignored`);
    const routed = rules.filter((m) => m.receiver === name);
    if (routed.length === 0) finding.problems.push(`${at}: no route sends events to it`);
    for (const m of routed) {
      if (!anchored(m.kind) || !anchored(m.reason))
        finding.warnings.push(
          `${at}: route kind/reason ${JSON.stringify(m.kind)}/${JSON.stringify(m.reason)} are unanchored regular expressions; use "^Pod$" and "^Started$"`,
        );
    }
  }
  return finding;
}

export async function exporterCheck(
  fn: DeployedFunction,
  kube: OperatorKube,
  namespace: string = OPERATIONS.exporterNamespace,
): Promise<CheckResult> {
  const title = 'exporter config in the cluster';
  const apply = `contrast-autorecover manifests --deployment ${fn.deployment.name} --stack <stack> --exporter irsa|roles-anywhere | kubectl apply -f - (docs/deploy.md §6)`;
  let maps;
  try {
    maps = await kube.configMaps(namespace);
  } catch (err) {
    return result(
      'exporter',
      title,
      'fail',
      [`cannot list ConfigMaps in ${namespace}: ${(err as Error).message}`],
      `${apply}; or pass --exporter-namespace`,
    );
  }
  const expectation: ExporterExpectation = { deployment: fn.deployment.name, config: fn.config, region: fn.region };
  const all: ExporterFinding = { receivers: [], problems: [], warnings: [] };
  for (const cm of maps) {
    for (const [key, text] of Object.entries(cm.data)) {
      if (!/\.ya?ml$/.test(key)) continue;
      const f = inspectExporterConfig(text, `configmap/${cm.name} ${key}`, expectation);
      all.receivers.push(...f.receivers);
      all.problems.push(...f.problems);
      all.warnings.push(...f.warnings);
    }
  }
  if (all.receivers.length === 0) {
    return result(
      'exporter',
      title,
      'fail',
      [
        `no exporter config in namespace ${namespace} sends deployment ${fn.deployment.name} (${maps.length} ConfigMap(s) read)`,
      ],
      apply,
    );
  }
  if (all.receivers.length > 1)
    all.warnings.push(
      `${all.receivers.length} receivers send deployment ${fn.deployment.name}: one exporter config per deployment`,
    );
  const head = `${all.receivers.join(', ')} → bus ${fn.config.eventBusName}, source ${fn.config.eventSource}`;
  if (all.problems.length)
    return result(
      'exporter',
      title,
      'fail',
      [head, ...all.problems, ...all.warnings],
      `fix the exporter config and re-apply: ${apply}`,
    );
  if (all.warnings.length)
    return result('exporter', title, 'warn', [head, ...all.warnings], `fix the exporter config and re-apply: ${apply}`);
  return result('exporter', title, 'pass', [head]);
}
