/**
 * Lambda stand-in: GetFunctionConfiguration and Invoke on Lambda's REST paths
 * (`GET /2015-03-31/functions/{name}/configuration`, `POST
 * /2015-03-31/functions/{name}/invocations`). moto has Lambda but runs invocations in Docker;
 * here Invoke calls a handler in this process (e.g. createHandler with a test verifier),
 * with the ClientContext header decoded into the context as Lambda does, and a handler
 * error becomes `X-Amz-Function-Error: Unhandled` with `{errorType, errorMessage}`.
 */
import { randomUUID } from 'node:crypto';
import { json, restJsonError, startStubServer, type StubServer } from './http.ts';

export interface StubFunction {
  name: string;
  roleArn: string;
  env: Record<string, string>;
  /** LoggingConfig.LogGroup (default /aws/lambda/<name>). */
  logGroup?: string;
  invoke?: (
    payload: unknown,
    context: { awsRequestId: string; clientContext?: { custom?: unknown } },
  ) => Promise<unknown>;
}

export class LambdaStub {
  readonly functions = new Map<string, StubFunction>();
  private server: StubServer | undefined;

  constructor(
    readonly region = 'eu-central-1',
    readonly account = '123456789012',
  ) {}

  get endpoint(): string {
    if (!this.server) throw new Error('LambdaStub not started');
    return this.server.endpoint;
  }

  arnOf(name: string): string {
    return `arn:aws:lambda:${this.region}:${this.account}:function:${name}`;
  }

  add(f: StubFunction): this {
    this.functions.set(f.name, f);
    return this;
  }

  async start(): Promise<this> {
    this.server = await startStubServer(async (req) => {
      const m = /^\/2015-03-31\/functions\/([^/]+)\/(configuration|invocations)$/.exec(req.path);
      if (!m) return restJsonError(404, 'ResourceNotFoundException', `no route for ${req.method} ${req.path}`);
      const raw = decodeURIComponent(m[1]!);
      const name = raw.startsWith('arn:') ? (raw.split(':')[6] ?? raw) : raw;
      const f = this.functions.get(name);
      if (!f) return restJsonError(404, 'ResourceNotFoundException', `Function not found: ${this.arnOf(name)}`);
      if (m[2] === 'configuration' && req.method === 'GET') {
        return json(200, {
          FunctionName: f.name,
          FunctionArn: this.arnOf(f.name),
          Runtime: 'nodejs22.x',
          Role: f.roleArn,
          Handler: 'index.handler',
          State: 'Active',
          Environment: { Variables: f.env },
          LoggingConfig: { LogFormat: 'Text', LogGroup: f.logGroup ?? `/aws/lambda/${f.name}` },
        });
      }
      if (m[2] === 'invocations' && req.method === 'POST') {
        if (!f.invoke) return restJsonError(500, 'ServiceException', 'this stand-in function cannot be invoked');
        const cc = req.headers['x-amz-client-context'];
        const clientContext =
          typeof cc === 'string'
            ? (JSON.parse(Buffer.from(cc, 'base64').toString('utf8')) as { custom?: unknown })
            : undefined;
        const awsRequestId = randomUUID();
        try {
          const out = await f.invoke(JSON.parse(req.body || 'null'), {
            awsRequestId,
            ...(clientContext ? { clientContext } : {}),
          });
          return json(200, out, { 'x-amzn-requestid': awsRequestId });
        } catch (err) {
          return json(
            200,
            { errorType: (err as Error).name ?? 'Error', errorMessage: (err as Error).message },
            { 'x-amz-function-error': 'Unhandled', 'x-amzn-requestid': awsRequestId },
          );
        }
      }
      return restJsonError(405, 'InvalidRequestContentException', `${req.method} not supported on ${req.path}`);
    });
    return this;
  }

  async close(): Promise<void> {
    await this.server?.close();
  }
}
