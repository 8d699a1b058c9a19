/** Brute force: failed authentications are throttled per client address; valid keys are unaffected. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
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

test('with a clear-cache, an unblocked address costs no Redis read per request; a block elsewhere arrives within the cache time', async () => {
  const { Redis } = await import('ioredis');
  const { FailedAuthThrottle } = await import('../../app/src/auth/failed-auth.ts');
  const [ra, rb] = [new Redis(app.services.redisUrl), new Redis(app.services.redisUrl)];
  try {
    const CACHE_MS = 400;
    const a = new FailedAuthThrottle(ra, 3, CACHE_MS); // two API processes sharing Redis
    const b = new FailedAuthThrottle(rb, 3, CACHE_MS);
    const req = { ip: '198.51.100.77' } as unknown as Parameters<typeof a.check>[0];
    const reads = async () => Number(/cmdstat_get:calls=(\d+)/.exec(await rb.info('commandstats'))?.[1] ?? 0);
    const before = await reads();
    for (let i = 0; i < 50; i++) await b.check(req);
    assert.ok((await reads()) - before <= 2, 'one Redis read for 50 checks of an unblocked address');
    for (let i = 0; i < 3; i++) await a.failed(req);
    await assert.rejects(a.check(req), /too many failed authentications/, 'blocked at once where it failed');
    // b cached the address as clear at its last check, before the block: that entry ends within CACHE_MS.
    await new Promise((r) => setTimeout(r, CACHE_MS + 10));
    await assert.rejects(b.check(req), /too many failed authentications/, 'the other process sees the block');
  } finally {
    ra.disconnect();
    rb.disconnect();
  }
});
