/**
 * What counts as "Redis or Postgres is down" (a 503 and a retry) versus a bug (a 500), judged on the
 * errors real clients raise; and the monitor that makes readiness follow a real Redis going away.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import pino from 'pino';
import { DependencyMonitor, isDependencyError, withTimeout } from '../../app/src/health/dependencies.ts';
import { freePort, startRedis } from '../../app/src/local/services.ts';

const dir = mkdtempSync(join(tmpdir(), 'clawstack-deps-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('errors of clients that cannot reach their server are dependency errors', async () => {
  const port = await freePort(); // nothing listens there
  const client = new pg.Client({ connectionString: `postgres://x@127.0.0.1:${port}/x` });
  const pgErr = await client.connect().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(isDependencyError(pgErr), String(pgErr));

  const redis = new Redis(`redis://127.0.0.1:${port}`, {
    maxRetriesPerRequest: 1,
    retryStrategy: (n) => (n > 2 ? null : 10),
  });
  redis.on('error', () => {});
  const redisErr = await redis.ping().then(
    () => undefined,
    (e: unknown) => e,
  );
  redis.disconnect();
  assert.ok(isDependencyError(redisErr), String(redisErr));
  assert.ok(isDependencyError(new Error('x', { cause: pgErr })), 'a wrapped one too');
});

test('query mistakes, bugs and non-errors are not', () => {
  assert.equal(
    isDependencyError(Object.assign(new Error('syntax error at or near "x"'), { code: '42601' })),
    false,
  );
  assert.equal(isDependencyError(new TypeError("Cannot read properties of undefined (reading 'x')")), false);
  assert.equal(isDependencyError(undefined), false);
  assert.equal(isDependencyError('ECONNREFUSED'), false);
});

test('withTimeout rejects a probe that never answers', async () => {
  await assert.rejects(withTimeout(new Promise(() => {}), 50), /timed out after 50 ms/);
  assert.equal(await withTimeout(Promise.resolve(7), 50), 7);
});

test('the monitor reports Redis down while it is stopped and up again once it is back', async () => {
  const port = await freePort();
  let server = await startRedis(join(dir, 'r'), { port });
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  redis.on('error', () => {});
  const changes: [boolean, string][] = [];
  const monitor = new DependencyMonitor([{ name: 'redis', probe: () => redis.ping() }], {
    intervalMs: 100,
    timeoutMs: 300,
    log: pino({ level: 'silent' }),
    onChange: (healthy, reason) => changes.push([healthy, reason]),
  });
  await monitor.check();
  assert.equal(monitor.healthy, true);
  await server.stop();
  await monitor.check();
  assert.equal(monitor.healthy, false);
  assert.equal(monitor.reason, 'redis unreachable');
  server = await startRedis(join(dir, 'r'), { port });
  for (let i = 0; i < 50 && !monitor.healthy; i++) {
    await sleep(100);
    await monitor.check();
  }
  assert.equal(monitor.healthy, true);
  assert.deepEqual(changes, [
    [false, 'redis unreachable'],
    [true, ''],
  ]);
  redis.disconnect();
  await server.stop();
});

test('a blocked event loop is not a dependency timing out: the answer that arrived meanwhile wins', async () => {
  const server = await startRedis(join(dir, 'blocked'));
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
  try {
    await redis.ping(); // connected
    const probe = withTimeout(redis.ping(), 50);
    const until = Date.now() + 300; // Redis answers within this; our loop reads it only afterwards
    while (Date.now() < until);
    assert.equal(await probe, 'PONG');
  } finally {
    redis.disconnect();
    await server.stop();
  }
});
