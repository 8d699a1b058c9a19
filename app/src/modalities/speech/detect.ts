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
import type { InferenceContext, RawRequest, TaskModule, TensorMap } from '../types.ts';
import { resample } from './resample.ts';
import { speechSegments } from './segments.ts';
import { z } from 'zod';
import { base64Field, base64Input } from '../decode.ts';
import { decodeWav, type DecodedWav } from './wav.ts';
import { runVadSpan, SPAN_WINDOWS, vadOutputs, vadParams, vadSpan, type VadParams } from './vad.ts';

export { vadParams, type VadParams };

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

function checkDuration(wav: DecodedWav): DecodedWav {
  const seconds = wav.frames / wav.sampleRate;
  if (seconds > MAX_AUDIO_SECONDS) {
    throw new BadRequestError(
      `audio is ${seconds.toFixed(1)} s long; at most ${MAX_AUDIO_SECONDS} s is accepted`,
    );
  }
  return wav;
}

/** Per-window speech probabilities for 16 kHz mono audio, the model's recurrent state carried along. */
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
  const outputs = vadOutputs(entry);
  const windows = Math.ceil(audio.length / params.windowSamples);
  const probs = new Float32Array(windows);
  let state: Float32Array = new Float32Array(2 * 128);
  for (let first = 0; first < windows; first += SPAN_WINDOWS) {
    const span = vadSpan(audio, first, Math.min(SPAN_WINDOWS, windows - first), state, params);
    // In the engine the span runs in an inference thread as one call; plain sessions run it window by window.
    const out = ctx.inferSequence
      ? fromSequence(await ctx.inferSequence('main', span))
      : await runVadSpan(span, params, outputs, (feeds) => ctx.infer('main', feeds));
    probs.set(out.probs, first);
    state = out.state;
  }
  return probs;
}

function fromSequence(out: TensorMap): { probs: Float32Array; state: Float32Array } {
  const { probs, state } = out;
  if (!(probs?.data instanceof Float32Array) || !(state?.data instanceof Float32Array))
    throw new Error('the VAD sequence step returned unexpected tensors');
  return { probs: probs.data, state: state.data };
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
