/**
 * Process lifecycle against real child processes: jobs survive a restart (and a Redis that lost its
 * queue), and SIGTERM drains: readiness goes false, in-flight requests and jobs finish, nothing is lost.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { ApiKeyStore } from '../../app/src/store/keys.ts';
import { migrate } from '../../app/src/store/db.ts';
import pino from 'pino';
import { call, spawnApp, type SpawnedApp } from '../harness/app.ts';
import { startTestServices, type TestServices } from '../harness/services.ts';

let services: TestServices;
let running: SpawnedApp[] = [];

before(async () => {
  services = await startTestServices();
});
after(async () => {
  for (const app of running) if (app.child.exitCode === null) app.child.kill('SIGKILL');
  await services?.stop();
});

async function setup(env: Record<string, string> = {}) {
  const databaseUrl = await services.database();
  const pool = new pg.Pool({ connectionString: databaseUrl });
  pool.on('error', () => {}); // the harness stops Postgres after the last test
  await migrate(pool, pino({ level: 'silent' }));
  const { key } = await new ApiKeyStore(pool).create('lifecycle');
  const baseEnv = { REDIS_URL: services.redisUrl, DATABASE_URL: databaseUrl, ...env };
  const spawn = async (extra: Record<string, string> = {}) => {
    const app = await spawnApp({ ...baseEnv, ...extra });
    running.push(app);
    return app;
  };
  const statuses = async (ids: string[]) =>
    (
      await pool.query<{ id: string; status: string }>('SELECT id, status FROM jobs WHERE id = ANY($1)', [
        ids,
      ])
    ).rows;
  return { pool, key, spawn, statuses };
}

async function submit(url: string, key: string, n: number, priority = 'normal'): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await call(
      url,
      '/v1/jobs',
      {
        method: 'POST',
        json: { task: 'text.classify', input: { text: `message number ${i} ${Math.random()}` }, priority },
      },
      key,
    );
    assert.equal(res.status, 202);
    ids.push(((await res.json()) as { id: string }).id);
  }
  return ids;
}

async function until(fn: () => Promise<boolean>, what: string, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(100);
  }
}

test('queued jobs survive an app restart, even when Redis lost the queue meanwhile', async () => {
  const { pool, key, spawn, statuses } = await setup();
  const api = await spawn({ CLAWSTACK_ROLE: 'api' });
  const ids = await submit(api.url, key, 20);
  api.child.kill('SIGTERM');
  assert.equal(await api.exited, 0, api.output());
  // The queue entries are gone (Redis restarted without persistence, or was replaced): Postgres has the jobs.
  const redis = new Redis(services.redisUrl);
  await redis.flushall();
  await redis.quit();
  assert.ok((await statuses(ids)).every((r) => r.status === 'queued'));

  const all = await spawn({ CLAWSTACK_ROLE: 'all' });
  await until(
    async () => (await statuses(ids)).every((r) => r.status === 'succeeded'),
    'recovered jobs to finish',
  );
  const one = await call(all.url, `/v1/jobs/${ids[0]}`, {}, key);
  assert.equal(((await one.json()) as { status: string }).status, 'succeeded');
  all.child.kill('SIGTERM');
  assert.equal(await all.exited, 0, all.output());
  await pool.end();
});

test('SIGTERM: readiness goes false, the in-flight request completes, running jobs finish, queued ones wait for the next process', async () => {
  const { pool, key, spawn, statuses } = await setup();
  const app = await spawn({ CLAWSTACK_ROLE: 'all', WORKER_CONCURRENCY: '2', DRAIN_TIMEOUT_MS: '20000' });
  const ids = await submit(app.url, key, 150, 'low');

  assert.equal((await fetch(`${app.url}/v2/health/ready`)).status, 200, 'ready before the signal');

  // An HTTP request in flight: headers and half the body sent before the signal, the rest after.
  const body = JSON.stringify({ text: 'a request that straddles the shutdown' });
  const port = Number(new URL(app.url).port);
  const inflight = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/text/classify',
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      },
    );
    req.on('error', reject);
    req.write(body.slice(0, 10), () => {
      setTimeout(() => {
        app.child.kill('SIGTERM');
        setTimeout(() => req.end(body.slice(10)), 300);
      }, 100);
    });
  });

  // During the drain a readiness probe fails: 503 while the listener is still open, then the
  // connection is refused (what a fresh kubelet/ALB probe sees once the server stopped accepting).
  let sawNotReady = false;
  for (let i = 0; i < 20 && app.child.exitCode === null; i++) {
    await sleep(20);
    const r = await fetch(`${app.url}/v2/health/ready`).catch(() => undefined);
    if (r === undefined || r.status === 503) sawNotReady = true;
    if (r === undefined) break;
  }
  const finished = await inflight;
  assert.equal(finished.status, 200, finished.body);
  assert.equal(JSON.parse(finished.body).model.name, 'text-spam');
  assert.ok(sawNotReady, 'the readiness probe failed during the drain');
  assert.equal(await app.exited, 0, app.output());
  assert.match(app.output(), /"clean":true/);

  const after1 = await statuses(ids);
  assert.equal(after1.filter((r) => r.status === 'running').length, 0, 'no job was left running');
  assert.equal(after1.filter((r) => r.status === 'failed').length, 0);

  const next = await spawn({ CLAWSTACK_ROLE: 'all' });
  await until(
    async () => (await statuses(ids)).every((r) => r.status === 'succeeded'),
    'every job to succeed',
  );
  next.child.kill('SIGTERM');
  assert.equal(await next.exited, 0, next.output());
  await pool.end();
  running = [];
});
