import { InputError } from './errors.ts';
import type { CoordinatorEndpoint } from './reconcile-types.ts';

/** Parses `HOST:PORT` (IPv6 as `[::1]:1313`); the port defaults to nothing — it must be given. */
export function parseEndpoint(value: string, what = 'coordinator address'): CoordinatorEndpoint {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s/]+)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new InputError(`${what} "${value}" is not HOST:PORT (e.g. coordinator.example.internal:1313)`, 'event-invalid');
  }
  return { host: (m[1] ?? m[2])!, port };
}
