/**
 * Trigger samples in the shapes AWS documents (EventBridge event structure, CloudWatch
 * "Alarm State Change" via EventBridge and as a Lambda alarm action, "Scheduled Event"),
 * plus the exporter's custom event and the direct invocation.
 */
import { randomUUID } from 'node:crypto';
import { FUNCTION_TIMEOUT_SECONDS } from '../../lambda/shared/budgets.ts';

export function restartEvent(
  deployment: string,
  overrides: Record<string, unknown> = {},
  detail: Record<string, unknown> = {},
) {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Coordinator Restarted',
    source: 'contrast.coordinator',
    account: '123456789012',
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: 'eu-central-1',
    resources: [],
    detail: {
      deployment,
      pod: 'coordinator-0',
      podUID: '5f0b6a4e-3c2d-4c1e-9d2e-1b7d3f1e2a10',
      cluster: 'prod-eks',
      ...detail,
    },
    ...overrides,
  };
}

/** https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html */
export function alarmStateChange(alarmName: string, value = 'ALARM') {
  return {
    version: '0',
    id: 'c4c1c1c9-6542-e61b-6ef0-8c4d36933a92',
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    account: '123456789012',
    time: '2019-10-02T17:04:40Z',
    region: 'us-east-1',
    resources: [`arn:aws:cloudwatch:us-east-1:123456789012:alarm:${alarmName}`],
    detail: {
      alarmName,
      state: {
        value,
        reason:
          'Threshold Crossed: 1 out of the last 1 datapoints [1.0 (02/10/19 17:03:00)] was greater than the threshold (0.0).',
        reasonData: '{"version":"1.0"}',
        timestamp: '2019-10-02T17:04:40.985+0000',
      },
      previousState: { value: 'OK', reason: 'Threshold Crossed', timestamp: '2019-10-02T17:01:40.985+0000' },
      configuration: {
        description: 'Coordinator restarted',
        metrics: [
          {
            id: 'm1',
            metricStat: {
              metric: { namespace: 'Contrast', name: 'CoordinatorRestarts', dimensions: {} },
              period: 60,
              stat: 'Sum',
            },
            returnData: true,
          },
        ],
      },
    },
  };
}

/** https://docs.aws.amazon.com/lambda/latest/dg/with-cloudwatch.html (alarm action payload) */
export function alarmAction(alarmName: string) {
  return {
    source: 'aws.cloudwatch',
    alarmArn: `arn:aws:cloudwatch:us-east-1:444455556666:alarm:${alarmName}`,
    accountId: '444455556666',
    time: '2023-08-04T12:36:15.490+0000',
    region: 'us-east-1',
    alarmData: {
      alarmName,
      state: { value: 'ALARM', reason: 'test', timestamp: '2023-08-04T12:36:15.490+0000' },
      previousState: {
        value: 'INSUFFICIENT_DATA',
        reason: 'Insufficient Data',
        timestamp: '2023-08-04T12:31:29.591+0000',
      },
      configuration: { description: 'Example', metrics: [] },
    },
  };
}

/** https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-run-lambda-schedule.html */
export function scheduledEvent() {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '123456789012',
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: 'us-east-1',
    resources: ['arn:aws:events:us-east-1:123456789012:rule/contrast-autorecover-schedule'],
    detail: {},
  };
}

export function directInvoke(deployment: string, action = 'recover', extra: Record<string, unknown> = {}) {
  return { action, deployment, reason: 'test: operator request', ...extra };
}

/** A fresh invocation of the deployed function: its whole timeout left (lambda/shared/budgets.ts). */
export function lambdaContext(requestId: string = randomUUID(), remainingMs = FUNCTION_TIMEOUT_SECONDS * 1000) {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'contrast-autorecover',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-central-1:123456789012:function:contrast-autorecover',
    memoryLimitInMB: '512',
    awsRequestId: requestId,
    logGroupName: '/aws/lambda/contrast-autorecover',
    logStreamName: '2024/01/01/[$LATEST]abcdef',
    getRemainingTimeInMillis: () => remainingMs,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
