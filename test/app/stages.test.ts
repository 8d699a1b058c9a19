/**
 * Stage tracing (STAGE_TRACE_FILE, app/src/telemetry/stages.ts): a classify request through the real
 * service (Redis, Postgres, an inference thread) gets every stage stamped in order, across the thread
 * hop; the summary's per-stage p50s and span come from the stamps; tracing is off unless configured.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  flushStages,
  parseStageLines,
  STAGES,
  summarizeStages,
  tracing,
  type StageStamps,
} from '../../app/src/telemetry/stages.ts';
import { useTestApp } from '../harness/app.ts';

describe('summarizeStages (pure)', () => {
  const row = (t0: number, steps: [keyof StageStamps, number][]): StageStamps => {
    const r: StageStamps = { received: t0 };
    let t = t0;
    for (const [s, d] of steps) r[s] = t += d;
    return r;
  };

  test('each stage lasts from the previous stamp present; the span is received → written', () => {
    const rows = [
      row(1000, [
        ['auth', 0.1],
        ['parsed', 0.2],
        ['written', 0.3],
      ]),
      row(2000, [
        ['auth', 0.3],
        ['parsed', 0.4],
        ['written', 0.5],
      ]),
      row(3000, [
        ['auth', 0.2],
        ['written', 0.9],
      ]), // no 'parsed': its time counts to 'written'
    ];
    const s = summarizeStages(rows);
    assert.equal(s.requests, 3);
    const p50 = Object.fromEntries(s.stages.map((x) => [x.stage, x.p50]));
    assert.deepEqual(Object.keys(p50), ['auth', 'parsed', 'written']);
    assert.ok(Math.abs(p50.auth! - 0.2) < 1e-9);
    assert.ok(Math.abs(p50.parsed! - 0.3) < 1e-9);
    assert.ok(Math.abs(p50.written! - 0.5) < 1e-9);
    assert.ok(Math.abs(s.spanP50 - 1.1) < 1e-9);
  });

  test('only requests received inside the window count', () => {
    const rows = [row(1000, [['written', 1]]), row(2000, [['written', 5]]), row(3000, [['written', 9]])];
    const s = summarizeStages(rows, 1500, 2500);
    assert.equal(s.requests, 1);
    assert.equal(s.spanP50, 5);
  });
});

describe('a traced request through the service', () => {
  const dir = mkdtempSync(join(tmpdir(), 'clawstack-stages-test-'));
  const file = join(dir, 'stages.jsonl');
  const app = useTestApp({ MODELS: 'text-spam', STAGE_TRACE_FILE: file });

  test('every stage is stamped, in order, from Express to the response, across the inference thread', async () => {
    assert.ok(tracing, 'STAGE_TRACE_FILE turns tracing on');
    for (let i = 0; i < 3; i++) {
      const res = await app.call('/v1/text/classify', {
        method: 'POST',
        json: { text: `WIN a FREE cruise ${i}! Click now` },
      });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    await new Promise((r) => setTimeout(r, 20)); // 'finish' of the last response
    flushStages();
    const rows = parseStageLines(readFileSync(file, 'utf8'));
    const classify = rows.filter((r) => r.featurized !== undefined);
    assert.equal(classify.length, 3);
    for (const r of classify) {
      const times = STAGES.map((s) => r[s]);
      assert.ok(
        times.every((t) => typeof t === 'number'),
        `missing stages: ${STAGES.filter((s) => r[s] === undefined).join(', ')}`,
      );
      for (let i = 1; i < times.length; i++)
        assert.ok(times[i]! >= times[i - 1]!, `${STAGES[i]} before ${STAGES[i - 1]}: ${JSON.stringify(r)}`);
    }
    const s = summarizeStages(classify);
    assert.equal(s.stages.length, STAGES.length - 1);
    assert.ok(s.spanP50 > 0);
  });
});
