import { createHash } from 'node:crypto';

/** A deterministic NLB ARN for a name, in ELB's `loadbalancer/net/NAME/ID` form (an operator notes it once). */
export function nlbArn(region: string, name: string, account = '123456789012'): string {
  return `arn:aws:elasticloadbalancing:${region}:${account}:loadbalancer/net/${name}/${createHash('sha256').update(name).digest('hex').slice(0, 16)}`;
}
