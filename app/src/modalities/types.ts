/**
 * The modality interface: one module per task decodes input, turns it into tensors, runs the model(s)
 * through the inference engine and shapes a JSON result. Sync task endpoints, async jobs and the cache
 * all go through this interface, so a new task needs one module and its manifest line(s).
 */
import type { z } from 'zod';
import type { ModelEntry, TensorType } from '../models/manifest.ts';

export type TypedArray = Float32Array | BigInt64Array | Int32Array | Uint8Array | Int8Array;

/** A tensor as it travels between the main thread and inference threads (data is transferable). */
export interface TensorData {
  type: TensorType;
  data: TypedArray;
  dims: number[];
}
export type TensorMap = Record<string, TensorData>;

/** What a task module gets to run its models. */
export interface InferenceContext {
  /** The manifest entry loaded for a role of this task (`main`, or `det`/`rec`…). */
  model(role?: string): ModelEntry;
  /** Local path of a verified asset (dictionary, vocabulary…) named by its manifest `file`. */
  asset(file: string): string;
  /** Runs one request (batch dimension 1) through the engine; dynamic batching happens behind it. */
  infer(role: string, feeds: TensorMap): Promise<TensorMap>;
  /**
   * Runs one raw input (e.g. a text) through the model's prepare step (app/src/inference/prepare.ts),
   * which runs in an inference thread beside the model, and then the model. Optional: a context
   * without it (plain ORT sessions in tests and scripts) gets the feeds from the task module instead.
   */
  inferInput?(role: string, input: unknown): Promise<TensorMap>;
  /**
   * Runs one input through the model's sequence step (app/src/inference/sequence.ts): a chain of
   * dependent model calls (a stateful model's windows) in an inference thread, as one engine call.
   * Optional like `inferInput`: without it the task module makes the calls through `infer`.
   */
  inferSequence?(role: string, input: unknown): Promise<TensorMap>;
}

/** A request body as received by a sync task endpoint. */
export interface RawRequest {
  contentType: string;
  body: Buffer;
}

export interface TaskModule<Input = unknown, Result = unknown> {
  /** `modality.verb`, e.g. `text.classify`; the sync endpoint is `POST /v1/{modality}/{verb}`. */
  task: string;
  /** Content types the sync endpoint accepts (415 otherwise). */
  contentTypes: string[];
  /** `false` for a task that runs no model (debug.echo): served without any manifest entry. */
  needsModels?: false;
  /** `false` when the result cache would cost more than the task (debug.echo): never cached. */
  cacheable?: false;
  /**
   * The schemas its inputs are validated with and its result has, for the OpenAPI document:
   * `request` for a JSON sync body, `jobInput` for `/v1/jobs`' `input`. Examples go in `.meta()`.
   */
  schemas: { request?: z.ZodType; jobInput: z.ZodType; result: z.ZodType };
  /** Decodes a sync request body; throws `BadRequestError` (from app/src/errors.ts) naming the problem. */
  decodeRequest(req: RawRequest): Input | Promise<Input>;
  /** Decodes a job's JSON `input` (binary inputs travel base64-encoded in a field named in the docs). */
  decodeJobInput(input: unknown): Input | Promise<Input>;
  /** Bytes that identify the input for the result cache (with the model versions). */
  fingerprint(input: Input): Buffer | string;
  run(input: Input, ctx: InferenceContext): Promise<Result>;
  /**
   * For tasks whose model reads text: the model's feeds for one text (batch dimension 1). The v2
   * protocol uses it for BYTES inputs, so a text sent there is featurized exactly as this task does.
   */
  textFeeds?(model: ModelEntry, text: string): TensorMap;
}
