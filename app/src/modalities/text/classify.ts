/**
 * `text.classify`: a message → label and class probabilities (spam/ham with the bundled model), or
 * many messages in one request (`{"texts": [...]}`, at most MAX_BATCH_TEXTS) → one result per message.
 */
import { z } from 'zod';
import { InferenceError } from '../../inference/engine.ts';
import { parseWith, readJsonBody } from '../decode.ts';
import type { ModelEntry } from '../../models/manifest.ts';
import type { InferenceContext, TaskModule } from '../types.ts';
import { textFeeds } from './feeds.ts';

export { textFeeds };

/** Most texts in one batch request (`{"texts": [...]}`); the body limit (BODY_LIMIT_BYTES) applies too. */
export const MAX_BATCH_TEXTS = 256;

/** Longest text accepted, in UTF-16 code units (as zod's max counts them). */
const MAX_TEXT_LENGTH = 1_000_000;
const text = z.string().min(1, 'must not be empty').max(MAX_TEXT_LENGTH);
const singleSchema = z
  .object({ text })
  .strict()
  .meta({ id: 'TextClassifyInput', examples: [{ text: 'WIN a FREE cruise! Click now' }] });
const batchSchema = z
  .object({
    texts: z
      .array(text)
      .min(1, 'must hold at least one text')
      .max(MAX_BATCH_TEXTS, `at most ${MAX_BATCH_TEXTS} texts per request`),
  })
  .strict()
  .meta({
    id: 'TextClassifyBatchInput',
    description: `Many messages in one request (at most ${MAX_BATCH_TEXTS}); results come in the same order.`,
    examples: [{ texts: ['WIN a FREE cruise! Click now', 'Minutes of the design review attached'] }],
  });
type Single = z.infer<typeof singleSchema>;
type Batch = z.infer<typeof batchSchema>;
type Input = Single | Batch;

export interface ClassifyResult {
  label: string;
  scores: Record<string, number>;
  model: { name: string; version: string; precision: string };
}

const singleResult = z
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
const batchResult = z
  .object({ results: z.array(singleResult).describe('one result per text, in request order') })
  .meta({ id: 'TextClassifyBatchResult' });

/**
 * The common request, checked without zod: an object with exactly one key, `text`, holding a string
 * that `text` accepts. Anything else (undefined here) goes through zod, so every error is zod's.
 */
export function plainSingle(value: unknown): Single | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  let keys = 0;
  for (const k in value) if (Object.hasOwn(value, k)) keys++;
  const t = (value as { text?: unknown }).text;
  return keys === 1 &&
    Object.hasOwn(value, 'text') &&
    typeof t === 'string' &&
    t.length >= 1 &&
    t.length <= MAX_TEXT_LENGTH
    ? { text: t }
    : undefined;
}

/** The schema for a value: the batch form when it has `texts`, the single form otherwise. */
const schemaFor = (value: unknown): z.ZodType<Input> =>
  typeof value === 'object' && value !== null && 'texts' in value ? batchSchema : singleSchema;

async function classifyOne(text: string, ctx: InferenceContext): Promise<ClassifyResult> {
  const model = ctx.model();
  const out = ctx.inferInput
    ? await ctx.inferInput('main', text)
    : await ctx.infer('main', textFeeds(model, text));
  return toResult(model, out[model.outputs[0]!.name]?.data as Float32Array | undefined);
}

function toResult(model: ModelEntry, probs: Float32Array | undefined): ClassifyResult {
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
}

export const textClassify: TaskModule<Input, ClassifyResult | { results: ClassifyResult[] }> = {
  task: 'text.classify',
  contentTypes: ['application/json'],
  schemas: {
    request: z.union([singleSchema, batchSchema]),
    jobInput: z.union([singleSchema, batchSchema]),
    result: z.union([singleResult, batchResult]),
  },
  decodeRequest(req) {
    const json = readJsonBody(req);
    return plainSingle(json) ?? parseWith(schemaFor(json), json);
  },
  decodeJobInput: (input) => parseWith(schemaFor(input), input, 'input'),
  // Prefixed so that no single text has the fingerprint of a batch.
  fingerprint: (input) => ('texts' in input ? `b:${JSON.stringify(input.texts)}` : `t:${input.text}`),
  textFeeds,
  async run(input, ctx) {
    if ('text' in input) return classifyOne(input.text, ctx);
    return { results: await Promise.all(input.texts.map((t) => classifyOne(t, ctx))) };
  },
};
