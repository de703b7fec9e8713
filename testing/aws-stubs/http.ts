/**
 * A small HTTP server for AWS API stand-ins where moto lacks the API (see README.md here).
 * The SDK clients talk to it over real HTTP with their own serializers, so requests and
 * errors take the same path as against AWS: REST-JSON errors carry `x-amzn-errortype`,
 * AWS JSON 1.1 errors a `__type` field, and the SDK names the exception after either.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StubRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface StubResponse {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

export interface StubServer {
  /** Base URL for the client's `endpoint`. */
  endpoint: string;
  /** Every request received, in order. */
  requests: StubRequest[];
  close(): Promise<void>;
}

export async function startStubServer(
  handle: (req: StubRequest) => StubResponse | Promise<StubResponse>,
): Promise<StubServer> {
  const requests: StubRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://stub');
      const request: StubRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(request);
      Promise.resolve()
        .then(() => handle(request))
        .catch((err: unknown): StubResponse =>
          restJsonError(500, 'ServiceException', `stub failure: ${(err as Error).message}`),
        )
        .then((r) => {
          res.writeHead(r.status, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(r.body),
            ...r.headers,
          });
          res.end(r.body);
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function json(status: number, payload: unknown, headers: Record<string, string> = {}): StubResponse {
  return { status, body: JSON.stringify(payload), headers };
}

/** An error of a REST-JSON service (EKS, Lambda): the type in `x-amzn-errortype`. */
export function restJsonError(status: number, type: string, message: string): StubResponse {
  return json(status, { message }, { 'x-amzn-errortype': type });
}

/** An error of an AWS JSON 1.1 service (CloudTrail): the type in `__type`. */
export function awsJsonError(status: number, type: string, message: string): StubResponse {
  return {
    status,
    body: JSON.stringify({ __type: type, message }),
    headers: { 'content-type': 'application/x-amz-json-1.1' },
  };
}
