/**
 * The function's trace through Powertools' Tracer (X-Ray). Loaded only when tracing is on
 * (observability.ts): the X-Ray SDK installs an async hook at load that slows every await of
 * the process (cls-hooked), and a container that does not trace should not pay for it.
 */
import { Tracer } from '@aws-lambda-powertools/tracer';
import { SERVICE_NAME } from '../shared/contract.ts';
import type { Trace } from './observability.ts';

export function powertoolsTrace(
  tracer = new Tracer({ serviceName: SERVICE_NAME, captureHTTPsRequests: false }),
): Trace {
  return {
    annotate(key, value) {
      tracer.putAnnotation(key, value);
    },
    async span(name, fn) {
      if (!tracer.isTracingEnabled() || !tracer.getSegment()) return fn();
      // The subsegment is current only inside fn's own async context (X-Ray's automatic mode),
      // as Powertools' captureMethod does it: spans of deployments that run side by side
      // (handler.ts) never become each other's parents.
      return tracer.provider.captureAsyncFunc(name, async (sub) => {
        try {
          return await fn();
        } catch (err) {
          // Error capture off: the class name says enough and cannot carry secret bytes.
          sub?.addAnnotation('error', (err as Error)?.name ?? 'Error');
          sub?.addFaultFlag();
          throw err;
        } finally {
          sub?.close();
        }
      }) as ReturnType<typeof fn>;
    },
    captureClient(client) {
      return tracer.captureAWSv3Client(client);
    },
  };
}
