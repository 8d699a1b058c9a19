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

/** Whether `prepareFor(entry)` gives a step (checked on the main thread, without building it). */
export const hasPrepare = (entry: ModelEntry): boolean => entry.task in PREPARE_BY_TASK;
