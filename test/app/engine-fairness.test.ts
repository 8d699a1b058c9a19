/**
 * Scheduling across models in the real engine (inference threads, every model of the manifest): a flood
 * of text requests does not starve speech or OCR, and a stateful VAD request runs as spans of windows in
 * the inference thread with the probabilities of window-by-window calls. No latency is asserted (the
 * machine is shared); what is counted is which requests completed while the flood was still running,
 * and how many text batches ran while one speech request waited.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { InferenceEngine } from '../../app/src/inference/engine.ts';
import type { TaskRunner, ServedTask } from '../../app/src/modalities/runner.ts';
import { speechProbabilities, vadParams } from '../../app/src/modalities/speech/detect.ts';
import { SPAN_WINDOWS } from '../../app/src/modalities/speech/vad.ts';
import { decodeWav } from '../../app/src/modalities/speech/wav.ts';
import { Metrics } from '../../app/src/telemetry/metrics.ts';
import { startEngineRunner } from '../../scripts/lib/engine-runner.ts';
import { directContext } from './helpers/direct-context.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures');
const WAV = readFileSync(join(FIXTURES, 'speech/speech-16k-mono-s16.wav'));
const PNG = readFileSync(join(FIXTURES, 'image/ocr-sans.png'));
const TEXT_CONNECTIONS = 64;

/** Batches run so far of one model (the engine's batch-size histogram). */
async function batches(metrics: Metrics, model: string): Promise<number> {
  const values = (await metrics.batchSize.get()).values;
  return values
    .filter(
      (v) =>
        v.metricName === 'clawstack_inference_batch_size_count' &&
        (v.labels as Record<string, unknown>).model === model,
    )
    .reduce((sum, v) => sum + v.value, 0);
}

describe('engine: fair scheduling across models', () => {
  let engine: InferenceEngine;
  let runner: TaskRunner;
  let metrics: Metrics;
  let task: (name: string) => ServedTask;

  // A fresh engine per test, as the app runs by default (one inference thread, INT8 where a model has
  // it), so that the usage one test leaves in the scheduler does not shape the next one's turns.
  beforeEach(async () => {
    metrics = new Metrics('test');
    ({ engine, runner } = await startEngineRunner({ threads: 1, precision: 'int8', metrics }));
    task = (name) => runner.get(name);
  });
  afterEach(async () => engine?.close());

  test('a long recording runs as spans of windows in the thread, with the probabilities of one call per window', async () => {
    // Three copies of the fixture: 576 windows, so spans of 256 + 256 + 64 carry the state across.
    const one = speechSamples();
    const audio = new Float32Array(one.length * 3);
    for (let i = 0; i < 3; i++) audio.set(one, i * one.length);
    const speech = task('speech.detect');
    const params = vadParams(speech.context.model('main'));
    const windows = Math.ceil(audio.length / params.windowSamples);
    assert.ok(windows > 2 * SPAN_WINDOWS, `${windows} windows`);

    const callsBefore = await batches(metrics, 'silero-vad');
    const inThread = await speechProbabilities(audio, speech.context, params);
    assert.equal((await batches(metrics, 'silero-vad')) - callsBefore, Math.ceil(windows / SPAN_WINDOWS));

    const direct = await directContext('speech.detect');
    try {
      const perWindow = await speechProbabilities(audio, direct, params);
      assert.equal(direct.calls.main, windows, 'the reference made one call per window');
      assert.equal(inThread.length, perWindow.length);
      let maxDiff = 0;
      for (let i = 0; i < windows; i++) maxDiff = Math.max(maxDiff, Math.abs(inThread[i]! - perWindow[i]!));
      assert.ok(maxDiff < 1e-5, `largest difference ${maxDiff}`);
      // The copies are alike but not identical: the state carried over the joins changes a few windows.
      assert.ok(Math.max(...inThread) > 0.9, 'speech found');
    } finally {
      await direct.release();
    }
  });

  test('under a sustained flood of text, speech and OCR requests complete while the flood still runs', async (t) => {
    const speech = task('speech.detect');
    const ocr = task('image.ocr');
    const text = task('text.classify');
    const speechInput = await speech.module.decodeRequest({ contentType: 'audio/wav', body: WAV });
    const ocrInput = await ocr.module.decodeRequest({ contentType: 'image/png', body: PNG });

    let flooding = true;
    let textDone = 0;
    const flood = Array.from({ length: TEXT_CONNECTIONS }, async (_, c) => {
      for (let i = 0; flooding; i++) {
        await runner.run(text, { text: `message ${c}-${i}: win a free prize now, or notes from the review` });
        textDone++;
      }
    });
    // Let the flood build its backlog first.
    while (textDone < 4 * TEXT_CONNECTIONS) await new Promise((r) => setTimeout(r, 10));

    const textBatchesPerSpeech: number[] = [];
    const timeline: string[] = [];
    const speechLoop = (async () => {
      for (let i = 0; i < 3; i++) {
        const before = await batches(metrics, 'text-spam');
        const r = (await runner.run(speech, speechInput)).result as { segments: unknown[] };
        textBatchesPerSpeech.push((await batches(metrics, 'text-spam')) - before);
        assert.ok(r.segments.length > 0);
        timeline.push(`speech ${i} at text ${textDone}`);
      }
    })();
    const ocrLoop = (async () => {
      for (let i = 0; i < 2; i++) {
        const r = (await runner.run(ocr, ocrInput)).result as { lines: unknown[] };
        assert.ok(r.lines.length > 0);
        timeline.push(`ocr ${i} at text ${textDone}`);
      }
    })();
    try {
      await Promise.all([speechLoop, ocrLoop]);
      const textAtLast = textDone;
      // The flood was still running: text requests keep completing after the last speech/OCR answer.
      while (textDone < textAtLast + TEXT_CONNECTIONS) await new Promise((r) => setTimeout(r, 10));
    } finally {
      flooding = false;
      await Promise.all(flood);
    }
    t.diagnostic(
      `${timeline.join('; ')}; text batches per speech request: ${textBatchesPerSpeech.join(', ')}`,
    );

    // Before fair scheduling each of the request's 192 windows waited for at least one text batch (the
    // text queue always held an older request): ≥ 192 text batches per speech request. Now a speech
    // request waits for the text batches that use as much thread time as its last span did (tens), and
    // the first one, joining at the text queue's usage, for the batch already running (1 seen).
    const windows = Math.ceil(speechSamples().length / 512);
    for (const n of textBatchesPerSpeech)
      assert.ok(n < windows, `${n} text batches ran during one speech request (${windows} windows)`);
  });
});

/** The fixture's samples: 16 kHz mono, the model's rate, so no resampling. */
const speechSamples = (): Float32Array => decodeWav(WAV).samples;
