/**
 * Logger, metrics and tracer of the function (Powertools), created once per container.
 *
 * Secrets never reach them: only ReconcileResult fields (non-secret by contract) and trigger
 * facts are logged or annotated. The tracer captures no responses and no errors (an error's
 * class is annotated, never its message or stack), HTTP auto-instrumentation is off, and the
 * KMS and Secrets Manager clients are not instrumented at all (handler.ts).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { DEPLOYMENT_DIMENSION, METRICS_NAMESPACE, SERVICE_NAME } from '../shared/contract.ts';


export type AnnotationValue = string | number | boolean;

/** The slice of tracing the handler uses; tests substitute a recorder. */
export interface Trace {
  annotate(key: string, value: AnnotationValue): void;
  /** Runs fn in a subsegment. A failure is marked with the error's class name only. */
  span<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Instruments an AWS SDK v3 client; use only for clients that never carry secrets. */
  captureClient<C>(client: C): C;
}


export interface DeploymentMetrics {
  count(name: string, value?: number): void;
  ms(name: string, value: number): void;
  value(name: string, value: number, unit: 'Count' | 'Milliseconds' | 'None'): void;
}

/** Metrics with dimensions exactly {service, Deployment}. */
export interface MetricsSink {
  /** Adds metrics for one deployment and flushes them as one EMF record. */
  publish(deployment: string, fill: (m: DeploymentMetrics) => void): void;
}

export interface Telemetry {
  logger: Logger;
  metrics: MetricsSink;
  trace: Trace;
}

export function createLogger(): Logger {
  return new Logger({ serviceName: SERVICE_NAME });
}

export function createMetricsSink(metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME })): MetricsSink {
  const units = { Count: MetricUnit.Count, Milliseconds: MetricUnit.Milliseconds, None: MetricUnit.NoUnit } as const;
  return {
    publish(deployment, fill) {
      // One flush per deployment, so a scheduled run over several deployments keeps each
      // record's dimension set to {service, Deployment}.
      metrics.addDimension(DEPLOYMENT_DIMENSION, deployment);
      fill({
        count: (name, value = 1) => metrics.addMetric(name, MetricUnit.Count, value),
        ms: (name, value) => metrics.addMetric(name, MetricUnit.Milliseconds, Math.round(value)),
        value: (name, value, unit) => metrics.addMetric(name, units[unit], value),
      });
      metrics.publishStoredMetrics();
    },
  };
}

export function createTrace(tracer = new Tracer({ serviceName: SERVICE_NAME, captureHTTPsRequests: false })): Trace {
  return {
    annotate(key, value) {
      tracer.putAnnotation(key, value);
    },
    async span(name, fn) {
      if (!tracer.isTracingEnabled()) return fn();
      const parent = tracer.getSegment();
      if (!parent) return fn();
      const sub = parent.addNewSubsegment(name);
      tracer.setSegment(sub);
      try {
        return await fn();
      } catch (err) {
        // Error capture off: the class name says enough and cannot carry secret bytes.
        sub.addAnnotation('error', (err as Error)?.name ?? 'Error');
        sub.addFaultFlag();
        throw err;
      } finally {
        sub.close();
        tracer.setSegment(parent);
      }
    },
    captureClient(client) {
      return tracer.captureAWSv3Client(client);
    },
  };
}

