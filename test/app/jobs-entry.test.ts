/** The queue entry of a job: small inputs ride in it, large ones stay in Postgres (pure). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { entryFor, INLINE_INPUT_MAX_BYTES, stringChars } from '../../app/src/jobs/entry.ts';

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

test('stringChars: strings, keys and a byte per other value, nested, never more than the JSON has; past the bound at once', () => {
  const input = { a: 'xyz', list: ['é', { bc: 'd' }], n: 12, t: true, z: null };
  assert.equal(stringChars(input, 1000), 1 + 3 + 4 + 1 + 2 + 1 + 1 + 1 + 1 + 3); // + 12, true, null
  assert.ok(stringChars(input, 1000) <= Buffer.byteLength(JSON.stringify(input)));
  const big = { image: 'A'.repeat(5_000_000), more: ['x'.repeat(10)] };
  assert.ok(stringChars(big, INLINE_INPUT_MAX_BYTES) > INLINE_INPUT_MAX_BYTES);
  assert.deepEqual(entryFor({ ...job, input: big }), job);
  const numbers = { data: Array.from({ length: 300_000 }, (_, i) => i % 10) }; // a tensor's values
  assert.ok(stringChars(numbers, INLINE_INPUT_MAX_BYTES) > INLINE_INPUT_MAX_BYTES);
  assert.deepEqual(entryFor({ ...job, input: numbers }), job);
});
