import type { KMSClient } from '@aws-sdk/client-kms';

/**
 * Counts the KMS commands a client sends (by command name), so callers can prove that a
 * healthy Coordinator cost no Decrypt. Metadata only; never sees payloads.
 */
export function countKmsCalls(kms: KMSClient): Map<string, number> {
  const counts = new Map<string, number>();
  kms.middlewareStack.add(
    (next, context) => async (args) => {
      const name = context.commandName ?? 'unknown';
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'contrastAutorecoverKmsCallCounter', override: true },
  );
  return counts;
}
