/**
 * The service control policy that lets the function role's credentials decrypt the owner key
 * and read the bundles only inside the function: Lambda sets `lambda:SourceFunctionArn` on
 * calls signed inside the execution environment, and that key works only in identity policies
 * and SCPs, not in key or secret policies (AWS Lambda Developer Guide,
 * permissions-source-function-arn). Absent (credentials used elsewhere), the negated condition
 * holds and the call is denied. One document for the construct (with its tokens) and the CLI's
 * `scp` (with the deployed stack's concrete ARNs).
 */
export interface ScpValues {
  recoveryKeyArn: string;
  bundleSecretArns: string[];
  functionRoleArn: string;
  functionArn: string;
}

export function sourceFunctionScpDocument(v: ScpValues) {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'ContrastAutorecoverRoleOnlyInsideItsFunction',
        Effect: 'Deny',
        Action: ['kms:Decrypt', 'secretsmanager:GetSecretValue'],
        Resource: [v.recoveryKeyArn, ...v.bundleSecretArns],
        Condition: {
          ArnEquals: { 'aws:PrincipalArn': v.functionRoleArn },
          // With and without a version qualifier.
          ArnNotLike: { 'lambda:SourceFunctionArn': [v.functionArn, `${v.functionArn}:*`] },
        },
      },
    ],
  };
}
