/**
 * Local services (npm start and the test harness): a missing prerequisite fails at once with its install
 * command, starts nothing and leaves nothing running, so a test file cannot hang on a half-started harness.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { MissingServiceError, startLocalServices } from '../../app/src/local/services.ts';

const scratch = mkdtempSync(join(tmpdir(), 'clawstack-prereq-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A PATH with the shell tools the harness uses, and without redis-server. */
function pathWithoutRedis(): string {
  const bin = join(scratch, 'bin');
  if (existsSync(bin)) return bin;
  spawnSync('mkdir', ['-p', bin]);
  for (const tool of ['sh', 'ls', 'sort', 'tail', 'id', 'mkdir']) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    if (found) symlinkSync(found, join(bin, tool));
  }
  return bin;
}

describe('startLocalServices without redis-server', () => {
  test('throws MissingServiceError with the install command and starts no Postgres', async () => {
    const saved = process.env.PATH;
    process.env.PATH = pathWithoutRedis();
    try {
      await assert.rejects(
        startLocalServices({ redis: join(scratch, 'r'), postgres: join(scratch, 'pg') }),
        (err: unknown) =>
          err instanceof MissingServiceError && /apt-get install -y redis-server/.test(err.message),
      );
    } finally {
      process.env.PATH = saved;
    }
    assert.equal(existsSync(join(scratch, 'pg')), false, 'Postgres was not initialised');
  });

  // The harness (S3 + Redis + Postgres), and the fault runner's own stack (Redis and Postgres on fixed
  // ports, started side by side): each test file's process must end on its own, with the hint.
  for (const file of ['test/app/s3-source.test.ts', 'test/faults/faults.run.ts']) {
    test(`${file}, which starts services, fails and exits, printing the hint`, () => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', file], {
        // NODE_TEST_CONTEXT would make the child report into this run instead of exiting on its own
        env: { ...process.env, PATH: pathWithoutRedis(), NODE_TEST_CONTEXT: undefined },
        encoding: 'utf8',
        timeout: 90_000, // a hang is the defect; the file itself exits in a few seconds
      });
      assert.equal(r.signal, null, `killed after the timeout: the file hung\n${r.stdout}`);
      assert.notEqual(r.status, 0);
      assert.match(r.stdout + r.stderr, /apt-get install -y redis-server/);
    });
  }
});
