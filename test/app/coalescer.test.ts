/** The write coalescer: when rows go to Postgres together, and what each caller gets back. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decideFlush, retrySingly, WriteCoalescer, type FlushPolicy } from '../../app/src/store/coalescer.ts';

const policy: FlushPolicy = { maxRows: 10, maxInFlight: 2, maxDelayMs: 5 };

describe('decideFlush', () => {
  test('nothing in flight: every pending row goes at once, at most maxRows', () => {
    assert.deepEqual(decideFlush({ pending: 3, inFlight: 0, oldestWaitMs: 0 }, policy), {
      kind: 'flush',
      rows: 3,
    });
    assert.deepEqual(decideFlush({ pending: 25, inFlight: 0, oldestWaitMs: 0 }, policy), {
      kind: 'flush',
      rows: 10,
    });
  });
  test('a statement in flight: rows wait for it, unless a batch is full or the oldest waited maxDelayMs', () => {
    assert.deepEqual(decideFlush({ pending: 3, inFlight: 1, oldestWaitMs: 1 }, policy), {
      kind: 'wait',
      ms: 4,
    });
    assert.deepEqual(decideFlush({ pending: 10, inFlight: 1, oldestWaitMs: 0 }, policy), {
      kind: 'flush',
      rows: 10,
    });
    assert.deepEqual(decideFlush({ pending: 2, inFlight: 1, oldestWaitMs: 5 }, policy), {
      kind: 'flush',
      rows: 2,
    });
  });
  test('never more than maxInFlight statements; nothing pending is nothing to do', () => {
    assert.deepEqual(decideFlush({ pending: 50, inFlight: 2, oldestWaitMs: 100 }, policy), { kind: 'idle' });
    assert.deepEqual(decideFlush({ pending: 0, inFlight: 0, oldestWaitMs: 0 }, policy), { kind: 'idle' });
  });
});

describe('retrySingly', () => {
  test('a data error in a batch is retried row by row; Postgres being down is not, nor a single row', () => {
    assert.equal(retrySingly(Object.assign(new Error('invalid input'), { code: '22P05' }), 5), true);
    assert.equal(
      retrySingly(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 5),
      false,
    );
    assert.equal(retrySingly(new Error('invalid input'), 1), false);
  });
});

describe('WriteCoalescer', () => {
  /** A write that takes `ms` and records each batch it was given. */
  const recorder = (ms: number, fail?: (items: number[]) => Error | undefined) => {
    const batches: number[][] = [];
    const write = async (items: number[]) => {
      batches.push(items);
      await sleep(ms);
      const err = fail?.(items);
      if (err) throw err;
      return items.map((i) => i * 10);
    };
    return { batches, write };
  };

  test('rows pushed together share one statement; rows pushed while it is in flight share the next', async () => {
    const { batches, write } = recorder(30);
    const c = new WriteCoalescer(write, { maxRows: 100, maxInFlight: 1, maxDelayMs: 1000 });
    const first = [1, 2, 3].map((i) => c.push(i));
    await sleep(10); // the first statement is on its way
    const second = [4, 5, 6, 7].map((i) => c.push(i));
    assert.deepEqual(await Promise.all([...first, ...second]), [10, 20, 30, 40, 50, 60, 70]);
    assert.deepEqual(batches, [
      [1, 2, 3],
      [4, 5, 6, 7],
    ]);
  });

  test('an amended row goes as its replacement while it waits; once a statement took it, amend says no', async () => {
    const { batches, write } = recorder(30);
    const c = new WriteCoalescer(write, { maxRows: 100, maxInFlight: 1, maxDelayMs: 1000 });
    const first = c.pushAmendable(1);
    await sleep(10); // 1 is on its way
    const waiting = c.pushAmendable(2);
    assert.equal(first.amend(100), false, 'taken by the statement in flight');
    assert.equal(waiting.amend(3), true, 'still waiting: replaced');
    assert.deepEqual(await Promise.all([first.done, waiting.done]), [10, 30]);
    assert.deepEqual(batches, [[1], [3]]);
  });

  test('a caller is answered only after the statement holding its row returned', async () => {
    const { write } = recorder(40);
    const c = new WriteCoalescer(write);
    let answered = false;
    const p = c.push(1).then((v) => ((answered = true), v));
    await sleep(15);
    assert.equal(answered, false, 'not before the write finished');
    assert.equal(await p, 10);
  });

  test('maxRows splits a burst, and maxInFlight statements go at once', async () => {
    let inFlight = 0;
    let peak = 0;
    const batches: number[][] = [];
    const c = new WriteCoalescer(
      async (items: number[]) => {
        batches.push(items);
        peak = Math.max(peak, ++inFlight);
        await sleep(20);
        inFlight--;
        return items;
      },
      { maxRows: 4, maxInFlight: 2, maxDelayMs: 0 },
    );
    const all = Array.from({ length: 10 }, (_, i) => c.push(i));
    assert.deepEqual(await Promise.all(all), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.ok(batches.every((b) => b.length <= 4));
    assert.deepEqual(batches.flat(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'every row once, in order');
    assert.equal(peak, 2);
  });

  test('a failed batch is retried row by row, so only the bad row fails', async () => {
    const { batches, write } = recorder(5, (items) =>
      items.includes(3) ? Object.assign(new Error('bad row'), { code: '22P05' }) : undefined,
    );
    const c = new WriteCoalescer(write);
    const results = await Promise.allSettled([1, 2, 3, 4].map((i) => c.push(i)));
    assert.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)),
      [10, 20, 'bad row', 40],
    );
    assert.deepEqual(batches, [[1, 2, 3, 4], [1], [2], [3], [4]]);
  });

  test('Postgres down fails the whole batch at once, without a statement per row', async () => {
    const down = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const { batches, write } = recorder(5, () => down);
    const c = new WriteCoalescer(write);
    const results = await Promise.allSettled([1, 2, 3].map((i) => c.push(i)));
    assert.ok(results.every((r) => r.status === 'rejected' && r.reason === down));
    assert.equal(batches.length, 1);
  });
});
