// Runs every test/**/*.test.ts with node's test runner (Node 20's --test does not expand globs).
// Usage: npm test [-- substring ...]   e.g. npm test -- infra   runs only files whose path contains "infra".
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { testRunnerArgs } from './test-args.mjs';

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? find(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : [],
  );
}
const filters = process.argv.slice(2);
const files = find('test')
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(', ')}`);
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  testRunnerArgs(files, { concurrency: process.env.TEST_CONCURRENCY ?? 1 }),
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
