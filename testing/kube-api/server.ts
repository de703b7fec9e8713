/**
 * Kubernetes API stand-in: a real node:http server answering the REST paths the
 * Kubernetes clients use (core/v1 pods and namespaces, apps/v1 workloads), with `Status`
 * error bodies, bearer-token checks, RBAC from the real manifests, strategic-merge and
 * JSON-merge patches (415 for other patch types), resourceVersion conflicts, injectable
 * 409/429/5xx faults, a per-request latency, and a request log for assertions. Hostile modes
 * (`hostile`) make it misbehave as a broken or malicious API server (or a proxy in front of
 * one) could, after authentication and RBAC as the real one: a huge list, continue tokens that
 * never end, a trickled answer, 410 Gone on a continue token, a PATCH applied but answered with
 * a body that is not JSON. Everything else stays as the API server does it.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { RbacAuthorizer } from './rbac.ts';
import { serveSubjectAccessReview, SubjectAccessReviews } from './sar.ts';
import { servingCert } from './tls.ts';
import {
  KubeStore,
  RESOURCES,
  rfc3339,
  type Json,
  type JsonObject,
  type KubeObject,
  type ResourceInfo,
} from './store.ts';

export interface Fault {
  method?: string;
  resource?: string;
  namespace?: string;
  name?: string;
  status: number;
  /** Retry-After header value (seconds) for 429/503. */
  retryAfter?: number;
  message?: string;
  /** How many matching requests fail; Infinity for all. */
  times: number;
}

/** How the stand-in misbehaves for matching requests (`resource` and `method` narrow it; default all). */
export type Hostile = { resource?: string; method?: string } &
  /** A list answered 200 with `bytes` of JSON items, streamed without Content-Length. */
  (
    | { kind: 'huge-list'; bytes: number }
    /** Every list page has `itemsPerPage` made-up items and a continue token: the list never ends. */
    | { kind: 'endless-continue'; itemsPerPage: number }
    /** The answer's headers at once, then its body one byte every `intervalMs`. */
    | { kind: 'trickle'; intervalMs: number }
    /** A list request with a continue token gets 410 Gone (reason Expired), `times` times. */
    | { kind: 'expire-continue'; times: number }
    /** A PATCH is applied, then answered 200 with a body that is not JSON. */
    | { kind: 'non-json-patch' }
  );

export interface LoggedRequest {
  method: string;
  /** Path with query string, exactly as received. */
  url: string;
  path: string;
  query: URLSearchParams;
  contentType: string | undefined;
  body: string;
  status: number;
  resource?: string;
  namespace?: string;
  name?: string;
  verb?: string;
}

export interface KubeApiOptions {
  /** Accepted bearer tokens, or a predicate. Default: any token. */
  tokens?: string[] | ((token: string) => boolean);
  rbac?: RbacAuthorizer;
  latencyMs?: number;
  /** Keep request bodies and details in `log` (on by default). */
  logRequests?: boolean;
  /** Serve plain HTTP instead of HTTPS (clients then need insecure-skip-tls-verify). */
  plainHttp?: boolean;
}

export interface KubeApi {
  url: string;
  /** base64 PEM of the serving certificate (empty for plain HTTP). */
  caData: string;
  store: KubeStore;
  log: LoggedRequest[];
  faults: Fault[];
  /** Hostile modes, first match wins (see Hostile). */
  hostile: Hostile[];
  /** Body bytes the hostile modes wrote (how much a client let a huge answer send). */
  hostileBytesSent: number;
  /**
   * A slow list: while true, list answers are computed when the request arrives (a snapshot of
   * that moment) but held back, until releaseListAnswers() sends them — late and out of date.
   */
  holdListAnswers: boolean;
  /** List answers held back so far and not yet sent. */
  readonly heldListAnswers: number;
  /** Sends every held list answer (to clients that gave up, too: their sockets are gone). */
  releaseListAnswers(): void;
  rbac: RbacAuthorizer;
  /** Subjects whose SubjectAccessReviews are answered (sar.ts). */
  reviews: SubjectAccessReviews;
  latencyMs: number;
  /** Number of requests currently being served (for concurrency assertions). */
  readonly inFlight: number;
  readonly maxInFlight: number;
  setRbac(rbac: RbacAuthorizer): void;
  resetStats(): void;
  close(): Promise<void>;
}

/**
 * The patch types the API server accepts for built-in kinds, in the order of its 415 message
 * (k8s.io/apiserver pkg/endpoints/handlers/patch.go). Strategic merge is modelled as JSON
 * merge (equal for the maps the restart code patches); apply is modelled as a merge of the
 * JSON body and, like the server, needs `fieldManager`.
 */
const PATCH_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/apply-patch+yaml',
];

export async function startKubeApi(options: KubeApiOptions = {}): Promise<KubeApi> {
  const store = new KubeStore();
  const held: (() => void)[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const state: KubeApi = {
    url: '',
    caData: '',
    store,
    log: [],
    faults: [],
    hostile: [],
    hostileBytesSent: 0,
    holdListAnswers: false,
    get heldListAnswers() {
      return held.length;
    },
    releaseListAnswers() {
      for (const send of held.splice(0)) send();
    },
    rbac: options.rbac ?? RbacAuthorizer.allowAll(),
    reviews: new SubjectAccessReviews(),
    latencyMs: options.latencyMs ?? 0,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    setRbac(rbac) {
      state.rbac = rbac;
    },
    resetStats() {
      state.log.length = 0;
      maxInFlight = 0;
    },
    close: async () => {
      store.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const logRequests = options.logRequests ?? true;

  const tls = options.plainHttp ? undefined : await servingCert();
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const finish = (): void => {
        let entry: LoggedRequest | undefined;
        try {
          entry = handle(state, options, req, body, res, held);
        } catch (err) {
          const text = JSON.stringify(statusBody(500, 'InternalError', `stand-in error: ${(err as Error).message}`));
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
          res.end(text);
        }
        inFlight--;
        if (logRequests && entry) state.log.push(entry);
      };
      if (state.latencyMs > 0) setTimeout(finish, state.latencyMs);
      else finish();
    });
  };
  const server: Server = tls
    ? createHttpsServer({ cert: tls.certPem, key: tls.keyPem, keepAliveTimeout: 30_000 }, onRequest)
    : createHttpServer({ keepAliveTimeout: 30_000 }, onRequest);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.caData = tls?.caData ?? '';
  return state;
}

interface Route {
  info: ResourceInfo;
  namespace: string | undefined;
  name: string | undefined;
}

function parseRoute(path: string): Route | undefined {
  const m = /^\/(?:api\/v1|apis\/([a-z0-9.-]+)\/v1)(?:\/namespaces\/([^/]+))?\/([a-z]+)(?:\/([^/]+))?$/.exec(path);
  if (!m) {
    // /api/v1/namespaces/{name} is a get of a namespace, not a namespaced collection.
    const ns = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(path);
    if (ns) return { info: RESOURCES.namespaces!, namespace: undefined, name: decodeURIComponent(ns[1]!) };
    return undefined;
  }
  const info = RESOURCES[m[3]!];
  if (!info) return undefined;
  if (info.group !== (m[1] ?? '')) return undefined;
  if (!info.namespaced && m[2] !== undefined) return undefined;
  return {
    info,
    namespace: m[2] ? decodeURIComponent(m[2]) : undefined,
    name: m[4] ? decodeURIComponent(m[4]) : undefined,
  };
}

/** Discovery (`GET /api/v1`, `/apis/<group>/v1`): the APIResourceList clients resolve a kind's resource name from. */
function apiResourceList(path: string): JsonObject | undefined {
  const m = /^\/(?:api\/v1|apis\/([a-z0-9.-]+)\/v1)\/?$/.exec(path);
  if (!m) return undefined;
  const group = m[1] ?? '';
  const resources = Object.values(RESOURCES).filter((r) => r.group === group);
  if (resources.length === 0) return undefined;
  const verbs = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/v1` : 'v1',
    resources: resources.map((r) => ({
      name: r.resource,
      singularName: r.kind.toLowerCase(),
      namespaced: r.namespaced,
      kind: r.kind,
      verbs,
    })),
  };
}

function handle(
  state: KubeApi,
  options: KubeApiOptions,
  req: IncomingMessage,
  body: string,
  res: ServerResponse,
  held: (() => void)[],
): LoggedRequest {
  const url = new URL(req.url ?? '/', 'http://stand-in');
  const method = req.method ?? 'GET';
  const entry: LoggedRequest = {
    method,
    url: req.url ?? '/',
    path: url.pathname,
    query: url.searchParams,
    contentType: req.headers['content-type'],
    body,
    status: 0,
  };
  const reply = (status: number, payload: unknown, headers: Record<string, string> = {}): LoggedRequest => {
    entry.status = status;
    const text = JSON.stringify(payload);
    if (state.holdListAnswers && entry.verb === 'list') {
      held.push(() => {
        if (res.destroyed) return;
        res.writeHead(status, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
          ...headers,
        });
        res.end(text);
      });
      return entry;
    }
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    const trickle = state.hostile.find(
      (h) =>
        h.kind === 'trickle' && (!h.resource || h.resource === entry.resource) && (!h.method || h.method === method),
    );
    if (trickle?.kind === 'trickle') {
      trickleOut(state, res, Buffer.from(text), trickle.intervalMs);
      return entry;
    }
    res.end(text);
    return entry;
  };
  const fail = (
    status: number,
    reason: string,
    message: string,
    headers: Record<string, string> = {},
    details?: JsonObject,
  ): LoggedRequest => reply(status, statusBody(status, reason, message, details), headers);

  // Authentication first, like the API server.
  const auth = req.headers.authorization;
  const token = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
  const tokenOk =
    token !== undefined &&
    (options.tokens === undefined
      ? token.length > 0
      : Array.isArray(options.tokens)
        ? options.tokens.includes(token)
        : options.tokens(token));
  if (!tokenOk) return fail(401, 'Unauthorized', 'Unauthorized');

  const sar = serveSubjectAccessReview(
    state.reviews,
    state.rbac.allows({
      verb: 'create',
      apiGroup: 'authorization.k8s.io',
      resource: 'subjectaccessreviews',
      namespace: undefined,
    }),
    method,
    url.pathname,
    body,
  );
  if (sar) return reply(sar.status, sar.payload);

  const discovery = method === 'GET' ? apiResourceList(url.pathname) : undefined;
  if (discovery) return reply(200, discovery);
  const route = parseRoute(url.pathname);
  if (!route)
    return fail(404, 'NotFound', `the server could not find the requested resource (${method} ${url.pathname})`);
  const { info, namespace, name } = route;
  const verb =
    method === 'GET'
      ? name === undefined
        ? 'list'
        : 'get'
      : method === 'PATCH'
        ? 'patch'
        : method === 'DELETE'
          ? 'delete'
          : method === 'POST'
            ? 'create'
            : method.toLowerCase();
  Object.assign(entry, { resource: info.resource, namespace, name, verb });

  const group = info.group;
  if (!state.rbac.allows({ verb, apiGroup: group, resource: info.resource, namespace, name })) {
    const who = 'User "contrast-autorecover" cannot';
    const target = `${info.resource}${group ? `.${group}` : ''}`;
    const scope = namespace !== undefined ? `in the namespace "${namespace}"` : 'at the cluster scope';
    return fail(
      403,
      'Forbidden',
      `${target}${name ? ` "${name}"` : ''} is forbidden: ${who} ${verb} resource "${info.resource}" in API group "${group}" ${scope}`,
      {},
      {
        name: name ?? '',
        group,
        kind: info.resource,
      },
    );
  }

  const fault = state.faults.find(
    (f) =>
      f.times > 0 &&
      (!f.method || f.method === method) &&
      (!f.resource || f.resource === info.resource) &&
      (!f.namespace || f.namespace === namespace) &&
      (!f.name || f.name === name),
  );
  if (fault) {
    fault.times--;
    const headers: Record<string, string> =
      fault.retryAfter !== undefined ? { 'retry-after': String(fault.retryAfter) } : {};
    const reason =
      fault.status === 409
        ? 'Conflict'
        : fault.status === 429
          ? 'TooManyRequests'
          : fault.status === 403
            ? 'Forbidden'
            : fault.status >= 500
              ? 'InternalError'
              : 'BadRequest';
    const message =
      fault.message ??
      (fault.status === 409
        ? `Operation cannot be fulfilled on ${info.resource}.${group || 'core'} "${name}": the object has been modified; please apply your changes to the latest version and try again`
        : fault.status === 429
          ? 'Too many requests, please try again later.'
          : `injected ${fault.status}`);
    return fail(fault.status, reason, message, headers);
  }

  const hostile = state.hostile.find(
    (h) => (!h.resource || h.resource === info.resource) && (!h.method || h.method === method),
  );
  if (hostile?.kind === 'expire-continue' && verb === 'list' && url.searchParams.get('continue') && hostile.times > 0) {
    hostile.times--;
    // The API server's answer to a continue token whose revision etcd has compacted.
    return reply(410, {
      ...statusBody(
        410,
        'Expired',
        'the continue token is too old to give a consistent list: start a new list without it, or continue inconsistently with the token in this answer',
      ),
      metadata: { continue: url.searchParams.get('continue')! },
    });
  }
  if (hostile?.kind === 'huge-list' && verb === 'list') {
    entry.status = 200;
    streamHugeList(state, res, info, hostile.bytes);
    return entry;
  }
  if (hostile?.kind === 'endless-continue' && verb === 'list') {
    const n =
      Number(
        url.searchParams.get('continue')
          ? Buffer.from(url.searchParams.get('continue')!, 'base64url').toString('utf8')
          : '0',
      ) || 0;
    const items = Array.from({ length: hostile.itemsPerPage }, (_, i) => fillerItem(info, namespace, n + i));
    return reply(200, {
      kind: `${info.kind}List`,
      apiVersion: group ? `${group}/v1` : 'v1',
      metadata: { continue: Buffer.from(String(n + hostile.itemsPerPage)).toString('base64url') },
      items,
    });
  }

  const { store } = state;
  // Time passed since the last request: pods waiting in Init may have got their certificate.
  store.settle();
  if (verb === 'list') {
    let items = store.list(info.resource, namespace);
    const selector = url.searchParams.get('labelSelector');
    if (selector) {
      const match = parseSelector(selector);
      items = items.filter((o) => match(o.metadata.labels ?? {}));
    }
    const limit = Number(url.searchParams.get('limit') ?? '0');
    const cont = url.searchParams.get('continue');
    let start = 0;
    if (cont) {
      start = Number(Buffer.from(cont, 'base64url').toString('utf8'));
      if (!Number.isInteger(start) || start < 0) return fail(400, 'BadRequest', 'invalid continue token');
    }
    let next: string | undefined;
    if (limit > 0 && start + limit < items.length) next = Buffer.from(String(start + limit)).toString('base64url');
    const page = items.slice(start, limit > 0 ? start + limit : undefined);
    return reply(200, {
      kind: `${info.kind}List`,
      apiVersion: group ? `${group}/v1` : 'v1',
      metadata: { resourceVersion: store.nextResourceVersion(), ...(next ? { continue: next } : {}) },
      // Real list responses omit kind/apiVersion on items.
      items: page.map(({ kind: _k, apiVersion: _a, ...rest }) => rest),
    });
  }

  const obj = name !== undefined ? store.get(info.resource, namespace, name) : undefined;
  const notFound = (): LoggedRequest =>
    fail(
      404,
      'NotFound',
      `${info.resource}${group ? `.${group}` : ''} "${name}" not found`,
      {},
      { name: name ?? '', group, kind: info.resource },
    );

  if (verb === 'get') return obj ? reply(200, obj) : notFound();

  const create = (raw: string): LoggedRequest => {
    let body: KubeObject;
    try {
      body = JSON.parse(raw) as KubeObject;
    } catch {
      return fail(400, 'BadRequest', 'the request body is not valid JSON');
    }
    if (!isObject(body as unknown as Json) || !isObject((body.metadata ?? null) as unknown as Json))
      return fail(400, 'BadRequest', 'the object has no metadata');
    if (body.kind !== info.kind)
      return fail(
        400,
        'BadRequest',
        `the object's kind ${String(body.kind)} does not match the resource ${info.resource}`,
      );
    if (info.namespaced) {
      if (body.metadata.namespace !== undefined && body.metadata.namespace !== namespace) {
        return fail(
          400,
          'BadRequest',
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      body.metadata.namespace = namespace!;
    }
    if (name !== undefined && body.metadata.name !== name)
      return fail(400, 'BadRequest', 'the name of the object does not match the name on the URL');
    const made = store.create(info.resource, body);
    return 'obj' in made ? reply(201, made.obj) : fail(made.status, made.reason, made.message);
  };

  if (verb === 'create') {
    if (name !== undefined) return fail(405, 'MethodNotAllowed', `POST is not supported on ${url.pathname}`);
    return create(body);
  }

  if (verb === 'patch') {
    const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
    if (!PATCH_TYPES.includes(ct))
      return fail(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}`,
      );
    if (ct === 'application/apply-patch+yaml' && !url.searchParams.get('fieldManager')) {
      return fail(
        422,
        'Invalid',
        `PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch`,
      );
    }
    if (!obj && ct === 'application/apply-patch+yaml') return create(body);
    if (!obj) return notFound();
    let patch: Json;
    try {
      patch = JSON.parse(body) as Json;
    } catch {
      return fail(400, 'BadRequest', 'the patch body is not valid JSON');
    }
    let merged: KubeObject;
    if (ct === 'application/json-patch+json') {
      if (!Array.isArray(patch)) return fail(400, 'BadRequest', 'the json patch must be a list of operations');
      try {
        merged = jsonPatch(structuredClone(obj) as unknown as JsonObject, patch) as unknown as KubeObject;
      } catch (err) {
        return fail(
          422,
          'Invalid',
          `the server rejected our request due to an error in our request: ${(err as Error).message}`,
        );
      }
    } else {
      if (!isObject(patch)) return fail(400, 'BadRequest', 'the patch body must be a JSON object');
      const wantRv = ((patch.metadata as JsonObject | undefined)?.resourceVersion as string | undefined) ?? undefined;
      if (wantRv !== undefined && wantRv !== obj.metadata.resourceVersion) {
        return fail(
          409,
          'Conflict',
          `Operation cannot be fulfilled on ${info.resource}.${group} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        );
      }
      merged = mergePatch(obj as unknown as JsonObject, patch) as unknown as KubeObject;
    }
    const before = JSON.stringify(obj.spec?.template ?? null);
    // Identity fields cannot be patched.
    merged.metadata.name = obj.metadata.name;
    merged.metadata.uid = obj.metadata.uid;
    if (obj.metadata.namespace !== undefined) merged.metadata.namespace = obj.metadata.namespace;
    store.put(info.resource, merged);
    if (JSON.stringify(merged.spec?.template ?? null) !== before) store.templateChanged(info.resource, merged);
    if (hostile?.kind === 'non-json-patch') {
      // Applied, answered 200 — with a body a proxy or a broken server might send instead of the object.
      entry.status = 200;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('patched <ok>');
      return entry;
    }
    return reply(200, merged);
  }

  if (verb === 'delete') {
    if (!obj) return notFound();
    if (info.resource !== 'pods') return fail(405, 'MethodNotAllowed', 'the stand-in deletes pods only');
    // Like the API server, the response is the object with deletionTimestamp set.
    const gone = { ...obj, metadata: { ...obj.metadata, deletionTimestamp: rfc3339(new Date()) } };
    store.podDeleted(obj);
    return reply(200, gone);
  }

  return fail(405, 'MethodNotAllowed', `${method} is not supported on ${url.pathname}`);
}

/** A made-up object of the listed resource, not a Contrast workload (no runtime class, no initializer). */
function fillerItem(info: ResourceInfo, namespace: string | undefined, i: number): JsonObject {
  return {
    metadata: {
      name: `filler-${i}`,
      uid: `filler-uid-${i}`,
      ...(info.namespaced ? { namespace: namespace ?? 'default' } : {}),
      labels: { filler: 'true' },
    },
  };
}

/** Streams a list of about `bytes` bytes, honouring backpressure, until done or the client goes. */
function streamHugeList(state: KubeApi, res: ServerResponse, info: ResourceInfo, bytes: number): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  const head = Buffer.from(`{"kind":"${info.kind}List","apiVersion":"v1","metadata":{},"items":[`);
  const item = JSON.stringify({ metadata: { name: 'filler', uid: 'filler-uid', labels: { filler: 'x'.repeat(900) } } });
  const chunk = Buffer.from(Array.from({ length: 64 }, () => item).join(',') + ',');
  let sent = 0;
  const write = (b: Buffer): boolean => {
    sent += b.length;
    state.hostileBytesSent += b.length;
    return res.write(b);
  };
  const pump = (): void => {
    while (!res.destroyed && sent < bytes) {
      if (!write(chunk)) return void res.once('drain', pump);
    }
    if (!res.destroyed) res.end(`${item}]}`);
  };
  res.on('close', () => res.removeAllListeners('drain'));
  write(head);
  pump();
}

/** Writes `body` one byte every `intervalMs` until done or the client goes. */
function trickleOut(state: KubeApi, res: ServerResponse, body: Buffer, intervalMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (res.destroyed || i >= body.length) {
      clearInterval(timer);
      if (!res.destroyed) res.end();
      return;
    }
    state.hostileBytesSent++;
    res.write(body.subarray(i, ++i));
  }, intervalMs);
  res.on('close', () => clearInterval(timer));
}

function statusBody(code: number, reason: string, message: string, details?: JsonObject): JsonObject {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * RFC 7386 merge. For the fields the restart code patches (maps of annotations) a strategic
 * merge patch gives the same result; lists are replaced, which strategic merge does for the
 * lists the stand-in models.
 */
function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k] ?? null, v);
  }
  return out;
}

/** RFC 6902 add, replace, remove and test on RFC 6901 pointers (what clients send for Pod and workload patches). */
function jsonPatch(doc: JsonObject, ops: Json[]): Json {
  let root: Json = doc;
  for (const raw of ops) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string')
      throw new Error('each operation needs "op" and "path"');
    const parts =
      raw.path === ''
        ? []
        : raw.path
            .split('/')
            .slice(1)
            .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (parts.length === 0) {
      if (raw.op === 'test' && JSON.stringify(root) !== JSON.stringify(raw.value))
        throw new Error('test operation failed');
      if (raw.op === 'add' || raw.op === 'replace') root = raw.value ?? null;
      continue;
    }
    let parent: Json = root;
    for (const p of parts.slice(0, -1)) {
      parent = Array.isArray(parent)
        ? parent[Number(p)]!
        : isObject(parent)
          ? parent[p]!
          : (undefined as unknown as Json);
      if (parent === undefined) throw new Error(`path ${raw.path} does not exist`);
    }
    const last = parts.at(-1)!;
    const has = Array.isArray(parent) ? Number(last) < parent.length : isObject(parent) && last in parent;
    const current = Array.isArray(parent) ? parent[Number(last)] : isObject(parent) ? parent[last] : undefined;
    if (raw.op === 'test') {
      if (JSON.stringify(current) !== JSON.stringify(raw.value))
        throw new Error(`test operation on ${raw.path} failed`);
      continue;
    }
    if (raw.op !== 'add' && raw.op !== 'remove' && raw.op !== 'replace')
      throw new Error(`unsupported operation ${raw.op}`);
    if (raw.op !== 'add' && !has) throw new Error(`unable to ${raw.op} nonexistent key: ${last}`);
    if (Array.isArray(parent)) {
      const i = last === '-' ? parent.length : Number(last);
      if (raw.op === 'add') parent.splice(i, 0, raw.value ?? null);
      else if (raw.op === 'replace') parent[i] = raw.value ?? null;
      else parent.splice(i, 1);
    } else if (isObject(parent)) {
      if (raw.op === 'remove') delete parent[last];
      else parent[last] = raw.value ?? null;
    } else throw new Error(`path ${raw.path} does not exist`);
  }
  return root;
}

/** Equality- and set-based label selectors (`a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`). */
export function parseSelector(selector: string): (labels: Record<string, string>) => boolean {
  const terms: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      terms.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) terms.push(cur.trim());
  const tests = terms.map((t): ((l: Record<string, string>) => boolean) => {
    let m = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(t);
    if (m) {
      const values = m[3]!.split(',').map((v) => v.trim());
      const key = m[1]!;
      return m[2] === 'in'
        ? (l) => key in l && values.includes(l[key]!)
        : (l) => !(key in l) || !values.includes(l[key]!);
    }
    m = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(t);
    if (m) {
      const [, key, op, value] = m as unknown as [string, string, string, string];
      return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
    }
    if (t.startsWith('!')) return (l) => !(t.slice(1) in l);
    return (l) => t in l;
  });
  return (labels) => tests.every((f) => f(labels));
}
