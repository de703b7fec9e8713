/**
 * The function's configuration, read once per container from the environment and (the
 * deployments) from Parameter Store, validated with zod. Every error names the variable or
 * the parameter (and the path inside it) so a broken deploy says what to fix. Nothing here can select a non-production attestation
 * verifier or add a root: test verifiers are injected in code only (handler createHandler).
 */
import * as z from '../shared/zod.ts';
import { MIN_LEASE_SECONDS } from '../shared/budgets.ts';
import { DEFAULTS, ENV, EVENTS } from '../shared/contract.ts';
import { RecoveryError } from '../shared/errors.ts';
import { DEPLOYMENT_NAME, parseHostPort } from '../shared/names.ts';
import { ACCEPTABLE_TDX_TCB_STATUSES, collateralMirrorUrlProblem } from '../shared/settings.ts';

import type { DeploymentTarget } from '../reconcile/types.ts';

/** A variable of the function's configuration is wrong: `config-invalid`, fixed by redeploying. */
export class ConfigError extends RecoveryError {
  /** The environment variable that is wrong. */
  readonly variable: string;

  constructor(variable: string, message: string) {
    super('config-invalid', `configuration: ${variable}: ${message}`);
    this.variable = variable;
  }
}

// Deployment names (DEPLOYMENT_NAME) become DynamoDB keys, metric dimensions and KMS context
// values; Coordinator addresses need their port (lambda/names.ts).
const nonEmpty = () => z.string().check(z.minLength(1));

const deploymentSchema = z.pipe(
  z.strictObject({
    name: z
      .string()
      .check(
        z.regex(DEPLOYMENT_NAME, 'letters, digits, ".", "_" or "-", starting with a letter or digit, at most 128'),
      ),
    secretId: nonEmpty(),
    coordinator: z.pipe(
      z.string(),
      z.transform((v, ctx) => {
        const hp = parseHostPort(v);
        if (!hp) {
          ctx.issues.push({
            code: 'custom',
            message: `expected "host:port" (e.g. "coordinator.example.internal:1313"), got ${JSON.stringify(v)}`,
            input: v,
          });
          return z.NEVER;
        }
        return hp;
      }),
    ),
    /**
     * Namespaces whose workloads are restarted after a recovery; ["*"] = all. Default: the
     * Coordinator's namespace only (least privilege: RBAC there is all the service needs).
     */
    namespaces: z.optional(z.array(nonEmpty()).check(z.minLength(1))),
    namespaceLabelSelector: z.optional(nonEmpty()),
    coordinatorNamespace: z._default(nonEmpty(), DEFAULTS.coordinatorNamespace),
    /** CloudWatch alarms whose ALARM state triggers a reconcile of this deployment. */
    alarmNames: z._default(z.array(nonEmpty()), []),
    /**
     * Also restart the workloads still holding certificates of a lost mesh CA after rotations
     * this service did not cause (a manifest update with `contrast set`, a manual `contrast
     * recover`). Default false: they are reported (result, event, StaleWorkloads, `status`).
     * Restarts after this service's own recoveries always happen (docs/operate.md).
     */
    restartAfterAnyRotation: z._default(z.boolean(), false),
    /** TDX only: Intel TCB statuses accepted besides UpToDate (handed to the production verifier). */
    // Revoked is never acceptable; see lambda/attestation/core.ts.
    tdxAcceptedTcbStatuses: z.optional(z.array(z.enum(ACCEPTABLE_TDX_TCB_STATUSES))),
  }),
  z.transform((d) => ({ ...d, namespaces: d.namespaces ?? [d.coordinatorNamespace] })),
);

export type DeploymentConfig = z.output<typeof deploymentSchema>;

const deploymentsSchema = z.array(deploymentSchema).check(
  z.minLength(1, 'configure at least one deployment'),
  z.superRefine((list, ctx) => {
    const names = new Set<string>();
    const alarms = new Map<string, string>();
    list.forEach((d, i) => {
      if (names.has(d.name))
        ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate deployment name ${d.name}` });
      names.add(d.name);
      for (const a of d.alarmNames) {
        const other = alarms.get(a);
        // An alarm must map to exactly one deployment, or an ALARM event would be ambiguous.
        if (other !== undefined && other !== d.name) {
          ctx.addIssue({
            code: 'custom',
            path: [i, 'alarmNames'],
            message: `alarm ${a} is already mapped to deployment ${other}`,
          });
        }
        alarms.set(a, d.name);
      }
    });
  }),
);

export type KubeAuthMode = 'eks' | 'kubeconfig' | 'none';

export interface KubeAccessConfig {
  auth: KubeAuthMode;
  clusterName?: string;
  endpoint?: string;
  caData?: string;
  kubeconfigSecretId?: string;
}

export interface HandlerConfig {
  deployments: DeploymentConfig[];
  lockTableName: string;
  eventBusName: string;
  /** Source of trigger events (the in-cluster exporter). */
  eventSource: string;
  /** Source of the result events this function puts. */
  resultEventSource: string;
  maxRecoveriesPerHour: number;
  /** Lease length (≥ MIN_LEASE_SECONDS); undefined = remaining function time + 60 s, computed per invocation. */
  leaseSeconds?: number;
  kube: KubeAccessConfig;
  allowPodDeletion: boolean;
  collateralMirrorUrl?: string;
  decryptDrill: boolean;
  /** Name of the drill's own schedule rule (required with decryptDrill): only its ticks drill. */
  decryptDrillRule?: string;
}

type Env = Record<string, string | undefined>;

function formatIssues(error: z.core.$ZodError): string {
  return error.issues
    .map((i) => {
      const path = i.path.length
        ? i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')
        : '';
      return `${path ? `${path}: ` : ''}${i.message}`;
    })
    .join('; ');
}

function parseVar<T>(env: Env, name: string, schema: z.ZodMiniType<T>): T {
  const raw = env[name];
  const r = schema.safeParse(raw === '' ? undefined : raw);
  if (!r.success)
    throw new ConfigError(
      name,
      `${formatIssues(r.error)} (got ${raw === undefined ? 'nothing' : JSON.stringify(raw)})`,
    );
  return r.data;
}

const required = z.string({ error: 'required' }).check(z.minLength(1, 'required'));
const optional = z.optional(nonEmpty());
const bool = z.pipe(
  z._default(z.enum(['true', 'false'], { error: 'expected "true" or "false"' }), 'false'),
  z.transform((v) => v === 'true'),
);
const positiveInt = z.pipe(
  z.pipe(z.string().check(z.regex(/^\d+$/, 'expected a positive integer')), z.transform(Number)),
  z.int().check(z.positive('expected a positive integer')),
);

/** One deployment's parameter as Parameter Store returns it (lambda/function/deployment-store.ts). */
export interface StoredDeployment {
  /** The parameter's full name: `<CONTRAST_DEPLOYMENTS_PATH>/<deployment name>`. */
  name: string;
  value: string;
}

/**
 * The deployments come from exactly one place: the construct's Parameter Store path (one
 * parameter per deployment, `stored`), or CONTRAST_DEPLOYMENTS inline (tests, local runs).
 * Both go through the same schema; an error names the parameter or the variable.
 */
function loadDeployments(env: Env, stored: StoredDeployment[] | undefined): DeploymentConfig[] {
  const path = parseVar(env, ENV.deploymentsPath, optional);
  const inline = parseVar(env, ENV.deployments, optional);
  if (path !== undefined && inline !== undefined)
    throw new ConfigError(ENV.deployments, `set either ${ENV.deployments} or ${ENV.deploymentsPath}, not both`);
  if (path === undefined) {
    const raw = parseVar(env, ENV.deployments, required);
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (err) {
      throw new ConfigError(
        ENV.deployments,
        `not valid JSON (${(err as Error).message}); expected an array of {name, secretId, coordinator: "host:port", ...}`,
      );
    }
    const d = deploymentsSchema.safeParse(json);
    if (!d.success) throw new ConfigError(ENV.deployments, formatIssues(d.error));
    return d.data;
  }
  if (stored === undefined)
    throw new ConfigError(ENV.deploymentsPath, `the deployments are in Parameter Store under ${path}; read them first`);
  const list = stored.map((p) => {
    try {
      return JSON.parse(p.value) as unknown;
    } catch (err) {
      throw new ConfigError(
        p.name,
        `not valid JSON (${(err as Error).message}); expected one {name, secretId, coordinator: "host:port", ...}`,
      );
    }
  });
  const d = deploymentsSchema.safeParse(list);
  if (!d.success) {
    // Name the parameter, not its index in a listing whose order is Parameter Store's.
    const first = d.error.issues[0]!;
    const i = typeof first.path[0] === 'number' ? first.path[0] : undefined;
    const where = i !== undefined && stored[i] ? stored[i].name : path;
    throw new ConfigError(where, formatIssues(d.error));
  }
  // The construct names each parameter after its deployment: a mismatch is a hand edit.
  d.data.forEach((dep, i) => {
    const expected = `${path.replace(/\/+$/, '')}/${dep.name}`;
    if (stored[i]!.name !== expected)
      throw new ConfigError(stored[i]!.name, `holds deployment ${dep.name}; its parameter must be ${expected}`);
  });
  return d.data;
}

/**
 * The function's configuration. With CONTRAST_DEPLOYMENTS_PATH set, `stored` are the
 * parameters read from that path (loadConfigFromStore); otherwise the deployments are inline.
 */
export function loadConfig(env: Env = process.env, stored?: StoredDeployment[]): HandlerConfig {
  const deployments = loadDeployments(env, stored);

  const auth = parseVar(
    env,
    ENV.kubeAuth,
    z.enum(['eks', 'kubeconfig', 'none'], { error: 'required: one of "eks", "kubeconfig", "none"' }),
  );
  const kube: KubeAccessConfig = { auth };
  if (auth === 'eks') {
    kube.clusterName = parseVar(env, ENV.eksClusterName, required);
    kube.endpoint = parseVar(
      env,
      ENV.eksEndpoint,
      z.url({ protocol: /^https$/, error: 'expected the https:// API endpoint of the cluster' }),
    );
    kube.caData = parseVar(
      env,
      ENV.eksCaData,
      z.base64({ error: 'expected the base64 certificate authority data of the cluster' }),
    );
  } else if (auth === 'kubeconfig') {
    kube.kubeconfigSecretId = parseVar(env, ENV.kubeconfigSecretId, required);
  }

  // The construct checks the same rule at synth (lambda/shared/settings.ts).
  const mirror = parseVar(
    env,
    ENV.collateralMirrorUrl,
    z.optional(
      z.string().check(
        z.superRefine((u, ctx) => {
          const problem = collateralMirrorUrlProblem(u);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
      ),
    ),
  );
  // A lease shorter than one recovery could only stop recoveries (a reconcile never starts a
  // step that would outlive its lease); the minimum comes from the budgets (lambda/shared/budgets.ts).
  const lease = parseVar(
    env,
    ENV.leaseSeconds,
    z.optional(
      z.pipe(
        positiveInt,
        z
          .number()
          .check(
            z.gte(
              MIN_LEASE_SECONDS,
              `at least ${MIN_LEASE_SECONDS} seconds: one recovery (bundle, probe, KMS Decrypt, Recover, confirm) may take that long under the time budgets; leave it unset for the function timeout + 60 s`,
            ),
          ),
      ),
    ),
  );
  const config: HandlerConfig = {
    deployments,
    lockTableName: parseVar(env, ENV.lockTable, required),
    eventBusName: parseVar(env, ENV.eventBus, required),
    eventSource: parseVar(env, ENV.eventSource, optional) ?? EVENTS.triggerSource,
    resultEventSource: parseVar(env, ENV.resultEventSource, optional) ?? EVENTS.resultSource,
    maxRecoveriesPerHour: parseVar(
      env,
      ENV.maxRecoveriesPerHour,
      z._default(positiveInt, DEFAULTS.maxRecoveriesPerHour),
    ),
    kube,
    allowPodDeletion: parseVar(env, ENV.allowPodDeletion, bool),
    decryptDrill: parseVar(env, ENV.decryptDrill, bool),
  };
  const drillRule = parseVar(env, ENV.decryptDrillRule, optional);
  if (config.decryptDrill && drillRule === undefined) {
    // Every backstop tick would otherwise decrypt the owner key: a Decrypt a minute hides the real ones.
    throw new ConfigError(
      ENV.decryptDrillRule,
      `required when ${ENV.decryptDrill} is true: the name of the drill's own (at most daily) schedule rule`,
    );
  }
  if (drillRule !== undefined) config.decryptDrillRule = drillRule;
  if (lease !== undefined) config.leaseSeconds = lease;
  if (mirror !== undefined) config.collateralMirrorUrl = mirror;
  if (config.eventSource === config.resultEventSource) {
    // The function would trigger itself with its own result events.
    throw new ConfigError(ENV.resultEventSource, `must differ from EVENT_SOURCE (${config.eventSource})`);
  }
  return config;
}

export function targetOf(d: DeploymentConfig): DeploymentTarget {
  return {
    name: d.name,
    secretId: d.secretId,
    coordinator: { host: d.coordinator.host, port: d.coordinator.port },
    restartAfterAnyRotation: d.restartAfterAnyRotation,
  };
}

export function findDeployment(config: HandlerConfig, name: string): DeploymentConfig | undefined {
  return config.deployments.find((d) => d.name === name);
}
