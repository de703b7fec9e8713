/**
 * Who may Decrypt with the recovery key and who administers it, read from its key policy
 * (GetKeyPolicy). A key policy grants nothing implicitly; a statement for the account root
 * delegates to IAM policies, so then any IAM administrator can grant themselves use
 * (awsdocs/aws-kms-developer-guide doc_source/key-policy-default.md). Wildcards in actions
 * follow IAM (case-insensitive, `*` and `?`); NotAction means every action but those.
 */
import { DescribeKeyCommand, GetKeyPolicyCommand } from '@aws-sdk/client-kms';
import { CONTEXT_KEYS } from '../../lambda/shared/contract.ts';
import { awsErrorName, describeAwsError, type OperatorAws } from '../operations/aws.ts';
import { result, type CheckResult } from './checks.ts';

interface Statement {
  Sid?: string;
  Effect?: string;
  Principal?: unknown;
  NotPrincipal?: unknown;
  Action?: string | string[];
  NotAction?: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
}

export interface KeyGrant {
  principal: string;
  sid?: string;
  /** `Operator key` of each condition, e.g. `StringEquals kms:ViaService`. */
  conditions: string[];
}

export interface KeyPolicyReading {
  decrypt: KeyGrant[];
  administer: KeyGrant[];
  createGrant: KeyGrant[];
  denies: number;
}

const list = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)]);

function matches(action: string, pattern: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  );
  return re.test(action);
}

function allows(s: Statement, action: string): boolean {
  if (s.NotAction !== undefined) return !list(s.NotAction).some((p) => matches(action, p));
  return list(s.Action).some((p) => matches(action, p));
}

function principalsOf(p: unknown): string[] {
  if (p === '*') return ['*'];
  if (!p || typeof p !== 'object') return [];
  return Object.entries(p as Record<string, unknown>).flatMap(([kind, v]) =>
    list(v).map((x) => (kind === 'AWS' ? x : `${kind}:${x}`)),
  );
}

export function readKeyPolicy(policy: string): KeyPolicyReading {
  const doc = JSON.parse(policy) as { Statement?: Statement | Statement[] };
  const statements = Array.isArray(doc.Statement) ? doc.Statement : doc.Statement ? [doc.Statement] : [];
  const reading: KeyPolicyReading = { decrypt: [], administer: [], createGrant: [], denies: 0 };
  for (const s of statements) {
    if (s.Effect !== 'Allow') {
      reading.denies++;
      continue;
    }
    const conditions = Object.entries(s.Condition ?? {}).flatMap(([op, keys]) =>
      Object.keys(keys).map((k) => `${op} ${k}`),
    );
    const principals =
      s.NotPrincipal !== undefined
        ? [`everyone but ${principalsOf(s.NotPrincipal).join(', ')}`]
        : principalsOf(s.Principal);
    const grants = principals.map((principal) => ({ principal, ...(s.Sid ? { sid: s.Sid } : {}), conditions }));
    if (allows(s, 'kms:Decrypt')) reading.decrypt.push(...grants);
    if (allows(s, 'kms:PutKeyPolicy')) reading.administer.push(...grants);
    if (allows(s, 'kms:CreateGrant')) reading.createGrant.push(...grants);
  }
  return reading;
}

/** `arn:aws:iam::ACCOUNT:root` or the bare account id: the key defers to IAM policies. */
function isAccountRoot(principal: string, account: string): boolean {
  return (
    principal === account ||
    principal === `arn:aws:iam::${account}:root` ||
    /^arn:aws[\w-]*:iam::\d{12}:root$/.test(principal)
  );
}

function show(g: KeyGrant): string {
  return `${g.principal}${g.conditions.length ? ` (if ${g.conditions.join(', ')})` : ' (unconditional)'}${g.sid ? ` [${g.sid}]` : ''}`;
}

export async function keyPolicyCheck(
  keyId: string | undefined,
  o: { aws: OperatorAws; functionRoleArn: string; account: string; keySource: string },
): Promise<CheckResult> {
  const title = 'recovery key policy';
  if (!keyId)
    return result(
      'key-policy',
      title,
      'skip',
      ['no key to read'],
      'pass --kms-key-id with the stack output RecoveryKeyArn',
    );
  let policy: string;
  let keyArn = keyId;
  try {
    const meta = (await o.aws.kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata;
    keyArn = meta?.Arn ?? keyId;
    if (meta?.KeyState && meta.KeyState !== 'Enabled') {
      return result(
        'key-policy',
        title,
        'fail',
        [`key ${keyArn} is ${meta.KeyState}: nothing can be decrypted`],
        meta.KeyState === 'PendingDeletion'
          ? `aws kms cancel-key-deletion --key-id ${keyArn} && aws kms enable-key --key-id ${keyArn}`
          : `aws kms enable-key --key-id ${keyArn}`,
      );
    }
    policy = (await o.aws.kms.send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' }))).Policy ?? '{}';
  } catch (err) {
    // The stack's key policies trust no IAM policy (infra/keys.ts): only the principals they name
    // may read them — the key administrators (keyAdmins) and CloudFormation's role. An IAM grant
    // to an ordinary operator cannot help, so this is a warning with who can check, not a failure.
    if (awsErrorName(err) === 'AccessDeniedException') {
      return result(
        'key-policy',
        title,
        'warn',
        [
          `cannot read the policy of key ${keyArn} (${o.keySource}): ${describeAwsError(err)}`,
          'its key policy names who may read it (the key administrators); no IAM policy can grant it to you',
        ],
        "ask a key administrator (a role in the stack's keyAdmins) to run doctor --kms-key-id <RecoveryKeyArn>, or to read it: aws kms get-key-policy --key-id <RecoveryKeyArn> --policy-name default",
      );
    }
    return result(
      'key-policy',
      title,
      'fail',
      [`cannot read the policy of key ${keyId} (${o.keySource}): ${describeAwsError(err)}`],
      'check --kms-key-id (the stack output RecoveryKeyArn) and the region',
    );
  }
  const r = readKeyPolicy(policy);
  const details = [
    `key ${keyArn} (${o.keySource})`,
    `may Decrypt: ${r.decrypt.map(show).join('; ') || 'nobody'}`,
    `administer (PutKeyPolicy): ${r.administer.map(show).join('; ') || 'nobody'}`,
  ];
  if (r.createGrant.length) details.push(`may CreateGrant: ${r.createGrant.map(show).join('; ')}`);
  if (r.denies) details.push(`${r.denies} Deny statement(s) not evaluated here`);

  const rootDecrypt = r.decrypt.some((g) => isAccountRoot(g.principal, o.account));
  const fnGrants = r.decrypt.filter((g) => g.principal === o.functionRoleArn);
  const problems: string[] = [];
  const warnings: string[] = [];
  const open = r.decrypt.filter((g) => g.principal === '*' && g.conditions.length === 0);
  if (open.length) problems.push('anyone may Decrypt without a condition');
  if (fnGrants.length === 0 && !rootDecrypt)
    problems.push(`the function role ${o.functionRoleArn} may not Decrypt: recovery fails with config-invalid`);
  const ctxKey = `kms:EncryptionContext:${CONTEXT_KEYS.deployment}`;
  if (fnGrants.length && !fnGrants.some((g) => g.conditions.some((c) => c.endsWith(ctxKey))))
    warnings.push(`the function role's Decrypt is not bound to the ${CONTEXT_KEYS.deployment} encryption context`);
  if (rootDecrypt)
    warnings.push('the account root may Decrypt: IAM policies decide who can, so any IAM administrator can grant it');
  if (r.administer.length > 0 && r.administer.every((g) => isAccountRoot(g.principal, o.account)))
    warnings.push('administrators are the whole account (root): name the key administrators instead');
  if (r.createGrant.length)
    warnings.push("CreateGrant hands out Decrypt without the policy's encryption-context conditions");

  if (problems.length)
    return result(
      'key-policy',
      title,
      'fail',
      [...details, ...problems, ...warnings],
      "deploy the stack's key policy (FunctionDecryptOwnerKey statement) and remove open statements: aws kms put-key-policy --key-id <key> --policy file://policy.json",
    );
  if (warnings.length)
    return result(
      'key-policy',
      title,
      'warn',
      [...details, ...warnings],
      'name key administrators and drop account-root and CreateGrant statements (docs/security.md)',
    );
  return result('key-policy', title, 'pass', details);
}
