/** The engine's choice of the next model to run (app/src/inference/schedule.ts): readiness and fairness. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isReady, joinedUsage, nextBatch, type QueueView } from '../../app/src/inference/schedule.ts';

const q = (key: string, o: Partial<QueueView> = {}): QueueView => ({
  key,
  queued: 0,
  running: 0,
  maxBatch: 32,
  oldestWaitMs: 0,
  usedMs: 0,
  ...o,
});
const DELAY = 2;

describe('readiness (dynamic batching per model)', () => {
  test('an idle model runs at once; a model with a batch running waits for a full batch or the delay', () => {
    assert.equal(isReady(q('t', { queued: 1 }), DELAY), true);
    assert.equal(isReady(q('t', { queued: 1, running: 1, oldestWaitMs: 1 }), DELAY), false);
    assert.equal(isReady(q('t', { queued: 32, running: 1, oldestWaitMs: 0 }), DELAY), true);
    assert.equal(isReady(q('t', { queued: 3, running: 1, oldestWaitMs: 2 }), DELAY), true);
    assert.equal(isReady(q('t', { running: 1, oldestWaitMs: 5 }), DELAY), false, 'nothing queued');
  });

  test('nothing ready: wake up when the first queue turns ready; nothing queued: no wake-up', () => {
    const views = [
      q('a', { queued: 2, running: 1, oldestWaitMs: 0.5 }),
      q('b', { queued: 1, running: 1, oldestWaitMs: 1.5 }),
    ];
    assert.deepEqual(nextBatch(views, undefined, DELAY), { wakeInMs: 0.5 });
    assert.deepEqual(nextBatch([q('a'), q('b', { running: 1 })], 'a', DELAY), { wakeInMs: Infinity });
  });
});

describe('fairness across models', () => {
  test('the ready queue that used the least thread time runs, whatever the age of its requests', () => {
    const views = [
      q('text', { queued: 64, oldestWaitMs: 400, usedMs: 900 }),
      q('speech', { queued: 1, oldestWaitMs: 0, usedMs: 850 }),
    ];
    assert.deepEqual(nextBatch(views, undefined, DELAY), { run: 'speech' });
    assert.deepEqual(nextBatch(views, 'speech', DELAY), { run: 'speech' }, 'still the least used');
  });

  test('equal usage: round robin after the model served last', () => {
    const views = [q('a', { queued: 5 }), q('b', { queued: 5 }), q('c', { queued: 5 })];
    assert.deepEqual(nextBatch(views, undefined, DELAY), { run: 'a' });
    assert.deepEqual(nextBatch(views, 'a', DELAY), { run: 'b' });
    assert.deepEqual(nextBatch(views, 'b', DELAY), { run: 'c' });
    assert.deepEqual(nextBatch(views, 'c', DELAY), { run: 'a' });
  });

  test('a queue that is not ready is passed over, however little it used', () => {
    const views = [
      q('ocr', { queued: 1, running: 1, maxBatch: 32, oldestWaitMs: 0, usedMs: 0 }),
      q('text', { queued: 64, usedMs: 5000 }),
    ];
    assert.deepEqual(nextBatch(views, undefined, DELAY), { run: 'text' });
  });

  test('a single busy model keeps every free thread (no share is held back for idle models)', () => {
    const views = [q('speech', { usedMs: 0 }), q('text', { queued: 64, running: 1, usedMs: 1e6 })];
    assert.deepEqual(nextBatch(views, 'text', DELAY), { run: 'text' });
  });

  test('a model that was idle joins at the least usage of the busy models: idle time is no credit', () => {
    const views = [
      q('text', { queued: 64, running: 1, usedMs: 5000 }),
      q('ocr', { running: 1, usedMs: 4200 }),
      q('speech', { usedMs: 10 }),
    ];
    assert.equal(joinedUsage(10, views), 4200);
    assert.equal(joinedUsage(6000, views), 6000, 'its own count when above the floor');
    assert.equal(joinedUsage(10, [q('speech', { usedMs: 10 })]), 10, 'nothing busy: unchanged');
  });

  test('a flood of cheap batches and one expensive model share the thread by time, not by turns', () => {
    // Simulated: text batches cost 3 ms, a speech span 60 ms; both always have work queued.
    const used: Record<string, number> = { text: 0, speech: 0 };
    const cost: Record<string, number> = { text: 3, speech: 60 };
    const runs: Record<string, number> = { text: 0, speech: 0 };
    let last: string | undefined;
    for (let i = 0; i < 420; i++) {
      const views = ['text', 'speech'].map((k) => q(k, { queued: 1, usedMs: used[k]! }));
      const d = nextBatch(views, last, DELAY);
      assert.ok('run' in d);
      last = d.run;
      used[d.run]! += cost[d.run]!;
      runs[d.run]!++;
    }
    assert.deepEqual(runs, { text: 400, speech: 20 });
    assert.equal(used.text, used.speech);
  });
});
