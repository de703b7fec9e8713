/**
 * Shared synthesis for the infra tests: the example app of cdk.json (same context), built
 * with the real lambda/handler.ts bundled by local esbuild. Each test file synthesizes once.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildStack, settingsFromContext, type AppSettings } from '../../infra/app.ts';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const CDK_CONTEXT = JSON.parse(readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')).context as Record<string, unknown>;

export interface Synthesized {
  app: App;
  stack: Stack;
  template: Template;
  json: { Resources: Record<string, { Type: string; Properties?: any; DeletionPolicy?: string; UpdateReplacePolicy?: string; Metadata?: any; DependsOn?: any }> };
}

/** Synthesizes the example stack; `overrides` replace `contrast:*` settings of cdk.json. */
export function synthExample(overrides: Partial<AppSettings> = {}): Synthesized {
  const context: Record<string, unknown> = { ...CDK_CONTEXT };
  for (const [k, v] of Object.entries(overrides)) context[`contrast:${k}`] = v;
  const app = new App({ context });
  const stack = buildStack(app, settingsFromContext(app));
  const template = Template.fromStack(stack);
  return { app, stack, template, json: template.toJSON() as Synthesized['json'] };
}

/** cdk-nag AwsSolutions findings not acknowledged (rule id → construct paths). */
export function nagFindings(app: App): Array<{ rule: string; paths: string[] }> {
  const report = new AwsSolutionsChecks().validateScope(app);
  return report.violations.map((v) => ({ rule: v.ruleName, paths: v.violatingResources.map((r) => r.constructPath ?? '?') }));
}

export function resourcesOfType(s: Synthesized, type: string): Array<[string, Synthesized['json']['Resources'][string]]> {
  return Object.entries(s.json.Resources).filter(([, r]) => r.Type === type);
}

export function onlyResource(s: Synthesized, type: string, idPrefix?: string): [string, Synthesized['json']['Resources'][string]] {
  const found = resourcesOfType(s, type).filter(([id]) => idPrefix === undefined || id.startsWith(idPrefix));
  if (found.length !== 1) throw new Error(`expected exactly one ${type}${idPrefix ? ` (${idPrefix}*)` : ''}, found ${found.map(([id]) => id).join(', ') || 'none'}`);
  return found[0]!;
}

export function asArray<T>(v: T | T[] | undefined): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** Every IAM statement of every identity policy in the template, with the policy's logical id. */
export function identityStatements(s: Synthesized): Array<{ policy: string; statement: any }> {
  const out: Array<{ policy: string; statement: any }> = [];
  for (const [id, r] of resourcesOfType(s, 'AWS::IAM::Policy')) {
    for (const st of r.Properties.PolicyDocument.Statement) out.push({ policy: id, statement: st });
  }
  for (const [id, r] of resourcesOfType(s, 'AWS::IAM::Role')) {
    for (const p of r.Properties.Policies ?? []) for (const st of p.PolicyDocument.Statement) out.push({ policy: id, statement: st });
  }
  return out;
}

export function logicalIdOf(s: Synthesized, type: string, idPrefix: string): string {
  return onlyResource(s, type, idPrefix)[0];
}
