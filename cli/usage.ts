/** A mistake in how the CLI was called or configured: it exits 2 with a message that says what to do. */
export class UsageError extends Error {}
