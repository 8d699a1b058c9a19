/** bench:serve --only=stages: the side-by-side table and the CPU per response of each thread. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuPerResponse, groupP50, stageTable, type StageRun } from '../../scripts/bench/stages.ts';

const run = (label: string, p50: number, span: number, stages: [string, number][]): StageRun =>
  ({
    label,
    load: { p50, p99: 3 * p50, ok: 100, rps: 100 },
    summary: {
      requests: 100,
      spanP50: span,
      stages: stages.map(([stage, v]) => ({ stage, p50: v, mean: v })),
    },
  }) as StageRun;

test('a group is the sum of its stages’ p50s; stages a server lacks count 0', () => {
  const r = run('x', 1, 0.8, [
    ['routed', 0.01],
    ['bodyRead', 0.02],
    ['parsed', 0.03],
    ['run', 0.5],
  ]);
  assert.ok(Math.abs(groupP50(r.summary, ['routed', 'bodyRead', 'parsed']) - 0.06) < 1e-12);
  assert.equal(groupP50(r.summary, ['auth']), 0);
});

test('the table puts outside-the-server first and signs each difference', () => {
  const naive = run('naive', 0.5, 0.45, [
    ['parsed', 0.07],
    ['run', 0.08],
  ]);
  const claw = run('clawstack', 1.1, 0.95, [
    ['auth', 0.04],
    ['parsed', 0.05],
    ['run', 0.09],
  ]);
  const t = stageTable(naive, claw);
  assert.match(t[1]!, /client p50 \(autocannon\)\s+0\.500\s+1\.100 \+0\.600/);
  assert.match(t[2]!, /outside the server .*0\.050\s+0\.150 \+0\.100/);
  assert.match(
    t.find((l) => l.includes('  auth'))!,
    /0\.000\s+0\.040 \+0\.040/,
  );
  assert.match(
    t.find((l) => l.includes('JSON parse'))!,
    /0\.070\s+0\.050 -0\.020/,
  );
});

test('CPU per response: main thread first, then the busy threads by CPU; idle threads left out', () => {
  const before = new Map([
    [10, { user: 1, sys: 0.5 }],
    [11, { user: 0.2, sys: 0 }],
    [12, { user: 3, sys: 0 }],
  ]);
  const after = new Map([
    [10, { user: 1.5, sys: 0.7 }],
    [11, { user: 0.2, sys: 0 }],
    [12, { user: 3.1, sys: 0.05 }],
    [13, { user: 0.3, sys: 0 }], // started during the window
  ]);
  const rows = cpuPerResponse(10, before, after, 1000);
  assert.deepEqual(
    rows.map((r) => [r.thread, +r.userMs.toFixed(3), +r.sysMs.toFixed(3)]),
    [
      ['main', 0.5, 0.2],
      ['thread 1', 0.3, 0],
      ['thread 2', 0.1, 0.05],
    ],
  );
});
