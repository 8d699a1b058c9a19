/** bench:serve's command line: which short run (--only) and which baseline build (--baseline) it asks for. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { partialRequest } from '../../scripts/bench/partial.ts';

test('no --only and no --baseline: the full run', () => {
  assert.equal(partialRequest([]), undefined);
  assert.equal(partialRequest(['--quick', '--no-docs']), undefined);
});

test('--baseline alone means the serve part with that baseline (the full run ignored it)', () => {
  assert.deepEqual(partialRequest(['--baseline=/x/dist']), { parts: ['serve'], baselineDir: '/x/dist' });
  assert.deepEqual(partialRequest(['--baseline', '/x/dist']), { parts: ['serve'], baselineDir: '/x/dist' });
});

test('--only lists the parts; --baseline goes with them', () => {
  assert.deepEqual(partialRequest(['--only=start,serve']), { parts: ['start', 'serve'] });
  assert.deepEqual(partialRequest(['--only=profile']), { parts: ['profile'] });
  assert.deepEqual(partialRequest(['--only=start', '--baseline=b']), { parts: ['start'], baselineDir: 'b' });
});

test('unknown parts, a missing value, and a baseline no part measures are refused, not ignored', () => {
  assert.throws(() => partialRequest(['--only=serve,cluster']), /unknown part\(s\) cluster/);
  assert.throws(() => partialRequest(['--baseline']), /--baseline needs a value/);
  assert.throws(() => partialRequest(['--baseline', '--quick']), /--baseline needs a value/);
  assert.throws(
    () => partialRequest(['--only=profile', '--baseline=b']),
    /start, serve, mixed and batch parts only/,
  );
  assert.deepEqual(partialRequest(['--only=mixed', '--baseline=b']), { parts: ['mixed'], baselineDir: 'b' });
  assert.deepEqual(partialRequest(['--only=batch,profile', '--baseline=b']), {
    parts: ['batch', 'profile'],
    baselineDir: 'b',
  });
});

test('the batch part’s bodies hold 32 texts each and rotate through every text', async () => {
  const { batchBodies } = await import('../../scripts/bench/batch-part.ts');
  const texts = Array.from({ length: 70 }, (_, i) => `t${i}`);
  const bodies = batchBodies(texts).map((b) => (JSON.parse(b) as { texts: string[] }).texts);
  assert.equal(bodies.length, 3);
  assert.ok(bodies.every((b) => b.length === 32));
  assert.deepEqual(new Set(bodies.flat()), new Set(texts));
  assert.equal(bodies[2]![31], 't25'); // (2 × 32 + 31) mod 70
});
