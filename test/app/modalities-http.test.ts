/**
 * Speech and image through the same interface as text: sync task endpoints, async jobs (base64 input)
 * and v2 metadata, with every model loaded in the real engine.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { useTestApp } from '../harness/app.ts';
import { editDistance } from '../../scripts/lib/model-eval.ts';

const fixture = (p: string) => readFileSync(new URL(`../fixtures/${p}`, import.meta.url));
const expected = JSON.parse(fixture('expected.json').toString()) as {
  speech: Record<string, { speech: [number, number][] }>;
  ocr: Record<string, string[]>;
};

const app = useTestApp({ MODELS: '', INFERENCE_THREADS: '2' });

const post = (path: string, body: Buffer, type: string) =>
  app.call(path, { method: 'POST', body, headers: { 'content-type': type } });

interface Segments {
  segments: { startMs: number; endMs: number; probability: number }[];
  speechMs: number;
}
interface Ocr {
  lines: { text: string; confidence: number; box: number[][] }[];
}

describe('speech.detect over HTTP', () => {
  test('POST /v1/speech/detect with a 44.1 kHz stereo WAV finds the spoken sentence', async () => {
    const res = await post('/v1/speech/detect', fixture('speech/speech-44k1-stereo-s16.wav'), 'audio/wav');
    assert.equal(res.status, 200);
    const body = (await res.json()) as Segments;
    const [start, end] = expected.speech['speech-44k1-stereo-s16.wav']!.speech[0]!;
    assert.equal(body.segments.length, 1);
    assert.ok(Math.abs(body.segments[0]!.startMs - start!) < 100, `start ${body.segments[0]!.startMs}`);
    assert.ok(Math.abs(body.segments[0]!.endMs - end!) < 150, `end ${body.segments[0]!.endMs}`);
    assert.ok(body.speechMs > 0);
  });

  test('silence → no segments; a PNG sent as audio/wav → 400; wrong media type → 415', async () => {
    const silent = (await (
      await post('/v1/speech/detect', fixture('speech/silence-16k.wav'), 'audio/wav')
    ).json()) as Segments;
    assert.deepEqual(silent.segments, []);
    const bad = await post('/v1/speech/detect', fixture('image/ocr-sans.png'), 'audio/wav');
    assert.equal(bad.status, 400);
    assert.equal(typeof ((await bad.json()) as { error: string }).error, 'string');
    assert.equal(
      (await post('/v1/speech/detect', fixture('speech/silence-16k.wav'), 'audio/mpeg')).status,
      415,
    );
  });
});

describe('image.ocr over HTTP', () => {
  test('POST /v1/image/ocr with PNG and JPEG returns the rendered lines', async () => {
    for (const [file, type] of [
      ['ocr-sans.png', 'image/png'],
      ['ocr-serif.jpg', 'image/jpeg'],
    ] as const) {
      const res = await post('/v1/image/ocr', fixture(`image/${file}`), type);
      assert.equal(res.status, 200);
      const body = (await res.json()) as Ocr;
      const got = body.lines.map((l) => l.text).join('\n');
      const truth = expected.ocr[file]!.join('\n');
      const accuracy = 1 - editDistance(got, truth) / truth.length;
      assert.ok(accuracy >= 0.9, `${file}: character accuracy ${accuracy} (${JSON.stringify(got)})`);
      for (const l of body.lines) assert.equal(l.box.length, 4);
    }
  });

  test('bytes that are not an image → 400 JSON', async () => {
    const res = await post('/v1/image/ocr', Buffer.from('definitely not a png'), 'image/png');
    assert.equal(res.status, 400);
  });
});

describe('speech and image as async jobs', () => {
  test('jobs with base64 input run through the same modules', async () => {
    const submit = async (task: string, input: unknown) => {
      const res = await app.call('/v1/jobs', { method: 'POST', json: { task, input } });
      assert.equal(res.status, 202, await res.clone().text());
      return ((await res.json()) as { id: string }).id;
    };
    const speechId = await submit('speech.detect', {
      audio: fixture('speech/speech-16k-mono-s16.wav').toString('base64'),
    });
    const ocrId = await submit('image.ocr', { image: fixture('image/ocr-sans.png').toString('base64') });
    const bad = await app.call('/v1/jobs', {
      method: 'POST',
      json: { task: 'image.ocr', input: { image: 42 } },
    });
    assert.equal(bad.status, 400, 'bad job input is refused at submission');
    const wait = async (id: string) => {
      for (let i = 0; i < 400; i++) {
        const j = (await (await app.call(`/v1/jobs/${id}`)).json()) as { status: string; result?: unknown };
        if (j.status === 'succeeded') return j.result;
        assert.notEqual(j.status, 'failed');
        await sleep(50);
      }
      throw new Error(`job ${id} did not finish`);
    };
    const speech = (await wait(speechId)) as Segments;
    assert.equal(speech.segments.length, 2);
    const ocr = (await wait(ocrId)) as Ocr;
    assert.ok(ocr.lines.length >= 3);
  });

  test("v2 lists every modality's models", async () => {
    const body = (await (await app.call('/v2/models')).json()) as { models: { name: string }[] };
    assert.deepEqual(body.models.map((m) => m.name).sort(), [
      'ocr-det',
      'ocr-rec',
      'silero-vad',
      'text-spam',
    ]);
  });
});
