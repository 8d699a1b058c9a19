/** API keys (hashed, CLI-managed, rotation grace) and per-key rate limits. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { hashKey } from '../../app/src/store/keys.ts';
import { useTestApp } from '../harness/app.ts';

const app = useTestApp({
  AUTH_CACHE_MS: '0',
  RATE_LIMIT_REQUESTS: '5',
  RATE_LIMIT_WINDOW_SECONDS: '3',
});

const classify = (key: string | null, headers: Record<string, string> = {}) =>
  app.call('/v1/text/classify', { method: 'POST', json: { text: 'hello there' }, key, headers });

/**
 * Runs the keys CLI as its own process, asynchronously: the app under test runs in this process, and a
 * spawnSync would block its event loop for the CLI's start-up (seconds on a loaded machine), long enough
 * for the dependency monitor's probe to time out and readiness to answer 503 (CI saw exactly that).
 */
async function keysCli(...args: string[]) {
  const r = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'app/src/cli/keys.ts', ...args, '--json'],
    {
      env: { ...process.env, DATABASE_URL: app.service.db.options.connectionString! },
      encoding: 'utf8',
    },
  ).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof e.code === 'number' ? e.code : 1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
    }),
  );
  return {
    code: r.code,
    out: r.stdout,
    err: r.stderr,
    json: () => JSON.parse(r.stdout) as Record<string, unknown>,
  };
}

describe('authentication', () => {
  test('no key → 401 JSON on every protected route; health is open', async () => {
    for (const [method, path] of [
      ['GET', '/v2'],
      ['GET', '/v2/models/text-spam'],
      ['POST', '/v1/text/classify'],
      ['POST', '/v1/jobs'],
      ['GET', '/v1/jobs'],
    ]) {
      const res = await app.call(path!, { method, key: null });
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.match(((await res.json()) as { error: string }).error, /missing API key/);
    }
    assert.equal((await app.call('/v2/health/ready', { key: null })).status, 200);
  });

  test('Bearer and x-api-key both work; a wrong key is 401', async () => {
    const { key } = await app.service.keys.create('headers');
    assert.equal((await classify(key)).status, 200);
    assert.equal((await classify(null, { 'x-api-key': key })).status, 200);
    const wrong = await classify('cs_not-a-real-key-at-all-0000000000');
    assert.equal(wrong.status, 401);
    assert.match(((await wrong.json()) as { error: string }).error, /invalid, expired or revoked/);
  });

  test('request logs never contain the key (nor any header)', async () => {
    const { key } = await app.service.keys.create('log-check');
    await classify(key);
    await classify(null, { 'x-api-key': key });
    const lines = app.logs.filter((l) => l.msg === 'request completed');
    assert.ok(lines.length >= 2, 'requests are logged');
    assert.ok(!JSON.stringify(app.logs).includes(key), 'the key appears in no log line');
    assert.deepEqual(Object.keys(lines.at(-1)!.req as object).sort(), [
      'id',
      'method',
      'remoteAddress',
      'url',
    ]);
  });

  test('keys are stored hashed, never in clear', async () => {
    const { key, info } = await app.service.keys.create('hash-check');
    const row = await app.service.db.query('SELECT * FROM api_keys WHERE id = $1', [info.id]);
    const values = Object.values(row.rows[0] as Record<string, unknown>).map(String);
    assert.ok(!values.includes(key));
    assert.ok(values.includes(hashKey(key)));
  });
});

describe('keys CLI', () => {
  test('create → list → rotate (old key valid during the grace period, then not) → revoke', async () => {
    const created = await keysCli('create', '--name', 'cli-user');
    assert.equal(created.code, 0, created.err);
    const first = created.json();
    const oldKey = String(first.key);
    assert.equal((await classify(oldKey)).status, 200);

    const list = await keysCli('list');
    assert.equal(list.code, 0, list.err);
    const listed = JSON.parse(list.out) as { prefix: string; name: string }[];
    assert.ok(listed.some((k) => k.name === 'cli-user' && oldKey.startsWith(k.prefix)));
    assert.ok(!list.out.includes(oldKey), 'list never prints a full key');

    const rotated = await keysCli('rotate', String(first.id), '--grace', '3');
    assert.equal(rotated.code, 0, rotated.err);
    const newKey = String(rotated.json().key);
    assert.notEqual(newKey, oldKey);
    assert.equal((await classify(newKey)).status, 200, 'new key works');
    assert.equal((await classify(oldKey)).status, 200, 'old key still works during the grace period');
    await sleep(3500);
    assert.equal((await classify(oldKey)).status, 401, 'old key expired after the grace period');
    assert.equal((await classify(newKey)).status, 200);

    // Jobs follow the key's name across rotation.
    const revoked = await keysCli('revoke', newKey.slice(0, 10));
    assert.equal(revoked.code, 0, revoked.err);
    assert.equal((await classify(newKey)).status, 401, 'revoked key is refused');
  });

  test('CLI errors are clear and non-zero', async () => {
    const r = await keysCli('revoke', 'no-such-key');
    assert.notEqual(r.code, 0);
    assert.match(r.err, /no API key "no-such-key"/);
    const u = await keysCli('frobnicate');
    assert.notEqual(u.code, 0);
    assert.match(u.err, /unknown command/);
  });
});

describe('rate limits', () => {
  test('past the per-key limit → 429 with Retry-After, other keys unaffected, allowed again after the window', async () => {
    const { key } = await app.service.keys.create('limited');
    const { key: other } = await app.service.keys.create('other');
    // Windows are fixed (3 s here): start the 7 requests at the beginning of one, or a loaded machine
    // can spread them over two windows and every one of them is admitted.
    await sleep(3000 - (Date.now() % 3000) + 20);
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 7; i++) {
      const res = await classify(key);
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
    const retry = Number(limited!.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 3, `Retry-After ${retry}`);
    assert.match(((await limited!.json()) as { error: string }).error, /rate limit of 5 requests per 3 s/);
    assert.equal((await classify(other)).status, 200, 'another key has its own budget');
    await sleep(retry * 1000 + 200);
    assert.equal((await classify(key)).status, 200);
  });

  test('a key with its own limit uses it', async () => {
    const { key } = await app.service.keys.create('tight', { rateLimit: 2 });
    await sleep(3000 - (Date.now() % 3000) + 20); // all three in one fixed window
    const s = [];
    for (let i = 0; i < 3; i++) s.push((await classify(key)).status);
    assert.deepEqual(s, [200, 200, 429]);
  });
});
