/**
 * speech.detect end to end on real models (Silero VAD through onnxruntime-node) and the segment logic on
 * hand-built probabilities.
 *
 * Tolerances: the fixtures' speech intervals are exact (espeak-ng output trimmed at -60 dBFS, padded with
 * digital silence: scripts/make-fixtures.sh). Silero decides per 32 ms window, and get_speech_timestamps
 * pads each segment by 30 ms, so a start can be off by a window plus the pad (≤ ~62 ms either way; we allow
 * 100 ms). An end also waits for the probability to fall below the off-threshold, which lags the last
 * phoneme's decay by a window or two, plus the pad: we allow 150 ms.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BadRequestError } from '../../app/src/errors.ts';
import { speechDetect, vadParams, type SpeechDetectResult } from '../../app/src/modalities/speech/detect.ts';
import { speechSegments, type SegmentOptions } from '../../app/src/modalities/speech/segments.ts';
import { directContext, type DirectContext } from './helpers/direct-context.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures');
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as {
  speech: Record<string, { durationMs: number; speech: [number, number][] }>;
};
const START_TOLERANCE_MS = 100;
const END_TOLERANCE_MS = 150;

const wav = (name: string) => readFileSync(join(FIXTURES, 'speech', name));

describe('speech.detect with Silero VAD', () => {
  let ctx: DirectContext;
  const results = new Map<string, SpeechDetectResult>();

  before(async () => {
    ctx = await directContext('speech.detect');
  });
  after(async () => {
    await ctx.release();
  });

  async function detect(name: string): Promise<SpeechDetectResult> {
    const cached = results.get(name);
    if (cached) return cached;
    const input = await speechDetect.decodeRequest({ contentType: 'audio/wav', body: wav(name) });
    const result = await speechDetect.run(input, ctx);
    results.set(name, result);
    return result;
  }

  test('the manifest entry is a stateful Silero v5/v6 model served without batching', () => {
    const entry = ctx.model('main');
    assert.equal(entry.task, 'speech.detect');
    assert.equal(entry.batching, 'none');
    assert.deepEqual(
      entry.inputs.map((i) => i.name),
      ['input', 'state', 'sr'],
    );
    const p = vadParams(entry);
    assert.equal(p.sampleRate, 16000);
    assert.equal(p.windowSamples, 512);
    assert.ok(p.negThreshold < p.threshold);
  });

  for (const [name, truth] of Object.entries(expected.speech).filter(([, t]) => t.speech.length > 0)) {
    test(`${name}: segments land where the speech is`, async () => {
      const r = await detect(name);
      const decoded = await speechDetect.decodeRequest({ contentType: 'audio/wav', body: wav(name) });
      assert.equal(r.sampleRate, decoded.sampleRate);
      assert.ok(
        Math.abs(r.durationMs - truth.durationMs) <= 1,
        `duration ${r.durationMs} vs ${truth.durationMs}`,
      );
      assert.equal(r.segments.length, truth.speech.length, JSON.stringify(r.segments));
      truth.speech.forEach(([start, end], i) => {
        const s = r.segments[i]!;
        assert.ok(
          Math.abs(s.startMs - start) <= START_TOLERANCE_MS,
          `segment ${i} starts at ${s.startMs}, speech at ${start}`,
        );
        assert.ok(
          Math.abs(s.endMs - end) <= END_TOLERANCE_MS,
          `segment ${i} ends at ${s.endMs}, speech at ${end}`,
        );
        assert.ok(s.probability >= 0.5 && s.probability <= 1, `probability ${s.probability}`);
      });
      const truthMs = truth.speech.reduce((sum, [a, b]) => sum + (b - a), 0);
      assert.equal(
        r.speechMs,
        r.segments.reduce((sum, s) => sum + s.endMs - s.startMs, 0),
      );
      assert.ok(Math.abs(r.speechMs - truthMs) <= START_TOLERANCE_MS + END_TOLERANCE_MS);
    });
  }

  for (const name of ['silence-16k.wav', 'noise-white-16k.wav', 'noise-pink-16k.wav']) {
    test(`${name}: no speech`, async () => {
      const r = await detect(name);
      assert.equal(r.durationMs, 2000);
      // Negligible: no segment at all is expected; allow at most one minimum-length blip.
      assert.ok(r.speechMs <= 0.15 * r.durationMs, JSON.stringify(r.segments));
      assert.ok(r.segments.length <= 1, JSON.stringify(r.segments));
    });
  }

  test('one model call per 512-sample window at 16 kHz, carrying the recurrent state', async () => {
    const before = ctx.calls.main ?? 0;
    const input = await speechDetect.decodeRequest({
      contentType: 'audio/wav',
      body: wav('speech-8k-mono-u8.wav'),
    });
    await speechDetect.run(input, ctx);
    const samples16k = Math.ceil((input.frames * 16000) / input.sampleRate);
    assert.equal((ctx.calls.main ?? 0) - before, Math.ceil(samples16k / 512));
  });

  test('job input: base64 WAV gives the same result and fingerprint as the request body', async () => {
    const body = wav('speech-44k1-stereo-s16.wav');
    const fromJob = await speechDetect.decodeJobInput({ audio: body.toString('base64') });
    const fromRequest = await speechDetect.decodeRequest({ contentType: 'audio/wav', body });
    assert.deepEqual(speechDetect.fingerprint(fromJob), speechDetect.fingerprint(fromRequest));
    assert.notDeepEqual(
      speechDetect.fingerprint(fromJob),
      speechDetect.fingerprint(
        await speechDetect.decodeRequest({ contentType: 'audio/wav', body: wav('silence-16k.wav') }),
      ),
    );
    assert.deepEqual(await speechDetect.run(fromJob, ctx), await detect('speech-44k1-stereo-s16.wav'));
  });

  test('bad job inputs and bad WAV bodies are BadRequestErrors', async () => {
    const bad: [unknown, RegExp][] = [
      [null, /object/],
      ['UklGRg==', /object/],
      [{}, /"audio"/],
      [{ audio: 42 }, /"audio"/],
      [{ audio: '' }, /"audio"/],
      [{ audio: 'not base64!!' }, /base64/],
      [{ audio: Buffer.from('hello world, not a wav file').toString('base64') }, /invalid WAV/],
    ];
    for (const [input, message] of bad) {
      await assert.rejects(
        async () => speechDetect.decodeJobInput(input),
        (err: unknown) => err instanceof BadRequestError && message.test(err.message),
        JSON.stringify(input),
      );
    }
    const truncated = wav('speech-16k-mono-s16.wav').subarray(0, 1000);
    await assert.rejects(
      async () => speechDetect.decodeRequest({ contentType: 'audio/wav', body: truncated }),
      (err: unknown) => err instanceof BadRequestError && /truncated/.test(err.message),
    );
  });

  test('audio longer than the limit is refused before any inference', async () => {
    const header = Buffer.from(wav('silence-16k.wav').subarray(0, 44));
    const seconds = 601;
    const data = Buffer.alloc(8000 * seconds); // 8 kHz u8 mono: one byte per sample
    data.fill(128);
    header.writeUInt16LE(1, 22);
    header.writeUInt32LE(8000, 24);
    header.writeUInt32LE(8000, 28);
    header.writeUInt16LE(1, 32);
    header.writeUInt16LE(8, 34);
    header.writeUInt32LE(data.length, 40);
    header.writeUInt32LE(36 + data.length, 4);
    await assert.rejects(
      async () =>
        speechDetect.decodeRequest({ contentType: 'audio/wav', body: Buffer.concat([header, data]) }),
      (err: unknown) => err instanceof BadRequestError && /601\.0 s/.test(err.message),
    );
  });
});

describe('speech segments from window probabilities (get_speech_timestamps)', () => {
  const o: SegmentOptions = {
    windowSamples: 512,
    sampleRate: 16000,
    threshold: 0.5,
    negThreshold: 0.35,
    minSpeechMs: 250,
    minSilenceMs: 100,
    speechPadMs: 30,
  };
  const W = 512;
  const PAD = 480; // 30 ms at 16 kHz
  const probs = (...runs: [number, number][]) => runs.flatMap(([p, n]) => Array<number>(n).fill(p));

  test('one burst: starts at its first window, ends at its first quiet window, padded', () => {
    const p = probs([0.1, 10], [0.9, 20], [0.1, 10]);
    const segs = speechSegments(p, p.length * W, o);
    assert.equal(segs.length, 1);
    assert.equal(segs[0]!.start, 10 * W - PAD);
    assert.equal(segs[0]!.end, 30 * W + PAD);
    assert.ok(Math.abs(segs[0]!.probability - 0.9) < 1e-6);
  });

  test('hysteresis: dipping between the off and on thresholds does not end speech', () => {
    const p = probs([0.1, 5], [0.9, 10], [0.4, 10], [0.9, 10], [0.1, 10]);
    const segs = speechSegments(p, p.length * W, o);
    assert.equal(segs.length, 1);
    assert.equal(segs[0]!.end, 35 * W + PAD);
  });

  test('a pause shorter than minSilenceMs does not split; a longer one does', () => {
    // 100 ms = 3.125 windows: a 3-window pause is too short, a 10-window pause splits.
    const short = probs([0.1, 5], [0.9, 10], [0.1, 3], [0.9, 10], [0.1, 10]);
    assert.equal(speechSegments(short, short.length * W, o).length, 1);
    const long = probs([0.1, 5], [0.9, 10], [0.1, 10], [0.9, 10], [0.1, 10]);
    const segs = speechSegments(long, long.length * W, o);
    assert.equal(segs.length, 2);
    assert.equal(segs[0]!.end, 15 * W + PAD);
    assert.equal(segs[1]!.start, 25 * W - PAD);
  });

  test('bursts shorter than minSpeechMs are dropped; speech running to the end is closed there', () => {
    const blip = probs([0.1, 5], [0.9, 5], [0.1, 10]); // 160 ms
    assert.deepEqual(speechSegments(blip, blip.length * W, o), []);
    const open = probs([0.1, 5], [0.9, 20]);
    const total = open.length * W - 100; // last window partial
    const segs = speechSegments(open, total, o);
    assert.equal(segs.length, 1);
    assert.equal(segs[0]!.end, total);
  });

  test('neighbours closer than two pads share the gap instead of overlapping', () => {
    const o2 = { ...o, minSilenceMs: 30, speechPadMs: 100 }; // pad 1600 samples > gap/2
    const p = probs([0.1, 5], [0.9, 10], [0.1, 3], [0.9, 10], [0.1, 10]);
    const segs = speechSegments(p, p.length * W, o2);
    assert.equal(segs.length, 2);
    assert.equal(segs[0]!.end, segs[1]!.start);
    assert.equal(segs[0]!.end, 15 * W + Math.floor((3 * W) / 2));
  });

  test('no speech, no segments', () => {
    assert.deepEqual(speechSegments(probs([0.2, 50]), 50 * W, o), []);
    assert.deepEqual(speechSegments([], 0, o), []);
  });
});
