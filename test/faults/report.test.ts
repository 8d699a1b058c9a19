/** The fault run's bookkeeping: what counts as lost and duplicated, and the docs table it writes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderTable, replaceSection, summarize } from './report.ts';

test('lost = accepted but not finished (or missing); duplicated = more than one terminal event', () => {
  const row = summarize(
    'x',
    ['a', 'b', 'c', 'd', 'e', 'a'],
    [
      { id: 'a', status: 'succeeded', terminalEvents: 1 },
      { id: 'b', status: 'failed', terminalEvents: 1 },
      { id: 'c', status: 'running', terminalEvents: 0 },
      { id: 'd', status: 'succeeded', terminalEvents: 2 },
    ],
    { recoverMs: 12_345, healMs: 1_049 },
  );
  assert.deepEqual(row, {
    fault: 'x',
    accepted: 5,
    completed: 2,
    failed: 1,
    lost: 2,
    duplicated: 1,
    recoverSeconds: 12.3,
    healSeconds: 1,
  });
  assert.match(renderTable([row]), /\| x \| 5 \| 2 \| 1 \| 2 \| 1 \| 12.3 \| 1 \|$/);
});

test('replaceSection swaps what is between the markers and keeps the rest', () => {
  const doc = 'intro\n<!-- t:begin -->\nold\n<!-- t:end -->\noutro\n';
  assert.equal(replaceSection(doc, 't', 'new'), 'intro\n<!-- t:begin -->\nnew\n<!-- t:end -->\noutro\n');
  assert.throws(() => replaceSection('no markers', 't', 'x'), /no <!-- t:begin -->/);
});
