/**
 * Coalesced job writes against real Postgres and Redis: concurrent jobs share statements, yet every
 * accepted job is recorded, reaches exactly one terminal state with its events in order, and a bad row
 * fails only its own write. Also the no-op task debug.echo (ECHO_TASK).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { createPool, migrate, type Db } from '../../app/src/store/db.ts';
import {
  inOrderOfWrites,
  JobStore,
  workerWriteParams,
  type JobRecord,
  type WorkerWrite,
} from '../../app/src/store/jobs.ts';
import { entryFor } from '../../app/src/jobs/entry.ts';
import { bullConnection, JobQueue } from '../../app/src/jobs/queue.ts';
import { startTestApp, type TestApp } from '../harness/app.ts';
import { waitFor } from '../harness/wait.ts';
import { startTestServices, type TestServices } from '../harness/services.ts';

let services: TestServices;
before(async () => {
  services = await startTestServices();
});
after(async () => {
  await services?.stop();
});

/** Write transactions so far: transaction ids handed out (reads take none). */
async function writeTransactions(db: Db): Promise<number> {
  const r = await db.query<{ x: string }>('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS x');
  return Number(r.rows[0]!.x);
}

describe('JobStore, coalesced, on real Postgres', () => {
  let db: Db;
  let store: JobStore;
  const flushes: { kind: string; rows: number }[] = [];
  before(async () => {
    db = createPool(await services.database());
    await migrate(db, pino({ level: 'silent' }));
    store = new JobStore(db, undefined, (kind, rows) => flushes.push({ kind, rows }));
  });
  after(async () => {
    await db?.end();
  });
  const job = (n: number, apiKeyId: string | null = null) => ({
    id: randomUUID(),
    task: 'debug.echo',
    priority: 'normal' as const,
    input: { n, quote: 'a "quoted" \\ value' },
    owner: 'tester',
    apiKeyId,
  });

  test('concurrent creates share statements; a row that breaks a constraint fails alone', async () => {
    const jobs = Array.from({ length: 40 }, (_, n) => job(n));
    const bad = job(99, randomUUID()); // no such API key: foreign key violation
    flushes.length = 0;
    const results = await Promise.allSettled(
      [...jobs.slice(0, 20), bad, ...jobs.slice(20)].map((j) => store.create(j)),
    );
    const failed = results.filter((r) => r.status === 'rejected');
    assert.equal(failed.length, 1);
    assert.match(String((failed[0] as PromiseRejectedResult).reason), /foreign key/);
    const rows = await db.query<{ id: string; input: unknown; status: string }>(
      'SELECT id, input, status FROM jobs WHERE id = ANY($1)',
      [[...jobs, bad].map((j) => j.id)],
    );
    assert.equal(rows.rowCount, 40, 'every other job is recorded, the bad one is not');
    for (const j of jobs) {
      const row = rows.rows.find((r) => r.id === j.id)!;
      assert.deepEqual(row.input, j.input, 'inputs survive the array encoding');
      assert.equal(row.status, 'queued');
    }
    const first = flushes.find((f) => f.kind === 'create')!;
    assert.ok(first.rows > 1, `the burst went in multi-row statements (first: ${first.rows} rows)`);
  });

  test('claims and results in batches: a cancelled job is not claimed; events come in order', async () => {
    const jobs = Array.from({ length: 30 }, (_, n) => job(n));
    await Promise.all(jobs.map((j) => store.create(j)));
    const cancelled = jobs[7]!;
    assert.ok(await store.cancel(cancelled.id, 'tester'));
    const claimed = await Promise.all(jobs.map((j) => store.start(j.id)));
    assert.equal(claimed[7], undefined, 'the cancelled job is not claimed');
    for (const [i, rec] of claimed.entries()) {
      if (i === 7) continue;
      assert.equal(rec?.id, jobs[i]!.id, 'each caller gets its own row back');
      assert.equal(rec?.status, 'running');
      assert.equal(rec?.attempts, 1);
    }
    const done = await Promise.all(jobs.map((j, i) => store.succeed(j.id, { echoed: i })));
    assert.equal(done[7], undefined, 'a job that is not running gets no result');
    assert.deepEqual(done[3]?.result, { echoed: 3 });
    const events = await store.eventsOf(jobs.map((j) => j.id));
    for (const j of jobs) {
      assert.deepEqual(
        events.get(j.id)!.map((e) => e.status),
        j === cancelled ? ['queued', 'cancelled'] : ['queued', 'running', 'succeeded'],
      );
    }
  });

  test("one job's result and other jobs' claims arriving together share one statement", async () => {
    const jobs = Array.from({ length: 20 }, (_, n) => job(n));
    await Promise.all(jobs.map((j) => store.create(j)));
    const [running, waiting] = [jobs.slice(0, 10), jobs.slice(10)];
    await Promise.all(running.map((j) => store.start(j.id)));
    flushes.length = 0;
    const [done, claimed] = await Promise.all([
      Promise.all(running.map((j, i) => store.succeed(j.id, { echoed: i }))),
      Promise.all(waiting.map((j) => store.start(j.id))),
    ]);
    assert.deepEqual(flushes, [{ kind: 'worker', rows: 20 }], 'nothing in flight: all 20 in one statement');
    assert.deepEqual(
      done.map((r) => [r?.id, r?.status, r?.result]),
      running.map((j, i) => [j.id, 'succeeded', { echoed: i }]),
    );
    assert.deepEqual(
      claimed.map((r) => [r?.id, r?.status, r?.attempts]),
      waiting.map((j) => [j.id, 'running', 1]),
    );
    const events = await store.eventsOf(jobs.map((j) => j.id));
    for (const j of jobs)
      assert.deepEqual(
        events.get(j.id)!.map((e) => e.status),
        running.includes(j) ? ['queued', 'running', 'succeeded'] : ['queued', 'running'],
      );
  });
});

describe('JobStore.claim: the task runs while its claim is on the way (real Postgres)', () => {
  let db: Db;
  let store: JobStore;
  const flushes: number[] = [];
  before(async () => {
    db = createPool(await services.database());
    await migrate(db, pino({ level: 'silent' }));
    store = new JobStore(db, undefined, (kind, rows) => kind === 'worker' && flushes.push(rows));
  });
  after(async () => {
    await db?.end();
  });
  const create = async (n: number) =>
    store.create({
      id: randomUUID(),
      task: 'debug.echo',
      priority: 'normal',
      input: { n },
      owner: 'claimer',
      apiKeyId: null,
    });
  const statusesOf = async (id: string) => (await store.events(id)).map((e) => e.status);

  test('a result ready before the claim went out goes with it: one row change, both events, attempt 1', async () => {
    const jobs = await Promise.all([1, 2, 3].map(create));
    flushes.length = 0;
    const claims = jobs.map((j) => store.claim(j.id));
    const done = await Promise.all(claims.map((c, i) => c.finish({ echoed: i })));
    assert.deepEqual(flushes, [3], 'claims and results in one statement of 3 rows');
    for (const [i, rec] of done.entries()) {
      assert.equal(rec?.status, 'succeeded');
      assert.equal(rec?.attempts, 1);
      assert.deepEqual(rec?.result, { echoed: i });
      assert.ok(rec?.startedAt && rec.finishedAt && rec.startedAt <= rec.finishedAt);
      assert.equal((await claims[i]!.claimed)?.id, rec.id, 'the claim is answered with the same row');
      assert.deepEqual(await statusesOf(rec.id), ['queued', 'running', 'succeeded']);
    }
  });

  test('a result after its claim was written goes in its own statement, conditional on running', async () => {
    const job = await create(4);
    const claim = store.claim(job.id);
    assert.equal((await claim.claimed)?.status, 'running');
    const rec = await claim.finish({ late: true });
    assert.equal(rec?.status, 'succeeded');
    assert.deepEqual(rec?.result, { late: true });
    assert.deepEqual(await statusesOf(job.id), ['queued', 'running', 'succeeded']);
  });

  test('a job cancelled or finished before its claim records nothing, with the result in the claim or after it', async () => {
    const [cancelled, cancelledEarly, finished] = await Promise.all([5, 6, 7].map(create));
    assert.ok(await store.cancel(cancelled!.id, 'claimer'));
    assert.ok(await store.cancel(cancelledEarly!.id, 'claimer'));
    assert.ok(await store.start(finished!.id));
    assert.ok(await store.succeed(finished!.id, { first: true }));

    const together = [cancelled!, finished!].map((j) => store.claim(j.id));
    assert.deepEqual(await Promise.all(together.map((c) => c.finish({ second: true }))), [
      undefined,
      undefined,
    ]);
    const apart = store.claim(cancelledEarly!.id);
    assert.equal(await apart.claimed, undefined);
    assert.equal(await apart.finish({ second: true }), undefined);

    assert.equal((await store.get(cancelled!.id))?.status, 'cancelled');
    assert.equal((await store.get(cancelledEarly!.id))?.result, null);
    const done = await store.get(finished!.id);
    assert.deepEqual([done?.status, done?.result, done?.attempts], ['succeeded', { first: true }, 1]);
    assert.deepEqual(await statusesOf(cancelled!.id), ['queued', 'cancelled']);
    assert.deepEqual(await statusesOf(finished!.id), ['queued', 'running', 'succeeded']);
  });
});

describe('worker writes, one statement (pure)', () => {
  const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
  test('claims and results split into their arrays; the commit waits for the WAL only with a result in it', () => {
    const writes: WorkerWrite[] = [
      { kind: 'start', id: a },
      { kind: 'succeed', id: b, result: { n: 1, s: 'x"y' } },
      { kind: 'start', id: c },
    ];
    assert.deepEqual(workerWriteParams(writes), [[a, c], [b], ['{"n":1,"s":"x\\"y"}'], 'on', [], []]);
    assert.deepEqual(workerWriteParams([{ kind: 'start', id: a }]), [[a], [], [], 'off', [], []]);
    assert.equal(workerWriteParams([{ kind: 'succeed', id: a, result: null }])[3], 'on');
  });
  test('a claim with its result goes in its own arrays, and makes the commit wait for the WAL', () => {
    const writes: WorkerWrite[] = [
      { kind: 'startAndSucceed', id: a, result: [1] },
      { kind: 'start', id: b },
    ];
    assert.deepEqual(workerWriteParams(writes), [[b], [], [], 'on', [a], ['[1]']]);
  });
  test('a job twice in one statement is refused (its rows then go one by one)', () => {
    assert.throws(
      () =>
        workerWriteParams([
          { kind: 'start', id: a },
          { kind: 'succeed', id: a, result: 1 },
        ]),
      /appears twice/,
    );
  });
  test('returned rows come back in the order of the writes, by kind and id; a write that changed nothing is undefined', () => {
    const rec = (id: string, status: JobRecord['status']) => ({ id, status }) as JobRecord;
    const rows = [
      { kind: 'succeed' as const, ...rec(b, 'succeeded') },
      { kind: 'start' as const, ...rec(a, 'running') },
    ];
    const out = inOrderOfWrites(
      [
        { kind: 'start', id: a },
        { kind: 'start', id: c },
        { kind: 'succeed', id: b, result: 1 },
        { kind: 'succeed', id: a, result: 1 },
      ],
      rows,
    );
    assert.deepEqual(out, [rec(a, 'running'), undefined, rec(b, 'succeeded'), undefined]);
    assert.ok(!('kind' in out[0]!), 'the kind column is not part of the record');
  });
});

describe('jobs through the API under concurrency (debug.echo)', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp(services, { ECHO_TASK: 'true', WORKER_CONCURRENCY: '16' });
  });
  after(async () => {
    await app?.close();
  });

  test('every accepted job is recorded and succeeds exactly once, with its events in order, in fewer write transactions than jobs × 3', async () => {
    const db = app.service.db;
    const xid0 = await writeTransactions(db);
    const n = 200;
    let next = 0;
    const accepted: { id: string; input: unknown }[] = [];
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        for (let i = next++; i < n; i = next++) {
          // every tenth input too large to ride in the queue entry: read from the record
          const input = { probe: 'test', i, ...(i % 10 ? {} : { pad: 'x'.repeat(5000) }) };
          const res = await app.call('/v1/jobs', { method: 'POST', json: { task: 'debug.echo', input } });
          assert.equal(res.status, 202, await res.clone().text());
          const body = (await res.json()) as { id: string; status: string };
          assert.equal(body.status, 'queued');
          accepted.push({ id: body.id, input });
        }
      }),
    );
    const ids = accepted.map((a) => a.id);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const r = await db.query<{ n: string }>(
        "SELECT count(*) AS n FROM jobs WHERE id = ANY($1) AND status IN ('succeeded', 'failed', 'cancelled')",
        [ids],
      );
      if (Number(r.rows[0]!.n) === n) break;
      assert.ok(Date.now() < deadline, `only ${r.rows[0]!.n} of ${n} jobs finished`);
      await sleep(100);
    }
    const xids = (await writeTransactions(db)) - xid0;
    const rows = await db.query<{ id: string; status: string; result: unknown; attempts: number }>(
      'SELECT id, status, result, attempts FROM jobs WHERE id = ANY($1)',
      [ids],
    );
    assert.equal(rows.rowCount, n, 'every accepted job is recorded');
    const events = await app.service.jobs.eventsOf(ids);
    for (const { id, input } of accepted) {
      const row = rows.rows.find((r) => r.id === id)!;
      assert.equal(row.status, 'succeeded');
      assert.equal(row.attempts, 1, 'run once');
      assert.deepEqual(row.result, input, 'the echo of its own input');
      assert.deepEqual(
        events.get(id)!.map((e) => e.status),
        ['queued', 'running', 'succeeded'],
      );
    }
    assert.ok(xids < 3 * n, `${xids} write transactions for ${n} jobs: writes were coalesced`);
  });

  test('with its input in the entry: a failing task is recorded failed after its claim; a cancelled job taken anyway records nothing', async () => {
    const store = app.service.jobs;
    const queue = new JobQueue(bullConnection(services.redisUrl, false)); // the app's queue, by name
    const record = (input: unknown) =>
      store.create({
        id: randomUUID(),
        task: 'debug.echo',
        priority: 'high',
        input,
        owner: 'tester',
        apiKeyId: null,
      });
    const bad = await record([1]); // not an object: debug.echo's input check fails in the worker
    const cancelled = await record({ n: 1 });
    assert.ok(await store.cancel(cancelled.id, 'tester'));
    const entries = [bad, cancelled].map(entryFor);
    assert.ok(
      entries.every((e) => 'input' in e),
      'both inputs ride in the queue entry',
    );
    await queue.addMany(entries);
    const failed = await waitFor(async () => {
      const r = await store.get(bad.id);
      return r?.status === 'failed' ? r : undefined;
    }, 'the bad job to fail');
    assert.equal(failed.attempts, 1, 'a client error is not retried');
    assert.deepEqual(
      (await store.events(bad.id)).map((e) => e.status),
      ['queued', 'running', 'failed'],
    );
    await waitFor(
      async () => !(await queue.queue.getJob(cancelled.id)),
      "the cancelled job's entry to be taken",
    );
    const after = await store.get(cancelled.id);
    assert.deepEqual([after?.status, after?.result, after?.attempts], ['cancelled', null, 0]);
    assert.deepEqual(
      (await store.events(cancelled.id)).map((e) => e.status),
      ['queued', 'cancelled'],
    );
    await queue.close();
  });

  test('POST /v1/debug/echo answers its body; bad JSON is a 400', async () => {
    const res = await app.call('/v1/debug/echo', { method: 'POST', json: { hello: ['world', 1] } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { hello: ['world', 1] });
    const bad = await app.call('/v1/debug/echo', {
      method: 'POST',
      body: '{nope',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /malformed JSON/);
    const notObject = await app.call('/v1/jobs', {
      method: 'POST',
      json: { task: 'debug.echo', input: [1] },
    });
    assert.equal(notObject.status, 400);
  });
});

test('without ECHO_TASK, debug.echo is not served', async () => {
  const app = await startTestApp(services);
  try {
    const res = await app.call('/v1/jobs', { method: 'POST', json: { task: 'debug.echo', input: { a: 1 } } });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /unknown task "debug.echo"/);
    assert.equal((await app.call('/v1/debug/echo', { method: 'POST', json: {} })).status, 404);
  } finally {
    await app.close();
  }
});
