/**
 * speech.detect: voice activity detection with Silero VAD (v5/v6 ONNX interface: `input` [1, context +
 * window] float32, `state` [2, 1, 128] float32, `sr` int64 scalar → `output` [1, 1], `stateN` [2, 1, 128]).
 *
 * The WAV is decoded to mono, resampled to the model's rate (16 kHz), cut into 512-sample windows, each
 * fed with the previous window's last 64 samples as context and the recurrent state the model returned
 * for the previous window (so the model runs with batching `none`), and the per-window speech
 * probabilities are turned into segments like Silero's `get_speech_timestamps`.
 */
import { createHash } from 'node:crypto';
import { BadRequestError } from '../../errors.ts';
import type { ModelEntry } from '../../models/manifest.ts';
import type { InferenceContext, RawRequest, TaskModule, TensorData } from '../types.ts';
import { resample } from './resample.ts';
import { speechSegments, type SegmentOptions } from './segments.ts';
import { z } from 'zod';
import { base64Field, base64Input } from '../decode.ts';
import { decodeWav, type DecodedWav } from './wav.ts';

/** Longest audio accepted, seconds (one model call per 32 ms: 10 minutes is ~19k calls). */
export const MAX_AUDIO_SECONDS = 600;

export interface SpeechSegment {
  startMs: number;
  endMs: number;
  /** Mean speech probability of the segment's windows. */
  probability: number;
}

export interface SpeechDetectResult {
  segments: SpeechSegment[];
  /** Sum of the segments' durations. */
  speechMs: number;
  /** Duration of the whole input. */
  durationMs: number;
  /** Sample rate of the input file (the model itself always runs at 16 kHz). */
  sampleRate: number;
}

export interface VadParams extends SegmentOptions {
  contextSamples: number;
}

const DEFAULTS: VadParams = {
  sampleRate: 16000,
  windowSamples: 512,
  contextSamples: 64,
  threshold: 0.5,
  negThreshold: 0.35,
  minSpeechMs: 250,
  minSilenceMs: 100,
  speechPadMs: 30,
};

/** The VAD parameters from the manifest entry's `preprocess`, with Silero's defaults for missing ones. */
export function vadParams(entry: ModelEntry): VadParams {
  const p = entry.preprocess;
  const out: VadParams = { ...DEFAULTS };
  for (const key of Object.keys(DEFAULTS) as (keyof VadParams)[]) {
    const v = p[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new Error(`manifest entry ${entry.name}: preprocess.${key} must be a non-negative number`);
    }
    out[key] = v;
  }
  return out;
}

function checkDuration(wav: DecodedWav): DecodedWav {
  const seconds = wav.frames / wav.sampleRate;
  if (seconds > MAX_AUDIO_SECONDS) {
    throw new BadRequestError(
      `audio is ${seconds.toFixed(1)} s long; at most ${MAX_AUDIO_SECONDS} s is accepted`,
    );
  }
  return wav;
}

function tensorOf(out: Record<string, TensorData>, name: string, model: string): TensorData {
  const t = out[name];
  if (!t) throw new Error(`model ${model} returned no output "${name}"`);
  return t;
}

/** Per-window speech probabilities for 16 kHz mono audio, running the model with its recurrent state. */
export async function speechProbabilities(
  audio: Float32Array,
  ctx: InferenceContext,
  params: VadParams,
): Promise<Float32Array> {
  const entry = ctx.model('main');
  const names = new Set(entry.inputs.map((i) => i.name));
  for (const n of ['input', 'state', 'sr']) {
    if (!names.has(n))
      throw new Error(`model ${entry.name} has no input "${n}" (expected a Silero v5/v6 VAD)`);
  }
  const [probName, stateName] = [entry.outputs[0]?.name ?? 'output', entry.outputs[1]?.name ?? 'stateN'];
  const { windowSamples: w, contextSamples: c } = params;
  const windows = Math.ceil(audio.length / w);
  const probs = new Float32Array(windows);
  let state = new Float32Array(2 * 128);
  for (let i = 0; i < windows; i++) {
    // Fresh buffers each call: the engine may transfer (detach) what it is given.
    const input = new Float32Array(c + w);
    input.set(audio.subarray(Math.max(0, i * w - c), i * w), c - Math.min(c, i * w));
    input.set(audio.subarray(i * w, Math.min(audio.length, (i + 1) * w)), c);
    const out = await ctx.infer('main', {
      input: { type: 'float32', data: input, dims: [1, c + w] },
      state: { type: 'float32', data: state, dims: [2, 1, 128] },
      sr: { type: 'int64', data: BigInt64Array.of(BigInt(params.sampleRate)), dims: [] },
    });
    const prob = tensorOf(out, probName, entry.name).data;
    const next = tensorOf(out, stateName, entry.name).data;
    if (!(prob instanceof Float32Array) || !(next instanceof Float32Array) || next.length !== 256) {
      throw new Error(`model ${entry.name} returned unexpected output tensors`);
    }
    probs[i] = prob[0] as number;
    state = Float32Array.from(next);
  }
  return probs;
}

const resultSchema = z
  .object({
    segments: z.array(
      z.object({ startMs: z.number().int(), endMs: z.number().int(), probability: z.number().min(0).max(1) }),
    ),
    speechMs: z.number().int(),
    durationMs: z.number().int(),
    sampleRate: z.number().int(),
  })
  .meta({
    id: 'SpeechDetectResult',
    examples: [
      {
        segments: [{ startMs: 1026, endMs: 2206, probability: 0.998 }],
        speechMs: 1180,
        durationMs: 6125,
        sampleRate: 16000,
      },
    ],
  });

export const speechDetect: TaskModule<DecodedWav, SpeechDetectResult> = {
  task: 'speech.detect',
  contentTypes: ['audio/wav', 'audio/x-wav', 'audio/wave'],
  schemas: {
    jobInput: base64Input('audio', 'a WAV file').meta({
      id: 'SpeechDetectJobInput',
      examples: [{ audio: 'UklGRiQAAABXQVZF' }],
    }),
    result: resultSchema,
  },

  decodeRequest(req: RawRequest) {
    return checkDuration(decodeWav(req.body));
  },

  decodeJobInput(input: unknown) {
    return checkDuration(decodeWav(base64Field(input, 'audio', 'a WAV file')));
  },

  fingerprint(input: DecodedWav) {
    const hash = createHash('sha256');
    hash.update(`${input.sampleRate}:`);
    hash.update(new Uint8Array(input.samples.buffer, input.samples.byteOffset, input.samples.byteLength));
    return hash.digest();
  },

  async run(input: DecodedWav, ctx: InferenceContext) {
    const params = vadParams(ctx.model('main'));
    const audio = resample(input.samples, input.sampleRate, params.sampleRate);
    const probs = await speechProbabilities(audio, ctx, params);
    const toMs = (samples: number) => Math.round((samples / params.sampleRate) * 1000);
    const segments = speechSegments(probs, audio.length, params).map((s) => ({
      startMs: toMs(s.start),
      endMs: toMs(s.end),
      probability: Math.round(s.probability * 1000) / 1000,
    }));
    return {
      segments,
      speechMs: segments.reduce((sum, s) => sum + (s.endMs - s.startMs), 0),
      durationMs: Math.round((input.frames / input.sampleRate) * 1000),
      sampleRate: input.sampleRate,
    };
  },
};
