/**
 * What counts as "Redis or Postgres is down" (a 503 and a retry) versus a bug (a 500), judged on the
 * errors real clients raise; how one probe moves a dependency's state (a refused connection at once,
 * timeouts only after the threshold and never while the event loop itself stalled); and the monitor
 * that makes readiness follow a real Redis going away or not answering.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import pino from 'pino';
import {
  DependencyMonitor,
  DependencyTimeoutError,
  isDependencyError,
  nextProbeState,
  probeOutcome,
  redisProbe,
  UP,
  withTimeout,
  type ProbeOutcome,
  type ProbeState,
} from '../../app/src/health/dependencies.ts';
import { freePort, startRedis } from '../../app/src/local/services.ts';

const dir = mkdtempSync(join(tmpdir(), 'clawstack-deps-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('errors of clients that cannot reach their server are dependency errors', async () => {
  const port = await freePort(); // nothing listens there
  const client = new pg.Client({ connectionString: `postgres://x@127.0.0.1:${port}/x` });
  const pgErr = await client.connect().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(isDependencyError(pgErr), String(pgErr));

  const redis = new Redis(`redis://127.0.0.1:${port}`, {
    maxRetriesPerRequest: 1,
    retryStrategy: (n) => (n > 2 ? null : 10),
  });
  redis.on('error', () => {});
  const redisErr = await redis.ping().then(
    () => undefined,
    (e: unknown) => e,
  );
  redis.disconnect();
  assert.ok(isDependencyError(redisErr), String(redisErr));
  assert.ok(isDependencyError(new Error('x', { cause: pgErr })), 'a wrapped one too');
});

test('query mistakes, bugs and non-errors are not', () => {
  assert.equal(
    isDependencyError(Object.assign(new Error('syntax error at or near "x"'), { code: '42601' })),
    false,
  );
  assert.equal(isDependencyError(new TypeError("Cannot read properties of undefined (reading 'x')")), false);
  assert.equal(isDependencyError(undefined), false);
  assert.equal(isDependencyError('ECONNREFUSED'), false);
});

test('withTimeout rejects a probe that never answers, saying how late its timer fired', async () => {
  await assert.rejects(withTimeout(new Promise(() => {}), 50), /timed out after 50 ms/);
  assert.equal(await withTimeout(Promise.resolve(7), 50), 7);
  const late = withTimeout(new Promise(() => {}), 50).catch((e: unknown) => e);
  const until = Date.now() + 300; // the loop is blocked past the deadline
  while (Date.now() < until);
  const err = await late;
  assert.ok(err instanceof DependencyTimeoutError);
  assert.ok(err.lateMs >= 200, `late by ${err.lateMs} ms`);
});

/** A connection refused by a real Postgres client (nothing listens on the port). */
async function refusedError(): Promise<unknown> {
  const client = new pg.Client({ connectionString: `postgres://x@127.0.0.1:${await freePort()}/x` });
  return client.connect().then(
    () => assert.fail('connected to a free port'),
    (e: unknown) => e,
  );
}

test('probe outcomes: refused or closed is a certain failure; a timeout is uncertain and carries the loop lag', async () => {
  const refused = probeOutcome(await refusedError());
  assert.equal(refused.kind, 'failed');
  assert.equal(probeOutcome(new Error('Connection terminated unexpectedly')).kind, 'failed');
  assert.equal(probeOutcome(new Error('Connection is closed.')).kind, 'failed');
  assert.deepEqual(probeOutcome(new DependencyTimeoutError(1000, 3)), {
    kind: 'timeout',
    why: 'timed out after 1000 ms waiting for a dependency',
    lagMs: 3,
  });
  const timedOut = { kind: 'timeout', why: 'timed out after 1000 ms waiting for a dependency' };
  // the timer's own delay, or a stall elsewhere in the probe's window, whichever is longer
  assert.deepEqual(probeOutcome(new DependencyTimeoutError(1000, 1500), 20), { ...timedOut, lagMs: 1500 });
  assert.deepEqual(probeOutcome(new DependencyTimeoutError(1000, 0), 700), { ...timedOut, lagMs: 700 });
  const pgSlow = probeOutcome(new Error('timeout exceeded when trying to connect'));
  assert.deepEqual(pgSlow, { kind: 'timeout', why: 'timeout exceeded when trying to connect', lagMs: 0 });
  assert.equal(
    probeOutcome(Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' })).kind,
    'timeout',
  );
});

test('probe state: down at once on a certain failure, after the threshold of timeouts in a row, never on a lagged timeout', () => {
  const policy = { failureThreshold: 3, lagToleranceMs: 500 };
  const run = (outcomes: ProbeOutcome[], from: ProbeState = UP) =>
    outcomes.reduce<ProbeState[]>((acc, o) => [...acc, nextProbeState(acc.at(-1) ?? from, o, policy)], []);
  const ok: ProbeOutcome = { kind: 'ok' };
  const refused: ProbeOutcome = { kind: 'failed', why: 'connect ECONNREFUSED 127.0.0.1:5432' };
  const slow: ProbeOutcome = { kind: 'timeout', why: 'timed out', lagMs: 20 };
  const lagged: ProbeOutcome = { kind: 'timeout', why: 'timed out', lagMs: 2000 };
  const down = (states: ProbeState[]) => states.map((s) => s.down);

  assert.deepEqual(down(run([refused, ok])), [true, false]);
  assert.equal(run([refused])[0]!.why, 'connect ECONNREFUSED 127.0.0.1:5432');
  assert.deepEqual(down(run([slow, slow, slow, slow, ok])), [false, false, true, true, false]);
  // An answer in between starts the count again.
  assert.deepEqual(down(run([slow, slow, ok, slow, slow])), [false, false, false, false, false]);
  // A timeout while the loop stalled says nothing: it neither counts nor resets the count.
  assert.deepEqual(down(run([slow, lagged, lagged, slow, lagged, slow])), [
    false,
    false,
    false,
    false,
    false,
    true,
  ]);
  assert.deepEqual(run([lagged, lagged]), [UP, UP]);
  // Once down, a timeout (lagged or not) does not bring it back; only an answer does.
  assert.deepEqual(down(run([refused, slow, lagged, ok])), [true, true, true, false]);
  const one = { failureThreshold: 1, lagToleranceMs: 500 };
  assert.equal(nextProbeState(UP, slow, one).down, true);
  assert.equal(nextProbeState(UP, lagged, one).down, false);
});

test('the monitor reports Redis down at the first probe after it stopped, and up again once it is back', async () => {
  const port = await freePort();
  let server = await startRedis(join(dir, 'r'), { port });
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  redis.on('error', () => {});
  const changes: [boolean, string][] = [];
  const monitor = new DependencyMonitor([{ name: 'redis', probe: redisProbe(redis) }], {
    intervalMs: 100,
    timeoutMs: 300,
    failureThreshold: 3,
    log: pino({ level: 'silent' }),
    onChange: (healthy, reason) => changes.push([healthy, reason]),
  });
  after(() => monitor.stop());
  await monitor.check();
  assert.equal(monitor.healthy, true);
  await server.stop();
  await monitor.check(); // one round: a closed connection is certain, no threshold
  assert.equal(monitor.healthy, false);
  assert.equal(monitor.reason, 'redis unreachable');
  server = await startRedis(join(dir, 'r'), { port });
  for (let i = 0; i < 50 && !monitor.healthy; i++) {
    await sleep(100);
    await monitor.check();
  }
  assert.equal(monitor.healthy, true);
  assert.deepEqual(changes, [
    [false, 'redis unreachable'],
    [true, ''],
  ]);
  redis.disconnect();
  await server.stop();
});

test('a blocked event loop is not a dependency timing out: the answer that arrived meanwhile wins', async () => {
  const server = await startRedis(join(dir, 'blocked'));
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
  try {
    await redis.ping(); // connected
    const probe = withTimeout(redis.ping(), 50);
    const until = Date.now() + 300; // Redis answers within this; our loop reads it only afterwards
    while (Date.now() < until);
    assert.equal(await probe, 'PONG');
  } finally {
    redis.disconnect();
    await server.stop();
  }
});

/**
 * A real Redis, a client and a monitor of it (200 ms probe deadline); `pause(ms)` makes Redis stop
 * answering (CLIENT PAUSE holds every client's commands) without closing any connection.
 */
async function pausableRedis(name: string, failureThreshold: number) {
  const server = await startRedis(join(dir, name));
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
  const monitor = new DependencyMonitor([{ name: 'redis', probe: redisProbe(redis) }], {
    intervalMs: 100,
    timeoutMs: 200,
    failureThreshold,
    log: pino({ level: 'silent' }),
  });
  await redis.ping();
  return {
    monitor,
    async pause(ms: number) {
      const admin = new Redis(server.url);
      await admin.call('CLIENT', 'PAUSE', String(ms), 'ALL');
      admin.disconnect();
    },
    async close() {
      monitor.stop();
      redis.disconnect();
      await server.stop();
    },
  };
}

test('a Redis that does not answer is marked down only after failureThreshold timeouts in a row', async () => {
  const { monitor, pause, close } = await pausableRedis('paused', 3);
  try {
    await pause(2500);
    const seen: boolean[] = [];
    for (let i = 0; i < 3; i++) {
      await monitor.check();
      seen.push(monitor.healthy);
    }
    assert.deepEqual(seen, [true, true, false]);
    assert.equal(monitor.reason, 'redis unreachable');
    for (let i = 0; i < 40 && !monitor.healthy; i++) {
      await sleep(100);
      await monitor.check();
    }
    assert.equal(monitor.healthy, true, 'back once the pause is over');
  } finally {
    await close();
  }
});

test('a probe timeout that fired while the event loop was blocked does not count, even at threshold 1', async () => {
  const { monitor, pause, close } = await pausableRedis('lagged', 1);
  try {
    await sleep(50); // the loop-delay histogram takes its first sample
    await pause(4000); // Redis really does not answer during the probe
    const round = monitor.check();
    const until = Date.now() + 600; // and this process stalls past the probe's deadline
    while (Date.now() < until);
    await round;
    assert.equal(monitor.healthy, true, 'the stall is ours, not Redis being down');
    // The same silent Redis, probed by a process that is not stalled, is down at the first timeout
    // (a few tries: a natural stall on a loaded machine is not counted either).
    for (let i = 0; i < 5 && monitor.healthy; i++) await monitor.check();
    assert.equal(monitor.healthy, false);
  } finally {
    await close();
  }
});
