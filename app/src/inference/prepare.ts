/**
 * Per-model `prepare` steps: turn a request's raw input into the model's feeds (batch dimension 1)
 * inside the inference thread that runs the model, instead of on the event loop. The serving profile
 * (docs/benchmarks.md) showed the main thread 95 % busy, a third of it featurizing text, while the
 * inference thread idled; a model with a prepare step takes its raw input through
 * `InferenceEngine.inferInput` and its featurizing spreads over the inference threads.
 *
 * Keyed by the model's task; only pure modules may be imported here (this file is in the thread's bundle).
 */
import type { ModelEntry } from '../models/manifest.ts';
import { textFeeds } from '../modalities/text/feeds.ts';
import type { TensorMap } from '../modalities/types.ts';

export type Prepare = (input: unknown) => TensorMap;

const PREPARE_BY_TASK: Record<string, (entry: ModelEntry) => Prepare> = {
  'text.classify': (entry) => (input) => {
    if (typeof input !== 'string') throw new Error('prepare text.classify: input must be a string');
    return textFeeds(entry, input);
  },
};

/** The model's prepare step, if its task has one. */
export function prepareFor(entry: ModelEntry): Prepare | undefined {
  return PREPARE_BY_TASK[entry.task]?.(entry);
}

/**
 * Tasks whose model ignores padding (pack.ts), by the precisions whose answers do not depend on the
 * sub-batch either: a batch of their prepared inputs may run as sub-batches of similar length.
 * text.classify: an embedding bag whose padding id 0 has weight 0 (features.ts). Its INT8 file sums the
 * bag in int32 (MatMulInteger), exactly, so packed scores are bit-identical to the padded batch's; the
 * FP32 file's MatMul rounds differently with another [B, L] (last bits, test/app/pack.test.ts), so FP32
 * batches stay one padded batch and keep their answers.
 */
const PACKS_BY_LENGTH: Record<string, readonly string[]> = { 'text.classify': ['int8'] };

/** The length a prepared input is padded by (its first input's last dim), when the model packs by length. */
export function packLength(entry: ModelEntry): ((feeds: TensorMap) => number) | undefined {
  if (!PACKS_BY_LENGTH[entry.task]?.includes(entry.precision)) return undefined;
  const name = entry.inputs[0]!.name;
  return (feeds) => feeds[name]!.dims.at(-1)!;
}

/** Whether `prepareFor(entry)` gives a step (checked on the main thread, without building it). */
export const hasPrepare = (entry: ModelEntry): boolean => entry.task in PREPARE_BY_TASK;
