/**
 * Fault injection (`npm run test:faults`): under steady load of sync requests and jobs of every priority,
 * one fault at a time, then several at once (combined.ts), against a stack of real Redis (AOF), real
 * Postgres and separate api and worker processes, healed the way a supervisor would heal it. After each: every accepted job reached exactly
 * one terminal state in Postgres, no request hung (client timeout), every 503 carried Retry-After,
 * readiness followed the dependencies, and service resumed with no manual step. The table goes to
 * docs/reliability.md; the logs of the whole run must not contain any secret.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { CLIENT_TIMEOUT_MS, startLoad, submitJob, type LoadTally } from './load.ts';
import { outcomes, renderTable, summarize, writeSection, type FaultRow } from './report.ts';
import { combinedFaults } from './combined.ts';
import { breakModel, FaultStack, type Fault } from './stack.ts';
import { killWholeNpmStart } from './npm-start.ts';
import { loadavg } from 'node:os';
import { runInfo, runLine } from '../../scripts/bench/machine.ts';

const rows: FaultRow[] = [];
/** Commit, CPU and load of this run, written with its table. */
const run = runInfo();
const problems: string[] = [];
let stack: FaultStack;

before(async () => {
  stack = new FaultStack();
  await stack.start();
});
after(async () => {
  await stack?.stop();
});

/** Polls readiness of the api until stopped; remembers every status it saw. */
function watchReadiness(url: string) {
  const seen = new Set<number | string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const r = await fetch(`${url}/v2/health/ready`, { signal: AbortSignal.timeout(2000) }).catch(
        (err: Error) => err.name,
      );
      seen.add(typeof r === 'string' ? r : r.status);
      await sleep(100);
    }
  })();
  return {
    seen,
    async stop() {
      running = false;
      await loop;
      return seen;
    },
  };
}

async function waitTerminal(ids: string[], ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = await outcomes(stack.db, ids).catch(() => undefined);
    const done = found?.filter((o) => ['succeeded', 'failed', 'cancelled'].includes(o.status)).length;
    if (found && done === new Set(ids).size) return found;
    if (Date.now() > deadline) return found ?? [];
    await sleep(250);
  }
}

/** When the last of these jobs finished (Postgres's clock, same machine). */
async function lastFinished(ids: string[]): Promise<number> {
  const r = await stack.db.query<{ t: Date | null }>(
    'SELECT max(finished_at) AS t FROM jobs WHERE id = ANY($1)',
    [ids],
  );
  return r.rows[0]?.t?.getTime() ?? 0;
}

async function runFault(fault: Fault) {
  const key = stack.secrets.apiKey;
  const load = startLoad(stack.apiUrl, key);
  await sleep(1500);
  // A backlog, so the worker is in the middle of a batch when the fault comes.
  await Promise.all(Array.from({ length: 60 }, (_, i) => submitJob(stack.apiUrl, key, load.tally, i)));
  const before = [...load.tally.accepted];
  const ready = watchReadiness(stack.apiUrl);
  const t0 = Date.now();
  await fault.inject();
  const healed = Date.now();
  await sleep(2500);
  const tally: LoadTally = await load.stop();
  const seen = await ready.stop();
  const found = await waitTerminal(tally.accepted);
  const firstOk = tally.lastOk >= healed ? healed : 0;
  const recoverMs = Math.max((await lastFinished(before)) - t0, (firstOk || Date.now()) - t0);
  const row = summarize(fault.name, tally.accepted, found, { recoverMs, healMs: healed - t0 });
  rows.push(row);
  const say = (cond: boolean, what: string) => cond || problems.push(`${fault.name}: ${what}`);
  say(row.lost === 0, `${row.lost} accepted jobs lost`);
  say(row.duplicated === 0, `${row.duplicated} jobs finished twice`);
  say(tally.hung === 0, `${tally.hung} requests hung past the ${CLIENT_TIMEOUT_MS} ms client timeout`);
  say(tally.unexpected === 0, `unexpected answers: ${tally.samples.join(' | ')}`);
  say(
    tally.unavailable === tally.unavailableWithRetryAfter,
    `${tally.unavailable - tally.unavailableWithRetryAfter} 503s without Retry-After`,
  );
  say(tally.lastOk >= healed, 'no request succeeded after the fault was healed');
  if (fault.dependency) say(seen.has(503), `readiness never said 503 while it was down (saw ${[...seen]})`);
  const finalReady = await fetch(`${stack.apiUrl}/v2/health/ready`).then((r) => r.status);
  say(finalReady === 200, `readiness ${finalReady} after recovery`);
  console.log(
    `${fault.name}: ${JSON.stringify(row)} sync/jobs ok=${tally.ok} 503=${tally.unavailable} refused=${tally.refused} readiness=${[...seen]}`,
  );
}

const restart = async (role: 'api' | 'worker', signal: NodeJS.Signals) => {
  await stack.signal(role, signal);
  await sleep(1000);
  await stack.spawn(role);
};

const FAULTS: Fault[] = [
  { name: 'kill -9 worker mid-batch', inject: () => restart('worker', 'SIGKILL') },
  { name: 'kill -9 api', inject: () => restart('api', 'SIGKILL') },
  {
    name: 'SIGTERM api + worker while busy (drain)',
    inject: async () => {
      const codes = await Promise.all([stack.signal('api', 'SIGTERM'), stack.signal('worker', 'SIGTERM')]);
      if (codes.some((c) => c !== 0)) problems.push(`drain exit codes ${codes.join(', ')} (want 0, 0)`);
      await Promise.all([stack.spawn('api'), stack.spawn('worker')]);
    },
  },
  {
    name: 'Redis restart (SIGTERM, AOF)',
    dependency: true,
    inject: async () => {
      await stack.redis.stop();
      await sleep(1500);
      await stack.startRedis();
    },
  },
  {
    name: 'Redis kill -9 (no save)',
    dependency: true,
    inject: async () => {
      await stack.crash('redis', 'SIGKILL');
      await sleep(1500);
      await stack.startRedis();
    },
  },
  {
    name: 'Postgres restart (fast shutdown)',
    dependency: true,
    inject: async () => {
      await stack.postgres.stop();
      await sleep(1500);
      await stack.startPostgres();
    },
  },
  {
    name: 'Postgres immediate shutdown (crash recovery)',
    dependency: true,
    inject: async () => {
      await stack.crash('postgres', 'SIGQUIT');
      await sleep(1500);
      await stack.startPostgres();
    },
  },
  {
    name: 'model file missing, then corrupted, between restarts',
    inject: async () => {
      await stack.signal('worker', 'SIGTERM');
      const gone = breakModel(stack.modelDir, 'missing');
      const missing = await stack.refusedStart('worker');
      gone.restore();
      const bad = breakModel(stack.modelDir, 'corrupt');
      const corrupted = await stack.refusedStart('worker');
      bad.restore();
      if (!/cannot be read/.test(missing))
        problems.push(`worker with a missing model: ${missing.slice(0, 300)}`);
      if (!/refusing it/.test(corrupted))
        problems.push(`worker with a corrupted model: ${corrupted.slice(0, 300)}`);
      await stack.spawn('worker');
    },
  },
];

/** The table so far into docs/reliability.md (each test adds its rows, so a failing one still reports). */
function publish() {
  console.log(`\n${renderTable(rows)}\n`);
  writeSection('docs/reliability.md', 'faults', `${renderTable(rows)}\n\n${runLine(run, loadavg())}`);
}

test('faults, one at a time: nothing accepted is lost or finished twice, and service resumes by itself', async () => {
  for (const fault of FAULTS) await runFault(fault);
  const npm = await killWholeNpmStart();
  rows.push(npm.row);
  problems.push(...npm.problems);
  publish();
  assert.deepEqual(problems.splice(0), []);
});

test('faults combined (a second one while the first is unhealed): the same invariants hold', async () => {
  for (const fault of combinedFaults(stack, problems)) await runFault(fault);
  publish();
  assert.deepEqual(problems.splice(0), []);
});

test('no API key, bootstrap key or password appears in any log line of the fault run', () => {
  const logs = stack.logs();
  assert.ok(logs.length > 10_000, 'the logs were captured');
  for (const [name, secret] of Object.entries(stack.secrets)) {
    assert.ok(secret.length >= 16, name);
    assert.equal(logs.includes(secret), false, `${name} appears in the logs`);
  }
});
