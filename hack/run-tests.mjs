#!/usr/bin/env node
// `npm test`: type-check and compile, build the dashboard bundle, then run every *.test.js under dist with node's test runner.
// Usage: npm test [-- PATTERN...]   (substrings of test file paths to select)
// The fault-injection suite (test/faults) runs only with --faults (`npm run test:faults`), and then alone.
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
// A clean build: tsc never removes the output of a source file that was moved or deleted.
rmSync(join(root, 'dist'), { recursive: true, force: true });
const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
// The dashboard bundle the server serves (the browser tests load it).
const dashboard = spawnSync(process.execPath, [join(root, 'hack', 'build-dashboard.mjs')], { cwd: root, stdio: 'inherit' });
if (dashboard.status !== 0) process.exit(dashboard.status ?? 1);

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}
const faults = process.argv.includes('--faults');
const patterns = process.argv.slice(2).filter((a) => a !== '--faults');
const faultsDir = join('dist', 'test', 'faults') + '/';
const files = find(join(root, 'dist'))
  .filter((f) => relative(root, f).startsWith(faultsDir) === faults)
  .filter((f) => patterns.length === 0 || patterns.some((p) => relative(root, f).includes(p)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const run = spawnSync(
  process.execPath,
  ['--enable-source-maps', '--test', '--test-timeout=300000', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
  { cwd: root, stdio: 'inherit' },
);
process.exit(run.status ?? 1);
