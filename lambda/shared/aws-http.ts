/**
 * The AWS SDK clients' HTTP settings, built from the time budgets (budgets.ts). The SDK's
 * NodeHttpHandler ends an attempt that is silent for `requestTimeout`, but it clears that
 * timer once the response headers arrive (@smithy/node-http-handler: the body is read later,
 * by the deserializer): a service, or a proxy in front of it, that trickles the body a byte at
 * a time would stretch one call without limit. WholeRequestHandler keeps the attempt's budget
 * running through the body, so `requestTimeoutMs` bounds the whole attempt, as budgets.ts says.
 */
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { BUDGETS, type Budgets } from './budgets.ts';

type Body = { destroy(error?: Error): void; once(event: 'close' | 'end', listener: () => void): unknown };

function isDestroyableStream(body: unknown): body is Body {
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as Body).destroy === 'function' &&
    typeof (body as Body).once === 'function'
  );
}

export class WholeRequestHandler extends NodeHttpHandler {
  constructor(private readonly aws: Budgets['aws']) {
    super({
      connectionTimeout: aws.connectionTimeoutMs,
      requestTimeout: aws.requestTimeoutMs,
      throwOnRequestTimeout: true,
    });
  }

  override async handle(...args: Parameters<NodeHttpHandler['handle']>): ReturnType<NodeHttpHandler['handle']> {
    const started = Date.now();
    const result = await super.handle(...args);
    const body: unknown = result.response.body;
    if (isDestroyableStream(body)) {
      const left = Math.max(0, this.aws.requestTimeoutMs - (Date.now() - started));
      const timer = setTimeout(() => {
        // TimeoutError is what the SDK's retry strategy treats as transient, like a silent attempt.
        const error = new Error(`the response body did not arrive within ${this.aws.requestTimeoutMs} ms`);
        error.name = 'TimeoutError';
        body.destroy(error);
      }, left);
      timer.unref?.();
      const done = () => clearTimeout(timer);
      body.once('end', done);
      body.once('close', done);
    }
    return result;
  }
}

/** AWS SDK v3 client settings that bound every call: the whole of each attempt, and the number of attempts. */
export function awsClientSettings(aws: Budgets['aws'] = BUDGETS.aws) {
  return { maxAttempts: aws.maxAttempts, requestHandler: new WholeRequestHandler(aws) };
}
