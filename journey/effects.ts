/**
 * Effect checks: after a block ran, what it should have changed, looked up where it lives (the
 * stand-in, moto, the emulator, the session), not inferred from its exit code. Keyed by the
 * command a block runs; every block that runs must match at least one, or the journey fails
 * ("no effect check"). A check returns the problems it found (none: the effect is there).
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { readDeploymentParameters } from '../lambda/function/deployment-store.ts';
import { changedSince, type StepContext } from './context.ts';
import type { BlockRun } from './session.ts';

export interface EffectCheck {
  name: string;
  applies: RegExp;
  check(ctx: StepContext, run: BlockRun): Promise<string[]>;
}

const GROUP = 'contrast-autorecover';

function functionOf(ctx: StepContext) {
  const [f] = ctx.world.functions.values();
  return f;
}

async function bundleSecretText(ctx: StepContext): Promise<string | undefined> {
  const f = functionOf(ctx);
  if (!f) return undefined;
  // The deployments as the function reads them: its Parameter Store path, or inline.
  const path = f.env.CONTRAST_DEPLOYMENTS_PATH;
  const list = path
    ? (await readDeploymentParameters(new SSMClient(ctx.world.awsConfig()), path)).map((p) => JSON.parse(p.value))
    : JSON.parse(f.env.CONTRAST_DEPLOYMENTS ?? '[]');
  const d = (list as { name: string; secretId: string }[]).find((x) => x.name === ctx.values.cluster.deployment);
  if (!d) return undefined;
  return (
    await new SecretsManagerClient(ctx.world.awsConfig()).send(new GetSecretValueCommand({ SecretId: d.secretId }))
  ).SecretString;
}

async function pauseItem(ctx: StepContext): Promise<Record<string, unknown> | undefined> {
  const f = functionOf(ctx);
  if (!f?.env.LOCK_TABLE_NAME) return undefined;
  const out = await new DynamoDBClient(ctx.world.awsConfig()).send(
    new GetItemCommand({
      TableName: f.env.LOCK_TABLE_NAME,
      Key: { pk: { S: `pause#${ctx.values.cluster.deployment}` } },
    }),
  );
  return out.Item;
}

export const EFFECTS: EffectCheck[] = [
  {
    name: 'exported variables are set',
    applies: /(^|[\s;])export\s+[A-Za-z_]/m,
    async check(ctx, run) {
      // `export A B=1 C="x y"`: each word's name, values (quoted or not) skipped.
      const names = [...ctx.block.text.matchAll(/(?:^|[\s;])export\s+([^;\n]+)/gm)].flatMap((m) =>
        [...m[1]!.matchAll(/(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)(?:=(?:"[^"]*"|'[^']*'|\S*))?/g)].map((x) => x[1]!),
      );
      return names.filter((n) => !run.env[n]).map((n) => `$${n} is exported empty or not at all`);
    },
  },
  {
    name: 'the AWS profile is written',
    applies: /~\/\.aws\/config/,
    async check(ctx) {
      const text = await readFile(join(ctx.env.HOME ?? '', '.aws', 'config'), 'utf8').catch(() => '');
      const profiles = [...ctx.block.text.matchAll(/\[profile ([A-Za-z0-9_-]+)\]/g)].map((m) => m[1]!);
      const problems = profiles
        .filter((p) => !text.includes(`[profile ${p}]`))
        .map((p) => `~/.aws/config has no [profile ${p}]`);
      for (const m of text.matchAll(/role_arn = (.*)/g))
        if (!/^arn:aws:iam::\d{12}:role\/\S+$/.test(m[1]!.trim()))
          problems.push(`role_arn "${m[1]}" is not a role ARN`);
      return problems;
    },
  },
  {
    name: 'npm ci installed the locked dependencies',
    applies: /\bnpm ci\b/,
    async check(ctx) {
      const s = await stat(join(ctx.workdir, 'node_modules', '.package-lock.json')).catch(() => undefined);
      return s && s.mtimeMs >= ctx.startedAt - 1000
        ? []
        : ['node_modules/.package-lock.json was not written by this step'];
    },
  },
  {
    name: 'cdk synth wrote the cloud assembly',
    applies: /\bcdk synth\b/,
    async check(ctx) {
      const s = await stat(join(ctx.workdir, 'cdk.out', 'manifest.json')).catch(() => undefined);
      return s && s.mtimeMs >= ctx.startedAt - 1000 ? [] : ['cdk.out/manifest.json was not written by this step'];
    },
  },
  {
    name: 'kubectl apply changed objects in the cluster',
    applies: /\bkubectl\s+apply\b/,
    async check(ctx) {
      const changed = changedSince(ctx.world, ctx.before);
      if (changed.length === 0) return ['no object in the cluster was created or changed'];
      const problems: string[] = [];
      // RBAC for the function's group: what the step's rendered RBAC must grant.
      if (changed.some((c) => c.startsWith('rolebindings/') || c.startsWith('clusterrolebindings/'))) {
        const ns = ctx.values.cluster.namespace;
        const bound = ctx.world
          .objects('rolebindings', ns)
          .some((b) =>
            (b as unknown as { subjects?: { kind: string; name: string }[] }).subjects?.some(
              (s) => s.kind === 'Group' && s.name === GROUP,
            ),
          );
        if (!bound) problems.push(`no RoleBinding in namespace ${ns} binds group ${GROUP}`);
      }
      if (changed.some((c) => c.startsWith('validatingadmissionpolicies/'))) {
        const bindings = ctx.world.objects('validatingadmissionpolicybindings');
        if (bindings.length === 0) problems.push('a ValidatingAdmissionPolicy without a binding enforces nothing');
      }
      for (const [svc, why] of ctx.world.refusedServices) problems.push(`Service ${svc} gets no NLB: ${why}`);
      return problems;
    },
  },
  {
    name: 'kubectl create made the object',
    applies: /\bkubectl\b[^\n|]*\bcreate\s+(secret|namespace)\b/,
    async check(ctx) {
      return changedSince(ctx.world, ctx.before).length > 0 ? [] : ['kubectl create made nothing'];
    },
  },
  {
    name: 'enroll stored the recovery bundle',
    applies: /\bcontrast-autorecover\s+enroll\b/,
    async check(ctx) {
      const text = await bundleSecretText(ctx);
      if (text === undefined) return ['no deployed function names a bundle secret for the deployment'];
      const doc = JSON.parse(text) as { enrolled?: boolean; deployment?: string };
      return doc.enrolled === false
        ? ['the bundle secret still holds {"enrolled":false}']
        : doc.deployment && doc.deployment !== ctx.values.cluster.deployment
          ? [`the bundle is for ${doc.deployment}`]
          : [];
    },
  },
  {
    name: "doctor's checklist passes",
    applies: /\bcontrast-autorecover\s+doctor\b/,
    async check(_ctx, run) {
      const out = run.stdout;
      const failed = out.split('\n').filter((l) => l.startsWith('✘'));
      return /all \d+ checks passed/.test(out) && failed.length === 0
        ? []
        : [`doctor did not pass every check${failed.length ? `: ${failed.join('; ')}` : ''}`];
    },
  },
  {
    name: 'rehearse reached recovered',
    applies: /\bcontrast-autorecover\s+rehearse\b/,
    async check(ctx, run) {
      const problems: string[] = [];
      if (!/rehearsal complete: recovered/.test(run.stdout))
        problems.push('rehearse did not report "rehearsal complete: recovered"');
      if (ctx.world.emu.recoverCalls.length === 0) problems.push('the Coordinator was never sent Recover');
      if (ctx.world.emu.state !== 'healthy') problems.push(`the Coordinator is ${ctx.world.emu.state}, not healthy`);
      if (ctx.world.exported.length === 0)
        problems.push('the exporter put no event on the bus (the backstop recovered it)');
      return problems;
    },
  },
  {
    name: 'pause is recorded (and shown by status)',
    applies: /\bcontrast-autorecover\s+pause\b/,
    async check(ctx, run) {
      const d = ctx.values.cluster.deployment;
      // A block that pauses and resumes again: status in between showed it, the switch is off now.
      if (/\bcontrast-autorecover\s+resume\b/.test(ctx.block.text)) {
        const problems: string[] = [];
        if (
          /\bcontrast-autorecover\s+status\b/.test(ctx.block.text) &&
          !new RegExp(`PAUSED \\(pause#${d}\\)`).test(run.stdout)
        )
          problems.push(`status did not show PAUSED (pause#${d}) while paused`);
        if (await pauseItem(ctx)) problems.push(`pause#${d} is still in the lock table after resume`);
        return problems;
      }
      return (await pauseItem(ctx)) ? [] : [`no pause#${d} item in the lock table`];
    },
  },
  {
    name: 'resume lifts the pause',
    applies: /\bcontrast-autorecover\s+resume\b/,
    async check(ctx) {
      return (await pauseItem(ctx)) ? [`pause#${ctx.values.cluster.deployment} is still in the lock table`] : [];
    },
  },
  {
    name: 'status answered',
    applies: /\bcontrast-autorecover\s+status\b/,
    async check(_ctx, run) {
      return run.stdout.trim() ? [] : ['status printed nothing'];
    },
  },
  {
    name: "the SCP has the stack's concrete ARNs",
    applies: /\bcontrast-autorecover\s+scp\b/,
    async check(ctx, run) {
      const problems: string[] = [];
      // Printed, or redirected into a file (`> scp.json`).
      const file = /\bscp\b[^\n]*>\s*(\S+)/.exec(ctx.block.text)?.[1];
      const text = file ? await readFile(join(ctx.workdir, file), 'utf8').catch(() => '') : run.stdout;
      if (/Fn::|"Ref"|<[A-Za-z]+Arn>/.test(text))
        problems.push('the SCP holds CloudFormation intrinsics or placeholders');
      let doc: { Statement?: unknown[] } | undefined;
      try {
        doc = JSON.parse(text.slice(text.indexOf('{'))) as { Statement?: unknown[] };
      } catch {
        problems.push('the SCP is not one JSON document');
      }
      const f = functionOf(ctx);
      if (doc && f && !JSON.stringify(doc).includes(f.roleArn))
        problems.push(`the SCP does not name the function role ${f.roleArn}`);
      return problems;
    },
  },
  {
    name: "the trail's Invoke events of the function are listed",
    applies: /\bzcat\b[\s\S]*\bjq\b/,
    async check(ctx, run) {
      const records = run.stdout
        .split(/\n(?=\{)/)
        .filter((t) => t.trim().startsWith('{'))
        .map((t) => JSON.parse(t) as { who?: string; requestID?: string });
      const known = new Set(ctx.world.invocations.map((i) => i.requestId));
      if (records.length === 0) return ['no Invoke event listed'];
      return records.every((r) => r.who && r.requestID && known.has(r.requestID))
        ? []
        : ["a listed Invoke event is not one of the function's invocations"];
    },
  },
  {
    name: 'manifests rendered objects',
    applies: /\bcontrast-autorecover\s+manifests\b(?![^\n]*\|)/,
    async check(_ctx, run) {
      return /^kind:/m.test(run.stdout) ? [] : ['manifests printed no Kubernetes object'];
    },
  },
];
