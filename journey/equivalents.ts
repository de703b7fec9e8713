/**
 * Local equivalents: what the harness runs for a block nothing here can run (the AWS CLI is
 * not on this machine kind; `cdk deploy` needs an account). Each stands for exactly one kind
 * of block (`expects`: the block must say that, or the marker is wrong), uses the values the
 * block names (expanded from the session, so an unset variable fails as it would for the
 * operator), changes the world as the real command would, and sets the variables the block
 * assigns. A marker naming an equivalent that is not here fails the journey.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { LookupEventsCommand, CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { assignedFromCommand, expandVars, flagValue, type StepContext } from './context.ts';
import { readAssembly, deployStack } from './stack.ts';
import { nlbArn } from './nlb.ts';
import { ACCOUNT } from './world.ts';

export interface EquivalentResult {
  /** Variables the block assigns, as the real commands would have set them. */
  exports?: Record<string, string>;
  /** What the real command would print (shown in the journey's log). */
  output: string;
}

export interface Equivalent {
  /** What the block stands for, in a line (the journey prints it). */
  standsFor: string;
  /** The block must match this (else the marker is on the wrong block). */
  expects: RegExp;
  /**
   * The statements of the block it stands for (default: the AWS CLI's); the block's other
   * statements run for real, in order, with their effect checks. `ctx.block.text` holds the
   * covered statements when run() is called.
   */
  covers?: RegExp;
  run(ctx: StepContext): Promise<EquivalentResult>;
}

/** Each line of the block with its variables expanded from the session. */
function expanded(ctx: StepContext): string {
  const text = ctx.block.text
    .replace(/\\\n\s*/g, ' ')
    .replace(/\$\(aws sts get-caller-identity --query Account --output text\)/g, ACCOUNT);
  // Variables the block itself assigns stay as they are: the equivalent sets them.
  const own = Object.fromEntries(assignedFromCommand(ctx.block.text).map((n) => [n, `$${n}`]));
  return expandVars(text, { ...ctx.env, ...own });
}

function exportsFor(ctx: StepContext, value: (name: string) => string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of assignedFromCommand(ctx.block.text)) {
    const v = value(name);
    if (v === undefined) throw new Error(`the block assigns $${name}, which the equivalent does not know how to set`);
    out[name] = v;
  }
  return out;
}

/**
 * The example app's configuration as the operator keeps it: the values file's `contrast:*` keys
 * in cdk.json's context (which the app reads; cdk.json's context wins over cdk.context.json),
 * `${VAR}` filled from the session. Returns the variables no step has set yet.
 */
export async function writeCdkContext(ctx: StepContext): Promise<string[]> {
  const missing: string[] = [];
  const text = JSON.stringify(ctx.values.cdkContext).replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, name: string) => {
    const v = ctx.env[name];
    if (v === undefined) {
      missing.push(name);
      return m;
    }
    return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  });
  const file = join(ctx.workdir, 'cdk.json');
  const cdkJson = JSON.parse(await readFile(file, 'utf8').catch(() => '{}')) as { context?: Record<string, unknown> };
  const context = Object.fromEntries(Object.entries(cdkJson.context ?? {}).filter(([k]) => !k.startsWith('contrast:')));
  await writeFile(
    file,
    `${JSON.stringify({ ...cdkJson, context: { ...context, ...(JSON.parse(text) as Record<string, unknown>) } }, null, 2)}\n`,
  );
  return missing;
}

/** What an equivalent stands for by default: statements that call the AWS CLI. */
export const AWS_CLI = /(^|[\s;|(&"'`$])aws\s/;

export const EQUIVALENTS: Record<string, Equivalent> = {
  'cdk-bootstrap': {
    standsFor:
      'CDK bootstrap of each environment named (aws://ACCOUNT/REGION): recorded, so a deploy into an environment not bootstrapped fails as cdk deploy would',
    expects: /\bcdk bootstrap\b/,
    covers: /\bcdk bootstrap\b/,
    async run(ctx) {
      const envs = [...expanded(ctx).matchAll(/aws:\/\/(\d{12})\/([a-z0-9-]+)/g)].map((m) => `aws://${m[1]}/${m[2]}`);
      if (envs.length === 0) throw new Error('cdk bootstrap names no environment (aws://ACCOUNT/REGION)');
      for (const e of envs) {
        if (!e.startsWith(`aws://${ACCOUNT}/`))
          throw new Error(`${e}: not the account the journey deploys to (${ACCOUNT})`);
        ctx.world.bootstrapped.add(e);
      }
      return { output: envs.map((e) => ` ✅  Environment ${e} bootstrapped.`).join('\n') };
    },
  },

  'eks-authentication-mode': {
    standsFor:
      "aws eks describe-cluster / update-cluster-config: the EKS stand-in's cluster gets the authentication mode named",
    expects: /aws eks update-cluster-config/,
    async run(ctx) {
      const text = expanded(ctx);
      const name = flagValue(text, '--name');
      const mode = /authenticationMode=([A-Z_]+)/.exec(text)?.[1];
      const cluster = name ? ctx.world.eks.clusters.get(name) : undefined;
      if (!cluster) throw new Error(`ResourceNotFoundException: No cluster found for name: ${name}`);
      if (!mode || !['API', 'API_AND_CONFIG_MAP'].includes(mode))
        throw new Error(`authenticationMode=${mode}: access entries need API or API_AND_CONFIG_MAP`);
      const order = ['CONFIG_MAP', 'API_AND_CONFIG_MAP', 'API'];
      if (order.indexOf(mode) < order.indexOf(cluster.authenticationMode))
        throw new Error(
          `InvalidParameterException: the authentication mode cannot go back from ${cluster.authenticationMode} to ${mode}`,
        );
      const before = cluster.authenticationMode;
      cluster.authenticationMode = mode as typeof cluster.authenticationMode;
      return { output: `"${before}"\n(update-cluster-config: ${before} → ${mode})` };
    },
  },

  'kubeconfig-secret': {
    standsFor:
      "aws secretsmanager create-secret --secret-string file://…: the secret created in moto with the file's content",
    expects: /aws secretsmanager create-secret/,
    async run(ctx) {
      const text = expanded(ctx);
      const name = flagValue(text, '--name');
      const file = /file:\/\/(\S+)/.exec(text)?.[1];
      if (!name || !file) throw new Error('create-secret needs --name and --secret-string file://…');
      const content = await readFile(join(ctx.workdir, file), 'utf8');
      const out = await new SecretsManagerClient(ctx.world.awsConfig()).send(
        new CreateSecretCommand({ Name: name, SecretString: content }),
      );
      return {
        output: JSON.stringify({ ARN: out.ARN, Name: out.Name }, null, 2),
        exports: exportsFor(ctx, () => out.ARN),
      };
    },
  },

  'nlb-create': {
    standsFor:
      'aws elbv2 create-target-group / register-targets / create-load-balancer / create-listener: an internal NLB of that name whose TCP listener on 1313 forwards to the registered Coordinator target (the emulator)',
    expects: /aws elbv2 create-load-balancer/,
    async run(ctx) {
      const text = expanded(ctx);
      const names = [...text.matchAll(/--name\s+("[^"]*"|\S+)/g)].map((m) => m[1]!.replace(/"/g, ''));
      const name = names[0];
      if (!name || !/^[A-Za-z0-9-]{1,32}$/.test(name) || name.endsWith('-'))
        throw new Error(
          `ValidationError: the load balancer name "${name}" must be at most 32 alphanumeric characters or hyphens, not ending with a hyphen`,
        );
      if (!/--type network/.test(text) || !/--scheme internal/.test(text))
        throw new Error('the NLB must be --type network --scheme internal');
      if (!/AvailabilityZone=all/.test(text)) throw new Error('targets outside the VPC need AvailabilityZone=all');
      const port = /Id=[^,\s]+,Port=(\d+)/.exec(text)?.[1];
      if (!port) throw new Error('register-targets names no target Id=…,Port=…');
      const listener = /create-listener[^\n]*--port (\d+)/.exec(text)?.[1];
      if (listener !== '1313')
        throw new Error(
          `the listener must be on 1313 (the stack's PrivateLink endpoint connects there), not ${listener}`,
        );
      // The targets' port must reach the Coordinator: a NodePort of a Service selecting it that publishes not-ready addresses.
      const services = ctx.world.objects('services', ctx.values.cluster.namespace);
      const nodePort = services.find(
        (svc) =>
          ((svc.spec?.ports ?? []) as { nodePort?: number }[]).some((p) => String(p.nodePort) === port) &&
          (svc.spec?.selector as Record<string, string> | undefined)?.['app.kubernetes.io/name'] === 'coordinator',
      );
      if (!nodePort)
        throw new Error(
          `no Service in namespace ${ctx.values.cluster.namespace} exposes the Coordinator on node port ${port}: the NLB's targets would reach nothing`,
        );
      if (nodePort.spec?.publishNotReadyAddresses !== true)
        throw new Error(
          `Service ${nodePort.metadata.name} does not publish not-ready addresses: a recovering Coordinator (not Ready) would be unreachable`,
        );
      const arn = nlbArn(ctx.world.o.region, name);
      ctx.world.nlbs.set(name, { name, arn, target: ctx.world.emu.address });
      const tg = `arn:aws:elasticloadbalancing:${ctx.world.o.region}:${ACCOUNT}:targetgroup/${name}/${arn.slice(-16)}`;
      return {
        output: `${arn}`,
        exports: exportsFor(ctx, (v) => (/TG/i.test(v) ? tg : /NLB|LB|ARN/i.test(v) ? arn : undefined)),
      };
    },
  },

  'nlb-arn': {
    standsFor:
      'aws elbv2 describe-load-balancers --names …: the ARN of the NLB of that name (created in §2, by the controller or by hand)',
    expects: /aws elbv2 describe-load-balancers/,
    async run(ctx) {
      const text = expanded(ctx);
      const name = flagValue(text, '--names');
      const nlb = name ? ctx.world.nlbs.get(name) : undefined;
      if (!nlb) throw new Error(`LoadBalancerNotFound: One or more load balancers not found (${name})`);
      return { output: nlb.arn, exports: exportsFor(ctx, () => nlb.arn) };
    },
  },

  'cdk-deploy': {
    standsFor:
      'cdk deploy: the same command as `cdk synth` for real (cdk-nag included), then the synthesized stacks created in moto and the stand-ins (journey/stack.ts), outputs answered by DescribeStacks',
    expects: /\bcdk deploy\b/,
    covers: /\bcdk deploy\b/,
    async run(ctx) {
      const missing = await writeCdkContext(ctx);
      if (missing.length > 0)
        throw new Error(
          `the app's configuration needs ${missing.map((m) => `$${m}`).join(', ')}, which no step before this one set`,
        );
      // cdk deploy runs as cdk synth into cdk.out (the block's other statements ran as written).
      const synthText = ctx.block.text.replace(
        /\bcdk deploy\b([^\n]*)/g,
        (_m, rest: string) =>
          `cdk synth -q -o cdk.out${rest.replace(/--require-approval[= ]\S+/, '').replace(/\s--all\b/, '')}`,
      );
      const synth = await ctx.sh(synthText);
      if (synth.code !== 0)
        throw new Error(`cdk synth (for deploy) failed with ${synth.code}:\n${synth.stderr.slice(-3000)}`);
      const stacks = await readAssembly(join(ctx.workdir, 'cdk.out'), ctx.world.o.region);
      const lines: string[] = [];
      for (const s of stacks) {
        const env = `aws://${ACCOUNT}/${s.region}`;
        if (!ctx.world.bootstrapped.has(env))
          throw new Error(
            `${s.stackName}: ${env} is not bootstrapped ("SSM parameter /cdk-bootstrap/hnb659fds/version not found. Has the environment been bootstrapped?")`,
          );
        const d = await deployStack(ctx.world, s);
        lines.push(
          ` ✅  ${s.stackName}`,
          '',
          'Outputs:',
          ...Object.entries(d.outputs).map(([k, v]) => `${s.stackName}.${k} = ${v}`),
          '',
        );
      }
      return { output: lines.join('\n') };
    },
  },

  'stack-outputs': {
    standsFor:
      "aws cloudformation describe-stacks … OutputKey=='KEY': the deployed stack's outputs (moto's CloudFormation), each variable the block assigns from the output it names",
    expects: /aws cloudformation describe-stacks/,
    async run(ctx) {
      const text = expanded(ctx);
      const stackName = flagValue(text, '--stack-name');
      const outputs = stackName ? ctx.world.stacks.get(stackName) : undefined;
      if (!outputs) throw new Error(`ValidationError: Stack with id ${stackName} does not exist`);
      const exports: Record<string, string> = {};
      // VAR=$(aws cloudformation describe-stacks … OutputKey=='KEY' …): CDK suffixes keys of nested constructs with a hash.
      for (const m of ctx.block.text.matchAll(
        /([A-Za-z_][A-Za-z0-9_]*)=\$\(aws cloudformation describe-stacks[^)]*?OutputKey==[`'"]?([A-Za-z0-9]+)/g,
      )) {
        const [, name, key] = m as unknown as [string, string, string];
        const found = Object.entries(outputs).filter(
          ([k]) => k === key || new RegExp(`^(Recovery)?${key}[0-9A-F]{8}$`).test(k),
        );
        if (found.length !== 1)
          throw new Error(
            `output ${key}: ${found.length === 0 ? 'no such output' : 'ambiguous'} (outputs: ${Object.keys(outputs).join(', ')})`,
          );
        exports[name] = found[0]![1];
      }
      if (Object.keys(exports).length === 0) throw new Error('the block assigns no variable from an output');
      return {
        output: Object.entries(exports)
          .map(([k, v]) => `${k}=${v}`)
          .join('\n'),
        exports,
      };
    },
  },

  'assume-enroller-role': {
    standsFor:
      "aws sts assume-role of the enroller role: moto's STS AssumeRole, its credentials exported as the eval would",
    expects: /aws sts assume-role/,
    async run(ctx) {
      const text = expanded(ctx);
      const role = flagValue(text, '--role-arn');
      if (!role || !/^arn:aws:iam::\d{12}:role\//.test(role)) throw new Error(`--role-arn ${role}: not a role ARN`);
      const enroller = [...ctx.world.stacks.values()]
        .map((o) => Object.entries(o).find(([k]) => /EnrollerRoleArn/.test(k))?.[1])
        .find(Boolean);
      if (enroller && role !== enroller)
        throw new Error(`--role-arn ${role} is not the stack's enroller role (${enroller})`);
      const session = flagValue(text, '--role-session-name') ?? 'journey';
      const body = new URLSearchParams({
        Action: 'AssumeRole',
        Version: '2011-06-15',
        RoleArn: role,
        RoleSessionName: session,
      });
      const res = await fetch(ctx.world.o.motoEndpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `AWS4-HMAC-SHA256 Credential=testing/20240101/${ctx.world.o.region}/sts/aws4_request, SignedHeaders=host, Signature=0`,
        },
        body,
      });
      const xml = await res.text();
      const get = (tag: string) => new RegExp(`<${tag}>([^<]+)</${tag}>`).exec(xml)?.[1];
      const id = get('AccessKeyId');
      if (!res.ok || !id) throw new Error(`AssumeRole failed: ${res.status} ${xml.slice(0, 300)}`);
      return {
        output: `(assumed ${role} as ${session})`,
        exports: {
          AWS_ACCESS_KEY_ID: id,
          AWS_SECRET_ACCESS_KEY: get('SecretAccessKey')!,
          AWS_SESSION_TOKEN: get('SessionToken')!,
        },
      };
    },
  },

  'cloudtrail-decrypts': {
    standsFor:
      "aws cloudtrail lookup-events … | jq: the event history's Decrypt events that carry the deployment's encryption context, in the jq filter's shape",
    expects: /aws cloudtrail lookup-events/,
    async run(ctx) {
      const ct = new CloudTrailClient({ ...ctx.world.awsConfig(), endpoint: ctx.world.cloudtrailEndpoint });
      const out = await ct.send(
        new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'Decrypt' }] }),
      );
      const events = (out.Events ?? []).map(
        (e) =>
          JSON.parse(e.CloudTrailEvent ?? '{}') as {
            eventTime: string;
            requestID: string;
            userIdentity: { arn: string };
            requestParameters?: { encryptionContext?: Record<string, string> };
          },
      );
      const ours = events.filter(
        (e) => e.requestParameters?.encryptionContext?.['contrast-autorecover:deployment'] !== undefined,
      );
      if (ours.length === 0)
        throw new Error("no Decrypt with the deployment's encryption context in the event history");
      return {
        output: ours
          .map((e) =>
            JSON.stringify({
              time: e.eventTime,
              requestID: e.requestID,
              who: e.userIdentity.arn,
              ctx: e.requestParameters?.encryptionContext,
            }),
          )
          .join('\n'),
      };
    },
  },

  'exporter-logs': {
    standsFor:
      'kubectl logs of the exporter: its Deployment must exist (installed in §6); its log is the events it put on the bus so far (the stand-in runs no containers)',
    expects: /kubectl logs/,
    covers: /\bkubectl logs\b/,
    async run(ctx) {
      const text = expanded(ctx);
      const ns = flagValue(text, '-n') ?? flagValue(text, '--namespace') ?? 'default';
      const name = /\bdeploy(?:ment)?\/([a-z0-9-]+)/.exec(text)?.[1];
      if (!name || !ctx.world.objects('deployments', ns).some((d) => d.metadata.name === name))
        throw new Error(`Error from server (NotFound): deployments.apps "${name}" not found in namespace ${ns}`);
      return {
        output:
          ctx.world.exported
            .map((e) => `sending to eventbridge bus ${e.bus}: ${JSON.stringify(e.detail)}`)
            .join('\n') || '(no events yet)',
      };
    },
  },

  'install-cli': {
    standsFor:
      "npm install -g contrast-autorecover: this checkout's CLI (bin/ on dist/, built by scripts/build.mjs) put on PATH, not the registry's",
    expects: /npm install -g contrast-autorecover/,
    covers: /\bnpm install -g contrast-autorecover\b/,
    async run(ctx) {
      const dir = ctx.env.JOURNEY_CLI_DIR!;
      return { output: `added contrast-autorecover (${dir})`, exports: { PATH: `${dir}:${ctx.env.PATH}` } };
    },
  },

  'trail-invoke-events': {
    standsFor:
      "aws s3 cp of the trail's log files: the function's Invoke data events as CloudTrail writes them (gzipped JSON, Records) into the directory named; the rest of the block (find, zcat, jq) runs for real",
    expects: /aws s3 cp/,
    async run(ctx) {
      const dest = /aws s3 cp\s+(?:"[^"]*"|'[^']*'|\S+)\s+(\S+)/.exec(ctx.block.text)?.[1];
      if (!dest) throw new Error('aws s3 cp names no destination');
      const f = [...ctx.world.functions.values()][0];
      if (!f) throw new Error('NoSuchBucket: no stack is deployed');
      const now = new Date();
      const day = now.toISOString().slice(0, 10).replace(/-/g, '/');
      const region = ctx.world.o.region;
      const dir = join(ctx.workdir, dest, 'AWSLogs', ACCOUNT, 'CloudTrail', region, day);
      await mkdir(dir, { recursive: true });
      const Records = ctx.world.invocations.map((i) => ({
        eventVersion: '1.09',
        eventTime: i.at,
        eventSource: 'lambda.amazonaws.com',
        eventName: 'Invoke',
        awsRegion: region,
        userIdentity: {
          type: 'AssumedRole',
          arn: `arn:aws:sts::${ACCOUNT}:assumed-role/operator/${i.caller}`,
          accountId: ACCOUNT,
        },
        requestID: i.requestId,
        eventType: 'AwsApiCall',
        managementEvent: false,
        eventCategory: 'Data',
        resources: [{ ARN: f.arn, accountId: ACCOUNT, type: 'AWS::Lambda::Function' }],
      }));
      if (Records.length === 0) throw new Error('the function was never invoked: no Invoke data events');
      await writeFile(
        join(
          dir,
          `${ACCOUNT}_CloudTrail_${region}_${now.toISOString().replace(/[-:]/g, '').slice(0, 13)}Z_journey.json.gz`,
        ),
        gzipSync(JSON.stringify({ Records })),
      );
      return { output: `download: ${Records.length} Invoke event(s) to ${dest}` };
    },
  },
};
