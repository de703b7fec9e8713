#!/usr/bin/env node
// Runs the TypeScript CLI through tsx's loader, so the CLI runs the same sources the tests do.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
