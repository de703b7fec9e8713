#!/usr/bin/env node
// Entry point of the contrast-autorecover CLI (see cli/program.ts).
import { main } from './program.ts';

// `… | head` closes stdout early: end quietly instead of crashing on EPIPE.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});
// The CLI runs on Node 20 too; the SDK's notice about its future Node 22 minimum is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
await main(process.argv);
