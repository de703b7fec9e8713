/**
 * Thin HTTP transport to the Kubernetes API: node:http(s) with one keep-alive agent, JSON
 * bodies, `Status` errors turned into KubeApiError, and bounded retries with exponential
 * backoff + full jitter on 409, 429 (Retry-After honoured), 5xx and network errors.
 * Every attempt is bounded: a deadline on the whole exchange (a trickle cannot stretch it) and
 * a cap on the bytes of the answer (KUBERNETES_LIMITS.responseBytes), so a hostile API server
 * gets a KubeApiError, never an uncaught exception or unbounded memory.
 *
 * Why not the generated @kubernetes/client-node API classes: they cannot read Retry-After,
 * make the patch content type a per-call middleware, and deserialize every list item into
 * model classes, which costs more CPU than the requests themselves for 1,000 workloads.
 * KubeConfig (client.ts) still provides TLS material and the Authorization header.
 */
import http from 'node:http';
import https from 'node:https';
import { KUBERNETES_LIMITS, KUBERNETES_RETRY } from '../shared/budgets.ts';
import { KubeApiError, KubeCancelledError, KubeLimitError } from './errors.ts';
import type { StatusBody } from './objects.ts';

export interface TlsMaterial {
  ca?: Buffer | string;
  cert?: Buffer | string;
  key?: Buffer | string;
  servername?: string;
  rejectUnauthorized?: boolean;
}

/** Where and how to talk to the API server (built by client.ts). */
export interface KubeConnection {
  server: string;
  tls: TlsMaterial;
  /** Authorization (and other) headers for the next request; may refresh a token. */
  headers(): Promise<Record<string, string>>;
}

/**
 * Backoff between attempts (KUBERNETES_RETRY), the number of attempts and each attempt's
 * timeout are time budgets (lambda/shared/budgets.ts): the peer step's budget counts them all.
 */
const {
  backoffBaseMs: BACKOFF_BASE_MS,
  backoffMaxMs: BACKOFF_MAX_MS,
  retryAfterMaxMs: RETRY_AFTER_MAX_MS,
} = KUBERNETES_RETRY;

export interface KubeRequest {
  method: 'GET' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | undefined>;
  body?: unknown;
  contentType?: string;
  /**
   * `json` (default): a 2xx answer's body is the result. `status`: only the status code counts —
   * a write is judged applied by its 2xx (its body, even one that is not JSON, is read and dropped).
   */
  expect?: 'json' | 'status';
  /** Cancels the request: no attempt (or backoff) goes on after it aborts (KubeCancelledError). */
  signal?: AbortSignal;
}

export interface TransportOptions {
  /** Sockets kept open; match the restart concurrency. */
  maxSockets: number;
  /** The whole of one attempt: connecting, waiting and reading the answer. */
  requestTimeoutMs: number;
  /** Total attempts per request, the first included. */
  attempts: number;
  /** Bytes one answer may have; default KUBERNETES_LIMITS.responseBytes. */
  responseBytes?: number;
}

export class KubeTransport {
  private readonly agent: http.Agent;
  private readonly base: URL;
  private readonly secure: boolean;
  /** Requests sent, retries included (for summaries and benchmarks). */
  requests = 0;

  constructor(
    private readonly conn: KubeConnection,
    private readonly opts: TransportOptions,
  ) {
    this.base = new URL(conn.server);
    this.secure = this.base.protocol === 'https:';
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets, maxFreeSockets: opts.maxSockets };
    this.agent = this.secure ? new https.Agent({ ...agentOpts, ...conn.tls }) : new http.Agent(agentOpts);
  }

  close(): void {
    this.agent.destroy();
  }

  /** Sends with retries; throws the last KubeApiError when attempts are used up. */
  async request<T>(req: KubeRequest): Promise<T> {
    const { signal } = req;
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw new KubeCancelledError(req.method, req.path);
      try {
        return await this.once<T>(req);
      } catch (err) {
        if (!(err instanceof KubeApiError) || !err.retryable || attempt >= this.opts.attempts) throw err;
        await pause(backoff(attempt, err.retryAfterMs), signal);
      }
    }
  }

  private async once<T>(req: KubeRequest): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', ...(await this.conn.headers()) };
    let payload: Buffer | undefined;
    if (req.body !== undefined) {
      payload = Buffer.from(JSON.stringify(req.body));
      headers['content-type'] = req.contentType ?? 'application/json';
      headers['content-length'] = String(payload.length);
    }
    let path = joinPath(this.base.pathname, req.path);
    if (req.query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(req.query)) if (v !== undefined && v !== '') q.set(k, v);
      const s = q.toString();
      if (s) path += `?${s}`;
    }
    this.requests++;
    const send = this.secure ? https.request : http.request;
    const maxBytes = this.opts.responseBytes ?? KUBERNETES_LIMITS.responseBytes;
    const statusOnly = req.expect === 'status';
    const { signal } = req;
    if (signal?.aborted) throw new KubeCancelledError(req.method, req.path);
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        signal?.removeEventListener('abort', cancel);
        fn();
      };
      const tooLarge = (status: number) =>
        new KubeLimitError(
          'response-bytes',
          status,
          `the answer is larger than ${maxBytes} bytes (KUBERNETES_LIMITS.responseBytes; a page holds at most ${KUBERNETES_LIMITS.pageSize} objects) — the API server, or something in front of it, misbehaves: check the endpoint`,
          req.method,
          req.path,
        );
      const r = send(
        {
          protocol: this.base.protocol,
          hostname: this.base.hostname,
          port: this.base.port,
          method: req.method,
          path,
          headers,
          agent: this.agent,
          timeout: this.opts.requestTimeoutMs,
        },
        (res) => {
          const status = res.statusCode ?? 0;
          // A write answered 2xx was applied, whatever its body says.
          const applied = statusOnly && status >= 200 && status < 300;
          const overflow = (): void => {
            settle(() => (applied ? resolve(undefined as T) : reject(tooLarge(status))));
            res.destroy();
          };
          const declared = Number(res.headers['content-length']);
          if (Number.isFinite(declared) && declared > maxBytes) return overflow();
          const chunks: Buffer[] = [];
          let bytes = 0;
          res.on('data', (c: Buffer) => {
            bytes += c.length;
            if (bytes > maxBytes) {
              chunks.length = 0;
              return overflow();
            }
            if (!applied) chunks.push(c);
          });
          res.on('error', (e) => settle(() => reject(networkError(req, e))));
          res.on('end', () =>
            settle(() => {
              // Inside an event handler a throw would be uncaught: every failure becomes the promise's.
              try {
                if (applied) return resolve(undefined as T);
                const text = Buffer.concat(chunks).toString('utf8');
                chunks.length = 0;
                if (status >= 200 && status < 300) {
                  try {
                    resolve((text ? JSON.parse(text) : undefined) as T);
                  } catch (e) {
                    reject(
                      new KubeApiError(
                        status,
                        'InvalidResponse',
                        `response is not JSON (${(e as Error).message})`,
                        req.method,
                        req.path,
                      ),
                    );
                  }
                  return;
                }
                reject(statusError(req, status, text, res.headers['retry-after']));
              } catch (e) {
                reject(
                  new KubeApiError(
                    status,
                    'InvalidResponse',
                    `the answer cannot be read (${(e as Error).message})`,
                    req.method,
                    req.path,
                    undefined,
                    { cause: e },
                  ),
                );
              }
            }),
          );
        },
      );
      // The whole attempt, not only silence: a server that trickles a byte every second ends here too.
      const deadline = setTimeout(() => {
        settle(() =>
          reject(
            new KubeApiError(
              0,
              'Timeout',
              `no complete answer within ${this.opts.requestTimeoutMs} ms`,
              req.method,
              req.path,
            ),
          ),
        );
        r.destroy();
      }, this.opts.requestTimeoutMs);
      // Cancelled: the socket is torn down; a request already sent may still have reached the server.
      const cancel = (): void => {
        settle(() => reject(new KubeCancelledError(req.method, req.path)));
        r.destroy();
      };
      signal?.addEventListener('abort', cancel, { once: true });
      r.on('timeout', () => r.destroy(new Error(`no answer within ${this.opts.requestTimeoutMs} ms`)));
      r.on('error', (e) => settle(() => reject(networkError(req, e))));
      r.end(payload);
    });
  }
}

/** Waits `ms`, or less if `signal` aborts (the next attempt then sees it). */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

function backoff(attempt: number, retryAfterMs: number | undefined): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, RETRY_AFTER_MAX_MS);
  return Math.floor(Math.random() * Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1)));
}

function joinPath(basePath: string, path: string): string {
  return basePath === '/' || basePath === '' ? path : basePath.replace(/\/$/, '') + path;
}

function networkError(req: KubeRequest, e: Error): KubeApiError {
  const code = (e as NodeJS.ErrnoException).code;
  return new KubeApiError(
    0,
    'NetworkError',
    code ? `${code}: ${e.message}` : e.message,
    req.method,
    req.path,
    undefined,
    { cause: e },
  );
}

function statusError(req: KubeRequest, status: number, text: string, retryAfter: string | undefined): KubeApiError {
  let body: StatusBody | undefined;
  try {
    body = JSON.parse(text) as StatusBody;
  } catch {
    body = undefined;
  }
  const reason = body?.reason || httpReason(status);
  const message = body?.message || text.slice(0, 200) || httpReason(status);
  return new KubeApiError(status, reason, message, req.method, req.path, parseRetryAfter(retryAfter));
}

/** Retry-After is seconds for the API server; an HTTP date is accepted too. */
function parseRetryAfter(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

function httpReason(status: number): string {
  return http.STATUS_CODES[status]?.replace(/\s+/g, '') ?? `HTTP${status}`;
}
