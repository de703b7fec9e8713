/**
 * The deploy journey's harness (journey/): it reads the document's blocks and markers, refuses
 * a block it cannot run, runs the rest in one shell session against the stand-ins, and fails a
 * step whose command fails or whose effect is missing. Small documents here; the real
 * docs/deploy.md runs in `npm run journey` (.ci/run), and a copy of it with one wrong flag
 * must fail at that step.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../testing/kube-api/index.ts';
import { World } from '../../journey/world.ts';
import { commandBlocks, statements } from '../../journey/document.ts';
import { documentProblems, runJourney, type JourneyOptions } from '../../journey/journey.ts';
import type { Values } from '../../journey/context.ts';
import { motoAvailable, motoEndpoint, SKIP_REASON } from '../support/aws.ts';
import { REPO_ROOT } from '../support/cli.ts';

const values: Values = {
  env: { DEPLOYMENT: 'prod' },
  cdkContext: {},
  cluster: { namespace: 'prod', deployment: 'prod' },
};

const RBAC = `<!-- journey: run shape=both -->
\`\`\`sh
kubectl apply -f - <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: restarts, namespace: prod }
rules: [{ apiGroups: [apps], resources: [deployments], verbs: [patch] }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: contrast-autorecover, namespace: prod }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: restarts }
subjects: [{ kind: Group, name: contrast-autorecover, apiGroup: rbac.authorization.k8s.io }]
YAML
\`\`\`
`;

const NAMESPACE_THEN_SECRET = `# Fixture

<!-- journey: run shape=both -->
\`\`\`sh
export EXPORTER_NS=contrast-autorecover-exporter
\`\`\`

<!-- journey: run shape=eks -->
\`\`\`sh
kubectl create namespace "$EXPORTER_NS"
kubectl -n "$EXPORTER_NS" create secret generic exporter-settings --from-literal=deployment="$DEPLOYMENT"
\`\`\`

${RBAC}`;

async function journey(markdown: string, extra: Partial<JourneyOptions> = {}) {
  const workdir = await mkdtemp(join(tmpdir(), 'journey-test-'));
  const lines: string[] = [];
  const report = await runJourney({
    markdown,
    shape: 'eks',
    values,
    motoEndpoint,
    workdir,
    blockTimeoutMs: 60_000,
    log: (l) => lines.push(l),
    ...extra,
  });
  return { report, log: lines.join('\n') };
}

describe('the document', () => {
  it('yields the command blocks in order with their markers; other fences are not steps', () => {
    const blocks = commandBlocks(
      `# A\n<!-- journey: run shape=vpn -->\n\`\`\`sh\necho one\n\`\`\`\n\n\`\`\`json\n{}\n\`\`\`\n## B\n  <!-- journey: local-equivalent cdk-deploy -->\n  \`\`\`sh\n  npx cdk deploy --all\n  \`\`\`\n\`\`\`bash\nunmarked\n\`\`\`\n`,
    );
    expect(blocks.map((b) => [b.line, b.section, b.text, b.marker])).toEqual([
      [3, 'A', 'echo one', { kind: 'run', shapes: ['vpn'] }],
      [12, 'B', 'npx cdk deploy --all', { kind: 'local-equivalent', name: 'cdk-deploy', shapes: ['eks', 'vpn'] }],
      [15, 'B', 'unmarked', undefined],
    ]);
  });

  it('splits a block into statements across continuations, pipes, quotes and $( )', () => {
    expect(statements('# c\nA=$(aws sts x \\\n  --y)\neval "$(aws a |\n  awk 1)"\nnpm ci\n')).toEqual([
      'A=$(aws sts x \\\n  --y)',
      'eval "$(aws a |\n  awk 1)"',
      'npm ci',
    ]);
  });

  it('refuses an unmarked block, an unknown marker, an unknown equivalent and an equivalent on the wrong block', () => {
    const doc = [
      '```sh\naws elbv2 describe-load-balancers --names x\n```',
      '<!-- journey: skip -->\n```sh\necho\n```',
      '<!-- journey: local-equivalent no-such-thing -->\n```sh\naws s3 ls\n```',
      '<!-- journey: local-equivalent cdk-deploy -->\n```sh\naws s3 ls\n```',
      '<!-- journey: local-equivalent cdk-deploy -->\n```sh\nnpx cdk deploy\naws s3 ls\n```',
    ].join('\n\n');
    const problems = documentProblems(commandBlocks(doc));
    expect(problems).toEqual([
      expect.stringMatching(/^line 1 .*`aws elbv2 describe-load-balancers --names x`: no journey marker/),
      expect.stringMatching(/^line 6 .*unknown journey marker "skip"/),
      expect.stringMatching(/^line 11 .*no local equivalent named "no-such-thing"/),
      expect.stringMatching(/^line 16 .*local equivalent "cdk-deploy" stands for .*not this block/),
      expect.stringMatching(
        /^line 21 .*"aws s3 ls" calls the AWS CLI, which equivalent "cdk-deploy" does not stand for/,
      ),
    ]);
  });
});

describe.skipIf(!motoAvailable)(`a journey ${motoAvailable ? '' : SKIP_REASON}`, () => {
  it('runs the blocks of its shape in one session and checks what each one made', async () => {
    const { report, log } = await journey(NAMESPACE_THEN_SECRET);
    expect(report.ok, log).toBe(true);
    expect(report.steps.map((s) => [s.how, s.checks])).toEqual([
      ['run', ['exported variables are set']],
      ['run', ['kubectl create made the object']],
      ['run', ['kubectl apply changed objects in the cluster']],
    ]);
    // The vpn shape has no namespace step: its secret-less journey is two steps.
    const vpn = await journey(NAMESPACE_THEN_SECRET, { shape: 'vpn' });
    expect(vpn.report.steps).toHaveLength(2);
  }, 60_000);

  it('fails the step with a wrong flag and runs nothing after it', async () => {
    const broken = NAMESPACE_THEN_SECRET.replace(
      'create secret generic exporter-settings --from-literal',
      'create secret generic exporter-settings --from-literl',
    );
    const { report, log } = await journey(broken);
    expect(report.ok).toBe(false);
    expect(report.steps.map((s) => s.ok)).toEqual([true, false]);
    expect(report.steps[1]!.problems).toEqual(['exit status 1']);
    expect(log).toMatch(/unknown flag: --from-literl/);
  }, 60_000);

  it('fails a step in the wrong order: a secret in a namespace no step created yet', async () => {
    const swapped = NAMESPACE_THEN_SECRET.replace('kubectl create namespace "$EXPORTER_NS"\n', '').replace(
      'YAML\n```\n',
      'YAML\nkubectl create namespace "$EXPORTER_NS"\n```\n',
    );
    const { report, log } = await journey(swapped);
    expect(report.steps.map((s) => s.ok)).toEqual([true, false]);
    expect(log).toMatch(/namespaces "contrast-autorecover-exporter" not found/);
  }, 60_000);

  it('fails a step that exits 0 without its effect', async () => {
    const { report } = await journey('<!-- journey: run shape=both -->\n```sh\nexport NLB_ARN=$(true)\n```\n');
    expect(report.ok).toBe(false);
    expect(report.steps[0]!.problems).toEqual(['exported variables are set: $NLB_ARN is exported empty or not at all']);
  }, 60_000);

  it('fails a block it has no effect check for, and an unmarked block before running anything', async () => {
    const noCheck = await journey('<!-- journey: run shape=both -->\n```sh\ntrue\n```\n');
    expect(noCheck.report.steps[0]!.problems).toEqual([expect.stringMatching(/^no effect check for this block/)]);
    const unmarked = await journey(
      `${RBAC}\n\`\`\`sh\naws elbv2 describe-load-balancers --names contrast-coordinator-prod\n\`\`\`\n`,
    );
    expect(unmarked.report.ok).toBe(false);
    expect(unmarked.report.steps).toEqual([]);
    expect(unmarked.report.documentProblems).toEqual([
      expect.stringMatching(/aws elbv2 describe-load-balancers .*: no journey marker/),
    ]);
  }, 60_000);

  it("answers SubjectAccessReviews from the RBAC objects applied, as the API server's authorizer does", async () => {
    const workdir = await mkdtemp(join(tmpdir(), 'journey-world-'));
    const world = await World.start({ motoEndpoint, region: 'eu-central-1', workdir, namespace: 'prod' });
    try {
      world.reviewFromAppliedRbac('contrast-autorecover');
      const ask = {
        groups: ['contrast-autorecover'],
        resourceAttributes: { verb: 'patch', group: 'apps', resource: 'deployments', namespace: 'prod' },
      };
      expect(world.kube.reviews.allows(ask)).toBe(false);
      const [role, binding] = parseAllDocuments(RBAC.slice(RBAC.indexOf('apiVersion'), RBAC.indexOf('YAML\n```'))).map(
        (d) => d.toJS() as KubeObject,
      );
      world.kube.store.put('roles', {
        ...role!,
        metadata: { ...role!.metadata, uid: 'r', resourceVersion: '0', creationTimestamp: '' },
      });
      expect(world.kube.reviews.allows(ask)).toBe(false);
      world.kube.store.put('rolebindings', {
        ...binding!,
        metadata: { ...binding!.metadata, uid: 'b', resourceVersion: '0', creationTimestamp: '' },
      });
      expect(world.kube.reviews.allows(ask)).toBe(true);
      expect(
        world.kube.reviews.allows({ ...ask, resourceAttributes: { ...ask.resourceAttributes, namespace: 'other' } }),
      ).toBe(false);
      expect(
        world.kube.reviews.allows({ ...ask, resourceAttributes: { ...ask.resourceAttributes, verb: 'delete' } }),
      ).toBe(false);
    } finally {
      await world.stop();
    }
  }, 60_000);

  it('fails docs/deploy.md at the step whose flag is wrong (a copy with one flag broken)', async () => {
    const doc = await readFile(join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');
    // The first step of the eks shape that runs the CLI for real.
    const blocks = commandBlocks(doc).filter((b) => b.marker?.kind === 'run' && b.marker.shapes.includes('eks'));
    const target = blocks.find((b) => /\bcontrast-autorecover\s+\w+[^\n]*--[a-z]/.test(b.text));
    expect(target, 'docs/deploy.md has an eks step running the CLI').toBeDefined();
    const flag = /\bcontrast-autorecover\s+\w+[^\n]*?(--[a-z][a-z-]*)/.exec(target!.text)![1]!;
    const brokenBlock = target!.text.replace(flag, `${flag}x`);
    const broken = doc.replace(target!.text, brokenBlock);
    const { report, log } = await journey(broken, {
      values: JSON.parse(await readFile(join(REPO_ROOT, 'test', 'fixtures', 'journey', 'eks.json'), 'utf8')) as Values,
    });
    expect(report.documentProblems).toEqual([]);
    expect(report.ok).toBe(false);
    const failed = report.steps.at(-1)!;
    expect(failed.line).toBe(target!.line);
    expect(
      report.steps.slice(0, -1).every((s) => s.ok),
      log,
    ).toBe(true);
    expect(failed.problems[0]).toMatch(/^exit status \d+/);
    // commander names the misspelt option, or the required one it then lacks.
    expect(failed.output).toMatch(new RegExp(`unknown option '${flag}x'|required option '${flag} `));
  }, 120_000);
});
