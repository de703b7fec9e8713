/**
 * Syntax of the names operators type: deployment names and Coordinator addresses. One
 * definition for the Lambda's configuration, `enroll` and the CLI.
 */
import { InputError } from './errors.ts';
import type { CoordinatorEndpoint } from '../reconcile/types.ts';

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
  if (!endpoint) throw new InputError(`${what} "${value}" is not HOST:PORT (e.g. coordinator.example.internal:1313)`, 'event-invalid');
  return endpoint;
}
