/**
 * Silero VAD's window loop (v5/v6 ONNX interface: `input` [1, context + window] float32, `state`
 * [2, 1, 128] float32, `sr` int64 scalar → speech probability [1, 1], next state [2, 1, 128]).
 *
 * Each window needs the state the model returned for the previous one, so a request's windows cannot be
 * batched; they run back to back. A span of windows runs as one engine call inside an inference thread
 * (app/src/inference/sequence.ts), not as one engine call per 32 ms window: under load each such call
 * waited for a turn of the threads, 192 turns for a 6 s file. Pure (no Node APIs): it is part of the
 * inference thread's bundle.
 */
import type { ModelEntry } from '../../models/manifest.ts';
import type { TensorData, TensorMap } from '../types.ts';
import type { SegmentOptions } from './segments.ts';

/** Windows per engine call: 8.2 s of audio, tens of ms of one thread, so other models get their turns. */
export const SPAN_WINDOWS = 256;

export interface VadShape {
  windowSamples: number;
  contextSamples: number;
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

/** A run of consecutive windows of one audio, with the state the model left after the window before. */
export interface VadSpan {
  /** The span's windows, preceded by up to `contextSamples` samples of the audio before them. */
  samples: Float32Array;
  /** How many samples of `samples` come before the span's first window (0 at the audio's start). */
  lead: number;
  windows: number;
  state: Float32Array;
}

/** The output names of the model: probability first, next state second. */
export interface VadOutputs {
  prob: string;
  state: string;
}

/** The output names from the manifest entry (Silero's own names when it lists none). */
export const vadOutputs = (entry: ModelEntry): VadOutputs => ({
  prob: entry.outputs[0]?.name ?? 'output',
  state: entry.outputs[1]?.name ?? 'stateN',
});

export type RunFeeds = (feeds: TensorMap) => Promise<TensorMap>;

/** The span of `windows` windows starting at window `first` of 16 kHz mono `audio`. */
export function vadSpan(
  audio: Float32Array,
  first: number,
  windows: number,
  state: Float32Array,
  shape: VadShape,
): VadSpan {
  const { windowSamples: w, contextSamples: c } = shape;
  const from = Math.max(0, first * w - c);
  const samples = audio.slice(from, Math.min(audio.length, (first + windows) * w));
  return { samples, lead: first * w - from, windows, state };
}

function tensorOf(out: TensorMap, name: string): TensorData {
  const t = out[name];
  if (!t) throw new Error(`the VAD model returned no output "${name}"`);
  return t;
}

/** Runs a span's windows one after the other: per-window probabilities and the state after the last. */
export async function runVadSpan(
  span: VadSpan,
  shape: VadShape,
  outputs: VadOutputs,
  run: RunFeeds,
): Promise<{ probs: Float32Array; state: Float32Array }> {
  const { windowSamples: w, contextSamples: c } = shape;
  const { samples, lead } = span;
  const probs = new Float32Array(span.windows);
  let state = span.state;
  for (let i = 0; i < span.windows; i++) {
    const at = lead + i * w;
    // Fresh buffers each call: the engine may transfer (detach) what it is given.
    const input = new Float32Array(c + w);
    input.set(samples.subarray(Math.max(0, at - c), at), c - Math.min(c, at));
    input.set(samples.subarray(at, Math.min(samples.length, at + w)), c);
    const out = await run({
      input: { type: 'float32', data: input, dims: [1, c + w] },
      state: { type: 'float32', data: state, dims: [2, 1, 128] },
      sr: { type: 'int64', data: BigInt64Array.of(BigInt(shape.sampleRate)), dims: [] },
    });
    const prob = tensorOf(out, outputs.prob).data;
    const next = tensorOf(out, outputs.state).data;
    if (!(prob instanceof Float32Array) || !(next instanceof Float32Array) || next.length !== 256) {
      throw new Error('the VAD model returned unexpected output tensors');
    }
    probs[i] = prob[0] as number;
    state = Float32Array.from(next);
  }
  return { probs, state };
}

/** A span as the thread receives it (structured clone), checked. */
export function asVadSpan(input: unknown): VadSpan {
  const s = input as Partial<VadSpan> | null;
  if (
    !s ||
    !(s.samples instanceof Float32Array) ||
    !(s.state instanceof Float32Array) ||
    s.state.length !== 256 ||
    !Number.isInteger(s.lead) ||
    !Number.isInteger(s.windows)
  )
    throw new Error('speech.detect: a VAD span must hold samples, lead, windows and a 256-value state');
  return s as VadSpan;
}
