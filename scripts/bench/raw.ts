/**
 * (a) Raw onnxruntime-node in the bench process: one InferenceSession, inputs featurized with the app's
 * `hashTextFeatures`, `session.run` timed at batch 1 (per call) and batched (per item). Featurization is
 * timed separately so that the rows can be read both ways (model only, and featurize + model).
 */
import ort from 'onnxruntime-node';
import { packFeatureBatch, type HashedFeatures } from '../../app/src/modalities/text/features.ts';
import { hashTextFeatures, type BenchModel } from './inputs.ts';
import { summarize } from './stats.ts';

export interface RawBatch1 {
  iterations: number;
  run: { p50: number; p99: number; mean: number };
  featurize: { p50: number; p99: number; mean: number };
  /** featurize + tensor construction + run, per call. */
  total: { p50: number; p99: number; mean: number };
  /** Calls per second, one after another (featurize + run). */
  throughput: number;
  /** session.run calls per second, one after another, on inputs featurized beforehand (wall clock). */
  runThroughput: number;
}

export interface RawBatched {
  batch: number;
  /** Items per second through session.run alone (inputs pre-featurized and packed). */
  runItemsPerSec: number;
  /** Items per second including featurization and packing on the same thread. */
  totalItemsPerSec: number;
  /** session.run time per batch. */
  runMsP50: number;
}

export async function createSession(
  model: BenchModel,
  intraOpThreads: number,
): Promise<ort.InferenceSession> {
  // Same session options as the app's inference thread (app/src/inference/thread.ts), dynamic shapes.
  return ort.InferenceSession.create(model.path, {
    executionProviders: ['cpu'],
    intraOpNumThreads: intraOpThreads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    enableMemPattern: false,
    logSeverityLevel: 4,
  });
}

function feeds(f: HashedFeatures): Record<string, ort.Tensor> {
  const n = Math.max(1, f.ids.length);
  const ids = f.ids.length ? f.ids : new BigInt64Array(1);
  const weights = f.weights.length ? f.weights : new Float32Array(1);
  return { ids: new ort.Tensor('int64', ids, [1, n]), weights: new ort.Tensor('float32', weights, [1, n]) };
}

export async function rawBatch1(
  session: ort.InferenceSession,
  model: BenchModel,
  texts: string[],
  opts: { warmup: number; iterations: number },
): Promise<RawBatch1> {
  for (let i = 0; i < opts.warmup; i++)
    await session.run(feeds(hashTextFeatures(texts[i % texts.length]!, model.spec)));
  const run: number[] = [];
  const feat: number[] = [];
  const total: number[] = [];
  const started = performance.now();
  for (let i = 0; i < opts.iterations; i++) {
    const t0 = performance.now();
    const f = hashTextFeatures(texts[i % texts.length]!, model.spec);
    const input = feeds(f);
    const t1 = performance.now();
    await session.run(input);
    const t2 = performance.now();
    feat.push(t1 - t0);
    run.push(t2 - t1);
    total.push(t2 - t0);
  }
  const elapsed = (performance.now() - started) / 1000;
  // session.run alone, back to back, on inputs built beforehand: a measured rate, not 1000 / mean.
  const prepared = texts.map((t) => feeds(hashTextFeatures(t, model.spec)));
  const runStarted = performance.now();
  for (let i = 0; i < opts.iterations; i++) await session.run(prepared[i % prepared.length]!);
  const runThroughput = opts.iterations / ((performance.now() - runStarted) / 1000);
  const pick = (s: ReturnType<typeof summarize>) => ({ p50: s.p50, p99: s.p99, mean: s.mean });
  return {
    iterations: opts.iterations,
    run: pick(summarize(run)),
    featurize: pick(summarize(feat)),
    total: pick(summarize(total)),
    throughput: opts.iterations / elapsed,
    runThroughput,
  };
}

/** Batches run before each batched measurement, discarded. */
export const RAW_WARMUP_BATCHES = 3;

export async function rawBatched(
  session: ort.InferenceSession,
  model: BenchModel,
  texts: string[],
  opts: { batch: number; seconds: number },
): Promise<RawBatched> {
  const B = opts.batch;
  const pre = texts.map((t) => hashTextFeatures(t, model.spec));
  const batches: ReturnType<typeof packFeatureBatch>[] = [];
  for (let i = 0; i < pre.length; i += B) {
    batches.push(packFeatureBatch(Array.from({ length: B }, (_, k) => pre[(i + k) % pre.length]!)));
  }
  const toFeeds = (p: ReturnType<typeof packFeatureBatch>) => ({
    ids: new ort.Tensor('int64', p.ids, p.dims),
    weights: new ort.Tensor('float32', p.weights, p.dims),
  });
  for (const b of batches.slice(0, RAW_WARMUP_BATCHES)) await session.run(toFeeds(b)); // warm-up

  // Model only: pre-packed batches, rotated.
  const runMs: number[] = [];
  let items = 0;
  let started = performance.now();
  const half = (opts.seconds * 1000) / 2;
  for (let i = 0; performance.now() - started < half; i++) {
    const t0 = performance.now();
    await session.run(toFeeds(batches[i % batches.length]!));
    runMs.push(performance.now() - t0);
    items += B;
  }
  const runItemsPerSec = items / ((performance.now() - started) / 1000);

  // Featurize + pack + run on one thread: what a single-threaded batch pipeline can reach.
  items = 0;
  started = performance.now();
  for (let i = 0; performance.now() - started < half; i++) {
    const fs = Array.from({ length: B }, (_, k) =>
      hashTextFeatures(texts[(i * B + k) % texts.length]!, model.spec),
    );
    await session.run(toFeeds(packFeatureBatch(fs)));
    items += B;
  }
  const totalItemsPerSec = items / ((performance.now() - started) / 1000);
  return { batch: B, runItemsPerSec, totalItemsPerSec, runMsP50: summarize(runMs).p50 };
}
