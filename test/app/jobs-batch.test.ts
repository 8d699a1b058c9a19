/**
 * Bulk submission (POST /v1/jobs/batch) and idempotency keys, against real Redis and Postgres: each item
 * checked on its own with its own status, whole-body errors as 4xx JSON, bounded item count and body
 * size, idempotency across a batch, its retry and single submits, every item charged to the rate limit,
 * jobs owned by the key (GET /v1/jobs?ids=, GET by id), one insert statement per batch, metrics, and
 * the response shapes the OpenAPI document promises.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import pino from 'pino';
import { loadConfig } from '../../app/src/config.ts';
import { startService } from '../../app/src/service.ts';
import { batchItem, MAX_BATCH_JOBS, outcomeCounts } from '../../app/src/api/jobs.ts';
import { ConflictError } from '../../app/src/errors.ts';
import { replayOf, sameSubmission, type JobRecord, type NewJob } from '../../app/src/store/jobs.ts';
import { startTestApp, useTestApp } from '../harness/app.ts';
import { startTestServices } from '../harness/services.ts';
import { waitFor } from '../harness/wait.ts';
import { assertDocumented } from './helpers/openapi-responses.ts';

interface Job {
  id: string;
  status: string;
  task: string;
  idempotencyKey?: string;
  result?: unknown;
}
interface Item {
  status: number;
  job?: Job & { statusUrl: string };
  error?: string;
}

const BODY_LIMIT = 256 * 1024;
const app = useTestApp({ ECHO_TASK: 'true', MODELS: 'text-spam', BODY_LIMIT_BYTES: String(BODY_LIMIT) });

async function batch(jobs: unknown, key?: string | null): Promise<{ res: Response; items: Item[] }> {
  const res = await app.call('/v1/jobs/batch', { method: 'POST', json: { jobs }, key });
  const body = (await assertDocumented('POST', '/v1/jobs/batch', res.clone())) as { jobs?: Item[] };
  return { res, items: body.jobs ?? [] };
}

const echo = (n: number, idempotencyKey?: string) => ({
  task: 'debug.echo',
  input: { n },
  ...(idempotencyKey ? { idempotencyKey } : {}),
});

describe('idempotency and batch outcomes (pure)', () => {
  const job: NewJob = {
    id: randomUUID(),
    task: 'debug.echo',
    priority: 'normal',
    input: { a: 1, b: [1, 2] },
    owner: 'o',
    apiKeyId: null,
    idempotencyKey: 'k',
  };
  const earlier = { ...job, id: randomUUID(), input: { b: [1, 2], a: 1 } } as unknown as JobRecord;

  test('the same task, priority and input (key order aside) replays the earlier job; anything else is a 409', () => {
    assert.ok(sameSubmission(job, earlier));
    assert.deepEqual(replayOf(job, earlier), { record: earlier, duplicate: true });
    assert.ok(!sameSubmission({ ...job, priority: 'high' }, earlier));
    assert.ok(!sameSubmission({ ...job, input: { a: 2, b: [1, 2] } }, earlier));
    assert.throws(() => replayOf({ ...job, task: 'text.classify' }, earlier), ConflictError);
    assert.throws(() => replayOf(job, undefined), /was not recorded/);
  });

  test('an item answers 202 new, 200 replayed, its own status for an app error, 500 for anything else', () => {
    const rec = { ...earlier, status: 'queued', createdAt: new Date() } as JobRecord;
    const ok = (duplicate: boolean) => ({ status: 'fulfilled' as const, value: { record: rec, duplicate } });
    assert.equal(batchItem(ok(false)).status, 202);
    assert.equal(batchItem(ok(true)).job?.statusUrl, `/v1/jobs/${rec.id}`);
    assert.deepEqual(batchItem({ status: 'rejected', reason: new ConflictError('used') }), {
      status: 409,
      error: 'used',
    });
    assert.equal(batchItem({ status: 'rejected', reason: new Error('secret detail') }).status, 500);
    assert.deepEqual(outcomeCounts([ok(false), ok(true), ok(false), { status: 'rejected', reason: 1 }]), {
      created: 2,
      duplicate: 1,
      rejected: 1,
    });
  });
});

describe('POST /v1/jobs/batch', () => {
  test('each item is checked on its own: good ones queue and run, bad ones get their own 4xx; results poll together', async () => {
    const { res, items } = await batch([
      echo(1),
      { task: 'no.such', input: {} },
      echo(2),
      { task: 'text.classify', input: { text: 42 } },
      'not an object',
      { ...echo(3), extra: true },
      { task: 'text.classify', input: { text: 'WIN a FREE prize now' }, priority: 'high' },
    ]);
    assert.equal(res.status, 200);
    assert.deepEqual(
      items.map((i) => i.status),
      [202, 400, 202, 400, 400, 400, 202],
    );
    assert.match(items[1]!.error!, /task/);
    assert.match(items[3]!.error!, /text/);
    const ids = [0, 2, 6].map((i) => items[i]!.job!.id);
    const done = await waitFor(async () => {
      const r = await app.call(`/v1/jobs?ids=${ids.join(',')}`);
      const { jobs } = (await assertDocumented('GET', '/v1/jobs', r)) as { jobs: Job[] };
      return jobs.length === 3 && jobs.every((j) => j.status === 'succeeded') ? jobs : undefined;
    }, 'the batch to run');
    const byId = new Map(done.map((j) => [j.id, j]));
    assert.deepEqual(byId.get(ids[0]!)!.result, { n: 1 });
    assert.equal((byId.get(ids[2]!)!.result as { label: string }).label, 'spam');
    const one = await app.call(`/v1/jobs/${ids[1]}`);
    assert.equal(((await assertDocumented('GET', '/v1/jobs/{id}', one)) as Job).status, 'succeeded');

    const { key: other } = await app.service.keys.create('someone-else');
    assert.equal((await app.call(`/v1/jobs/${ids[0]}`, { key: other })).status, 404);
    const theirs = await app.call(`/v1/jobs?ids=${ids.join(',')}`, { key: other });
    assert.deepEqual(await theirs.json(), { jobs: [] }, "another owner's listing by ids is empty");
  });

  test('a bad body as a whole is a 4xx JSON error: not JSON, no jobs, too many, too large, wrong type', async () => {
    const post = (body: string, type = 'application/json') =>
      app.call('/v1/jobs/batch', { method: 'POST', body, headers: { 'content-type': type } });
    const cases: [string, Response, number, RegExp][] = [
      ['malformed', await post('{"jobs": ['), 400, /malformed JSON/],
      ['empty', await post('{"jobs": []}'), 400, /at least one job/],
      ['not an array', await post('{"jobs": {"task": "debug.echo"}}'), 400, /jobs/],
      ['unknown field', await post('{"jobs": [{}], "x": 1}'), 400, /x/],
      [
        'too many',
        await post(JSON.stringify({ jobs: Array.from({ length: MAX_BATCH_JOBS + 1 }, (_, n) => echo(n)) })),
        400,
        new RegExp(`at most ${MAX_BATCH_JOBS} jobs`),
      ],
      ['wrong type', await post('jobs', 'text/plain'), 415, /application\/json/],
    ];
    for (const [what, res, status, message] of cases) {
      assert.equal(res.status, status, what);
      const body = (await assertDocumented('POST', '/v1/jobs/batch', res)) as { error: string };
      assert.match(body.error, message, what);
    }
    const huge = await post(JSON.stringify({ jobs: [echo(0), { ...echo(1), pad: 'x'.repeat(BODY_LIMIT) }] }));
    assert.equal(huge.status, 413);
    assert.match(
      ((await assertDocumented('POST', '/v1/jobs/batch', huge)) as { error: string }).error,
      /limit/,
    );
    const n = await app.service.db.query('SELECT count(*)::int AS n FROM jobs WHERE input @> \'{"n": 0}\'');
    assert.equal(n.rows[0].n, 0, 'a refused body records no job');
  });

  test('idempotency keys: within a batch, across its retry and with single submits; a reused key with other input is a 409', async () => {
    const tag = randomUUID();
    const [a, b] = [`${tag}-a`, `${tag}-b`];
    const first = await batch([echo(1, a), echo(2, b), echo(1, a), echo(9, a)]);
    assert.deepEqual(
      first.items.map((i) => i.status),
      [202, 202, 200, 409],
    );
    assert.equal(
      first.items[2]!.job!.id,
      first.items[0]!.job!.id,
      'the repeat in the batch is the first job',
    );
    assert.equal(first.items[0]!.job!.idempotencyKey, a);
    assert.match(first.items[3]!.error!, /already used for a different job/);

    const retry = await batch([echo(1, a), echo(2, b), echo(3, `${tag}-c`)]);
    assert.deepEqual(
      retry.items.map((i) => i.status),
      [200, 200, 202],
    );
    assert.deepEqual(
      retry.items.slice(0, 2).map((i) => i.job!.id),
      first.items.slice(0, 2).map((i) => i.job!.id),
    );

    const single = await app.call('/v1/jobs', { method: 'POST', json: echo(2, b) });
    assert.equal(single.status, 200, 'a single submit with a batch item’s key gets that job');
    const singleJob = (await assertDocumented('POST', '/v1/jobs', single)) as Job;
    assert.equal(singleJob.id, first.items[1]!.job!.id);
    const clash = await app.call('/v1/jobs', { method: 'POST', json: { ...echo(2, b), priority: 'high' } });
    assert.equal(clash.status, 409);
    await assertDocumented('POST', '/v1/jobs', clash);

    // Concurrent singles with one new key: one job.
    const d = `${tag}-d`;
    const racing = await Promise.all(
      Array.from({ length: 8 }, () => app.call('/v1/jobs', { method: 'POST', json: echo(4, d) })),
    );
    const statuses = racing.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 200, 202]);
    const ids = new Set(await Promise.all(racing.map(async (r) => ((await r.json()) as Job).id)));
    assert.equal(ids.size, 1);

    const rows = await app.service.db.query<{ key: string; n: number }>(
      'SELECT idempotency_key AS key, count(*)::int AS n FROM jobs WHERE idempotency_key LIKE $1 GROUP BY 1',
      [`${tag}-%`],
    );
    assert.deepEqual(
      rows.rows.map((r) => r.n),
      [1, 1, 1, 1],
      'one job per key',
    );
    const all = [...first.items.slice(0, 2), retry.items[2]!].map((i) => i.job!.id);
    const events = await waitFor(async () => {
      const r = await app.service.db.query<{ status: string }>(
        "SELECT status FROM job_events WHERE job_id = ANY($1) AND status = 'succeeded'",
        [all],
      );
      return r.rowCount === 3 ? r.rows : undefined;
    }, 'the keyed jobs to run');
    assert.equal(events.length, 3, 'each job ran once');
  });

  test('a batch is one multi-row insert and is all enqueued; submissions are counted in metrics', async () => {
    const xid = async () =>
      Number(
        (
          await app.service.db.query<{ x: string }>(
            'SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS x',
          )
        ).rows[0]!.x,
      );
    const jobs = Array.from({ length: 100 }, (_, n) => echo(1000 + n));
    const before = await xid();
    const { items } = await batch(jobs);
    const writes = (await xid()) - before;
    assert.ok(items.every((i) => i.status === 202));
    // the insert; the worker's coalesced claims and results of already-running jobs may add a few
    assert.ok(writes < 20, `${writes} write transactions for 100 jobs`);
    const ids = items.map((i) => i.job!.id);
    await waitFor(async () => {
      const r = await app.call(`/v1/jobs?ids=${ids.join(',')}`);
      const { jobs: listed } = (await r.json()) as { jobs: Job[] };
      return listed.length === 100 && listed.every((j) => j.status === 'succeeded') ? true : undefined;
    }, 'every job of the batch to be enqueued and run');
    const metrics = await (await app.call('/metrics')).text();
    const counted = (outcome: string) =>
      Number(
        metrics
          .split('\n')
          .find(
            (l) =>
              /^clawstack_jobs_submitted_total\{/.test(l) &&
              l.includes('via="batch"') &&
              l.includes(`outcome="${outcome}"`),
          )
          ?.split(' ')[1] ?? 0,
      );
    assert.ok(
      counted('created') >= 100,
      `batch submissions are counted:\n${metrics.match(/^clawstack_jobs_submitted.*$/gm)}`,
    );
    assert.ok(counted('rejected') >= 1);
    assert.ok(counted('duplicate') >= 1);
  });
});

describe('rate limit: every item of a batch counts', () => {
  test('a batch charges its item count; one that does not fit is refused whole (429), and the rest still serves', async () => {
    const { key } = await app.service.keys.create('limited', { rateLimit: 10 });
    const eight = await batch(
      Array.from({ length: 8 }, (_, n) => echo(n)),
      key,
    );
    assert.equal(eight.res.status, 200);
    assert.equal(eight.res.headers.get('ratelimit-remaining'), '2');
    const tooMany = await batch([echo(1), echo(2), echo(3)], key);
    assert.equal(tooMany.res.status, 429);
    assert.ok(Number(tooMany.res.headers.get('retry-after')) >= 1);
    const owned = await app.service.db.query("SELECT count(*)::int AS n FROM jobs WHERE owner = 'limited'");
    assert.equal(owned.rows[0].n, 8, 'the refused batch made no job');
    // the refused request itself still took one (the 9th of 10): a request is charged before its body is read
    assert.equal((await batch([echo(1)], key)).res.status, 200, 'the 10th');
    assert.equal((await app.call('/v1/jobs', { key })).status, 429, 'the 11th');
  });
});

describe('crash safety', () => {
  test("a batch's records are committed before it is enqueued: with the queue lost, recovery runs every job once", async () => {
    const services = await startTestServices();
    const api = await startTestApp(services, { CLAWSTACK_ROLE: 'api', ECHO_TASK: 'true' });
    let worker: Awaited<ReturnType<typeof startService>> | undefined;
    try {
      const res = await api.call('/v1/jobs/batch', {
        method: 'POST',
        json: { jobs: Array.from({ length: 20 }, (_, n) => echo(n)) },
      });
      const ids = ((await res.json()) as { jobs: Item[] }).jobs.map((i) => i.job!.id);
      assert.equal(ids.length, 20);
      const redis = new Redis(services.redisUrl);
      await redis.flushall(); // every queue entry gone, as after a Redis loss
      redis.disconnect();
      const config = loadConfig({
        CLAWSTACK_ROLE: 'worker',
        PORT: '0',
        MODELS: 'text-spam',
        ECHO_TASK: 'true',
      });
      worker = await startService({
        config: {
          ...config,
          REDIS_URL: services.redisUrl,
          DATABASE_URL: api.service.db.options.connectionString!,
        },
        log: pino({ level: 'silent' }),
      });
      const rows = await waitFor(async () => {
        const r = await api.service.db.query<{ status: string; attempts: number }>(
          'SELECT status, attempts FROM jobs WHERE id = ANY($1)',
          [ids],
        );
        return r.rows.every((x) => x.status === 'succeeded') ? r.rows : undefined;
      }, 'the recovered jobs to run');
      assert.equal(rows.length, 20);
      assert.ok(
        rows.every((r) => r.attempts === 1),
        'each job ran once',
      );
    } finally {
      await worker?.drain(5000);
      await api.close();
      await services.stop();
    }
  });
});
