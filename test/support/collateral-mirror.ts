/**
 * A local collateral mirror for tests: node:http on 127.0.0.1, laid out like AMD KDS / Intel
 * PCS (the path is `collateralPath(key)`), sending PCS issuer chains in the PCS response
 * headers. `hang` makes it accept requests and never answer; `failWith` answers every
 * request with that HTTP status (e.g. 503). `log` records, in order, each request's arrival
 * (`> path`) and each unanswered request the client gave up (`x path`), so tests can tell
 * concurrent requests from sequential ones without a clock.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  collateralPath,
  type CollateralDocument,
  type CollateralKey,
} from '../../lambda/attestation/collateral/sources.ts';

export interface TestMirror {
  url: string;
  requests: string[];
  log: string[];
  serve(key: CollateralKey, doc: CollateralDocument): void;
  clear(): void;
  hang: boolean;
  failWith: number | undefined;
  close(): Promise<void>;
}

function chainHeader(key: CollateralKey): string | undefined {
  if (key.kind === 'tdx-tcb-info') return 'TCB-Info-Issuer-Chain';
  if (key.kind === 'tdx-qe-identity') return 'SGX-Enclave-Identity-Issuer-Chain';
  if (key.kind === 'tdx-pck-crl') return 'SGX-PCK-CRL-Issuer-Chain';
  return undefined;
}

export async function startMirror(): Promise<TestMirror> {
  const docs = new Map<string, { body: Uint8Array; headers: Record<string, string> }>();
  const requests: string[] = [];
  const log: string[] = [];
  const state: { hang: boolean; failWith: number | undefined } = { hang: false, failWith: undefined };
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').slice(1);
    requests.push(path);
    log.push(`> ${path}`);
    if (state.hang) {
      // Never answers; the client's timeout must end the request (the connection then closes).
      res.on('close', () => log.push(`x ${path}`));
      return;
    }
    if (state.failWith) {
      res.writeHead(state.failWith).end();
      return;
    }
    const doc = docs.get(path);
    if (!doc) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', ...doc.headers }).end(Buffer.from(doc.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    log,
    serve(key, doc) {
      const header = chainHeader(key);
      const headers: Record<string, string> =
        header && doc.issuerChain
          ? { [header]: encodeURIComponent(Buffer.from(doc.issuerChain).toString('latin1')) }
          : {};
      docs.set(collateralPath(key), { body: doc.body, headers });
    },
    clear() {
      docs.clear();
    },
    get hang() {
      return state.hang;
    },
    get failWith() {
      return state.failWith;
    },
    set failWith(v: number | undefined) {
      state.failWith = v;
    },
    set hang(v: boolean) {
      state.hang = v;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
