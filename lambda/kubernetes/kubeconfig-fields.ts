/**
 * Which kubeconfig fields are honoured, and how a file a kubeconfig names is read. Checked on the
 * parsed YAML before @kubernetes/client-node sees a document: client-node acts on some fields
 * while it loads one (it reads `token-file` in loadFromString) and on others when it builds a
 * request (readFileSync of `certificate-authority`, `client-certificate` and `client-key` — a FIFO
 * blocks the event loop there, /dev/zero never ends —, exec plugins, auth providers that run a
 * command or read a token file).
 *
 * Field names are client-go's (k8s.io/client-go tools/clientcmd/api/v1/types.go; the reference is
 * kubernetes.io/docs/reference/config-api/kubeconfig.v1/): `*-data` overrides the file of the
 * same name, and `token` takes precedence over `tokenFile`.
 *
 * Two policies:
 * - `embedded-only` (the function, whose kubeconfig comes from Secrets Manager): only what it
 *   uses — cluster `server` (https), `certificate-authority-data`, `tls-server-name`; user
 *   `token`, `client-certificate-data`, `client-key-data`; context `cluster`, `user`,
 *   `namespace`; names, `current-context`, `preferences` and `extensions` (inert data). Anything
 *   else is refused by name, in every entry of the document, before any of it is used: an exec
 *   plugin or auth provider would run inside the function with its AWS credentials, a file
 *   reference could block it, `insecure-skip-tls-verify` or an http:// server would hand the
 *   token to whoever answers.
 * - `kubectl` (the CLI, reading the operator's own files as kubectl finds them): every field
 *   kubectl honours; the files the chosen context's cluster and user name are read here —
 *   relative to their kubeconfig's directory, as kubectl resolves them — only as bounded regular
 *   files (lambda/shared/files.ts), and embedded as data. Exec plugins run: they are the
 *   operator's own choice, as with kubectl.
 */
import { dirname, isAbsolute, join } from 'node:path';
import { YAMLParseError, parse } from 'yaml';
import { InputError } from '../shared/errors.ts';
import { FileRefusedError, readRegularFile } from '../shared/files.ts';

export type KubeconfigPolicy = 'embedded-only' | 'kubectl';

type Obj = Record<string, unknown>;

/** One parsed kubeconfig document, its lists kept as written. */
export interface RawKubeconfig {
  clusters: Obj[];
  users: Obj[];
  contexts: Obj[];
  currentContext: string | undefined;
}

/** A CA bundle, certificate, key or token is a few KB; a referenced file over this is refused. */
export const MAX_REFERENCED_FILE_BYTES = 1024 * 1024;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What the function accepts, per part of the document (client-go's names). */
const EMBEDDED_FIELDS = {
  config: ['apiVersion', 'kind', 'clusters', 'users', 'contexts', 'current-context', 'preferences', 'extensions'],
  cluster: ['server', 'certificate-authority-data', 'tls-server-name', 'insecure-skip-tls-verify', 'extensions'],
  user: ['token', 'client-certificate-data', 'client-key-data', 'extensions'],
  context: ['cluster', 'user', 'namespace', 'extensions'],
} as const;

const EMBED = 'embed a token, or client-certificate-data and client-key-data';

/** Why a field is refused in the function, and what to do instead. */
const REFUSALS: Record<string, string> = {
  exec: `the function runs no credential plugin (it would run with the function's own AWS credentials) — ${EMBED}`,
  'auth-provider': `the function runs no auth provider — ${EMBED}`,
  'certificate-authority':
    'the function reads no file a kubeconfig names — embed the CA as certificate-authority-data (base64 PEM)',
  'client-certificate':
    'the function reads no file a kubeconfig names — embed the certificate as client-certificate-data (base64 PEM)',
  'client-key': 'the function reads no file a kubeconfig names — embed the key as client-key-data (base64 PEM)',
  tokenFile: 'the function reads no file a kubeconfig names — embed the token as token',
  'token-file': 'the function reads no file a kubeconfig names — embed the token as token',
  username:
    'basic authentication is not supported (the API server removed it in Kubernetes 1.19) — use a token or a client certificate',
  password:
    'basic authentication is not supported (the API server removed it in Kubernetes 1.19) — use a token or a client certificate',
  'proxy-url': 'the function reaches the API server directly, never through a proxy — remove proxy-url',
  as: 'the function does not impersonate — bind its RBAC (infra/k8s/rbac.yaml) to the identity itself',
  'as-uid': 'the function does not impersonate — bind its RBAC (infra/k8s/rbac.yaml) to the identity itself',
  'as-groups': 'the function does not impersonate — bind its RBAC (infra/k8s/rbac.yaml) to the identity itself',
  'as-user-extra': 'the function does not impersonate — bind its RBAC (infra/k8s/rbac.yaml) to the identity itself',
};

function refuse(where: string, field: string, why: string): InputError {
  return new InputError(`${where} sets ${field}: ${why}`, 'config-invalid');
}

/** Parses one document into its lists; every entry must be a named mapping. */
export function parseKubeconfig(text: string, where: string): { raw: RawKubeconfig; top: Obj } {
  let doc: unknown;
  try {
    // yaml refuses duplicate keys and caps alias expansion (maxAliasCount 100): no YAML bomb.
    doc = parse(text);
  } catch (err) {
    // The parser's message quotes the offending line, which may hold a token or a key: only its
    // code and position go into the error (and no cause that would carry the quote along).
    const at =
      err instanceof YAMLParseError
        ? `${err.code}${err.linePos ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}` : ''}`
        : 'not YAML';
    throw new InputError(`${where} cannot be parsed (${at}) — give a valid kubeconfig YAML`, 'config-invalid');
  }
  if (!isObj(doc))
    throw new InputError(
      `${where} is not a kubeconfig (a YAML mapping with clusters, users and contexts)`,
      'config-invalid',
    );
  const list = (key: 'clusters' | 'users' | 'contexts', inner: string): Obj[] => {
    const v = doc[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw new InputError(`${where}: ${key} is not a list`, 'config-invalid');
    return v.map((e, i) => {
      if (!isObj(e) || typeof e.name !== 'string' || !e.name)
        throw new InputError(`${where}: ${key}[${i}] has no name`, 'config-invalid');
      if (e[inner] !== undefined && e[inner] !== null && !isObj(e[inner]))
        throw new InputError(`${where}: ${key}[${i}] ("${e.name}") ${inner} is not a mapping`, 'config-invalid');
      return { ...e, [inner]: isObj(e[inner]) ? { ...e[inner] } : {} };
    });
  };
  const current = doc['current-context'];
  return {
    raw: {
      clusters: list('clusters', 'cluster'),
      users: list('users', 'user'),
      contexts: list('contexts', 'context'),
      currentContext: typeof current === 'string' && current ? current : undefined,
    },
    top: doc,
  };
}

/** The function's policy: every entry of the document holds only fields the function uses. */
export function checkEmbeddedOnly(top: Obj, raw: RawKubeconfig, where: string): void {
  for (const key of Object.keys(top)) {
    if (!(EMBEDDED_FIELDS.config as readonly string[]).includes(key))
      throw refuse(where, key, REFUSALS[key] ?? 'not a field the function uses — remove it');
  }
  const parts = [
    ['clusters', 'cluster', raw.clusters, EMBEDDED_FIELDS.cluster],
    ['users', 'user', raw.users, EMBEDDED_FIELDS.user],
    ['contexts', 'context', raw.contexts, EMBEDDED_FIELDS.context],
  ] as const;
  for (const [list, inner, entries, allowed] of parts) {
    entries.forEach((entry, i) => {
      const at = `${where}: ${list}[${i}] ("${String(entry.name)}")`;
      for (const key of Object.keys(entry))
        if (key !== 'name' && key !== inner) throw refuse(at, key, 'not a field of a kubeconfig entry — remove it');
      const body = entry[inner] as Obj;
      for (const key of Object.keys(body)) {
        if (!(allowed as readonly string[]).includes(key))
          throw refuse(at, key, REFUSALS[key] ?? 'not a field the function uses — remove it');
      }
      if (inner === 'cluster') {
        if (body['insecure-skip-tls-verify'] === true || body['insecure-skip-tls-verify'] === 'true') {
          throw refuse(
            at,
            'insecure-skip-tls-verify',
            "it would skip verifying the API server's certificate — give certificate-authority-data instead",
          );
        }
        if (typeof body.server !== 'string' || !/^https:\/\/[^/\s]+/.test(body.server)) {
          throw refuse(
            at,
            `server "${String(body.server ?? '')}"`,
            'the function talks to the API server over verified TLS only — give its https:// URL',
          );
        }
      }
    });
  }
}

/** Makes a relative file reference absolute against its kubeconfig's directory, as kubectl does. */
function resolveAgainst(base: string | undefined, file: unknown): unknown {
  return typeof file === 'string' && file && base && !isAbsolute(file) ? join(base, file) : file;
}

/** kubectl's ResolveLocalPaths: file references relative to the document they appear in. */
export function resolveFileReferences(raw: RawKubeconfig, path: string | undefined): void {
  const base = path ? dirname(path) : undefined;
  for (const c of raw.clusters) {
    const body = c.cluster as Obj;
    if (body['certificate-authority'] !== undefined)
      body['certificate-authority'] = resolveAgainst(base, body['certificate-authority']);
  }
  for (const u of raw.users) {
    const body = u.user as Obj;
    for (const key of ['client-certificate', 'client-key', 'tokenFile'])
      if (body[key] !== undefined) body[key] = resolveAgainst(base, body[key]);
  }
}

async function readReferenced(file: unknown, what: string): Promise<Buffer> {
  if (typeof file !== 'string' || !file) throw new InputError(`${what} is not a file path`, 'config-invalid');
  try {
    return await readRegularFile(file, { maxBytes: MAX_REFERENCED_FILE_BYTES, what, outcome: 'config-invalid' });
  } catch (err) {
    if (err instanceof FileRefusedError)
      throw new InputError(
        `${err.message} — a kubeconfig names certificates, keys and tokens as regular files (or embeds them as *-data)`,
        'config-invalid',
      );
    throw err;
  }
}

/**
 * The CLI's policy, on the merged document: the chosen cluster's and user's files are read
 * (bounded, regular files only) and embedded; file references of every other entry are dropped,
 * unread, so client-node never opens them. `token-file` is client-node's spelling, not a kubectl
 * field: dropped, as kubectl ignores it.
 */
export async function embedReferencedFiles(
  raw: RawKubeconfig,
  clusterName: string | undefined,
  userName: string | undefined,
  where: string,
): Promise<void> {
  for (const c of raw.clusters) {
    const body = c.cluster as Obj;
    const file = body['certificate-authority'];
    delete body['certificate-authority'];
    if (c.name !== clusterName || file === undefined || body['certificate-authority-data']) continue;
    body['certificate-authority-data'] = (
      await readReferenced(file, `${where}: cluster "${String(c.name)}" certificate-authority`)
    ).toString('base64');
  }
  for (const u of raw.users) {
    const body = u.user as Obj;
    const chosen = u.name === userName;
    const cert = body['client-certificate'];
    const key = body['client-key'];
    const tokenFile = body.tokenFile;
    for (const k of ['client-certificate', 'client-key', 'tokenFile', 'token-file']) delete body[k];
    const provider = body['auth-provider'];
    if (chosen && isObj(provider) && isObj(provider.config) && provider.config.tokenFile !== undefined) {
      // client-node's file auth provider re-reads it with readFileSync on every request.
      throw new InputError(
        `${where}: user "${String(u.name)}" auth-provider reads config.tokenFile, which kubectl does not support — use tokenFile or token instead`,
        'config-invalid',
      );
    }
    if (!chosen) continue;
    if (cert !== undefined && !body['client-certificate-data'])
      body['client-certificate-data'] = (
        await readReferenced(cert, `${where}: user "${String(u.name)}" client-certificate`)
      ).toString('base64');
    if (key !== undefined && !body['client-key-data']) {
      const bytes = await readReferenced(key, `${where}: user "${String(u.name)}" client-key`);
      body['client-key-data'] = bytes.toString('base64');
      bytes.fill(0);
    }
    if (tokenFile !== undefined && !body.token) {
      const bytes = await readReferenced(tokenFile, `${where}: user "${String(u.name)}" tokenFile`);
      // client-go trims the file's whitespace (transport.NewCachedFileTokenSource).
      body.token = bytes.toString('utf8').trim();
      bytes.fill(0);
    }
  }
}
