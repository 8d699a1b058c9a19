/** `text.classify`: a message → label and class probabilities (spam/ham with the bundled model). */
import { z } from 'zod';
import { InferenceError } from '../../inference/engine.ts';
import { parseJsonBody, parseWith } from '../decode.ts';
import type { ModelEntry } from '../../models/manifest.ts';
import type { InferenceContext, TaskModule, TensorMap } from '../types.ts';
import { hashTextFeatures, parseHashedFeatureSpec, type HashedFeatureSpec } from './features.ts';

const inputSchema = z
  .object({ text: z.string().min(1, 'must not be empty').max(1_000_000) })
  .strict()
  .meta({ id: 'TextClassifyInput', examples: [{ text: 'WIN a FREE cruise! Click now' }] });
type Input = z.infer<typeof inputSchema>;

export interface ClassifyResult {
  label: string;
  scores: Record<string, number>;
  model: { name: string; version: string; precision: string };
}

const resultSchema = z
  .object({
    label: z.string(),
    scores: z.record(z.string(), z.number().min(0).max(1)).describe('probability per label'),
    model: z.object({ name: z.string(), version: z.string(), precision: z.string() }),
  })
  .meta({
    id: 'TextClassifyResult',
    examples: [
      {
        label: 'spam',
        scores: { ham: 0.0138, spam: 0.9862 },
        model: { name: 'text-spam', version: '1', precision: 'int8' },
      },
    ],
  });

const specs = new WeakMap<object, HashedFeatureSpec>();

/**
 * The feeds for one text (batch dimension 1): the same featurizer for this task and for BYTES
 * inputs sent to the model through the v2 protocol.
 */
export function textFeeds(model: ModelEntry, text: string): TensorMap {
  let spec = specs.get(model);
  if (!spec) {
    spec = parseHashedFeatureSpec(model.preprocess);
    specs.set(model, spec);
  }
  const f = hashTextFeatures(text, spec);
  const n = Math.max(1, f.ids.length); // an input with no tokens is one padding feature
  const ids = f.ids.length ? f.ids : new BigInt64Array(1);
  const weights = f.weights.length ? f.weights : new Float32Array(1);
  return {
    ids: { type: 'int64', data: ids, dims: [1, n] },
    weights: { type: 'float32', data: weights, dims: [1, n] },
  };
}

export const textClassify: TaskModule<Input, ClassifyResult> = {
  task: 'text.classify',
  contentTypes: ['application/json'],
  schemas: { request: inputSchema, jobInput: inputSchema, result: resultSchema },
  decodeRequest: (req) => parseJsonBody(req, inputSchema),
  decodeJobInput: (input) => parseWith(inputSchema, input, 'input'),
  fingerprint: (input) => input.text,
  textFeeds,
  async run(input: Input, ctx: InferenceContext): Promise<ClassifyResult> {
    const model = ctx.model();
    const out = await ctx.infer('main', textFeeds(model, input.text));
    const probs = out[model.outputs[0]!.name]?.data as Float32Array | undefined;
    const labels = model.labels ?? [];
    if (!probs || probs.length !== labels.length)
      throw new InferenceError(`model ${model.name} returned an unexpected output`);
    let best = 0;
    const scores: Record<string, number> = {};
    labels.forEach((label, i) => {
      scores[label] = probs[i]!;
      if (probs[i]! > probs[best]!) best = i;
    });
    return {
      label: labels[best]!,
      scores,
      model: { name: model.name, version: model.version, precision: model.precision },
    };
  },
};
