/**
 * The operator console's server side without a browser: public page assets, key-protected JSON with
 * validated queries, what /console/api/status and /console/api/jobs report, and the dependency probe.
 * (test/e2e/console.test.ts drives the page itself in Chromium.)
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { probe } from '../../app/src/api/console.ts';
import { useTestApp } from '../harness/app.ts';

describe('probe', () => {
  test('a check that resolves is ready, with its latency', async () => {
    const r = await probe('db', () => sleep(20));
    assert.equal(r.ready, true);
    assert.ok(r.latencyMs >= 15, `${r.latencyMs}`);
    assert.equal(r.error, undefined);
  });

  test('a check that throws is not ready and says why', async () => {
    const r = await probe('redis', async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
    });
    assert.deepEqual([r.name, r.ready, r.error], ['redis', false, 'connect ECONNREFUSED 127.0.0.1:6379']);
  });

  test('a check that hangs is not ready after the deadline', async () => {
    const r = await probe('queue', () => new Promise(() => {}), 50);
    assert.equal(r.ready, false);
    assert.equal(r.error, 'no answer in 50 ms');
    assert.ok(r.latencyMs >= 45 && r.latencyMs < 1000, `${r.latencyMs}`);
  });
});

describe('console API', () => {
  const app = useTestApp();

  test('page assets are public; every data call needs the key', async () => {
    const html = await app.call('/console/', { key: null });
    assert.equal(html.status, 200);
    assert.match(html.headers.get('content-type') ?? '', /text\/html/);
    for (const asset of ['console.js', 'draw.js', 'console.css'])
      assert.equal((await app.call(`/console/${asset}`, { key: null })).status, 200, asset);
    for (const path of ['/console/api/status', '/console/api/jobs']) {
      const res = await app.call(path, { key: null });
      assert.equal(res.status, 401, path);
      assert.ok(((await res.json()) as { error: string }).error);
      assert.equal((await app.call(path, { key: 'cs_wrong' })).status, 401, path);
    }
    const bad = await app.call('/console/api/jobs?limit=0');
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /limit/);
    assert.equal((await app.call('/console/api/jobs?status=done')).status, 400);
    assert.equal((await app.call('/console/api/status?verbose=1')).status, 400);
  });

  test('status: every dependency ready, the loaded models, queue depth per priority', async () => {
    const res = await app.call('/console/api/status');
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      service: { ready: boolean; draining: boolean };
      dependencies: { name: string; ready: boolean; latencyMs: number }[];
      models: { name: string; precision: string; ready: boolean }[];
      queue: Record<string, number>;
    };
    assert.deepEqual(body.service.ready, true);
    assert.deepEqual(
      body.dependencies.map((d) => [d.name, d.ready]),
      [
        ['postgres', true],
        ['redis', true],
        ['queue', true],
        ['inference', true],
      ],
    );
    assert.deepEqual(
      body.models.map((m) => [m.name, m.ready]),
      [['text-spam', true]],
    );
    assert.deepEqual(Object.keys(body.queue).sort(), ['high', 'low', 'normal']);
  });

  test("jobs: the key's newest first, each with its transitions; another key sees none of them", async () => {
    const ids: string[] = [];
    for (const priority of ['low', 'high']) {
      const res = await app.call('/v1/jobs', {
        method: 'POST',
        json: { task: 'text.classify', input: { text: `console ${priority}` }, priority },
      });
      ids.push(((await res.json()) as { id: string }).id);
    }
    let jobs: { id: string; status: string; priority: string; events: { status: string }[] }[] = [];
    for (let i = 0; i < 100; i++) {
      jobs = ((await (await app.call('/console/api/jobs?limit=2')).json()) as { jobs: typeof jobs }).jobs;
      if (jobs.every((j) => j.status === 'succeeded')) break;
      await sleep(100);
    }
    assert.deepEqual(
      jobs.map((j) => j.id),
      [...ids].reverse(),
    );
    for (const j of jobs)
      assert.deepEqual(
        j.events.map((e) => e.status),
        ['queued', 'running', 'succeeded'],
      );
    const only = (await (await app.call('/console/api/jobs?status=succeeded&limit=1')).json()) as {
      jobs: unknown[];
    };
    assert.equal(only.jobs.length, 1);
    const { key } = await app.service.keys.create('someone-else');
    const theirs = (await (await app.call('/console/api/jobs', { key })).json()) as { jobs: unknown[] };
    assert.deepEqual(theirs.jobs, []);
  });

  test('queue depth counts the jobs waiting per priority (an API-only process: no worker takes them)', async () => {
    await app.restart({ CLAWSTACK_ROLE: 'api' });
    for (const priority of ['high', 'high', 'low']) {
      const res = await app.call('/v1/jobs', {
        method: 'POST',
        json: { task: 'text.classify', input: { text: 'waiting' }, priority },
      });
      assert.equal(res.status, 202);
    }
    const body = (await (await app.call('/console/api/status')).json()) as { queue: Record<string, number> };
    assert.deepEqual(body.queue, { high: 2, normal: 0, low: 1 });
  });
});
