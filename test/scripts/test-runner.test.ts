/**
 * `npm test`'s runner loses no verdict. With --test-force-exit, a test file's child used to exit while its
 * report still sat in the pipe to the runner, and the run passed with the file's last tests missing
 * (nodejs/node#64833; one CI run here reported 8 fewer tests than ran). This runs the runner exactly as
 * `npm test` does on a file whose last test stops the runner (SIGSTOP) for a while, so the child fills
 * the pipe and finishes before the runner reads on.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { testRunnerArgs } from '../../scripts/test-args.mjs';

const TESTS = 200;
/**
 * The last test stops the runner (its parent) before its own verdict, whose 100 KB name outgrows the
 * 64 KB pipe: without the fix the child then exits with that verdict still queued in its process.
 */
const FIXTURE = `import { test } from 'node:test';
for (let i = 1; i < ${TESTS}; i++) test('t' + i, () => {});
test('t${TESTS} ' + 'x'.repeat(100_000), () => process.kill(process.ppid, 'SIGSTOP'));
`;

const stopped = (pid: number) => {
  try {
    return /^\d+ \(.*\) T /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

/** Runs the runner on `file` as npm test does; once it is stopped, resumes it `pauseMs` later. */
async function runStopped(file: string, pauseMs: number) {
  const child = spawn(process.execPath, testRunnerArgs([file]), {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_TEST_CONTEXT: undefined }, // else node:test sees a nested run and skips it
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => (out += chunk));
  const closed = new Promise<number | null>((res) => child.on('close', res));
  let wasStopped = false;
  for (let waited = 0; waited < 45_000 && child.exitCode === null; waited += 20) {
    if (stopped(child.pid!)) {
      wasStopped = true;
      await sleep(pauseMs);
      break;
    }
    await sleep(20);
  }
  child.kill('SIGCONT');
  // Without the fix the runner can also wait forever for the rest of a message that never comes.
  const deadline = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await closed;
  clearTimeout(deadline);
  return { out, code, wasStopped };
}

test('every verdict of a test file reaches the report, even when the runner reads late', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'runner-'));
  try {
    const file = join(dir, 'many.test.mjs');
    writeFileSync(file, FIXTURE);
    const { out, code, wasStopped } = await runStopped(file, 1500);
    assert.ok(wasStopped, 'the fixture stopped the runner');
    const verdicts = out.split('\n').filter((l) => /^\s*✔ t\d+/.test(l));
    assert.equal(
      verdicts.length,
      TESTS,
      `the report has ${verdicts.length} of ${TESTS} verdicts (exit code ${code}, ${out.length} characters):\n${out.slice(0, 500)}`,
    );
    assert.equal(code, 0);
    assert.match(out, new RegExp(`^ℹ pass ${TESTS}$`, 'm'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
