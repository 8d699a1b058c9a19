/**
 * POST /v1/text/classify: accuracy on held-out SpamAssassin e-mails and short messages (their subject lines,
 * never seen in training), calibration of the scores on short messages, result shape, and the result cache.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { MAX_BATCH_TEXTS } from '../../app/src/modalities/text/classify.ts';
import { expectedCalibrationError } from '../../scripts/lib/calibration.ts';
import { useTestApp } from '../harness/app.ts';

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/text-heldout.json', import.meta.url), 'utf8'),
) as {
  samples: { text: string; label: 'ham' | 'spam' }[];
  shortSamples: { text: string; label: 'ham' | 'spam' }[];
};

const app = useTestApp({ RESULT_CACHE_TTL_SECONDS: '60', RATE_LIMIT_REQUESTS: '100000' });

interface Classified {
  label: string;
  scores: Record<string, number>;
  model: { name: string; version: string; precision: string };
}

/** A classify answer: both classes scored, scores a distribution, label the larger, model named. */
function assertClassified(body: Classified) {
  assert.deepEqual(Object.keys(body.scores).sort(), ['ham', 'spam']);
  assert.ok(['ham', 'spam'].includes(body.label));
  assert.equal(body.label, body.scores.spam! > body.scores.ham! ? 'spam' : 'ham');
  assert.ok(Math.abs(body.scores.ham! + body.scores.spam! - 1) < 1e-5);
  assert.equal(body.model.name, 'text-spam');
  assert.equal(body.model.version, '1');
}

/** Classifies every sample over HTTP, 16 requests at a time: accuracy and calibration error of P(spam). */
async function classifyAll(samples: { text: string; label: 'ham' | 'spam' }[]) {
  const pSpam = new Array<number>(samples.length);
  let correct = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let i = next++; i < samples.length; i = next++) {
        const res = await app.call('/v1/text/classify', { method: 'POST', json: { text: samples[i]!.text } });
        assert.equal(res.status, 200);
        const body = (await res.json()) as Classified;
        pSpam[i] = body.scores.spam!;
        if (body.label === samples[i]!.label) correct++;
      }
    }),
  );
  const y = samples.map((s) => (s.label === 'spam' ? 1 : 0));
  return { accuracy: correct / samples.length, ece: expectedCalibrationError(pSpam, y) };
}

describe('text classify', () => {
  test('returns label, scores for every class and the model name/version', async () => {
    const res = await app.call('/v1/text/classify', {
      method: 'POST',
      json: { text: 'Hi team, the build is green again.' },
    });
    assert.equal(res.status, 200);
    assertClassified((await res.json()) as Classified);
  });

  test(`accuracy ≥ 0.95 on ${fixture.samples.length} held-out e-mails (through HTTP, 16 at a time)`, async () => {
    const { accuracy } = await classifyAll(fixture.samples);
    assert.ok(accuracy >= 0.95, `accuracy ${accuracy}`);
  });

  test(`short messages: accuracy ≥ 0.80 and calibration error ≤ 0.08 on ${fixture.shortSamples.length} held-out subject lines`, async () => {
    // The e-mail-only model scored 0.735 and ECE 0.13 on this sample: confident and often wrong.
    const { accuracy, ece } = await classifyAll(fixture.shortSamples);
    assert.ok(accuracy >= 0.8, `accuracy ${accuracy}`);
    assert.ok(ece <= 0.08, `expected calibration error ${ece}`);
  });

  test('a repeated input is answered from the Redis cache and counted as a hit', async () => {
    const text = `cache probe ${Date.now()}`;
    const first = await app.call('/v1/text/classify', { method: 'POST', json: { text } });
    assert.equal(first.headers.get('x-cache'), 'miss');
    const second = await app.call('/v1/text/classify', { method: 'POST', json: { text } });
    assert.equal(second.headers.get('x-cache'), 'hit');
    assert.deepEqual(await second.json(), await first.json());
    const metrics = await (await app.call('/metrics', { key: null })).text();
    const hits = /clawstack_result_cache_hits_total\{task="text.classify"[^}]*\} (\d+)/.exec(metrics);
    assert.ok(hits && Number(hits[1]) >= 1, 'cache hits counted');
  });

  test('an empty-token text (punctuation only) still classifies, the same as any other text without tokens', async () => {
    const res = await app.call('/v1/text/classify', { method: 'POST', json: { text: '!!! ??? ...' } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Classified;
    assertClassified(body);
    const other = await app.call('/v1/text/classify', { method: 'POST', json: { text: '--- ,;: ***' } });
    assert.equal(other.status, 200);
    assert.deepEqual(((await other.json()) as Classified).scores, body.scores, 'no tokens, same features');
  });

  test('a batch ({"texts": [...]}) answers one result per text, in order, matching single requests (same label, scores within 0.01)', async () => {
    const samples = fixture.samples.slice(0, 40);
    const res = await app.call('/v1/text/classify', {
      method: 'POST',
      json: { texts: samples.map((s) => s.text) },
    });
    assert.equal(res.status, 200);
    const { results } = (await res.json()) as { results: Classified[] };
    assert.equal(results.length, samples.length);
    for (const [i, r] of results.entries()) {
      assertClassified(r);
      const one = await app.call('/v1/text/classify', { method: 'POST', json: { text: samples[i]!.text } });
      const single = (await one.json()) as Classified;
      assert.equal(r.label, single.label, `text ${i}`);
      // The INT8 model quantizes activations dynamically, with one scale per batch: a text's scores move
      // slightly with its batch-mates (as they do under dynamic batching of single requests).
      const diff = Math.abs(r.scores.spam! - single.scores.spam!);
      assert.ok(diff < 0.01, `text ${i}: ${r.scores.spam} vs ${single.scores.spam}`);
    }
    const correct = results.filter((r, i) => r.label === samples[i]!.label).length;
    assert.ok(correct >= 0.9 * samples.length, `${correct} of ${samples.length} right`);
  });

  test('batch limits and shape errors are 400s naming the problem', async () => {
    const cases: [unknown, RegExp][] = [
      [{ texts: [] }, /^texts: must hold at least one text/],
      [
        { texts: Array(MAX_BATCH_TEXTS + 1).fill('x') },
        new RegExp(`^texts: at most ${MAX_BATCH_TEXTS} texts`),
      ],
      [{ texts: ['ok', ''] }, /^texts\.1: must not be empty/],
      [{ texts: ['ok'], text: 'both' }, /^body: Unrecognized key/],
      [{ texts: 'not a list' }, /^texts: /],
    ];
    for (const [json, message] of cases) {
      const res = await app.call('/v1/text/classify', { method: 'POST', json });
      assert.equal(res.status, 400, JSON.stringify(json).slice(0, 80));
      assert.match(((await res.json()) as { error: string }).error, message);
    }
  });
});
