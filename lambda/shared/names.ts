/**
 * Syntax of the names operators type: deployment names and Coordinator addresses. One
 * definition for the Lambda's configuration, `enroll` and the CLI.
 */
import { createHash } from 'node:crypto';
import { InputError } from './errors.ts';

/** Where a Coordinator's user API listens, as parsed from `HOST:PORT`. */
export interface CoordinatorEndpoint {
  host: string;
  port: number;
}

/** 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit. */
export const DEPLOYMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** `HOST:PORT` (IPv6 as `[::1]:1313`), or undefined when it is not one. */
export function parseHostPort(value: string): CoordinatorEndpoint | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(value.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host: (m[1] ?? m[2])!, port };
}

/** As parseHostPort, but a bad address is an error that says what is expected. */
export function parseEndpoint(value: string, what = 'coordinator address'): CoordinatorEndpoint {
  const endpoint = parseHostPort(value);
  if (!endpoint)
    throw new InputError(
      `${what} "${value}" is not HOST:PORT (e.g. coordinator.example.internal:1313)`,
      'event-invalid',
    );
  return endpoint;
}

/** Prefix of the NLB name in front of a deployment's Coordinator (infra/k8s/coordinator-endpoint.yaml). */
const COORDINATOR_NLB_PREFIX = 'contrast-coordinator-';

/**
 * Name of the NLB in front of a deployment's Coordinator. ELBv2 names are at most 32
 * characters of letters, digits and "-", not starting or ending with "-" (ELBv2
 * CreateLoadBalancer `Name`); a deployment name that does not fit is replaced by the first 11
 * hex digits of its SHA-256, which a shell computes as
 * `printf %s "$DEPLOYMENT" | sha256sum | cut -c1-11`.
 */
export function coordinatorNlbName(deployment: string): string {
  const plain = `${COORDINATOR_NLB_PREFIX}${deployment}`;
  if (plain.length <= 32 && /^[A-Za-z0-9-]*[A-Za-z0-9]$/.test(plain)) return plain;
  return `${COORDINATOR_NLB_PREFIX}${createHash('sha256')
    .update(deployment)
    .digest('hex')
    .slice(0, 32 - COORDINATOR_NLB_PREFIX.length)}`;
}
