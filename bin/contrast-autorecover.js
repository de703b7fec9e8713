#!/usr/bin/env node
// The installed command: the compiled CLI in dist/ (built by `npm run build`, and by `npm ci`
// through the `prepare` script).
import { existsSync } from 'node:fs';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(
    'contrast-autorecover: dist/cli/main.js is missing — run `npm run build` in the package directory first\n',
  );
  process.exit(1);
}
await import(main.href);
