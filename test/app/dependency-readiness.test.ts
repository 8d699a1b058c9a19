/**
 * Readiness follows Redis and Postgres, not this process's own stalls: the real service (in-process,
 * real Redis and Postgres) keeps answering 200 when a probe to a silent Redis times out while its event
 * loop is blocked for 2 s, even at a threshold of one timeout (the lag rule; the test checks that the
 * probe really timed out during the stall); and a killed Redis is a 503 at the next probe round, with
 * the default threshold, because a refused connection is certain.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { startRedis, type LocalService } from '../../app/src/local/services.ts';
import { startTestApp, type TestApp } from '../harness/app.ts';
import { startTestServices, type TestServices } from '../harness/services.ts';
import { nextCommand } from '../harness/redis-monitor.ts';

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

test('a probe that times out while the event loop is blocked is not an outage: readiness stays 200 (threshold 1)', async () => {
  // Its own Redis: the test holds every client's commands on it for a while.
  const redis = await startRedis(join(dir, 'redis-lag'));
  const app = await startTestApp({ ...services, redisUrl: redis.url }, { DEPENDENCY_FAILURE_THRESHOLD: '1' });
  const admin = new Redis(redis.url);
  try {
    assert.equal(await ready(app), 200);
    // Probe n is answered at t0; probe n+1 (due t0 + 1 s, deadline t0 + 2 s) is sent into a Redis that
    // holds it (CLIENT PAUSE until t0 + 3.6 s); this process then blocks from t0 + 1.4 s to t0 + 3.4 s,
    // so that probe's timer fires ≈ 1.4 s late, while Redis still has not answered: a real timeout,
    // and one the event loop's stall caused. Threshold 1 would turn it into a 503 if it counted.
    const notCounted = () =>
      app.logs.filter((l) => l.msg === 'probe timed out while the event loop lagged: not counted');
    // On a loaded machine the stall may miss the probe (it started late, or our sleep overslept its
    // deadline): such a round proves nothing and is run again, up to three times.
    for (let round = 1; round <= 3; round++) {
      const [downBefore, notCountedBefore] = [downLogs(app).length, notCounted().length];
      const t0 = await nextCommand(redis.url, 'ping'); // the app's Redis probe: one a second
      await admin.call('CLIENT', 'PAUSE', String(Math.max(0, t0 + 3600 - Date.now())), 'ALL');
      await sleep(Math.max(0, t0 + 1400 - Date.now()));
      const blockedAt = Date.now();
      while (Date.now() < t0 + 3400);
      const seen = await watch(app, 2500);
      if (blockedAt > t0 + 1900) continue; // the probe's deadline passed before the stall began
      const caught = notCounted().length > notCountedBefore;
      if (!caught && seen.every((s) => s === 200)) continue; // no probe was in flight
      assert.deepEqual(
        seen.filter((s) => s !== 200),
        [],
      );
      assert.deepEqual(downLogs(app).slice(downBefore), []);
      break;
    }
    // The stall really caught a probe in flight (otherwise this test would prove nothing).
    assert.ok(notCounted().length >= 1, 'a probe timed out during the stall');
    assert.equal(notCounted()[0]?.dependency, 'redis');
  } finally {
    admin.disconnect();
    await app.close();
    await redis.stop();
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
