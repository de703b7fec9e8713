/**
 * The construct as a package: built the way `npm run build` builds it, installed beside a CDK
 * app that is not this repository's (test/infra/fixtures/consumer-app), imported by the
 * package's name through its exports map, and synthesized with the prebuilt function.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleFromSource } from '../../infra/function-code.ts';
import { buildAll } from '../../scripts/build.mjs';
import { ROOT } from './synth.ts';

const run = promisify(execFile);
const PACKAGE = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
let tmp: string;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'contrast-autorecover-consumer-'));
  // The package as installed: package.json, the built dist/ (no TypeScript sources), its own dependencies.
  const pkg = path.join(tmp, 'node_modules', 'contrast-autorecover');
  mkdirSync(pkg, { recursive: true });
  await buildAll({ outdir: path.join(pkg, 'dist'), quiet: true, targets: ['code'] });
  // The function bundle, with build.mjs's options (infra/function-bundle.mjs), from the cache.
  cpSync(bundleFromSource(), path.join(pkg, 'dist', 'function'), { recursive: true });
  writeFileSync(path.join(pkg, 'package.json'), JSON.stringify(PACKAGE));
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'), 'dir');
  // The consumer's own CDK (the peer dependencies).
  for (const dep of ['aws-cdk-lib', 'constructs'])
    symlinkSync(path.join(ROOT, 'node_modules', dep), path.join(tmp, 'node_modules', dep), 'dir');
  cpSync(path.join(ROOT, 'test', 'infra', 'fixtures', 'consumer-app', 'app.ts'), path.join(tmp, 'app.ts'));
}, 120_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('contrast-autorecover/infra as a package', () => {
  it('is imported by a CDK app of its own and synthesizes, with the prebuilt function', async () => {
    const tsx = pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
    const { stdout } = await run(process.execPath, ['--import', tsx, 'app.ts'], {
      cwd: tmp,
      env: { ...process.env, CDK_OUTDIR: path.join(tmp, 'cdk.out'), CDK_VALIDATION: 'false' },
    });
    const out = JSON.parse(stdout);
    expect(out.hasFunction).toBe(true);
    expect(out.resources).toBeGreaterThan(40);
    const assets = readFileSync(path.join(tmp, 'cdk.out', 'PlatformRecovery.assets.json'), 'utf8');
    expect(assets).toMatch(/asset\.[0-9a-f]+/);
  });
  it('is built with the prebuilt function and declarations by npm ci (prepare)', () => {
    for (const file of ['dist/infra/index.js', 'dist/function/index.mjs', 'dist/types/infra/index.d.ts'])
      expect(existsSync(path.join(ROOT, file)), file).toBe(true);
    expect(readFileSync(path.join(ROOT, 'dist/types/infra/index.d.ts'), 'utf8')).not.toMatch(/from '\.[^']*\.ts'/);
  });
  it('exports only the construct entry and ships what it needs', () => {
    expect(PACKAGE.private).toBeUndefined();
    expect(Object.keys(PACKAGE.exports)).toEqual(['./infra', './package.json']);
    expect(PACKAGE.exports['./infra']).toEqual({
      types: './dist/types/infra/index.d.ts',
      default: './dist/infra/index.js',
    });
    expect(PACKAGE.files).toEqual(expect.arrayContaining(['dist/', 'infra/k8s/']));
    expect(Object.keys(PACKAGE.peerDependencies)).toEqual(['aws-cdk-lib', 'constructs', 'esbuild']);
    // Optional: the CLI needs none of them; a CDK app adds aws-cdk-lib and constructs, and esbuild only for `entry`.
    for (const peer of Object.keys(PACKAGE.peerDependencies))
      expect(PACKAGE.peerDependenciesMeta[peer], peer).toEqual({ optional: true });
    // The README's install line for a CDK app names the peers the app needs.
    expect(readFileSync(path.join(ROOT, 'README.md'), 'utf8')).toMatch(
      /npm install contrast-autorecover aws-cdk-lib constructs/,
    );
  });
});
