/**
 * WAV parsing (against sox-made files in every supported format), malformed WAVs, and the resampler.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BadRequestError } from '../../app/src/errors.ts';
import { resample } from '../../app/src/modalities/speech/resample.ts';
import { decodeWav, WAVE_FORMAT_IEEE_FLOAT, WAVE_FORMAT_PCM } from '../../app/src/modalities/speech/wav.ts';

const TONES = join(import.meta.dirname, '../fixtures/speech/tones');
const tone = (name: string) => readFileSync(join(TONES, name));

/** Least-squares amplitude of a sinusoid of `freq` Hz (x holds a whole number of its periods). */
function amplitude(x: Float32Array, rate: number, freq: number, from = 0, to = x.length): number {
  let s = 0;
  let c = 0;
  for (let n = from; n < to; n++) {
    s += (x[n] as number) * Math.sin((2 * Math.PI * freq * n) / rate);
    c += (x[n] as number) * Math.cos((2 * Math.PI * freq * n) / rate);
  }
  return (2 / (to - from)) * Math.hypot(s, c);
}

function rms(x: Float32Array, from = 0, to = x.length): number {
  let e = 0;
  for (let n = from; n < to; n++) e += (x[n] as number) ** 2;
  return Math.sqrt(e / (to - from));
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

// 50 ms of a 0.5-amplitude 440 Hz sine at 8 kHz, written by sox in each format (scripts/make-fixtures.sh).
const FORMATS: { file: string; format: number; bits: number; extensible: boolean; step: number }[] = [
  { file: 'tone-u8.wav', format: WAVE_FORMAT_PCM, bits: 8, extensible: false, step: 1 / 128 },
  { file: 'tone-s16.wav', format: WAVE_FORMAT_PCM, bits: 16, extensible: false, step: 1 / 32768 },
  { file: 'tone-s24.wav', format: WAVE_FORMAT_PCM, bits: 24, extensible: true, step: 1 / 8388608 },
  { file: 'tone-s24-pcmheader.wav', format: WAVE_FORMAT_PCM, bits: 24, extensible: false, step: 1 / 8388608 },
  { file: 'tone-s32.wav', format: WAVE_FORMAT_PCM, bits: 32, extensible: true, step: 1e-7 },
  { file: 'tone-f32.wav', format: WAVE_FORMAT_IEEE_FLOAT, bits: 32, extensible: false, step: 1e-7 },
];

test('wav: every PCM/float format decodes to the same 440 Hz sine as the 64-bit float file', () => {
  const ref = decodeWav(tone('tone-f64.wav'));
  assert.equal(ref.format, WAVE_FORMAT_IEEE_FLOAT);
  assert.equal(ref.bitsPerSample, 64);
  assert.equal(ref.sampleRate, 8000);
  assert.equal(ref.frames, 400);
  assert.ok(Math.abs(amplitude(ref.samples, 8000, 440) - 0.5) < 1e-3);
  for (const f of FORMATS) {
    const w = decodeWav(tone(f.file));
    assert.equal(w.format, f.format, f.file);
    assert.equal(w.bitsPerSample, f.bits, f.file);
    assert.equal(w.extensible, f.extensible, f.file);
    assert.equal(w.channels, 1, f.file);
    assert.equal(w.sampleRate, 8000, f.file);
    assert.equal(w.frames, 400, f.file);
    // Within one quantisation step (plus rounding) of the float64 original.
    assert.ok(
      maxDiff(w.samples, ref.samples) <= f.step + 1e-6,
      `${f.file}: ${maxDiff(w.samples, ref.samples)}`,
    );
    assert.ok(Math.abs(amplitude(w.samples, 8000, 440) - 0.5) < 2e-3, f.file);
  }
});

test('wav: stereo is averaged to mono (left 440 Hz + right 1000 Hz → half of each)', () => {
  const w = decodeWav(tone('tone-stereo-s16.wav'));
  assert.equal(w.channels, 2);
  assert.equal(w.frames, 400);
  assert.ok(Math.abs(amplitude(w.samples, 8000, 440) - 0.25) < 2e-3);
  assert.ok(Math.abs(amplitude(w.samples, 8000, 1000) - 0.25) < 2e-3);
});

test('wav: chunks before data are skipped (odd sizes padded), streaming size 0xFFFFFFFF is read to the end', () => {
  const src = tone('tone-s16.wav'); // RIFF(12) + fmt (8+16) + data(8+800)
  assert.equal(src.toString('latin1', 36, 40), 'data');
  const list = Buffer.concat([
    Buffer.from('LIST'),
    Buffer.from([3, 0, 0, 0]),
    Buffer.from('abc'),
    Buffer.from([0]),
  ]);
  const withList = Buffer.concat([src.subarray(0, 36), list, src.subarray(36)]);
  withList.writeUInt32LE(withList.length - 8, 4);
  assert.deepEqual(decodeWav(withList).samples, decodeWav(src).samples);

  const streaming = Buffer.from(src);
  streaming.writeUInt32LE(0xffffffff, 40);
  streaming.writeUInt32LE(0xffffffff, 4);
  assert.deepEqual(decodeWav(streaming).samples, decodeWav(src).samples);
});

test('wav: malformed or unsupported files are rejected with a BadRequestError naming the problem', () => {
  const src = tone('tone-s16.wav');
  const edit = (fn: (b: Buffer) => void) => {
    const b = Buffer.from(src);
    fn(b);
    return b;
  };
  const cases: [string, Buffer, RegExp][] = [
    ['empty', Buffer.alloc(0), /too short/],
    ['not RIFF', Buffer.from('ID3\u0004 this is an mp3, honest'), /missing RIFF/],
    ['big-endian RIFX', edit((b) => b.write('RIFX', 0, 'latin1')), /RIFX/],
    ['not WAVE', edit((b) => b.write('AVI ', 8, 'latin1')), /not of type WAVE/],
    ['no fmt chunk', edit((b) => b.write('junk', 12, 'latin1')), /fmt/],
    ['no data chunk', src.subarray(0, 36), /no data chunk/],
    ['truncated data', src.subarray(0, src.length - 100), /truncated/],
    ['partial frame', edit((b) => b.writeUInt32LE(799, 40)), /whole number/],
    ['mu-law', edit((b) => b.writeUInt16LE(7, 20)), /mu-law/],
    ['12-bit PCM', edit((b) => b.writeUInt16LE(12, 34)), /12-bit PCM/],
    ['zero channels', edit((b) => b.writeUInt16LE(0, 22)), /0 channels/],
    ['sample rate 0', edit((b) => b.writeUInt32LE(0, 24)), /sample rate 0/],
    ['block align mismatch', edit((b) => b.writeUInt16LE(4, 32)), /block align/],
    ['empty data chunk', Buffer.concat([src.subarray(0, 40), Buffer.alloc(4)]), /no audio samples/],
    [
      'extensible with an unknown SubFormat',
      (() => {
        const b = Buffer.from(tone('tone-s24.wav'));
        b.writeUInt8(0x99, 12 + 8 + 40 - 1);
        return b;
      })(),
      /SubFormat/,
    ],
  ];
  for (const [name, bytes, message] of cases) {
    assert.throws(
      () => decodeWav(bytes),
      (err: unknown) => err instanceof BadRequestError && message.test(err.message),
      name,
    );
  }
});

test('resample: a 1 kHz sine keeps its frequency and energy from 44.1 kHz to 16 kHz', () => {
  const w = decodeWav(tone('sine-1k-44k1.wav'));
  const out = resample(w.samples, 44100, 16000);
  assert.equal(out.length, 16000);
  // Away from the edges (where the filter runs off the signal), amplitude and RMS are preserved.
  const [from, to] = [800, 15200];
  assert.ok(
    Math.abs(amplitude(out, 16000, 1000, from, to) - 0.5) < 5e-3,
    `${amplitude(out, 16000, 1000, from, to)}`,
  );
  assert.ok(Math.abs(rms(out, from, to) - 0.5 / Math.SQRT2) < 5e-3);
  // Its zero crossings say 1 kHz: 2 per period.
  let crossings = 0;
  for (let n = from + 1; n < to; n++)
    if (Math.sign(out[n] as number) !== Math.sign(out[n - 1] as number)) crossings++;
  assert.ok(Math.abs(crossings - (2 * 1000 * (to - from)) / 16000) <= 2, `${crossings} crossings`);
});

test('resample: band-limited — content above the new Nyquist frequency is removed, not aliased', () => {
  // 12 kHz at 44.1 kHz would alias to 4 kHz under nearest-neighbour or linear decimation to 16 kHz.
  const n = 44100;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = 0.5 * Math.sin((2 * Math.PI * 12000 * i) / 44100);
  const out = resample(x, 44100, 16000);
  assert.ok(rms(out, 800, 15200) < 0.5 * 0.01, `residual rms ${rms(out, 800, 15200)}`);
  assert.ok(amplitude(out, 16000, 4000, 800, 15200) < 1e-3);
  // Naive decimation really would have aliased it (so the test can tell the difference).
  const naive = new Float32Array(16000);
  for (let i = 0; i < 16000; i++) naive[i] = x[Math.round((i * 44100) / 16000)] as number;
  assert.ok(amplitude(naive, 16000, 4000, 800, 15200) > 0.3);
});

test('resample: upsampling 8 kHz to 16 kHz keeps a 1 kHz sine; equal rates return the input', () => {
  const x = new Float32Array(8000);
  for (let i = 0; i < x.length; i++) x[i] = 0.5 * Math.sin((2 * Math.PI * 1000 * i) / 8000);
  const out = resample(x, 8000, 16000);
  assert.equal(out.length, 16000);
  assert.ok(Math.abs(amplitude(out, 16000, 1000, 800, 15200) - 0.5) < 5e-3);
  for (let i = 800; i < 15200; i++) {
    assert.ok(
      Math.abs((out[i] as number) - 0.5 * Math.sin((2 * Math.PI * 1000 * i) / 16000)) < 5e-3,
      `sample ${i}`,
    );
  }
  assert.equal(resample(x, 8000, 8000), x);
});
