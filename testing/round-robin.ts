/**
 * A Service over several Coordinator replicas as the network sees it: a TCP proxy that hands
 * each new connection to the next backend in turn (kube-proxy picks a backend per connection;
 * a client's successive connections can reach different replicas). The TLS session runs end to
 * end, so each connection is attested by the replica that serves it.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface RoundRobin {
  readonly endpoint: { host: string; port: number };
  /** Connections handed to each backend so far. */
  readonly counts: number[];
  /** Replaces the backends (a replica leaves or joins the Service); open connections stay. */
  setBackends(next: { host: string; port: number }[]): void;
  close(): Promise<void>;
}

export async function startRoundRobin(backends: { host: string; port: number }[]): Promise<RoundRobin> {
  const sockets = new Set<Socket>();
  let current = [...backends];
  const counts = backends.map(() => 0);
  let next = 0;
  const server: Server = createServer((client) => {
    const i = next++ % current.length;
    counts[i] = (counts[i] ?? 0) + 1;
    const upstream = createConnection(current[i]!);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    endpoint: { host: '127.0.0.1', port },
    counts,
    setBackends: (b) => {
      current = [...b];
      next = 0;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
