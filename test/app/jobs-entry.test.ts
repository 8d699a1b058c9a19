/** The queue entry of a job: small inputs ride in it, large ones stay in Postgres (pure). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { entryFor, INLINE_INPUT_MAX_BYTES } from '../../app/src/jobs/entry.ts';

const job = { id: 'a1', task: 'debug.echo', priority: 'high' as const };

test('an input up to INLINE_INPUT_MAX_BYTES of JSON (UTF-8 bytes) is carried; a larger one is not', () => {
  const fits = { s: 'x'.repeat(INLINE_INPUT_MAX_BYTES - 8) }; // {"s":"…"} is 8 bytes more
  assert.deepEqual(entryFor({ ...job, input: fits }), { ...job, input: fits });
  const over = { s: 'x'.repeat(INLINE_INPUT_MAX_BYTES - 7) };
  assert.deepEqual(entryFor({ ...job, input: over }), job);
  const multiByte = { s: 'é'.repeat(INLINE_INPUT_MAX_BYTES / 2) }; // 2 bytes each in UTF-8
  assert.deepEqual(entryFor({ ...job, input: multiByte }), job);
});

test('null and falsy inputs are carried as they are, so the worker does not read the record for them', () => {
  assert.deepEqual(entryFor({ ...job, input: null }), { ...job, input: null });
  assert.deepEqual(entryFor({ ...job, input: 0 }), { ...job, input: 0 });
});
