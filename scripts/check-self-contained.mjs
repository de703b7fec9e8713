#!/usr/bin/env node
// Fails when a tracked file refers to a path outside the checkout: a relative path that climbs
// above the repository root, an absolute path into this machine's workplace, or a design note
// that lives only beside the checkout. `.ci/run` runs it, so a fresh clone stays self-contained.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const root = execFileSync('git', ['rev-parse', '--show-toplevel'], { encoding: 'utf8' }).trim();
const files = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' }).split('\0').filter(Boolean);
const TEXT = /\.(ts|mts|mjs|js|json|md|ya?ml|proto|sh|txt)$|(^|\/)(run|\.gitignore)$/;
const SKIP = [/^package-lock\.json$/, /^lambda\/gen\//, /^test\/fixtures\/.*\.(bin|der|dat)$/];
const climbing = /(?:^|[\s'"`(=:<[])((?:\.\.\/)+[\w.@-][\w./@-]*)/g;
const absolute = /(?:^|[\s'"`(=])(\/(?:work|home|root|Users)\/[\w./@-]+)/g;
const notes = /\b(PROTOCOL\.md|ARCHITECTURE\.md|SEED-RUNBOOK\.md)\b/g;

const problems = [];
for (const rel of files) {
  if (!TEXT.test(rel) || SKIP.some((re) => re.test(rel))) continue;
  const text = readFileSync(path.join(root, rel), 'utf8');
  text.split('\n').forEach((line, i) => {
    const at = `${rel}:${i + 1}`;
    for (const m of line.matchAll(climbing)) {
      const target = path.resolve(path.dirname(path.join(root, rel)), m[1]);
      if (target !== root && !target.startsWith(root + path.sep)) problems.push(`${at}: ${m[1]} leaves the repository`);
    }
    for (const m of line.matchAll(absolute)) problems.push(`${at}: ${m[1]} is an absolute path on one machine`);
    for (const m of line.matchAll(notes)) problems.push(`${at}: ${m[1]} is not part of the repository (see docs/)`);
  });
}
if (problems.length) {
  process.stderr.write(
    `${problems.length} reference(s) to paths outside the checkout:\n${problems.map((p) => `  ${p}`).join('\n')}\n`,
  );
  process.exit(1);
}
process.stdout.write(`self-contained: ${files.length} tracked files refer to nothing outside the checkout\n`);
