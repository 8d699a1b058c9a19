/** Async jobs: submit → 202, status, list, cancel, and real BullMQ priorities under a backlog. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../app/src/config.ts';
import { startService, type Service } from '../../app/src/service.ts';
import pino from 'pino';
import { call, startTestApp, type TestApp } from '../harness/app.ts';
import { waitFor } from '../harness/wait.ts';
import { startTestServices, type TestServices } from '../harness/services.ts';

let services: TestServices;

before(async () => {
  services = await startTestServices();
});
after(async () => {
  await services?.stop();
});

interface JobView {
  id: string;
  status: string;
  priority: string;
  task: string;
  result?: { label: string };
  error?: string;
  statusUrl?: string;
  startedAt: string | null;
  events?: { status: string }[];
}

describe('jobs API', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp(services);
  });
  after(async () => {
    await app?.close();
  });

  test('POST /v1/jobs → 202 with id, status URL and Location; the job runs to succeeded with its result', async () => {
    const res = await app.call('/v1/jobs', {
      method: 'POST',
      json: { task: 'text.classify', input: { text: 'FREE money!!! click' }, priority: 'high' },
    });
    assert.equal(res.status, 202);
    const job = (await res.json()) as JobView;
    assert.match(job.id, /^[0-9a-f-]{36}$/);
    assert.equal(job.status, 'queued');
    assert.equal(job.statusUrl, `/v1/jobs/${job.id}`);
    assert.equal(res.headers.get('location'), `/v1/jobs/${job.id}`);
    const done = await waitFor(async () => {
      const j = (await (await app.call(`/v1/jobs/${job.id}`)).json()) as JobView;
      return j.status === 'succeeded' ? j : undefined;
    }, 'job to succeed');
    assert.equal(done.result?.label, 'spam');
    assert.deepEqual(
      done.events?.map((e) => e.status),
      ['queued', 'running', 'succeeded'],
    );
  });

  test("GET /v1/jobs lists the caller's jobs, filtered by status", async () => {
    const res = await app.call('/v1/jobs?status=succeeded&limit=10');
    const body = (await res.json()) as { jobs: JobView[] };
    assert.ok(body.jobs.length >= 1);
    assert.ok(body.jobs.every((j) => j.status === 'succeeded'));
    const { key: other } = await app.service.keys.create('someone-else');
    const theirs = (await (await app.call('/v1/jobs', { key: other })).json()) as { jobs: JobView[] };
    assert.equal(theirs.jobs.length, 0, 'jobs are scoped to the key name');
  });
});

describe('priorities and cancellation under a backlog', () => {
  let api: TestApp;
  let worker: Service | undefined;
  before(async () => {
    api = await startTestApp(services, { CLAWSTACK_ROLE: 'api' });
  });
  after(async () => {
    await worker?.drain(5000);
    await api?.close();
  });

  test('high-priority jobs overtake a backlog of low ones; a cancelled queued job never runs', async () => {
    const submit = async (priority: string, text: string) => {
      const res = await api.call('/v1/jobs', {
        method: 'POST',
        json: { task: 'text.classify', input: { text }, priority },
      });
      assert.equal(res.status, 202);
      return ((await res.json()) as JobView).id;
    };
    const low: string[] = [];
    for (let i = 0; i < 30; i++) low.push(await submit('low', `low priority message ${i}`));
    const normal = await submit('normal', 'normal priority message');
    const high: string[] = [];
    for (let i = 0; i < 5; i++) high.push(await submit('high', `high priority message ${i}`));

    const cancelled = low[10]!;
    const del = await api.call(`/v1/jobs/${cancelled}`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.equal(((await del.json()) as JobView).status, 'cancelled');

    // Now a worker with one slot drains the backlog.
    const databaseUrl = api.service.db.options.connectionString!;
    const config = loadConfig({
      CLAWSTACK_ROLE: 'worker',
      PORT: '0',
      MODELS: 'text-spam',
      WORKER_CONCURRENCY: '1',
      RESULT_CACHE_TTL_SECONDS: '0',
    });
    worker = await startService({
      config: { ...config, REDIS_URL: services.redisUrl, DATABASE_URL: databaseUrl },
      log: pino({ level: 'silent' }),
    });

    const all = [...low, normal, ...high];
    const rows = await waitFor(async () => {
      const r = await api.service.db.query<{ id: string; status: string; started_at: Date | null }>(
        'SELECT id, status, started_at FROM jobs WHERE id = ANY($1)',
        [all],
      );
      return r.rows.every((x) => x.status === 'succeeded' || x.status === 'cancelled') ? r.rows : undefined;
    }, 'the backlog to drain');
    const order = rows
      .filter((r) => r.status === 'succeeded')
      .sort((a, b) => a.started_at!.getTime() - b.started_at!.getTime())
      .map((r) => r.id);
    assert.deepEqual(new Set(order.slice(0, 5)), new Set(high), 'the 5 high jobs ran first');
    assert.equal(order[5], normal, 'then the normal one');
    assert.equal(order.length, 35);
    assert.equal(rows.find((r) => r.id === cancelled)?.status, 'cancelled');
    assert.equal(rows.find((r) => r.id === cancelled)?.started_at, null, 'the cancelled job never started');

    const again = await api.call(`/v1/jobs/${high[0]}`, { method: 'DELETE' });
    assert.equal(again.status, 409, 'a finished job cannot be cancelled');
    assert.match(((await again.json()) as { error: string }).error, /succeeded; only queued jobs/);
  });
});

export { call };
