/**
 * The leased rate-limit budget (app/src/auth/budget.ts) against real Redis, with several limiters standing
 * in for several API processes (each with its own connection). Pins the documented bound: never more than
 * the limit per window across processes; with one process exactly the limit; refused early by at most
 * (processes − 1) × the lease; and far fewer Redis round trips than requests.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { LeasedRateLimiter, leaseSize } from '../../app/src/auth/budget.ts';
import { loadConfig } from '../../app/src/config.ts';
import { startTestApp } from '../harness/app.ts';
import { startTestServices, type TestServices } from '../harness/services.ts';

let services: TestServices;
const clients: Redis[] = [];
before(async () => {
  services = await startTestServices();
});
after(async () => {
  for (const c of clients) c.disconnect();
  await services?.stop();
});

const connect = () => {
  const c = new Redis(services.redisUrl);
  clients.push(c);
  return c;
};

/** Sends `n` consumes spread round-robin over the limiters, in waves of `wave` concurrent requests. */
async function admitted(limiters: LeasedRateLimiter[], id: string, limit: number, n: number, wave = 16) {
  let ok = 0;
  for (let i = 0; i < n; i += wave) {
    const batch = Array.from({ length: Math.min(wave, n - i) }, (_, k) =>
      limiters[(i + k) % limiters.length]!.consume(id, limit),
    );
    for (const d of await Promise.all(batch)) if (d.allowed) ok++;
  }
  return ok;
}

async function evalCalls(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  return Number(/cmdstat_eval:calls=(\d+)/.exec(info)?.[1] ?? 0);
}

describe('leaseSize', () => {
  test('1 for small limits (exact per request), about 1 % of larger ones, at most 64', () => {
    assert.equal(leaseSize(1), 1);
    assert.equal(leaseSize(199), 1);
    assert.equal(leaseSize(1000), 10);
    assert.equal(leaseSize(6000), 60);
    assert.equal(leaseSize(10_000_000), 64);
  });
});

describe('LeasedRateLimiter on real Redis', () => {
  test('one process admits exactly the limit in a window, with far fewer Redis calls than requests', async () => {
    const redis = connect();
    const clock = { t: 1_000_000 * 60_000 };
    const limiter = new LeasedRateLimiter(redis, 60_000, () => clock.t);
    const before = await evalCalls(redis);
    assert.equal(await admitted([limiter], 'one', 1000, 1100), 1000);
    const calls = (await evalCalls(redis)) - before;
    assert.ok(calls <= 1000 / leaseSize(1000) + 20, `${calls} Redis calls for 1100 requests`);
    const denied = await limiter.consume('one', 1000);
    assert.equal(denied.allowed, false);
    assert.equal(denied.remaining, 0);
    assert.ok(denied.resetMs > 0 && denied.resetMs <= 60_000);
  });

  test('three processes never pass the limit together and are refused early by at most 2 × the lease', async () => {
    const clock = { t: 2_000_000 * 60_000 };
    const limiters = [0, 1, 2].map(() => new LeasedRateLimiter(connect(), 60_000, () => clock.t));
    for (const limit of [1000, 50, 6400]) {
      const id = `three-${limit}`;
      const ok = await admitted(limiters, id, limit, limit + 300);
      assert.ok(ok <= limit, `${ok} admitted over a limit of ${limit}`);
      assert.ok(ok >= limit - 2 * leaseSize(limit), `${ok} admitted of ${limit} (lease ${leaseSize(limit)})`);
    }
  });

  test('a new window starts a new budget; remaining counts down within one', async () => {
    const clock = { t: 3_000_000 * 60_000 + 59_000 };
    const limiter = new LeasedRateLimiter(connect(), 60_000, () => clock.t);
    const first = await limiter.consume('win', 3);
    assert.deepEqual([first.allowed, first.remaining, first.resetMs], [true, 2, 1000]);
    assert.equal(await admitted([limiter], 'win', 3, 5), 2);
    clock.t += 1000;
    assert.equal(await admitted([limiter], 'win', 3, 5), 3);
  });

  test('consumeNow decides from the lease without Redis, and hands back the lease to wait for otherwise', async () => {
    const redis = connect();
    const clock = { t: 5_000_000 * 60_000 };
    const limiter = new LeasedRateLimiter(redis, 60_000, () => clock.t);
    const first = limiter.consumeNow('now', 1000);
    assert.ok('lease' in first, 'nothing leased yet: Redis must be asked');
    await first.lease;
    const before = await evalCalls(redis);
    for (let i = 0; i < leaseSize(1000) / 2; i++) {
      const d = limiter.consumeNow('now', 1000);
      assert.ok(!('lease' in d) && d.allowed, `request ${i} decided at once from the lease`);
    }
    assert.equal((await evalCalls(redis)) - before, 0, 'no Redis call while half the lease is left');
    // The limit's last tokens: once Redis says the window is spent, the refusal is decided at once too.
    assert.equal(await admitted([limiter], 'now', 1000, 1100), 1000 - leaseSize(1000) / 2);
    const refused = limiter.consumeNow('now', 1000);
    assert.ok(!('lease' in refused) && !refused.allowed);
  });

  test('keys and limits are budgeted separately', async () => {
    const clock = { t: 4_000_000 * 60_000 };
    const limiter = new LeasedRateLimiter(connect(), 60_000, () => clock.t);
    assert.equal(await admitted([limiter], 'a', 2, 4), 2);
    assert.equal(await admitted([limiter], 'b', 2, 4), 2);
    assert.equal(await admitted([limiter], 'a', 5, 6), 5);
  });
});

describe('through the app, as it runs in production (default RATE_LIMIT_WINDOW_SECONDS, leases > 1)', () => {
  test('a key with a limit of 500 (lease 5) gets exactly 500 requests per window, then 429 with Retry-After', async () => {
    const windowMs = loadConfig({}).RATE_LIMIT_WINDOW_SECONDS * 1000;
    const limit = 500;
    assert.ok(leaseSize(limit) > 1, 'the leased path, not one Redis call per request');
    const app = await startTestApp(services);
    try {
      // All requests in one fixed window: start early in one if the current one is nearly over.
      const left = windowMs - (Date.now() % windowMs);
      if (left < windowMs / 4) await new Promise((r) => setTimeout(r, left + 50));
      const { key } = await app.service.keys.create('leased', { rateLimit: limit });
      const statuses: number[] = [];
      let refused: Response | undefined;
      for (let i = 0; i < limit + 40; i += 20) {
        const wave = await Promise.all(
          Array.from({ length: 20 }, () =>
            app.call('/v1/text/classify', { method: 'POST', json: { text: 'hello' }, key }),
          ),
        );
        for (const res of wave) {
          statuses.push(res.status);
          if (res.status === 429) refused = res;
          await res.arrayBuffer();
        }
      }
      const count = (s: number) => statuses.filter((x) => x === s).length;
      assert.deepEqual([count(200), count(429)], [limit, 40], 'one process admits exactly the limit');
      assert.equal(refused!.headers.get('ratelimit-remaining'), '0');
      const retry = Number(refused!.headers.get('retry-after'));
      assert.ok(retry >= 1 && retry <= windowMs / 1000, `Retry-After ${retry}`);
    } finally {
      await app.close();
    }
  });
});
