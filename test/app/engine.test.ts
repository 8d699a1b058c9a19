/** The inference engine: batching maths, dynamic batching under load, CUDA → CPU fallback. */
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import ort from 'onnxruntime-node';
import pino from 'pino';
import { InferenceEngine, takeBatch } from '../../app/src/inference/engine.ts';
import { collate, split } from '../../app/src/inference/tensors.ts';
import { hashTextFeatures, parseHashedFeatureSpec } from '../../app/src/modalities/text/features.ts';
import type { TensorMap } from '../../app/src/modalities/types.ts';
import { DirectorySource, ModelRegistry } from '../../app/src/models/registry.ts';
import { Metrics } from '../../app/src/telemetry/metrics.ts';

describe('collate and split', () => {
  test('stacks batch-1 tensors along dim 0, zero-padding the other dims to the largest', () => {
    const a = { x: { type: 'float32' as const, data: new Float32Array([1, 2]), dims: [1, 2] } };
    const b = { x: { type: 'float32' as const, data: new Float32Array([3, 4, 5]), dims: [1, 3] } };
    const out = collate([a, b]).x!;
    assert.deepEqual(out.dims, [2, 3]);
    assert.deepEqual([...out.data], [1, 2, 0, 3, 4, 5]);
  });

  test('pads inner dims of rank-3 tensors and int64 data', () => {
    const a = { x: { type: 'int64' as const, data: new BigInt64Array([1n, 2n]), dims: [1, 1, 2] } };
    const b = { x: { type: 'int64' as const, data: new BigInt64Array([3n, 4n, 5n, 6n]), dims: [1, 2, 2] } };
    const out = collate([a, b]).x!;
    assert.deepEqual(out.dims, [2, 2, 2]);
    assert.deepEqual([...out.data], [1n, 2n, 0n, 0n, 3n, 4n, 5n, 6n]);
  });

  test('split returns batch-1 slices', () => {
    const parts = split(
      { y: { type: 'float32', data: new Float32Array([1, 2, 3, 4, 5, 6]), dims: [3, 2] } },
      3,
    );
    assert.deepEqual(
      parts.map((p) => [...p.y!.data]),
      [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
    );
    assert.deepEqual(parts[1]!.y!.dims, [1, 2]);
  });
});

describe('takeBatch', () => {
  const feeds = { f: 1 };
  test('takes up to max requests of the kind of the first (feeds or raw inputs)', () => {
    const q = [{ feeds }, { feeds }, {}, { feeds }, {}, {}];
    assert.equal(takeBatch(q, 8).length, 2);
    assert.equal(takeBatch(q, 8).length, 1);
    assert.equal(takeBatch(q, 8).length, 1);
    assert.equal(takeBatch(q, 1).length, 1);
    assert.equal(takeBatch(q, 8).length, 1);
    assert.deepEqual(takeBatch(q, 8), []);
  });
  test('a request marked alone runs alone and ends the batch before it', () => {
    const q = [{ alone: true }, {}, {}, { alone: true }];
    assert.equal(takeBatch(q, 8).length, 1);
    assert.equal(takeBatch(q, 8).length, 2);
    assert.equal(takeBatch(q, 8).length, 1);
  });
});

describe('engine', () => {
  let registry: ModelRegistry;
  const texts = Array.from(
    { length: 64 },
    (_, i) =>
      `message ${i}: ${i % 2 ? 'win a free prize now, click the link' : 'notes from the design review'} ${'x'.repeat(i)}`,
  );
  let feeds: TensorMap[];
  before(async () => {
    registry = await ModelRegistry.load(new DirectorySource(resolve('models')), {
      precision: 'fp32',
      only: ['text-spam'],
    });
    const spec = parseHashedFeatureSpec(registry.get('text-spam')!.entry.preprocess);
    feeds = texts.map((t) => {
      const f = hashTextFeatures(t, spec);
      return {
        ids: { type: 'int64', data: f.ids, dims: [1, f.ids.length] },
        weights: { type: 'float32', data: f.weights, dims: [1, f.weights.length] },
      };
    });
  });

  let engine: InferenceEngine | undefined;
  after(async () => engine?.close());

  test('concurrent requests are batched dynamically and get the same answers as one at a time', async () => {
    const metrics = new Metrics('test');
    engine = await InferenceEngine.start(registry, {
      threads: 1,
      intraOpThreads: 1,
      provider: 'cpu',
      maxBatchSize: 16,
      maxBatchDelayMs: 2,
      log: pino({ level: 'silent' }),
      metrics,
    });
    const alone: number[] = [];
    for (const f of feeds) alone.push((await engine.infer('text-spam', f)).probabilities!.data[1] as number);
    const together = await Promise.all(feeds.map((f) => engine!.infer('text-spam', f)));
    together.forEach((out, i) => {
      assert.deepEqual(out.probabilities!.dims, [1, 2]);
      assert.ok(Math.abs((out.probabilities!.data[1] as number) - alone[i]!) < 1e-5, `request ${i}`);
    });
    const hist = await metrics.batchSize.get();
    const count = hist.values.find((v) => v.metricName === 'clawstack_inference_batch_size_count')!.value;
    const sum = hist.values.find((v) => v.metricName === 'clawstack_inference_batch_size_sum')!.value;
    assert.equal(sum, 128, 'every request ran exactly once');
    assert.ok(
      count < 128,
      `64 concurrent requests ran in fewer than 64 batches (${count - 64} for the concurrent half)`,
    );
    const maxBucket = hist.values.filter(
      (v) =>
        v.metricName === 'clawstack_inference_batch_size_bucket' &&
        (v.labels as Record<string, unknown>).le === 8,
    );
    assert.ok(maxBucket[0]!.value < count, 'some batches held more than 8 requests');
    await engine.close();
    engine = undefined;
  });

  for (const prepareInThreads of [true, false]) {
    test(`raw texts through the model's prepare step (${prepareInThreads ? 'in the inference threads' : 'on the event loop'}) give the answers of featurized feeds`, async () => {
      const metrics = new Metrics('test');
      engine = await InferenceEngine.start(registry, {
        threads: 2,
        intraOpThreads: 1,
        provider: 'cpu',
        maxBatchSize: 16,
        maxBatchDelayMs: 2,
        prepareInThreads,
        log: pino({ level: 'silent' }),
        metrics,
      });
      assert.equal(engine.hasPrepare('text-spam'), true);
      const fromFeeds = await Promise.all(feeds.map((f) => engine!.infer('text-spam', f)));
      const fromTexts = await Promise.all(texts.map((t) => engine!.inferInput('text-spam', t)));
      fromTexts.forEach((out, i) => {
        assert.deepEqual(out.probabilities!.dims, [1, 2]);
        const want = fromFeeds[i]!.probabilities!.data[1] as number;
        assert.ok(Math.abs((out.probabilities!.data[1] as number) - want) < 1e-5, `text ${i}`);
      });
      const hist = await metrics.batchSize.get();
      const count = hist.values.find((v) => v.metricName === 'clawstack_inference_batch_size_count')!.value;
      assert.ok(count < 128, `128 concurrent requests ran in ${count} batches`);
      // A bad raw input fails alone; its batch-mates are answered.
      const mixed = await Promise.allSettled([
        engine.inferInput('text-spam', texts[0]),
        engine.inferInput('text-spam', 42),
        engine.inferInput('text-spam', texts[1]),
      ]);
      assert.deepEqual(
        mixed.map((r) => r.status),
        ['fulfilled', 'rejected', 'fulfilled'],
      );
      assert.match(String((mixed[1] as PromiseRejectedResult).reason), /input must be a string/);
      await engine.close();
      engine = undefined;
    });
  }

  test('an unknown model is an error, not a hang', async () => {
    engine = await InferenceEngine.start(registry, {
      threads: 1,
      intraOpThreads: 1,
      provider: 'cpu',
      maxBatchSize: 4,
      maxBatchDelayMs: 0,
      log: pino({ level: 'silent' }),
    });
    await assert.rejects(engine.infer('nope', feeds[0]!), /model nope is not loaded/);
    await engine.close();
    engine = undefined;
  });

  test('CUDA requested: served on CUDA when this machine has it, else on CPU with one clear warning', async (t) => {
    // The engine's answer depends on the machine, so the test asks onnxruntime-node itself first.
    const cudaError = await cudaSessionError(registry.get('text-spam')!.path);
    t.diagnostic(cudaError ? `no CUDA here (${cudaError}): checking the fallback` : 'CUDA is available here');
    const lines: { level: number; msg: string }[] = [];
    const log = pino(
      { level: 'info' },
      new Writable({
        write(c: Buffer, _e, cb) {
          lines.push(JSON.parse(c.toString()));
          cb();
        },
      }),
    );
    engine = await InferenceEngine.start(registry, {
      threads: 2,
      intraOpThreads: 1,
      provider: 'cuda',
      maxBatchSize: 4,
      maxBatchDelayMs: 0,
      log,
    });
    const warnings = lines.filter((l) => l.level === 40);
    if (cudaError) {
      assert.equal(engine.provider, 'cpu');
      assert.equal(warnings.length, 1, JSON.stringify(lines));
      assert.match(warnings[0]!.msg, /execution provider "cuda" is not available .*falling back to cpu/);
    } else {
      assert.equal(engine.provider, 'cuda');
      assert.deepEqual(warnings, [], 'no fallback warning when CUDA works');
    }
    const out = await engine.infer('text-spam', feeds[1]!);
    assert.equal(out.probabilities!.dims[1], 2, `serves on ${engine.provider}`);
    await engine.close();
    engine = undefined;
  });
});

/** Why onnxruntime-node cannot create a CUDA session for `path` on this machine, or undefined if it can. */
async function cudaSessionError(path: string): Promise<string | undefined> {
  try {
    const session = await ort.InferenceSession.create(path, {
      executionProviders: ['cuda'],
      logSeverityLevel: 4,
    });
    await session.release();
    return undefined;
  } catch (err) {
    return (err as Error).message.split('\n')[0];
  }
}
