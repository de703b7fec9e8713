/**
 * The stack's IAM principals: the function's role, the enroller, the optional break-glass role
 * for humans, and the exporter's identity (IRSA on EKS, IAM Roles Anywhere elsewhere). Each
 * is assumable only by what needs it; what each may do is granted where the resource is made.
 */
import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as rolesanywhere from 'aws-cdk-lib/aws-rolesanywhere';
import type { Construct } from 'constructs';
import type { ExporterIdentityProps } from './props.ts';

export const EXPORTER_DEFAULTS = {
  namespace: 'contrast-autorecover-exporter',
  serviceAccount: 'event-exporter',
} as const;

export interface Identities {
  readonly functionRole: iam.Role;
  readonly enrollerRole: iam.Role;
  readonly breakGlassRole?: iam.Role;
}

export function createIdentities(
  scope: Construct,
  props: { enrollerPrincipal: iam.IPrincipal; breakGlassPrincipal?: iam.IPrincipal },
): Identities {
  const functionRole = new iam.Role(scope, 'FunctionRole', {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: 'contrast-autorecover recovery function',
  });
  const enrollerRole = new iam.Role(scope, 'EnrollerRole', {
    assumedBy: props.enrollerPrincipal,
    description: 'contrast-autorecover enroll: writes recovery bundles (encrypt only, never decrypt)',
    maxSessionDuration: Duration.hours(1),
  });
  if (!props.breakGlassPrincipal) return { functionRole, enrollerRole };
  const breakGlassRole = new iam.Role(scope, 'BreakGlassRole', {
    assumedBy: new iam.PrincipalWithConditions(props.breakGlassPrincipal, {
      Bool: { 'aws:MultiFactorAuthPresent': 'true' },
    }),
    description: "contrast-autorecover break-glass: an operator's local recover (MFA; every use alarms)",
    maxSessionDuration: Duration.hours(1),
  });
  return { functionRole, enrollerRole, breakGlassRole };
}

export interface ExporterIdentity {
  readonly role: iam.Role;
  /** IAM Roles Anywhere profile (roles-anywhere only). */
  readonly profile?: rolesanywhere.CfnProfile;
}

/** The exporter's role: may only put the trigger events on the bus (granted by the caller). */
export function createExporterIdentity(scope: Construct, props: ExporterIdentityProps): ExporterIdentity {
  if (props.kind === 'irsa') {
    const ns = props.namespace ?? EXPORTER_DEFAULTS.namespace;
    const sa = props.serviceAccount ?? EXPORTER_DEFAULTS.serviceAccount;
    const role = new iam.Role(scope, 'ExporterRole', {
      description: 'kubernetes-event-exporter (IRSA): publishes Coordinator restarts to the bus',
      assumedBy: new iam.FederatedPrincipal(
        props.oidcProviderArn,
        {
          StringEquals: {
            [`${props.oidcIssuer}:sub`]: `system:serviceaccount:${ns}:${sa}`,
            [`${props.oidcIssuer}:aud`]: 'sts.amazonaws.com',
          },
        },
        'sts:AssumeRoleWithWebIdentity',
      ),
      maxSessionDuration: Duration.hours(1),
    });
    return { role };
  }
  // IAM Roles Anywhere: the role trusts the service for sessions from this trust anchor (your
  // CA) only, optionally only for one certificate subject (rolesanywhere trust-model).
  const conditions: Record<string, Record<string, string>> = { ArnEquals: { 'aws:SourceArn': props.trustAnchorArn } };
  if (props.certificateCommonName)
    conditions.StringEquals = { 'aws:PrincipalTag/x509Subject/CN': props.certificateCommonName };
  const role = new iam.Role(scope, 'ExporterRole', {
    description: 'kubernetes-event-exporter (IAM Roles Anywhere): publishes Coordinator restarts to the bus',
    assumedBy: new iam.PrincipalWithConditions(
      new iam.ServicePrincipal('rolesanywhere.amazonaws.com'),
      conditions,
    ).withSessionTags(),
    maxSessionDuration: Duration.hours(1),
  });
  // withSessionTags adds sts:TagSession; Roles Anywhere also sets the source identity.
  role.assumeRolePolicy?.addStatements(
    new iam.PolicyStatement({
      principals: [new iam.ServicePrincipal('rolesanywhere.amazonaws.com')],
      actions: ['sts:SetSourceIdentity'],
      conditions,
    }),
  );
  const profile = new rolesanywhere.CfnProfile(scope, 'ExporterProfile', {
    name: 'contrast-autorecover-exporter',
    roleArns: [role.roleArn],
    enabled: true,
    durationSeconds: 3600,
  });
  return { role, profile };
}
