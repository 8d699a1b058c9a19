/**
 * Per-model sequence steps: a stateful model whose request is many small calls, each needing the state
 * the previous one returned (Silero VAD: one call per 32 ms window), runs a span of those calls back to
 * back inside the inference thread, as one engine call, instead of one engine call per window. Triton's
 * sequence batcher with implicit state does the same for such models. The result is a TensorMap like a
 * model's outputs, so it travels and is counted like one batch of one request.
 *
 * Keyed by the model's task; only pure modules may be imported here (this file is in the thread's bundle).
 */
import type { ModelEntry } from '../models/manifest.ts';
import { asVadSpan, runVadSpan, vadOutputs, vadParams, type RunFeeds } from '../modalities/speech/vad.ts';
import type { TensorMap } from '../modalities/types.ts';

export type Sequence = (input: unknown, run: RunFeeds) => Promise<TensorMap>;

const SEQUENCE_BY_TASK: Record<string, (entry: ModelEntry) => Sequence> = {
  'speech.detect': (entry) => {
    const shape = vadParams(entry);
    const outputs = vadOutputs(entry);
    return async (input, run) => {
      const { probs, state } = await runVadSpan(asVadSpan(input), shape, outputs, run);
      return {
        probs: { type: 'float32', data: probs, dims: [1, probs.length] },
        state: { type: 'float32', data: state, dims: [1, state.length] },
      };
    };
  },
};

/** The model's sequence step, if its task has one. */
export function sequenceFor(entry: ModelEntry): Sequence | undefined {
  return SEQUENCE_BY_TASK[entry.task]?.(entry);
}

/** Whether `sequenceFor(entry)` gives a step (checked on the main thread, without building it). */
export const hasSequence = (entry: ModelEntry): boolean => entry.task in SEQUENCE_BY_TASK;
