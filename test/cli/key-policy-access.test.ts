/**
 * doctor's key-policy check run by an ordinary operator: the stack's key policies trust no IAM
 * policy, so GetKeyPolicy is denied to anyone the policy does not name. The check says who can
 * run it (a key administrator) instead of asking for an IAM grant that cannot work.
 */
import { DescribeKeyCommand, GetKeyPolicyCommand, KMSServiceException } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { keyPolicyCheck } from '../../cli/doctor/key-policy.ts';
import type { OperatorAws } from '../../cli/operations/aws.ts';

const KEY = 'arn:aws:kms:eu-central-1:123456789012:key/0b9e6d0c-0000-4000-8000-000000000001';

function kmsDenying(name: string): OperatorAws {
  const send = async (command: unknown) => {
    if (command instanceof DescribeKeyCommand) return { KeyMetadata: { Arn: KEY, KeyState: 'Enabled' } };
    if (command instanceof GetKeyPolicyCommand) {
      throw new KMSServiceException({
        name,
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
        message: `User: arn:aws:sts::123456789012:assumed-role/oncall/me is not authorized to perform: kms:GetKeyPolicy on resource: ${KEY} because no resource-based policy allows the kms:GetKeyPolicy action`,
      });
    }
    throw new Error('unexpected call');
  };
  return { kms: { send } } as unknown as OperatorAws;
}

describe('key-policy check without read access', () => {
  it('warns and names who can check (a key administrator), never an IAM grant', async () => {
    const c = await keyPolicyCheck(KEY, {
      aws: kmsDenying('AccessDeniedException'),
      functionRoleArn: 'arn:aws:iam::123456789012:role/fn',
      account: '123456789012',
      keySource: '--kms-key-id',
    });
    expect(c.status).toBe('warn');
    expect(c.details.join('\n')).toMatch(/no IAM policy can grant it to you/);
    expect(c.fix).toMatch(/ask a key administrator \(a role in the stack's keyAdmins\)/);
    expect(c.fix).not.toMatch(/allow kms:/);
  });
  it('still fails on other errors (a wrong key id), saying what to check', async () => {
    const c = await keyPolicyCheck(KEY, {
      aws: kmsDenying('NotFoundException'),
      functionRoleArn: 'arn:aws:iam::123456789012:role/fn',
      account: '123456789012',
      keySource: '--kms-key-id',
    });
    expect(c).toMatchObject({ status: 'fail', fix: expect.stringMatching(/check --kms-key-id/) });
  });
});
