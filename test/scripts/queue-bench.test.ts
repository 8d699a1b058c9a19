/**
 * bench:serve (d)'s readings (scripts/bench/queue-costs.ts, scripts/bench/queue-stages.ts): Redis calls
 * per command from INFO commandstats, and a job's worker-side stages from BullMQ's events stream and
 * the Postgres timestamps.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandCalls, commandsPerJob } from '../../scripts/bench/queue-costs.ts';
import { eventTimes, STAGES, stageStats } from '../../scripts/bench/queue-stages.ts';

test('commandstats: calls per command, per job between two readings, most first, idle commands left out', () => {
  const info = [
    '# Commandstats',
    'cmdstat_evalsha:calls=200,usec=900,usec_per_call=4.50,rejected_calls=0,failed_calls=0',
    'cmdstat_xadd:calls=400,usec=300,usec_per_call=0.75,rejected_calls=0,failed_calls=0',
    'cmdstat_client|setname:calls=3,usec=1,usec_per_call=0.33,rejected_calls=0,failed_calls=0',
    'cmdstat_ping:calls=7,usec=1,usec_per_call=0.14,rejected_calls=0,failed_calls=0',
  ].join('\r\n');
  const after = commandCalls(info);
  assert.deepEqual(after, { evalsha: 200, xadd: 400, 'client|setname': 3, ping: 7 });
  const per = commandsPerJob({ evalsha: 0, xadd: 0, ping: 7 }, after, 100);
  assert.deepEqual(Object.entries(per), [
    ['xadd', 4],
    ['evalsha', 2],
    ['client|setname', 0.03],
  ]);
});

test("events stream: each job's first waiting, active and completed times from the stream ids", () => {
  const times = eventTimes([
    ['1000-0', ['event', 'added', 'jobId', 'a', 'name', 'debug.echo']],
    ['1001-0', ['event', 'waiting', 'jobId', 'a']],
    ['1005-0', ['event', 'active', 'jobId', 'a', 'prev', 'waiting']],
    ['1007-1', ['event', 'drained']],
    ['1020-0', ['event', 'completed', 'jobId', 'a', 'returnvalue', '{}', 'prev', 'active']],
    ['1030-0', ['event', 'active', 'jobId', 'a', 'prev', 'waiting']],
    ['1031-0', ['event', 'waiting', 'jobId', 'b']],
  ]);
  assert.deepEqual(times.get('a'), { added: 1000, waiting: 1001, active: 1005, completed: 1020 });
  assert.deepEqual(times.get('b'), { waiting: 1031 });
  assert.equal(times.size, 2, 'events without a job id are skipped');
});

test('stages: median and mean of each difference; the slot time runs from taken to completed', () => {
  const job = (added: number, fetched: number, claimed: number, result: number, completed: number) => ({
    addedMs: added,
    fetchedMs: fetched,
    claimedMs: claimed,
    resultMs: result,
    completedMs: completed,
  });
  const s = stageStats([job(0, 10, 12, 15, 20), job(0, 20, 26, 27, 30), job(5, 5, 9, 10, 11)]);
  assert.deepEqual(s[STAGES[0]], { p50: 10, mean: 10 });
  assert.deepEqual(s[STAGES[1]], { p50: 4, mean: 4 });
  assert.deepEqual(s[STAGES[2]], { p50: 1, mean: 5 / 3 });
  assert.deepEqual(s[STAGES[3]], { p50: 3, mean: 3 });
  assert.deepEqual(s[STAGES[4]], { p50: 10, mean: 26 / 3 });
});
