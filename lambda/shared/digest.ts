import { createHash } from 'node:crypto';

/** SHA-256 hex of the concatenation of parts. */
export function sha256Hex(...parts: Uint8Array[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}
