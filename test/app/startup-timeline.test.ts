/**
 * The start-up timeline (app/src/telemetry/startup.ts) and bench:serve's reading of it from the log
 * (scripts/bench/startup-timeline.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  formatTimeline,
  relativeTo,
  STARTUP_TIMELINE_MSG,
  startupTimeline,
  summarizeTimeline,
  timed,
} from '../../app/src/telemetry/startup.ts';
import { logEvents, timelineFromLogs } from '../../scripts/bench/startup-timeline.ts';

describe('start-up timeline', () => {
  test('relativeTo shifts phases to the origin, rounds to 0.1 ms and orders them by start, then end', () => {
    const phases = [
      { name: 'b', thread: 'main', startMs: 1000.26, endMs: 1100 },
      { name: 'a', thread: 'inference-1', startMs: 1000.26, endMs: 1050 },
      { name: 'c', thread: 'main', startMs: 990, endMs: 995 },
    ];
    assert.deepEqual(
      relativeTo(phases, 990).map((p) => [p.name, p.startMs, p.endMs]),
      [
        ['c', 0, 5],
        ['a', 10.3, 60],
        ['b', 10.3, 110],
      ],
    );
  });

  test('timed records a synchronous phase, a promise once it settles, and a throwing phase', async () => {
    const name = `t-${Math.random()}`;
    assert.equal(
      timed(`${name}-sync`, () => 42),
      42,
    );
    assert.throws(() =>
      timed(`${name}-throws`, () => {
        throw new Error('boom');
      }),
    );
    const p = timed(`${name}-async`, () => new Promise((r) => setTimeout(() => r('done'), 30)));
    assert.equal(
      startupTimeline().filter((x) => x.name === `${name}-async`).length,
      0,
      'not before it settles',
    );
    assert.equal(await p, 'done');
    await new Promise((r) => setImmediate(r));
    const mine = startupTimeline().filter((x) => x.name.startsWith(name));
    assert.deepEqual(mine.map((x) => x.name).sort(), [`${name}-async`, `${name}-sync`, `${name}-throws`]);
    const async = mine.find((x) => x.name === `${name}-async`)!;
    assert.ok(async.endMs - async.startMs >= 25, `async phase took ${async.endMs - async.startMs} ms`);
    assert.ok(mine.every((x) => x.thread === 'main' && x.startMs > 0));
  });

  test('formatTimeline gives start–end, duration, thread and name per phase', () => {
    assert.deepEqual(
      formatTimeline([{ name: 'session text-spam', thread: 'inference-1', startMs: 5, endMs: 65.4 }]),
      ['    5–   65 ms (   60 ms)  inference-1 session text-spam'],
    );
  });

  test('timelineFromLogs reads the timeline line and shifts it to the spawn time, adding the exec phase', () => {
    const spawnedAt = 1_700_000_000_000;
    const log = [
      'not json',
      JSON.stringify({ level: 30, msg: 'models loaded' }),
      JSON.stringify({
        level: 30,
        msg: STARTUP_TIMELINE_MSG,
        processStartEpochMs: spawnedAt + 40,
        phases: [{ name: 'http: listen', thread: 'main', startMs: 300, endMs: 301 }],
      }),
    ].join('\n');
    assert.deepEqual(timelineFromLogs(log, spawnedAt), [
      { name: 'process spawned → Node running', thread: 'main', startMs: 0, endMs: 40 },
      { name: 'http: listen', thread: 'main', startMs: 340, endMs: 341 },
    ]);
    assert.deepEqual(timelineFromLogs('{"msg":"other"}', spawnedAt), []);
  });

  test('summarizeTimeline: ready at the last end; one span per group (before the colon; sessions), by start', () => {
    const phase = (name: string, startMs: number, endMs: number, thread = 'main') => ({
      name,
      thread,
      startMs,
      endMs,
    });
    assert.deepEqual(
      summarizeTimeline([
        phase('server bundle: read + compile', 60.4, 300),
        phase('server bundle: read, compile, evaluate', 50, 480.6),
        phase('inference thread: boot', 40, 200, 'inference-1'),
        phase('session text-spam', 210, 380, 'inference-1'),
        phase('session ocr-det (preloaded)', 380, 500, 'inference-1'),
        phase('http: listen', 510, 512.5),
      ]),
      {
        readyMs: 513,
        phases: 'inference thread 40–200, server bundle 50–481, sessions 210–500, http 510–513',
      },
    );
    assert.deepEqual(summarizeTimeline([]), { readyMs: 0, phases: '' });
  });

  test('logEvents keeps info-and-above messages, not request logs, in ms after the spawn', () => {
    const at = 1_700_000_000_000;
    const log = [
      'npm noise',
      JSON.stringify({ level: 20, time: at + 5, msg: 'start-up timeline' }),
      JSON.stringify({ level: 30, time: at + 9, msg: 'models loaded' }),
      JSON.stringify({ level: 30, time: at + 12, msg: 'request completed' }),
      JSON.stringify({ level: 40, time: at + 20, msg: 'slow' }),
    ].join('\n');
    assert.deepEqual(logEvents(log, at), [
      { msg: 'models loaded', ms: 9 },
      { msg: 'slow', ms: 20 },
    ]);
  });
});
