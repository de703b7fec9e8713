/**
 * The function's log records in CloudWatch Logs, as Lambda ships them: a Powertools Logger
 * whose records, instead of going to stdout, are put into a log group (moto's CloudWatch
 * Logs) one line per record, in order. Lambda does this outside the function; the records
 * themselves are exactly what the handler logs.
 */
import {
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
  type CloudWatchLogsClient,
} from '@aws-sdk/client-cloudwatch-logs';
import { Logger } from '@aws-lambda-powertools/logger';
import { SERVICE_NAME } from '../../lambda/shared/contract.ts';

type PrintArgs = Parameters<Logger['printLog']>;

export class ShippingLogger extends Logger {
  private queue: Promise<void> = Promise.resolve();
  private shipper: ((line: string) => Promise<void>) | undefined;
  /** Every line shipped, for assertions. */
  readonly lines: string[] = [];

  /** `parent`: the logger a child (Logger.createChild) ships through, in one order. */
  constructor(
    options: ConstructorParameters<typeof Logger>[0] = { serviceName: SERVICE_NAME },
    private readonly parent?: ShippingLogger,
  ) {
    super(options);
  }

  // Powertools' way for a subclass's children to be of its class (Logger.createLogger): the
  // function logs each deployment's run through a child (lambda/function/deployment-run.ts).
  protected override createLogger(options?: ConstructorParameters<typeof Logger>[0]): ShippingLogger {
    return new ShippingLogger(options, this.parent ?? this);
  }

  shipTo(shipper: (line: string) => Promise<void>): this {
    this.shipper = shipper;
    return this;
  }

  protected override printLog(...[, log]: PrintArgs): void {
    log.prepareForPrint();
    const line = JSON.stringify(log.getAttributes(), this.getJsonReplacer());
    const root = this.parent ?? this;
    root.lines.push(line);
    const ship = root.shipper;
    if (ship) root.queue = root.queue.then(() => ship(line)).catch(() => undefined);
  }

  /** Resolves when every record so far is in the log group. */
  flushed(): Promise<void> {
    return (this.parent ?? this).queue;
  }
}

/** Creates the log group and one stream, and returns a shipper putting lines into it. */
export async function logGroupShipper(
  client: CloudWatchLogsClient,
  logGroupName: string,
  stream = `${new Date().toISOString().slice(0, 10).replace(/-/g, '/')}/[$LATEST]0001`,
): Promise<(line: string) => Promise<void>> {
  await client.send(new CreateLogGroupCommand({ logGroupName })).catch((err: { name?: string }) => {
    if (err.name !== 'ResourceAlreadyExistsException') throw err;
  });
  await client.send(new CreateLogStreamCommand({ logGroupName, logStreamName: stream }));
  return async (line) => {
    await client.send(
      new PutLogEventsCommand({
        logGroupName,
        logStreamName: stream,
        logEvents: [{ timestamp: Date.now(), message: line }],
      }),
    );
  };
}
