/**
 * Logger, metrics and tracer of the function (Powertools), created once per container.
 *
 * Secrets never reach them: only ReconcileResult fields (non-secret by contract) and trigger
 * facts are logged or annotated. The tracer captures no responses and no errors (an error's
 * class is annotated, never its message or stack), HTTP auto-instrumentation is off, and the
 * KMS and Secrets Manager clients are not instrumented at all (handler.ts).
 *
 * The tracer (tracing.ts, with the X-Ray SDK) is loaded only when tracing is on, by
 * Powertools' own rule: in Lambda unless POWERTOOLS_TRACE_ENABLED=false. Everywhere else it
 * would be a disabled tracer that still slows every await of the process (its async hook).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { DEPLOYMENT_DIMENSION, METRICS_NAMESPACE, SERVICE_NAME } from '../shared/contract.ts';

export type AnnotationValue = string | number | boolean;

/** The slice of tracing the handler uses; tests substitute a recorder. */
export interface Trace {
  annotate(key: string, value: AnnotationValue): void;
  /** Runs fn in a subsegment. A failure is marked with the error's class name only. */
  span<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Instruments an AWS SDK v3 client; use only for clients that never carry secrets. */
  captureClient<C>(client: C): C;
  /** Settles once the trace can record (the tracer is loaded); the runtime waits for it. */
  ready?: Promise<void>;
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

export function createMetricsSink(
  metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME }),
): MetricsSink {
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

/**
 * Whether Powertools' Tracer would trace here (Tracer.setTracingEnabled in
 * @aws-lambda-powertools/tracer): not with POWERTOOLS_TRACE_ENABLED=false, not under the SAM
 * CLI or Amplify's mock, and only in a Lambda execution environment.
 */
export function tracingEnabled(env: Record<string, string | undefined> = process.env): boolean {
  if ((env.POWERTOOLS_TRACE_ENABLED ?? '').toLowerCase() === 'false') return false;
  const execution = env.AWS_EXECUTION_ENV ?? '';
  return execution !== '' && execution !== 'AWS_Lambda_amplify-mock' && (env.AWS_SAM_LOCAL ?? '') === '';
}

const untraced: Trace = {
  annotate() {},
  span: (_name, fn) => fn(),
  captureClient: (client) => client,
};

/**
 * The function's trace: nothing when tracing is off; else Powertools' Tracer, loaded now in
 * the background. Until it is there, spans wait for it, and clients and annotations are
 * handed over when it arrives (in the order given).
 */
export function createTrace(env: Record<string, string | undefined> = process.env): Trace {
  if (!tracingEnabled(env)) return untraced;
  let loaded: Trace | undefined;
  const loading = import('./tracing.ts').then((m) => (loaded = m.powertoolsTrace()));
  return {
    annotate(key, value) {
      if (loaded) loaded.annotate(key, value);
      else void loading.then((t) => t.annotate(key, value));
    },
    async span(name, fn) {
      return (loaded ?? (await loading)).span(name, fn);
    },
    captureClient(client) {
      if (loaded) return loaded.captureClient(client);
      void loading.then((t) => t.captureClient(client));
      return client;
    },
    ready: loading.then(() => undefined),
  };
}
