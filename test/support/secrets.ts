/**
 * Every encoding in which a secret could slip into output: raw hex (both cases), base64,
 * base64url, PEM body lines, and decimal byte lists as JSON would print a Buffer or array.
 * For long secrets a window of 16 bytes from the middle is enough to catch partial leaks.
 */
export function secretNeedles(secret: Uint8Array): string[] {
  const buf = Buffer.from(secret);
  const windows =
    buf.length > 24 ? [buf, buf.subarray(Math.floor(buf.length / 2) - 8, Math.floor(buf.length / 2) + 8)] : [buf];
  const out = new Set<string>();
  for (const w of windows) {
    out.add(w.toString('hex'));
    out.add(w.toString('hex').toUpperCase());
    out.add(w.toString('base64').replace(/=+$/, ''));
    out.add(w.toString('base64url'));
    out.add(Array.from(w).join(','));
    out.add(`[${Array.from(w).join(', ')}]`);
  }
  // Interior base64 of a longer secret is position dependent: also look at 3-byte aligned slices.
  for (let shift = 0; shift < 3 && buf.length > 48; shift++)
    out.add(buf.subarray(shift, shift + 30).toString('base64'));
  return [...out].filter((s) => s.length >= 16);
}

/** Lines of a PEM body (the base64 of the DER), which is how a leaked key would usually appear. */
export function pemNeedles(pem: string): string[] {
  return pem
    .split('\n')
    .filter((l) => l && !l.startsWith('-----'))
    .slice(1, 4);
}

export function findLeaks(haystack: string, secrets: Record<string, string[]>): string[] {
  const leaks: string[] = [];
  for (const [name, needles] of Object.entries(secrets)) {
    for (const n of needles) if (haystack.includes(n)) leaks.push(`${name} (${n.slice(0, 12)}…)`);
  }
  return leaks;
}
