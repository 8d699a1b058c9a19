/**
 * Readiness follows Redis and Postgres, not this process's own stalls: the real service (in-process,
 * real Redis and Postgres) keeps answering 200 across a 2 s blocked event loop, even when one probe
 * timeout would be enough to mark a dependency down; and a killed Redis is a 503 at the next probe
 * round, with the default threshold, because a refused connection is certain.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { startRedis, type LocalService } from '../../app/src/local/services.ts';
import { startTestApp, type TestApp } from '../harness/app.ts';
import { startTestServices, type TestServices } from '../harness/services.ts';

let services: TestServices;
const dir = mkdtempSync(join(tmpdir(), 'clawstack-readiness-'));
before(async () => {
  services = await startTestServices();
});
after(async () => {
  await services?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const ready = (app: TestApp) =>
  fetch(`${app.url}/v2/health/ready`, { signal: AbortSignal.timeout(5000) }).then((r) => r.status);

/** Readiness every 100 ms for `ms`: the statuses seen, in order. */
async function watch(app: TestApp, ms: number): Promise<number[]> {
  const seen: number[] = [];
  for (const until = Date.now() + ms; Date.now() < until; await sleep(100)) seen.push(await ready(app));
  return seen;
}

const downLogs = (app: TestApp) => app.logs.filter((l) => l.msg === 'dependency is down');

test('a 2 s blocked event loop is not a dependency outage: readiness stays 200 (threshold 1)', async () => {
  const app = await startTestApp(services, { DEPENDENCY_FAILURE_THRESHOLD: '1' });
  try {
    assert.equal(await ready(app), 200);
    // Blocks spread over the probe cycle (1 s), so some stall lands while a probe is in flight.
    const seen: number[] = [];
    for (const offsetMs of [0, 350, 700]) {
      await sleep(offsetMs);
      const until = Date.now() + 2000;
      while (Date.now() < until);
      seen.push(...(await watch(app, 2500)));
    }
    assert.deepEqual(
      seen.filter((s) => s !== 200),
      [],
    );
    assert.deepEqual(downLogs(app), []);
  } finally {
    await app.close();
  }
});

test('a killed Redis is a 503 at the next probe round (default threshold), and 200 once it is back', async () => {
  let redis: LocalService = await startRedis(join(dir, 'redis'));
  const port = Number(new URL(redis.url).port);
  const app = await startTestApp({ ...services, redisUrl: redis.url });
  try {
    assert.equal(await ready(app), 200);
    process.kill(redis.pid, 'SIGKILL');
    const killedAt = Date.now();
    await redis.stop();
    let status = 200;
    while (status !== 503 && Date.now() - killedAt < 10_000) {
      await sleep(50);
      status = await ready(app);
    }
    const ms = Date.now() - killedAt;
    assert.equal(status, 503);
    // One probe interval (1 s) and a round; a timeout-only verdict would take three rounds.
    assert.ok(ms < 2500, `503 after ${ms} ms`);
    assert.match(String(downLogs(app)[0]?.why), /Connection is closed|ECONNREFUSED|MaxRetriesPerRequest/);

    redis = await startRedis(join(dir, 'redis'), { port });
    while (status !== 200 && Date.now() - killedAt < 30_000) {
      await sleep(100);
      status = await ready(app);
    }
    assert.equal(status, 200);
  } finally {
    await app.close();
    await redis.stop();
  }
});
