/**
 * `cdk deploy`, locally: the synthesized template (cdk.out, from a real `cdk synth`) made real
 * against moto and the stand-ins, as CloudFormation would, for the resources the operator's
 * later steps and the function touch:
 *
 *   KMS keys (with their key policies), S3 buckets, log groups, the DynamoDB table,
 *   the event bus, the bundle secrets (with their initial value, under their key), the
 *   deployments' parameters (Parameter Store), SNS topics,
 *   the trail (logging), the function (createHandler here, with the template's environment),
 *   EKS access entries (EKS stand-in), the stack and its outputs (moto's CloudFormation, so
 *   DescribeStacks answers).
 *
 * Every other resource gets a physical id only (IAM roles, SNS topics, IAM Roles Anywhere profiles: their ARNs; VPC endpoints, security groups, rules, alarms:
 * nothing here can run them). Intrinsic functions are resolved as CloudFormation does: Ref,
 * Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split, Fn::Sub, Fn::If/Equals/Not/And/Or, Fn::FindInMap,
 * Fn::GetAZs, Fn::Base64 and the pseudo parameters.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CloudFormationClient, CreateStackCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  CloudTrailClient,
  CreateTrailCommand,
  StartLoggingCommand,
  PutEventSelectorsCommand,
  type EventSelector,
  type AdvancedEventSelector,
} from '@aws-sdk/client-cloudtrail';
import { CloudWatchLogsClient, CreateLogGroupCommand } from '@aws-sdk/client-cloudwatch-logs';
import {
  CreateTableCommand,
  DynamoDBClient,
  type AttributeDefinition,
  type KeySchemaElement,
} from '@aws-sdk/client-dynamodb';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { ACCOUNT, type World } from './world.ts';

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };
interface Resource {
  Type: string;
  Properties?: Record<string, Json>;
  Condition?: string;
}
export interface Template {
  Resources: Record<string, Resource>;
  Outputs?: Record<string, { Value: Json; Export?: unknown; Description?: string }>;
  Conditions?: Record<string, Json>;
  Mappings?: Record<string, Record<string, Record<string, Json>>>;
  Parameters?: Record<string, { Default?: Json; Type?: string }>;
}

interface Physical {
  ref: string;
  attrs: Record<string, Json>;
}

/** The stack's template and its name, from a cloud assembly directory (manifest.json). */
export async function readAssembly(
  cdkOut: string,
  region: string,
): Promise<{ stackName: string; template: Template; region: string }[]> {
  const manifest = JSON.parse(await readFile(join(cdkOut, 'manifest.json'), 'utf8')) as {
    artifacts: Record<
      string,
      { type: string; environment?: string; properties?: { templateFile?: string; stackName?: string } }
    >;
  };
  const out: { stackName: string; template: Template; region: string }[] = [];
  for (const [id, a] of Object.entries(manifest.artifacts)) {
    if (a.type !== 'aws:cloudformation:stack' || !a.properties?.templateFile) continue;
    const env = /^aws:\/\/[^/]+\/(.+)$/.exec(a.environment ?? '')?.[1];
    out.push({
      stackName: a.properties.stackName ?? id,
      template: JSON.parse(await readFile(join(cdkOut, a.properties.templateFile), 'utf8')) as Template,
      region: env && env !== 'unknown-region' ? env : region,
    });
  }
  return out;
}

class Resolver {
  readonly physical = new Map<string, Physical>();
  constructor(
    private readonly t: Template,
    private readonly region: string,
    private readonly stackName: string,
  ) {}

  condition(name: string): boolean {
    return Boolean(this.value(this.t.Conditions?.[name] ?? true));
  }

  value(v: Json | undefined): Json {
    if (v === undefined) return null;
    if (Array.isArray(v)) return v.map((x) => this.value(x));
    if (v === null || typeof v !== 'object') return v;
    const keys = Object.keys(v);
    if (keys.length === 1) {
      const [k] = keys as [string];
      const a = v[k]!;
      switch (k) {
        case 'Ref':
          return this.ref(a as string);
        case 'Fn::GetAtt': {
          const [id, attr] = Array.isArray(a) ? (a as string[]) : (a as string).split(/\.(.*)/);
          return this.getAtt(id!, attr!);
        }
        case 'Fn::Join': {
          const [sep, list] = a as [string, Json[]];
          return (this.value(list) as Json[]).map(String).join(sep);
        }
        case 'Fn::Select': {
          const [i, list] = a as [Json, Json];
          const arr = this.value(list) as Json[];
          return arr[Number(this.value(i))] ?? null;
        }
        case 'Fn::Split': {
          const [sep, s] = a as [string, Json];
          return String(this.value(s)).split(sep);
        }
        case 'Fn::Sub': {
          const [text, vars] = (Array.isArray(a) ? a : [a, {}]) as [string, Record<string, Json>];
          return text.replace(/\$\{([^}!][^}]*)\}/g, (_m, name: string) => {
            if (name in vars) return String(this.value(vars[name]!));
            const [id, attr] = name.split(/\.(.*)/);
            return String(attr ? this.getAtt(id!, attr) : this.ref(id!));
          });
        }
        case 'Fn::If': {
          const [cond, yes, no] = a as [string, Json, Json];
          return this.condition(cond) ? this.value(yes) : this.value(no);
        }
        case 'Fn::Equals': {
          const [x, y] = a as [Json, Json];
          return JSON.stringify(this.value(x)) === JSON.stringify(this.value(y));
        }
        case 'Fn::Not':
          return !this.value((a as Json[])[0]!);
        case 'Fn::And':
          return (a as Json[]).every((x) => this.value(x));
        case 'Fn::Or':
          return (a as Json[]).some((x) => this.value(x));
        case 'Condition':
          return this.condition(a as string);
        case 'Fn::FindInMap': {
          const [m, k1, k2] = (a as Json[]).map((x) => String(this.value(x)));
          const found = this.t.Mappings?.[m!]?.[k1!]?.[k2!];
          if (found === undefined) throw new Error(`Fn::FindInMap: no ${m}.${k1}.${k2}`);
          return found;
        }
        case 'Fn::GetAZs':
          return [`${this.region}a`, `${this.region}b`, `${this.region}c`];
        case 'Fn::Base64':
          return Buffer.from(String(this.value(a))).toString('base64');
        case 'Fn::ImportValue':
          throw new Error('Fn::ImportValue: the journey deploys one stack without imports');
      }
    }
    return Object.fromEntries(Object.entries(v).map(([key, x]) => [key, this.value(x)]));
  }

  ref(name: string): Json {
    switch (name) {
      case 'AWS::AccountId':
        return ACCOUNT;
      case 'AWS::Region':
        return this.region;
      case 'AWS::Partition':
        return 'aws';
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      case 'AWS::StackName':
        return this.stackName;
      case 'AWS::StackId':
        return `arn:aws:cloudformation:${this.region}:${ACCOUNT}:stack/${this.stackName}/00000000-0000-0000-0000-000000000000`;
      case 'AWS::NoValue':
        return null;
    }
    const p = this.physical.get(name);
    if (p) return p.ref;
    const param = this.t.Parameters?.[name];
    if (param) return param.Default ?? '';
    throw new Error(`Ref ${name}: not created yet (the journey creates resources in dependency order)`);
  }

  getAtt(id: string, attr: string): Json {
    const p = this.physical.get(id);
    if (!p) throw new Error(`Fn::GetAtt ${id}.${attr}: not created yet`);
    if (attr in p.attrs) return p.attrs[attr]!;
    throw new Error(`Fn::GetAtt ${id}.${attr}: the journey's stack does not model this attribute`);
  }
}

/** Resource types whose properties are read (so whose references must exist first); the others only get an id. */
const MODELLED = new Set([
  'AWS::S3::Bucket',
  'AWS::KMS::Key',
  'AWS::Logs::LogGroup',
  'AWS::DynamoDB::Table',
  'AWS::Events::EventBus',
  'AWS::SecretsManager::Secret',
  'AWS::EC2::VPCEndpoint',
  'AWS::EC2::VPCEndpointService',
  'AWS::Lambda::Function',
  'AWS::CloudTrail::Trail',
  'AWS::EKS::AccessEntry',
  'AWS::SSM::Parameter',
]);

/** Logical ids a value refers to (Ref, Fn::GetAtt, Fn::Sub). */
function references(v: Json | undefined, out = new Set<string>()): Set<string> {
  if (Array.isArray(v)) for (const x of v) references(x, out);
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === 'Ref' && typeof x === 'string') out.add(x);
      else if (k === 'Fn::GetAtt') out.add(Array.isArray(x) ? String(x[0]) : String(x).split('.')[0]!);
      else if (k === 'Fn::Sub') for (const m of JSON.stringify(x).matchAll(/\$\{([A-Za-z0-9]+)/g)) out.add(m[1]!);
      references(x, out);
    }
  }
  return out;
}

/** Unmodelled resources first (ids only), then the modelled ones after what their properties refer to, as CloudFormation orders creation. */
function dependencyOrder(entries: [string, Resource][]): [string, Resource][] {
  const byId = new Map(entries);
  const done = new Set<string>();
  const visiting = new Set<string>();
  const out: [string, Resource][] = entries.filter(([, r]) => !MODELLED.has(r.Type));
  for (const [id] of out) done.add(id);
  const visit = (id: string): void => {
    const res = byId.get(id);
    if (!res || done.has(id)) return;
    if (visiting.has(id)) throw new Error(`circular references through ${id}`);
    visiting.add(id);
    for (const dep of references((res.Properties ?? {}) as Json)) visit(dep);
    visiting.delete(id);
    done.add(id);
    out.push([id, res]);
  };
  for (const [id] of entries) visit(id);
  return out;
}

export interface DeployedStack {
  stackName: string;
  outputs: Record<string, string>;
  /** Logical id → physical id. */
  physical: Record<string, string>;
  template: Template;
  /** NLB ARNs the stack's endpoint services front. */
  nlbArns: string[];
}

function short(id: string): string {
  return id.replace(/[^A-Za-z0-9]/g, '').slice(0, 40);
}

/**
 * Deploys one synthesized stack into the world. `coordinatorFor(nlbArn)` says where a
 * Coordinator endpoint service's NLB leads (the emulator's address), undefined when no NLB of
 * that ARN exists (CloudFormation then fails: the endpoint service needs the NLB).
 */
export async function deployStack(
  world: World,
  stack: { stackName: string; template: Template; region: string },
): Promise<DeployedStack> {
  const { template: t, stackName, region } = stack;
  const cfg = { ...world.awsConfig(), region };
  const r = new Resolver(t, region, stackName);
  const entries = dependencyOrder(
    Object.entries(t.Resources).filter(([, res]) => !res.Condition || r.condition(res.Condition)),
  );
  const nlbArns: string[] = [];
  let deployedFunction: { name: string; roleArn: string; env: Record<string, string>; logGroup: string } | undefined;
  const functionResources: { id: string; props: Record<string, Json> }[] = [];
  const parameters: { name: string; value: string }[] = [];

  for (const [id, res] of entries) {
    const p = () => r.value((res.Properties ?? {}) as Json) as Record<string, Json>;
    const arn = (service: string, rest: string) => `arn:aws:${service}:${region}:${ACCOUNT}:${rest}`;
    switch (res.Type) {
      case 'AWS::S3::Bucket': {
        const name = (p().BucketName as string | undefined) ?? `${stackName}-${short(id)}`.toLowerCase().slice(0, 63);
        await createBucket(world.o.motoEndpoint, region, name);
        r.physical.set(id, {
          ref: name,
          attrs: {
            Arn: `arn:aws:s3:::${name}`,
            DomainName: `${name}.s3.amazonaws.com`,
            RegionalDomainName: `${name}.s3.${region}.amazonaws.com`,
          },
        });
        break;
      }
      case 'AWS::KMS::Key': {
        const props = p();
        const out = await new KMSClient(cfg).send(
          new CreateKeyCommand({
            Description: (props.Description as string | undefined) ?? id,
            Policy: JSON.stringify(props.KeyPolicy),
            BypassPolicyLockoutSafetyCheck: true,
          }),
        );
        r.physical.set(id, {
          ref: out.KeyMetadata!.KeyId!,
          attrs: { Arn: out.KeyMetadata!.Arn!, KeyId: out.KeyMetadata!.KeyId! },
        });
        break;
      }
      case 'AWS::IAM::Role': {
        // IAM is global and nothing here evaluates policies: the role is its ARN.
        const name = (r.value(res.Properties?.RoleName) as string | null) || `${stackName}-${short(id)}`.slice(0, 64);
        r.physical.set(id, {
          ref: name,
          attrs: { Arn: `arn:aws:iam::${ACCOUNT}:role/${name}`, RoleId: `AROA${short(id).toUpperCase().slice(0, 17)}` },
        });
        break;
      }
      case 'AWS::RolesAnywhere::Profile':
      case 'AWS::RolesAnywhere::TrustAnchor': {
        const kind = res.Type === 'AWS::RolesAnywhere::Profile' ? 'profile' : 'trust-anchor';
        const uuid = createHash('sha256')
          .update(`${stackName}/${id}`)
          .digest('hex')
          .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12}).*$/, '$1-$2-$3-$4-$5');
        const a = arn('rolesanywhere', `${kind}/${uuid}`);
        r.physical.set(id, {
          ref: a,
          attrs: kind === 'profile' ? { ProfileArn: a, ProfileId: uuid } : { TrustAnchorArn: a, TrustAnchorId: uuid },
        });
        break;
      }
      case 'AWS::SNS::Topic': {
        const name = (r.value(res.Properties?.TopicName) as string | null) || `${stackName}-${short(id)}`;
        r.physical.set(id, { ref: arn('sns', name), attrs: { TopicArn: arn('sns', name), TopicName: name } });
        break;
      }
      case 'AWS::Logs::LogGroup': {
        const name = (p().LogGroupName as string | undefined) ?? `${stackName}-${short(id)}`;
        await new CloudWatchLogsClient(cfg).send(new CreateLogGroupCommand({ logGroupName: name }));
        r.physical.set(id, { ref: name, attrs: { Arn: arn('logs', `log-group:${name}:*`) } });
        break;
      }
      case 'AWS::DynamoDB::Table': {
        const props = p();
        const name = (props.TableName as string | undefined) ?? `${stackName}-${short(id)}`;
        const out = await new DynamoDBClient(cfg).send(
          new CreateTableCommand({
            TableName: name,
            KeySchema: props.KeySchema as unknown as KeySchemaElement[],
            AttributeDefinitions: props.AttributeDefinitions as unknown as AttributeDefinition[],
            BillingMode: 'PAY_PER_REQUEST',
          }),
        );
        r.physical.set(id, { ref: name, attrs: { Arn: out.TableDescription!.TableArn! } });
        break;
      }
      case 'AWS::Events::EventBus': {
        const name = p().Name as string;
        const out = await new EventBridgeClient(cfg).send(new CreateEventBusCommand({ Name: name }));
        r.physical.set(id, { ref: name, attrs: { Arn: out.EventBusArn!, Name: name } });
        break;
      }
      case 'AWS::SecretsManager::Secret': {
        const props = p();
        const name = (props.Name as string | undefined) ?? `${short(id)}-${Math.random().toString(36).slice(2, 8)}`;
        const value =
          (props.SecretString as string | undefined) ??
          (props.GenerateSecretString
            ? JSON.stringify({
                [(props.GenerateSecretString as Record<string, string>).GenerateStringKey ?? 'password']: 'generated',
              })
            : undefined);
        const out = await new SecretsManagerClient(cfg).send(
          new CreateSecretCommand({
            Name: name,
            ...(props.KmsKeyId ? { KmsKeyId: props.KmsKeyId as string } : {}),
            ...(value !== undefined ? { SecretString: value } : {}),
          }),
        );
        r.physical.set(id, { ref: out.ARN!, attrs: { Id: out.ARN! } });
        break;
      }
      case 'AWS::EC2::VPCEndpoint': {
        const props = p();
        const vpce = `vpce-${short(id).toLowerCase().slice(0, 17)}`;
        const service = String(props.ServiceName ?? '');
        const host = `${vpce}.${service.replace(/^com\.amazonaws\.(vpce\.)?/, '')}.vpce.amazonaws.com`;
        r.physical.set(id, {
          ref: vpce,
          attrs: {
            Id: vpce,
            DnsEntries: [`Z00000000000000:${host}`],
            NetworkInterfaceIds: [],
            CreationTimestamp: new Date().toISOString(),
          },
        });
        break;
      }
      case 'AWS::SSM::Parameter': {
        // Put after the loop: a deployment's Coordinator address is rewritten to where its NLB leads.
        const props = p();
        parameters.push({ name: props.Name as string, value: String(props.Value) });
        r.physical.set(id, { ref: props.Name as string, attrs: { Type: 'String', Value: String(props.Value) } });
        break;
      }
      case 'AWS::Lambda::Function': {
        functionResources.push({ id, props: p() });
        const name = (p().FunctionName as string | undefined) ?? `${stackName}-${short(id)}`.slice(0, 64);
        r.physical.set(id, { ref: name, attrs: { Arn: arn('lambda', `function:${name}`) } });
        break;
      }
      case 'AWS::CloudTrail::Trail': {
        const props = p();
        const name = (props.TrailName as string | undefined) ?? `${stackName}-${short(id)}`;
        const ct = new CloudTrailClient(cfg);
        await ct.send(
          new CreateTrailCommand({
            Name: name,
            S3BucketName: props.S3BucketName as string,
            IsMultiRegionTrail: props.IsMultiRegionTrail === true,
            IncludeGlobalServiceEvents: props.IncludeGlobalServiceEvents !== false,
            ...(props.KMSKeyId ? { KmsKeyId: props.KMSKeyId as string } : {}),
          }),
        );
        if (props.EventSelectors)
          await ct.send(
            new PutEventSelectorsCommand({
              TrailName: name,
              EventSelectors: props.EventSelectors as unknown as EventSelector[],
            }),
          );
        else if (props.AdvancedEventSelectors)
          await ct.send(
            new PutEventSelectorsCommand({
              TrailName: name,
              AdvancedEventSelectors: props.AdvancedEventSelectors as unknown as AdvancedEventSelector[],
            }),
          );
        if (props.IsLogging !== false) await ct.send(new StartLoggingCommand({ Name: name }));
        r.physical.set(id, { ref: name, attrs: { Arn: arn('cloudtrail', `trail/${name}`) } });
        break;
      }
      case 'AWS::EKS::AccessEntry': {
        const props = p();
        world.eks.addAccessEntry(props.ClusterName as string, {
          principalArn: props.PrincipalArn as string,
          kubernetesGroups: (props.KubernetesGroups as string[] | undefined) ?? [],
          ...(props.Username ? { username: props.Username as string } : {}),
          type: (props.Type as 'STANDARD' | undefined) ?? 'STANDARD',
        });
        r.physical.set(id, { ref: `${props.ClusterName}|${props.PrincipalArn}`, attrs: {} });
        break;
      }
      case 'AWS::EC2::VPCEndpointService': {
        const props = p();
        for (const a of (props.NetworkLoadBalancerArns as string[] | undefined) ?? []) nlbArns.push(a);
        r.physical.set(id, {
          ref: `vpce-svc-${short(id).toLowerCase().slice(0, 17)}`,
          attrs: { ServiceId: `vpce-svc-${short(id).toLowerCase().slice(0, 17)}` },
        });
        break;
      }
      default: {
        const ref = `${short(id).toLowerCase()}-${Math.random().toString(36).slice(2, 10)}`;
        // Attributes of unmodelled resources: ids and ARNs only as strings nothing resolves against.
        r.physical.set(id, {
          ref,
          attrs: new Proxy({} as Record<string, Json>, {
            has: () => true,
            get: (_t, a) => (a === 'DnsEntries' ? [`Z0:${ref}.example`] : `${ref}.${String(a)}`),
          }),
        });
      }
    }
  }

  // The endpoint services front NLBs that must exist (CloudFormation fails otherwise).
  for (const a of nlbArns) {
    if (![...world.nlbs.values()].some((n) => n.arn === a))
      throw new Error(
        `the stack's endpoint service fronts NLB ${a}, which does not exist (create the Coordinator's NLB first, §2)`,
      );
  }

  for (const f of functionResources) {
    if (deployedFunction) throw new Error('the journey models one function per stack');
    const env = (f.props.Environment as { Variables?: Record<string, string> } | undefined)?.Variables ?? {};
    const name = r.ref(f.id) as string;
    const logGroup =
      ((f.props.LoggingConfig as { LogGroup?: string } | undefined)?.LogGroup as string | undefined) ??
      `/aws/lambda/${name}`;
    deployedFunction = {
      name,
      roleArn: f.props.Role as string,
      env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])),
      logGroup,
    };
  }
  // PrivateLink → NLB → Coordinator: each deployment's endpoint leads where its NLB forwards.
  const nlb = [...world.nlbs.values()].find((n) => nlbArns.includes(n.arn));
  const ssm = new SSMClient(cfg);
  for (const prm of parameters) {
    let value = prm.value;
    const entry = (() => {
      try {
        return JSON.parse(value) as { coordinator?: string };
      } catch {
        return undefined;
      }
    })();
    if (entry && typeof entry === 'object' && 'coordinator' in entry && nlb) {
      entry.coordinator = nlb.target;
      value = JSON.stringify(entry);
    }
    await ssm.send(new PutParameterCommand({ Name: prm.name, Value: value, Type: 'String', Overwrite: true }));
  }
  if (deployedFunction) await world.deployFunction(deployedFunction);

  const outputs: Record<string, string> = {};
  for (const [k, o] of Object.entries(t.Outputs ?? {})) outputs[k] = String(r.value(o.Value));
  // moto's CloudFormation holds the stack and its outputs, so DescribeStacks answers as AWS does.
  const cfn = new CloudFormationClient(cfg);
  await cfn.send(
    new CreateStackCommand({
      StackName: stackName,
      TemplateBody: JSON.stringify({
        Resources: { Deployed: { Type: 'AWS::CloudFormation::WaitConditionHandle' } },
        Outputs: Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, { Value: v }])),
      }),
    }),
  );
  const described = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
  if (described.Stacks?.[0]?.StackStatus !== 'CREATE_COMPLETE')
    throw new Error(`moto's CloudFormation did not create ${stackName}: ${described.Stacks?.[0]?.StackStatus}`);
  world.stacks.set(stackName, outputs);
  return {
    stackName,
    outputs,
    physical: Object.fromEntries([...r.physical].map(([k, v]) => [k, v.ref])),
    template: t,
    nlbArns,
  };
}

/** moto's S3 picks the service from the credential scope; the signature is not checked. */
async function createBucket(endpoint: string, region: string, name: string): Promise<void> {
  const res = await fetch(`${endpoint}/${name}`, {
    method: 'PUT',
    headers: {
      authorization: `AWS4-HMAC-SHA256 Credential=testing/20240101/${region}/s3/aws4_request, SignedHeaders=host, Signature=0`,
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    },
    body:
      region === 'us-east-1'
        ? ''
        : `<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>${region}</LocationConstraint></CreateBucketConfiguration>`,
  });
  if (res.status >= 300) throw new Error(`moto CreateBucket ${name}: ${res.status} ${await res.text()}`);
}
