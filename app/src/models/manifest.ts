/**
 * models/manifest.json: what each shipped model is, where its file is, how to check it and how to feed it.
 */
import { z } from 'zod';

export const TENSOR_TYPES = ['float32', 'int64', 'int32', 'uint8', 'int8', 'bool'] as const;
export type TensorType = (typeof TENSOR_TYPES)[number];

export const tensorSpecSchema = z.object({
  name: z.string().min(1),
  type: z.enum(TENSOR_TYPES),
  /** -1 marks a dynamic dimension; the first dimension is the batch dimension when `batchable`. */
  shape: z.array(z.number().int().min(-1)),
});
export type TensorSpec = z.infer<typeof tensorSpecSchema>;

export const modelEntrySchema = z.object({
  /** Model name as used in URLs (`/v2/models/{name}`). */
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/),
  version: z.string().regex(/^[A-Za-z0-9._-]+$/),
  modality: z.enum(['text', 'speech', 'image']),
  /** Task this model serves, e.g. `text.classify`; a task may use several models (OCR: det + rec). */
  task: z.string().regex(/^[a-z]+\.[a-z-]+$/),
  /** Role of the model within its task when the task uses several models (e.g. `det`, `rec`). */
  role: z.string().default('main'),
  /** Path relative to the manifest's directory (or S3 prefix). */
  file: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().positive(),
  precision: z.enum(['fp32', 'int8']),
  inputs: z.array(tensorSpecSchema).min(1),
  outputs: z.array(tensorSpecSchema).min(1),
  /**
   * How requests are batched: `pad` concatenates requests along dim 0, zero-padding dynamic dims to the
   * largest in the batch; `none` runs each request alone (stateful or size-sensitive models).
   */
  batching: z.enum(['pad', 'none']).default('pad'),
  /** Class labels, for classifiers. */
  labels: z.array(z.string()).optional(),
  /** Modality-specific preprocessing parameters (read by the task module). */
  preprocess: z.record(z.string(), z.unknown()).default({}),
  /** Measured quality on the model's evaluation set, e.g. `{ "heldOutAccuracy": 0.97 }`. */
  metrics: z.record(z.string(), z.number()).default({}),
  source: z.string().min(1),
  license: z.string().min(1),
  /** Extra files the task needs (dictionaries…), relative paths with their sha256. */
  assets: z.array(z.object({ file: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })).default([]),
});
export type ModelEntry = z.infer<typeof modelEntrySchema>;

export const manifestSchema = z.object({
  schemaVersion: z.literal(1),
  models: z.array(modelEntrySchema),
});
export type Manifest = z.infer<typeof manifestSchema>;
