/**
 * `contrast-autorecover manifests`: prints ready-to-apply YAML for one deployment, with the
 * deployed stack's values (its outputs), for `… | kubectl apply -f -`. Two moments:
 *
 *   before the stack:  --coordinator-endpoint …   the Service behind the Coordinator's NLB
 *                                                  (the stack needs the NLB's ARN);
 *   after the stack:   --stack NAME               RBAC, the restart-only admission policy and,
 *                                                  with --exporter, the event exporter.
 */

import * as z from 'zod';
import { DEFAULTS } from '../../lambda/shared/contract.ts';
import { UsageError } from '../usage.ts';
import { renderObjects, renderYaml, type ManifestValues, type Part } from './render.ts';
import { readStackOutputs, type StackOutputs } from './stack-outputs.ts';

export interface ManifestsOptions {
  deployment: string;
  stack?: string;
  exporter?: 'irsa' | 'roles-anywhere';
  signingHelperImage?: string;
  with: string[];
  clusterName?: string;
  coordinatorEndpoint?: 'aws-load-balancer-controller' | 'node-port';
  coordinatorNamespace?: string;
  nodePort: number;
}

/** The `Deployments` output of the stack (infra/contrast-recovery.ts outputs). */
const deploymentsOutput = z.array(
  z.object({
    name: z.string(),
    coordinatorNamespace: z.string(),
    namespaces: z.array(z.string()).optional(),
    namespaceSelector: z.boolean().optional(),
  }),
);

function deploymentOf(out: StackOutputs, name: string): z.infer<typeof deploymentsOutput>[number] {
  const raw = out.require('Deployments', 'lists the deployments and their namespaces');
  let parsed;
  try {
    parsed = deploymentsOutput.parse(JSON.parse(raw));
  } catch {
    throw new UsageError(
      `stack ${out.stackName}: output Deployments is not the list this CLI expects; use the CLI of the stack's version`,
    );
  }
  const d = parsed.find((x) => x.name === name);
  if (!d)
    throw new UsageError(
      `stack ${out.stackName} has no deployment ${name} (it has: ${parsed.map((x) => x.name).join(', ')})`,
    );
  return d;
}

export async function manifestsCommand(
  o: ManifestsOptions,
  read: (stack: string) => Promise<StackOutputs> = readStackOutputs,
): Promise<string> {
  if (o.coordinatorEndpoint) {
    if (o.stack || o.exporter || o.with.length)
      throw new UsageError(
        '--coordinator-endpoint renders the Service the stack needs before it exists: give it alone, with --coordinator-namespace',
      );
    if (!o.coordinatorNamespace)
      throw new UsageError(
        '--coordinator-endpoint needs --coordinator-namespace (the namespace of the Coordinator StatefulSet)',
      );
    const values: ManifestValues = {
      deployment: o.deployment,
      coordinatorNamespace: o.coordinatorNamespace,
      coordinatorEndpoint:
        o.coordinatorEndpoint === 'node-port'
          ? { kind: 'node-port', nodePort: o.nodePort }
          : { kind: 'aws-load-balancer-controller' },
    };
    return renderYaml(
      renderObjects(values, ['coordinator-endpoint']),
      `contrast-autorecover manifests: the Coordinator endpoint of ${o.deployment}`,
    );
  }
  if (!o.stack)
    throw new UsageError(
      '--stack NAME is required (the deployed stack whose outputs fill the manifests), or --coordinator-endpoint before the stack exists',
    );
  const out = await read(o.stack);
  const d = deploymentOf(out, o.deployment);
  const podDeletion = o.with.includes('pod-deletion');
  if (podDeletion && out.get('AllowPodDeletion') !== 'true') {
    throw new UsageError(
      `--with pod-deletion: stack ${out.stackName} does not allow pod deletion; set allowPodDeletion: true and deploy first (the RBAC would grant what the function never uses)`,
    );
  }
  const values: ManifestValues = {
    deployment: d.name,
    coordinatorNamespace: d.coordinatorNamespace,
    ...(d.namespaces ? { namespaces: d.namespaces } : {}),
    ...(d.namespaceSelector ? { namespaceSelector: true } : {}),
  };
  const parts: Part[] = ['rbac', 'restart-policy', ...(podDeletion ? (['pod-deletion'] as const) : [])];
  if (o.exporter) {
    const common = {
      roleArn: out.require('ExporterRoleArn', "names the exporter's IAM role (the construct's `exporter` prop)"),
      eventBusName: out.require('EventBusName', 'names the trigger bus'),
      region: out.region,
      clusterName: o.clusterName ?? out.get('ClusterName') ?? out.stackName,
    };
    const stackKind = out.get('ExporterProfileArn') ? 'roles-anywhere' : 'irsa';
    if (stackKind !== o.exporter)
      throw new UsageError(
        `--exporter ${o.exporter}: stack ${out.stackName} set up the exporter identity for ${stackKind}`,
      );
    if (o.exporter === 'irsa') values.exporter = { kind: 'irsa', ...common };
    else {
      if (!o.signingHelperImage)
        throw new UsageError(
          '--exporter roles-anywhere needs --signing-helper-image (an image of aws_signing_helper, pinned by digest)',
        );
      values.exporter = {
        kind: 'roles-anywhere',
        ...common,
        profileArn: out.require('ExporterProfileArn', 'names the Roles Anywhere profile'),
        trustAnchorArn: out.require('ExporterTrustAnchorArn', 'names the Roles Anywhere trust anchor'),
        signingHelperImage: o.signingHelperImage,
      };
    }
    parts.unshift('exporter');
  }
  return renderYaml(
    renderObjects(values, parts),
    `contrast-autorecover manifests: deployment ${d.name} of stack ${out.stackName} (${out.region}); group ${DEFAULTS.kubernetesGroup}`,
  );
}
