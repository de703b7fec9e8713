/**
 * The operator's network, for the CLI in the journey (loaded with `node --import`): the names
 * an operator dials (`coordinator.prod.internal:1313`, reached over the VPN) lead to the
 * stand-ins. JOURNEY_NETWORK maps "host:port" to "host:port"; the TLS server name stays the
 * name dialled. Everything else connects as usual.
 */
import { createRequire, syncBuiltinESMExports } from 'node:module';

const require = createRequire(import.meta.url);
const net = require('node:net');
const tls = require('node:tls');
const routes = JSON.parse(process.env.JOURNEY_NETWORK || '{}');

function route(options) {
  const host = options.host ?? 'localhost';
  const to = routes[`${host}:${options.port}`];
  if (!to) return options;
  const i = to.lastIndexOf(':');
  return { ...options, host: to.slice(0, i), port: Number(to.slice(i + 1)), servername: options.servername ?? host };
}

/** (options[, cb]) or (port[, host][, options][, cb]) → (options, cb). */
function normalize(args) {
  if (typeof args[0] === 'object' && args[0] !== null) return [args[0], args[1]];
  const [port, ...rest] = args;
  const o = { port };
  let cb;
  for (const a of rest) {
    if (typeof a === 'string') o.host = a;
    else if (typeof a === 'function') cb = a;
    else if (a && typeof a === 'object') Object.assign(o, a);
  }
  return [o, cb];
}

for (const [mod, name] of [
  [tls, 'connect'],
  [net, 'connect'],
  [net, 'createConnection'],
]) {
  const original = mod[name];
  mod[name] = function (...args) {
    const [o, cb] = normalize(args);
    return cb ? original.call(this, route(o), cb) : original.call(this, route(o));
  };
}
syncBuiltinESMExports();
