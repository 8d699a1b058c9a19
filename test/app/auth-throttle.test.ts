/** Brute force: failed authentications are throttled per client address; valid keys are unaffected. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../app/src/config.ts';
import { startTestApp, useTestApp } from '../harness/app.ts';

const app = useTestApp({ AUTH_FAILURES_PER_MINUTE: '5', AUTH_CACHE_MS: '0' });

const classify = (key: string | null) =>
  app.call('/v1/text/classify', { method: 'POST', json: { text: 'hello' }, key });

test('a valid key is never counted as a failure', async () => {
  for (let i = 0; i < 8; i++) assert.equal((await classify(app.key)).status, 200);
});

test('after 5 failed attempts from one address, it gets 429 with Retry-After, even with a valid key', async () => {
  for (let i = 0; i < 5; i++) {
    const res = await classify(`cs_guess_${i}_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`);
    assert.equal(res.status, 401, `attempt ${i + 1}`);
  }
  const blocked = await classify('cs_guess_6_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
  assert.equal(blocked.status, 429);
  assert.match(((await blocked.json()) as { error: string }).error, /too many failed authentications/);
  const retry = Number(blocked.headers.get('retry-after'));
  assert.ok(retry > 0 && retry <= 60, `Retry-After ${retry}`);
  // The address is blocked, so guessing right no longer helps it either (for the block's minute).
  assert.equal((await classify(app.key)).status, 429);
  // Health stays open: probes come from the same addresses as clients.
  assert.equal((await fetch(`${app.url}/v2/health/live`)).status, 200);
});

test('behind a trusted proxy (TRUST_PROXY), each forwarded client address is throttled on its own', async () => {
  const proxied = await startTestApp(app.services, {
    AUTH_FAILURES_PER_MINUTE: '3',
    TRUST_PROXY: 'loopback',
  });
  try {
    const from = (ip: string, key: string) =>
      proxied.call('/v1/text/classify', {
        method: 'POST',
        json: { text: 'hello' },
        key,
        headers: { 'x-forwarded-for': ip },
      });
    for (let i = 0; i < 3; i++)
      assert.equal((await from('203.0.113.9', `cs_bad_${i}_xxxxxxxxxxxxxxxxxxxx`)).status, 401);
    assert.equal((await from('203.0.113.9', 'cs_bad_x_xxxxxxxxxxxxxxxxxxxx')).status, 429);
    assert.equal(
      (await from('198.51.100.20', proxied.key)).status,
      200,
      'another client behind the same proxy',
    );
  } finally {
    await proxied.close();
  }
});

test('at the default AUTH_CACHE_MS, an address held as clear by a valid request is blocked by its own failures at once', async () => {
  // As in production: AUTH_CACHE_MS not set (its default), so the clear-cache is on.
  const prod = await startTestApp(app.services, { AUTH_FAILURES_PER_MINUTE: '3', TRUST_PROXY: 'loopback' });
  try {
    assert.ok(loadConfig({}).AUTH_CACHE_MS > 0, 'the clear-cache is on by default');
    const from = (key: string) =>
      prod.call('/v1/text/classify', {
        method: 'POST',
        json: { text: 'hello' },
        key,
        headers: { 'x-forwarded-for': '192.0.2.55' },
      });
    // A valid request: the address is now cached as unblocked for AUTH_CACHE_MS.
    assert.equal((await from(prod.key)).status, 200);
    for (let i = 0; i < 3; i++)
      assert.equal((await from(`cs_bad_${i}_yyyyyyyyyyyyyyyyyyyy`)).status, 401, `failure ${i + 1}`);
    // Well inside AUTH_CACHE_MS of the valid request: the block must not wait for the cache entry to end.
    assert.equal((await from('cs_bad_x_yyyyyyyyyyyyyyyyyyyy')).status, 429);
    assert.equal((await from(prod.key)).status, 429, 'a valid key from a blocked address');
  } finally {
    await prod.close();
  }
});

test('with a clear-cache, an unblocked address costs no Redis read per request; a block elsewhere arrives within the cache time', async () => {
  const { Redis } = await import('ioredis');
  const { FailedAuthThrottle } = await import('../../app/src/auth/failed-auth.ts');
  const [ra, rb] = [new Redis(app.services.redisUrl), new Redis(app.services.redisUrl)];
  try {
    const CACHE_MS = loadConfig({}).AUTH_CACHE_MS; // the production default
    const a = new FailedAuthThrottle(ra, 3, CACHE_MS); // two API processes sharing Redis
    const b = new FailedAuthThrottle(rb, 3, CACHE_MS);
    const req = { ip: '198.51.100.77' } as unknown as Parameters<typeof a.check>[0];
    const reads = async () => Number(/cmdstat_get:calls=(\d+)/.exec(await rb.info('commandstats'))?.[1] ?? 0);
    const before = await reads();
    for (let i = 0; i < 50; i++) await b.check(req);
    const clearSince = performance.now();
    assert.ok((await reads()) - before <= 2, 'one Redis read for 50 checks of an unblocked address');
    for (let i = 0; i < 3; i++) await a.failed(req);
    await assert.rejects(a.check(req), /too many failed authentications/, 'blocked at once where it failed');
    // Still clear in b's cache: the block elsewhere is not seen before the entry ends (unless a loaded
    // machine took half the cache time to get here).
    if (performance.now() - clearSince < CACHE_MS / 2) await b.check(req);
    // b cached the address as clear at its last check, before the block: that entry ends within CACHE_MS.
    await new Promise((r) => setTimeout(r, CACHE_MS + 10));
    await assert.rejects(b.check(req), /too many failed authentications/, 'the other process sees the block');
  } finally {
    ra.disconnect();
    rb.disconnect();
  }
});
