// The node arguments `npm test` and `npm run test:faults` run test files with (shared so a test can run
// the runner exactly as they do).
import { fileURLToPath } from 'node:url';

export const STDIO_PRELOAD = fileURLToPath(new URL('./test-stdio.mjs', import.meta.url));

/** @param {string[]} files @param {{ concurrency?: number | string, reporter?: string }} [opts] */
export function testRunnerArgs(files, opts = {}) {
  return [
    '--import',
    'tsx',
    '--import',
    STDIO_PRELOAD,
    '--test',
    `--test-concurrency=${opts.concurrency ?? 1}`,
    `--test-reporter=${opts.reporter ?? 'spec'}`,
    // A file whose before-hook failed must not hang on a server it left open; the harness stops what it
    // started, and this is the second guard. STDIO_PRELOAD keeps it from cutting a file's report short.
    '--test-force-exit',
    ...files,
  ];
}
