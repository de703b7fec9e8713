/**
 * What the deploy journey runs against: everything an operator's commands reach, run here.
 *
 * - AWS: the moto server (AWS_ENDPOINT_URL), plus the stand-ins of testing/aws-stubs where
 *   moto lacks the API: Lambda (GetFunctionConfiguration; Invoke runs the real handler in this
 *   process), EKS (authentication mode, access entries) and CloudTrail's event history
 *   (LookupEvents; every other CloudTrail call goes to moto through a small router).
 * - Kubernetes: the API stand-in (testing/kube-api) holding an existing Contrast deployment
 *   (its namespace, the Coordinator StatefulSet, one workload); what the operator applies
 *   lands there, and SubjectAccessReviews are answered from the RBAC objects actually applied.
 * - The Coordinator: the emulator, with SEV-SNP evidence of the test chain, behind the NLB the
 *   operator registers (world.nlbs) and the PrivateLink endpoint the stack creates.
 * - The cluster's reactions: a replaced Coordinator pod restarts the Coordinator without its
 *   keys; the exporter (only once its objects are applied, configured by its applied
 *   ConfigMap) puts `Coordinator Restarted` on the bus, and the stack's rule delivers it to
 *   the function; the backstop schedule ticks too.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import {
  request as httpRequest,
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { parse as parseYaml } from 'yaml';
import { loadConfigFromStore } from '../lambda/function/deployment-store.ts';
import { createHandler } from '../lambda/function/handler.ts';
import type { MetricsSink } from '../lambda/function/observability.ts';
import { EVENTS, OPERATIONS } from '../lambda/shared/contract.ts';
import { CloudTrailStub } from '../testing/aws-stubs/cloudtrail.ts';
import { EksStub, type AuthenticationMode } from '../testing/aws-stubs/eks.ts';
import { logGroupShipper, ShippingLogger } from '../testing/aws-stubs/function-logs.ts';
import { LambdaStub } from '../testing/aws-stubs/lambda.ts';
import { CoordinatorEmulator } from '../testing/coordinator-emulator.ts';
import { collateralFile } from '../lambda/attestation/collateral/sources.ts';
import {
  makeTestManifest,
  snpTestChain,
  snpTestEvidence,
  TEST_POLICY_HASH_HEX,
  testSnpVerifierFactory,
} from '../testing/evidence/index.ts';
import {
  contrastTemplate,
  coordinatorTemplate,
  kubeconfigFor,
  RbacAuthorizer,
  servingCert,
  startKubeApi,
  type KubeApi,
  type KubeObject,
} from '../testing/kube-api/index.ts';
import type { AccessRequest } from '../testing/kube-api/rbac.ts';
import { nlbArn } from './nlb.ts';
import { makeWorkspace, writeWorkspace, type Workspace } from '../testing/workspace.ts';

export const ACCOUNT = '123456789012';
const COORDINATOR_LABEL = 'app.kubernetes.io/name';
const RBAC_KINDS = ['roles', 'rolebindings', 'clusterroles', 'clusterrolebindings'];

/** RBAC as the API server's authorizer decides it: from the Role/Binding objects in the store, at the time of asking. */
class AppliedRbac extends RbacAuthorizer {
  constructor(
    private readonly kube: KubeApi,
    private readonly group: string,
  ) {
    super([]);
  }
  override allows(req: AccessRequest): boolean {
    const docs = RBAC_KINDS.flatMap((r) => this.kube.store.list(r));
    return RbacAuthorizer.fromManifests(docs, this.group).allows(req);
  }
}

export interface Nlb {
  name: string;
  arn: string;
  /** What the listener forwards to (the Coordinator's port on premises). */
  target: string;
  /** IP targets from a Service: registered while the Coordinator is not Ready only if the Service publishes not-ready addresses. */
  publishNotReadyAddresses?: boolean;
}

export interface DeployedFunction {
  name: string;
  arn: string;
  roleArn: string;
  env: Record<string, string>;
  logGroup: string;
  logger: ShippingLogger;
  invoke(event: unknown): Promise<unknown>;
  /** Every invocation's result, in order. */
  results: unknown[];
}

export interface WorldOptions {
  motoEndpoint: string;
  region: string;
  /** The operator's working directory (the checkout); the workspace goes to ./workspace. */
  workdir: string;
  /** The Contrast deployment already running in the cluster. */
  namespace: string;
  /** The EKS cluster (eks shape) and its authentication mode before the journey. */
  eks?: { clusterName: string; authenticationMode: AuthenticationMode };
  /** How soon the backstop schedule ticks after a Coordinator restart (ms). */
  backstopMs?: number;
}

const noMetrics: MetricsSink = { publish: () => undefined };

export class World {
  readonly nlbs = new Map<string, Nlb>();
  /** SSM-less stand-in for the CDK bootstrap stacks: environments bootstrapped (aws://ACCOUNT/REGION). */
  readonly bootstrapped = new Set<string>();
  functions = new Map<string, DeployedFunction>();
  /** Invocations of the deployed function through Lambda's API (Invoke data events). */
  readonly invocations: { at: string; requestId: string; caller: string }[] = [];
  /** Events the exporter put on a bus. */
  readonly exported: { bus: string; detail: Record<string, string> }[] = [];
  /** Stack name → outputs, as CloudFormation would answer (also created in moto). */
  readonly stacks = new Map<string, Record<string, string>>();
  private timers = new Set<NodeJS.Timeout>();
  private watcher: NodeJS.Timeout | undefined;
  private knownCoordinatorPods = new Set<string>();
  private cloudtrailRouter: Server | undefined;
  cloudtrailEndpoint = '';

  private constructor(
    readonly o: WorldOptions,
    readonly kube: KubeApi,
    readonly emu: CoordinatorEmulator,
    readonly ws: Workspace,
    readonly eks: EksStub,
    readonly lambda: LambdaStub,
    readonly trail: CloudTrailStub,
    /** The operator's kubeconfig (cluster admin) and the function's identity (group contrast-autorecover). */
    readonly kubeconfigFile: string,
    readonly functionKubeconfigFile: string,
  ) {}

  static async start(o: WorldOptions): Promise<World> {
    const ws = await makeWorkspace({
      modulusLength: 2048,
      coordinatorPolicyHash: TEST_POLICY_HASH_HEX,
      manifestExtra: { ReferenceValues: makeTestManifest({ tdx: false }).ReferenceValues },
    });
    await mkdir(o.workdir, { recursive: true });
    await writeWorkspace(ws, join(o.workdir, 'workspace'));
    // The collateral the operator fetched for the Coordinator's evidence (AMD KDS's layout): the
    // product CRL of the (test) chain that signs the emulator's SEV-SNP evidence.
    const crl = join(o.workdir, 'collateral', collateralFile({ kind: 'snp-crl', product: 'Milan' }));
    await mkdir(dirname(crl), { recursive: true });
    await writeFile(crl, snpTestChain().crlDer);
    // The exporter's client certificate from the operator's CA (IAM Roles Anywhere); the
    // stand-in only stores the Secret, so a locally made pair stands for it.
    const pair = await servingCert();
    await writeFile(join(o.workdir, 'exporter.crt'), pair.certPem);
    await writeFile(join(o.workdir, 'exporter.key'), pair.keyPem);
    const emu = await CoordinatorEmulator.start({
      state: 'healthy',
      manifest: ws.manifest,
      seed: ws.seed,
      salt: ws.salt,
      evidence: snpTestEvidence(),
    });
    const kube = await startKubeApi();
    kube.store.coordinator = { servingSince: () => emu.healthySince };
    const hourAgo = new Date(Date.now() - 3_600_000);
    kube.store.addNamespace(o.namespace);
    kube.store.addStatefulSet(o.namespace, 'coordinator', { template: coordinatorTemplate(), startedAt: hourAgo });
    kube.store.addDeployment(o.namespace, 'web', {
      template: contrastTemplate('web'),
      replicas: 2,
      startedAt: hourAgo,
    });
    const kubeconfigFile = join(o.workdir, '.journey-kubeconfig');
    await writeFile(kubeconfigFile, kubeconfigFor(kube.url, 'operator-token', kube.caData, 'journey-admin'));
    // The function's own identity for a self-managed cluster (client certificate in real life).
    const functionKubeconfigFile = join(o.workdir, 'kubeconfig-contrast-autorecover');
    await writeFile(
      functionKubeconfigFile,
      kubeconfigFor(kube.url, 'contrast-autorecover-token', kube.caData, 'contrast-autorecover'),
    );
    const eks = await new EksStub(o.region, ACCOUNT).start();
    if (o.eks)
      eks.addCluster({
        name: o.eks.clusterName,
        endpoint: kube.url,
        caData: kube.caData,
        authenticationMode: o.eks.authenticationMode,
      });
    const lambda = await new LambdaStub(o.region, ACCOUNT).start();
    const trail = await new CloudTrailStub(o.region, ACCOUNT).start();
    const world = new World(o, kube, emu, ws, eks, lambda, trail, kubeconfigFile, functionKubeconfigFile);
    await world.startCloudTrailRouter();
    world.knownCoordinatorPods = new Set(world.coordinatorPods().map((p) => p.metadata.uid));
    world.watcher = setInterval(() => {
      world.reconcileLoadBalancers();
      void world.reactToRestarts();
    }, 50);
    return world;
  }

  /** The environment the operator's shell gets: where AWS and the cluster are. */
  shellEnv(): Record<string, string> {
    return {
      AWS_REGION: this.o.region,
      AWS_DEFAULT_REGION: this.o.region,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_ENDPOINT_URL: this.o.motoEndpoint,
      AWS_ENDPOINT_URL_LAMBDA: this.lambda.endpoint,
      AWS_ENDPOINT_URL_EKS: this.eks.endpoint,
      AWS_ENDPOINT_URL_CLOUDTRAIL: this.cloudtrailEndpoint,
      KUBECONFIG: this.kubeconfigFile,
      // Values files refer to these (${JOURNEY_…}).
      JOURNEY_KUBE_URL: this.kube.url,
      JOURNEY_KUBE_CA_DATA: this.kube.caData,
      JOURNEY_COORDINATOR: this.emu.address,
      JOURNEY_ACCOUNT: ACCOUNT,
    };
  }

  awsConfig() {
    return {
      endpoint: this.o.motoEndpoint,
      region: this.o.region,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    };
  }

  coordinatorPods(): KubeObject[] {
    return this.kube.store
      .list('pods', this.o.namespace)
      .filter((p) => p.metadata.labels?.[COORDINATOR_LABEL] === 'coordinator');
  }

  /** Objects applied to the stand-in, of one resource, e.g. ('rolebindings', 'prod'). */
  objects(resource: string, namespace?: string): KubeObject[] {
    return this.kube.store.list(resource, namespace);
  }

  /** Answers SubjectAccessReviews for `group` from the RBAC objects applied to the stand-in. */
  reviewFromAppliedRbac(group: string): void {
    this.kube.reviews.grantGroup(group, new AppliedRbac(this.kube, group));
  }

  /**
   * The stack's function, running here: the real handler (createHandler) with the environment
   * CloudFormation would give it, its AWS clients at moto (in AWS it reaches them through the
   * stack's VPC endpoints), the Coordinator at the emulator (in AWS: the PrivateLink endpoint →
   * the NLB → the Coordinator), the test chain's roots (the only change to verification), its
   * log records shipped to its log group, its KMS and Secrets Manager calls into CloudTrail.
   */
  async deployFunction(f: {
    name: string;
    roleArn: string;
    env: Record<string, string>;
    logGroup: string;
  }): Promise<DeployedFunction> {
    const cfg = this.awsConfig();
    const kms = new KMSClient(cfg);
    const secrets = new SecretsManagerClient(cfg);
    const callerArn = `arn:aws:sts::${ACCOUNT}:assumed-role/${f.roleArn.split('/').pop()}/${f.name}`;
    this.trail.recordKmsCalls(kms, callerArn);
    this.trail.recordSecretsManagerCalls(secrets, callerArn);
    const logger = new ShippingLogger().shipTo(await logGroupShipper(new CloudWatchLogsClient(cfg), f.logGroup));
    const handler = createHandler({
      config: await loadConfigFromStore(f.env, () => new SSMClient(cfg)),
      clients: { kms, secrets, dynamodb: new DynamoDBClient(cfg), events: new EventBridgeClient(cfg) },
      verifierFactory: testSnpVerifierFactory(),
      telemetry: { logger, metrics: noMetrics },
    });
    const results: unknown[] = [];
    const invoke = async (
      event: unknown,
      context: { awsRequestId: string; clientContext?: { custom?: unknown } } = { awsRequestId: crypto.randomUUID() },
    ) => {
      try {
        const out = await handler(event, {
          ...context,
          functionName: f.name,
          getRemainingTimeInMillis: () => 300_000,
        } as unknown as Parameters<typeof handler>[1]);
        results.push(out);
        return out;
      } finally {
        await logger.flushed();
      }
    };
    // Through Lambda's API (the CLI's pause, resume, status, doctor): an Invoke data event each.
    const viaApi = async (event: unknown, context: { awsRequestId: string; clientContext?: { custom?: unknown } }) => {
      this.invocations.push({
        at: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
        requestId: context.awsRequestId,
        caller: 'operator',
      });
      return invoke(event, context);
    };
    this.lambda.add({ name: f.name, roleArn: f.roleArn, env: f.env, logGroup: f.logGroup, invoke: viaApi });
    const deployed: DeployedFunction = {
      ...f,
      arn: this.lambda.arnOf(f.name),
      logger,
      invoke: (e) => invoke(e),
      results,
    };
    this.functions.set(f.name, deployed);
    return deployed;
  }

  /**
   * The AWS Load Balancer Controller (eks shape): a Service of type LoadBalancer with
   * `loadBalancerClass: service.k8s.aws/nlb` (or the `external` type annotation) becomes an NLB
   * named by `aws-load-balancer-name`, with IP targets: the Coordinator pods (the emulator).
   * Only with `nlb-target-type: ip` and `scheme: internal`, as PrivateLink to pods on hybrid
   * nodes needs; otherwise the Service gets no NLB here (`world.refusedServices` says why).
   */
  readonly refusedServices = new Map<string, string>();
  private reconcileLoadBalancers(): void {
    if (!this.o.eks) return;
    for (const svc of this.objects('services')) {
      const spec = (svc.spec ?? {}) as {
        type?: string;
        loadBalancerClass?: string;
        publishNotReadyAddresses?: boolean;
      };
      const a = svc.metadata.annotations ?? {};
      if (
        spec.type !== 'LoadBalancer' ||
        !(
          spec.loadBalancerClass === 'service.k8s.aws/nlb' ||
          a['service.beta.kubernetes.io/aws-load-balancer-type'] === 'external'
        )
      )
        continue;
      const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
      const name = a['service.beta.kubernetes.io/aws-load-balancer-name'];
      const why =
        !name || !/^[A-Za-z0-9-]{1,32}$/.test(name) || name.endsWith('-')
          ? `aws-load-balancer-name "${name ?? ''}" is not a valid NLB name`
          : a['service.beta.kubernetes.io/aws-load-balancer-nlb-target-type'] !== 'ip'
            ? 'nlb-target-type is not ip'
            : a['service.beta.kubernetes.io/aws-load-balancer-scheme'] !== 'internal'
              ? 'scheme is not internal'
              : undefined;
      if (why) {
        this.refusedServices.set(key, why);
        continue;
      }
      this.refusedServices.delete(key);
      if (!this.nlbs.has(name!))
        this.nlbs.set(name!, {
          name: name!,
          arn: nlbArn(this.o.region, name!),
          target: this.emu.address,
          publishNotReadyAddresses: spec.publishNotReadyAddresses === true,
        });
    }
  }

  /** A replaced Coordinator pod: the Coordinator lost its keys; the exporter and the backstop react. */
  private async reactToRestarts(): Promise<void> {
    const fresh = this.coordinatorPods().filter((p) => !this.knownCoordinatorPods.has(p.metadata.uid));
    if (fresh.length === 0) return;
    for (const p of fresh) this.knownCoordinatorPods.add(p.metadata.uid);
    const pod = fresh[0]!;
    pod.status = { ...pod.status, conditions: [{ type: 'Ready', status: 'False' }] };
    this.emu.restart();
    await this.exportRestart(pod).catch((err: unknown) =>
      console.error(`journey world: exporter: ${(err as Error).message}`),
    );
    // The backstop schedule's next tick (the function's rule, every minute in AWS).
    const t = setTimeout(() => {
      this.timers.delete(t);
      for (const f of this.functions.values())
        void f
          .invoke({
            version: '0',
            id: crypto.randomUUID(),
            'detail-type': 'Scheduled Event',
            source: 'aws.events',
            account: ACCOUNT,
            time: new Date().toISOString(),
            region: this.o.region,
            resources: [],
            detail: {},
          })
          .catch(() => undefined);
    }, this.o.backstopMs ?? 15_000);
    this.timers.add(t);
  }

  /**
   * kubernetes-event-exporter, as installed: only when its Deployment and ConfigMap were
   * applied; routes and the EventBridge receiver come from the applied config.yaml, with the
   * `{{ .InvolvedObject.… }}` templates filled from the pod. The bus is moto's; the stack's rule
   * on that bus delivers the event to the function.
   */
  private async exportRestart(pod: KubeObject): Promise<void> {
    const ns = OPERATIONS.exporterNamespace;
    if (this.objects('deployments', ns).length === 0) return;
    for (const cm of this.objects('configmaps', ns)) {
      const text = (cm as unknown as { data?: Record<string, string> }).data?.['config.yaml'];
      if (!text) continue;
      const config = parseYaml(text) as {
        namespace?: string;
        route?: {
          routes?: {
            match?: {
              receiver?: string;
              kind?: string;
              reason?: string;
              namespace?: string;
              labels?: Record<string, string>;
            }[];
          }[];
        };
        receivers?: {
          name: string;
          eventbridge?: {
            eventBusName: string;
            region?: string;
            source: string;
            detailType: string;
            details: Record<string, string>;
          };
        }[];
      };
      if (config.namespace && config.namespace !== this.o.namespace) continue;
      // Rule fields are unanchored Go regexps (pkg/exporter/rule.go), labels too.
      const matches = (config.route?.routes ?? [])
        .flatMap((r) => r.match ?? [])
        .filter(
          (m) =>
            (!m.kind || new RegExp(m.kind).test('Pod')) &&
            (!m.reason || new RegExp(m.reason).test('Started')) &&
            (!m.namespace || new RegExp(m.namespace).test(pod.metadata.namespace ?? '')) &&
            Object.entries(m.labels ?? {}).every(
              ([k, v]) => k in (pod.metadata.labels ?? {}) && new RegExp(v).test(pod.metadata.labels![k]!),
            ),
        );
      for (const m of matches) {
        const receiver = config.receivers?.find((r) => r.name === m.receiver)?.eventbridge;
        if (!receiver) continue;
        const detail = Object.fromEntries(
          Object.entries(receiver.details).map(([k, v]) => [
            k,
            v
              .replace('{{ .InvolvedObject.Name }}', pod.metadata.name)
              .replace('{{ .InvolvedObject.UID }}', pod.metadata.uid),
          ]),
        );
        const events = new EventBridgeClient({
          ...this.awsConfig(),
          ...(receiver.region ? { region: receiver.region } : {}),
        });
        const out = await events.send(
          new PutEventsCommand({
            Entries: [
              {
                EventBusName: receiver.eventBusName,
                Source: receiver.source,
                DetailType: receiver.detailType,
                Detail: JSON.stringify(detail),
              },
            ],
          }),
        );
        if ((out.FailedEntryCount ?? 0) > 0) continue; // the sink does not check per-entry failures
        this.exported.push({ bus: receiver.eventBusName, detail });
        // The stack's rule: trigger events on its bus invoke its function.
        for (const f of this.functions.values()) {
          if (
            f.env.EVENT_BUS_NAME !== receiver.eventBusName ||
            receiver.source !== EVENTS.triggerSource ||
            !EVENTS.triggerDetailTypes.includes(receiver.detailType as never)
          )
            continue;
          void f
            .invoke({
              version: '0',
              id: out.Entries?.[0]?.EventId ?? crypto.randomUUID(),
              'detail-type': receiver.detailType,
              source: receiver.source,
              account: ACCOUNT,
              time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
              region: this.o.region,
              resources: [],
              detail,
            })
            .catch(() => undefined);
        }
      }
    }
  }

  /** CloudTrail: LookupEvents to the event-history stand-in, every other call to moto. */
  private async startCloudTrailRouter(): Promise<void> {
    const moto = new URL(this.o.motoEndpoint);
    const trail = new URL(this.trail.endpoint);
    this.cloudtrailRouter = createServer((req: IncomingMessage, res: ServerResponse) => {
      const to = String(req.headers['x-amz-target'] ?? '').endsWith('.LookupEvents') ? trail : moto;
      const upstream = httpRequest(
        {
          host: to.hostname,
          port: to.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: to.host },
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', (err) => {
        res.writeHead(502);
        res.end(err.message);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => this.cloudtrailRouter!.listen(0, '127.0.0.1', resolve));
    this.cloudtrailEndpoint = `http://127.0.0.1:${(this.cloudtrailRouter.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    if (this.watcher) clearInterval(this.watcher);
    for (const t of this.timers) clearTimeout(t);
    this.cloudtrailRouter?.closeAllConnections();
    await Promise.all([
      this.emu.stop(),
      this.kube.close(),
      this.eks.close(),
      this.lambda.close(),
      this.trail.close(),
      new Promise<void>((resolve) =>
        this.cloudtrailRouter ? this.cloudtrailRouter.close(() => resolve()) : resolve(),
      ),
    ]);
  }
}
