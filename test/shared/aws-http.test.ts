/**
 * The AWS SDK's own requestTimeout ends only a silent attempt: once the headers arrive it stops
 * counting. These tests trickle a body after prompt headers and check that the budget still
 * ends each attempt (lambda/shared/aws-http.ts), so the README's per-call bound holds.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterEach, describe, expect, it } from 'vitest';
import { awsClientSettings } from '../../lambda/shared/aws-http.ts';

const budget = { connectionTimeoutMs: 1_000, requestTimeoutMs: 400, maxAttempts: 2 };

let server: Server | undefined;
afterEach(async () => {
  if (!server) return;
  server.closeAllConnections();
  await new Promise((r) => server!.close(r));
  server = undefined;
});

/** Answers every request with prompt headers and then one body byte every 50 ms, never ending. */
async function tricklingService(): Promise<{ endpoint: string; attempts: () => number }> {
  let attempts = 0;
  server = createServer((req, res) => {
    attempts++;
    req.resume();
    res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
    res.write('{');
    const timer = setInterval(() => res.write(' '), 50);
    res.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { endpoint: `http://127.0.0.1:${port}`, attempts: () => attempts };
}

function client(endpoint: string) {
  return new SecretsManagerClient({
    ...awsClientSettings(budget),
    endpoint,
    region: 'eu-central-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'not-a-secret' },
  });
}

describe('AWS calls: the budget bounds the whole attempt', () => {
  it('ends an attempt whose body trickles after prompt headers, and retries it as a timeout', async () => {
    const service = await tricklingService();
    const secrets = client(service.endpoint);
    const error = await secrets.send(new GetSecretValueCommand({ SecretId: 'bundle' })).catch((e: unknown) => e);
    secrets.destroy();
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe('TimeoutError');
    expect((error as Error).message).toContain(`within ${budget.requestTimeoutMs} ms`);
    // Transient, like a silent attempt: the SDK tried again, and stopped at maxAttempts.
    expect(service.attempts()).toBe(budget.maxAttempts);
  });

  it('gives each client its own HTTP handler (destroying one client leaves the others working)', () => {
    const a = awsClientSettings(budget);
    const b = awsClientSettings(budget);
    expect(a.requestHandler).not.toBe(b.requestHandler);
    expect(a.maxAttempts).toBe(budget.maxAttempts);
  });
});
