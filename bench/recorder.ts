/**
 * Records the calls a cold handler makes, in order, so a bare chain can make the same ones
 * (recovery.ts): an HTTP proxy in front of moto logs each AWS request (the service's
 * X-Amz-Target, or the path for REST-style services, and the JSON body) with the time it
 * arrived and the time its answer was sent; hooks on the Kubernetes API stand-in's log and on
 * the Coordinator emulator's HTTP/2 server stamp their requests on the same clock.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Http2SecureServer, IncomingHttpHeaders } from 'node:http2';
import type { CoordinatorEmulator } from '../testing/coordinator-emulator.ts';
import type { KubeApi, LoggedRequest } from '../testing/kube-api/index.ts';

export type Call =
  | { kind: 'aws'; target: string; body: string; start: number; end: number }
  | {
      kind: 'kube';
      method: string;
      url: string;
      contentType: string | undefined;
      body: string;
      start: number;
      end: number;
    }
  | { kind: 'coordinator'; rpc: string; start: number; end: number };

export interface Recorder {
  /** The proxy's URL, for AWS_ENDPOINT_URL. */
  endpoint: string;
  calls: Call[];
  /** Starts a recording (clears earlier calls); stop() ends it. */
  start(): void;
  stop(): Call[];
  close(): Promise<void>;
}

export async function startRecorder(motoEndpoint: string, api: KubeApi, emu: CoordinatorEmulator): Promise<Recorder> {
  const moto = new URL(motoEndpoint);
  let recording = false;
  const calls: Call[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    const start = performance.now();
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const target = String(req.headers['x-amz-target'] ?? `${req.method} ${req.url}`);
      const upstream = http.request(
        { host: moto.hostname, port: moto.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
          up.on('end', () => {
            if (recording)
              calls.push({ kind: 'aws', target, body: body.toString('utf8'), start, end: performance.now() });
          });
        },
      );
      upstream.on('error', (err) => {
        res.writeHead(502);
        res.end(err.message);
      });
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  // The stand-in pushes each request to its log once answered (no latency is configured here).
  const log = api.log;
  const push = log.push.bind(log);
  log.push = (...entries: LoggedRequest[]) => {
    const now = performance.now();
    if (recording)
      for (const e of entries)
        calls.push({
          kind: 'kube',
          method: e.method,
          url: e.url,
          contentType: e.contentType,
          body: e.body,
          start: now,
          end: now,
        });
    return push(...entries);
  };
  // The emulator's HTTP/2 server (a private field): each gRPC call as its stream opens.
  const h2 = (emu as unknown as { server: Http2SecureServer }).server;
  h2.on('stream', (_stream, headers: IncomingHttpHeaders) => {
    const now = performance.now();
    if (recording)
      calls.push({ kind: 'coordinator', rpc: String(headers[':path']).split('/').pop()!, start: now, end: now });
  });

  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    start() {
      calls.length = 0;
      recording = true;
    },
    stop() {
      recording = false;
      return [...calls].sort((a, b) => a.start - b.start);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
