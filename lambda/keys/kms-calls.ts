import type { KMSClient } from '@aws-sdk/client-kms';

interface MiddlewareClient {
  middlewareStack: { add(middleware: unknown, options: Record<string, unknown>): void };
}

/**
 * Counts the commands an AWS SDK client sends (by command name, e.g. `DecryptCommand`), so
 * callers can prove what a reconcile cost: no Decrypt for a healthy Coordinator, no
 * GetSecretValue for a warm one. Metadata only; never sees payloads.
 */
export function countCalls(client: MiddlewareClient): Map<string, number> {
  const counts = new Map<string, number>();
  client.middlewareStack.add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      const name = context.commandName ?? 'unknown';
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'contrastAutorecoverCallCounter', override: true },
  );
  return counts;
}

/** countCalls for a KMS client. */
export function countKmsCalls(kms: KMSClient): Map<string, number> {
  return countCalls(kms);
}
