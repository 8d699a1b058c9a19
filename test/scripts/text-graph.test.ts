/**
 * scripts/lib/text-graph.ts: the text-spam graph formulations. The shipped FP32 graph (weighted sum as one
 * MatMul) gives the old graph's scores within float rounding; the INT8 graph (int8 table, uint8 weights,
 * MatMulInteger, scales folded into fc1) equals dequantizing every gathered row first, so folding the
 * dequantization is exact and only the rounding of table and weights changes the scores; the "before"
 * graph the benchmark times is byte for byte the file shipped before issue 13.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import onnxProto from 'onnx-proto';
import {
  hashTextFeatures,
  parseHashedFeatureSpec,
  type HashedFeatures,
} from '../../app/src/modalities/text/features.ts';
import {
  findEntry,
  MODELS_DIR,
  readManifest,
  spamProbabilities,
  textFixture,
} from '../../scripts/lib/model-eval.ts';
import {
  quantizeTable,
  sessionFloorOnnx,
  textSpamOnnx,
  textSpamWeights,
  WEIGHT_SCALE,
  type TextSpamWeights,
} from '../../scripts/lib/text-graph.ts';
import { readFloatTensor } from '../../scripts/quantize/onnx.ts';

const { onnx } = onnxProto;
const manifest = readManifest();
const fp32Entry = findEntry(manifest, 'text-spam', 'fp32')!;
const fp32Bytes = readFileSync(join(MODELS_DIR, fp32Entry.file));
const weights = textSpamWeights(fp32Bytes);
const spec = parseHashedFeatureSpec(fp32Entry.preprocess);
// every other fixture message (e-mails and short messages), to keep the ORT runs short on a shared machine
const features = textFixture()
  .filter((_, i) => i % 2 === 0)
  .map((s) => hashTextFeatures(s.text, spec));
/** The FP32 file shipped before issue 13 (Gather → Mul → ReduceSum), as recorded in the manifest then. */
const OLD_FP32_SHA256 = 'eb3dab4c6f37cbeb1f5e48777fcf54d4fefb13a3baa6c21764b71b3c4af00117';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const opTypes = (bytes: Uint8Array) => onnx.ModelProto.decode(bytes).graph!.node!.map((n) => n.opType);

/** P(spam) of every feature set, run in padded batches of `batch` as the engine collates them. */
const pSpam = (bytes: Uint8Array, items: HashedFeatures[], batch: number) =>
  spamProbabilities(bytes, items, batch);

const maxAbsDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

/** P(spam) in TypeScript, with each gathered row and weight dequantized before the sum (the unfolded INT8 path). */
function rowwiseDequantizedPSpam(
  w: TextSpamWeights,
  { q, scale }: ReturnType<typeof quantizeTable>,
  f: HashedFeatures,
): number {
  const bag = new Float64Array(w.D);
  f.ids.forEach((id, i) => {
    const wq = Math.min(255, Math.max(0, Math.round(f.weights[i]! / WEIGHT_SCALE))) * WEIGHT_SCALE;
    for (let d = 0; d < w.D; d++) bag[d]! += wq * q[Number(id) * w.D + d]! * scale;
  });
  const h = Array.from({ length: w.H }, (_, j) => {
    let s = w.b1[j]!;
    for (let d = 0; d < w.D; d++) s += bag[d]! * w.w1[d * w.H + j]!;
    return Math.max(0, s);
  });
  const logits = Array.from({ length: w.C }, (_, c) => {
    let s = w.b2[c]!;
    for (let j = 0; j < w.H; j++) s += h[j]! * w.w2[j * w.C + c]!;
    return s;
  });
  return 1 / (1 + Math.exp(logits[0]! - logits[1]!));
}

describe('text-spam graph formulations (scripts/lib/text-graph.ts)', () => {
  test('the shipped FP32 file is the MatMul formulation: no Mul or ReduceSum over the gathered rows', () => {
    assert.deepEqual(opTypes(fp32Bytes).slice(0, 4), ['Gather', 'Unsqueeze', 'MatMul', 'Squeeze']);
    assert.ok(!opTypes(fp32Bytes).includes('ReduceSum'));
    assert.ok(!opTypes(fp32Bytes).includes('Mul'));
    assert.equal(sha256(textSpamOnnx(weights)), fp32Entry.sha256);
  });

  test('the old formulation rebuilt from the shipped weights is byte for byte the file shipped before', () => {
    const old = textSpamOnnx(weights, 'mul-reducesum', 'fp32');
    assert.equal(sha256(old), OLD_FP32_SHA256);
    assert.deepEqual(opTypes(old).slice(0, 4), ['Gather', 'Unsqueeze', 'Mul', 'ReduceSum']);
  });

  test('new FP32 gives the old graph’s P(spam) within float rounding, alone and in padded batches of 8', async () => {
    const old = textSpamOnnx(weights, 'mul-reducesum', 'fp32');
    for (const batch of [1, 8]) {
      const d = maxAbsDiff(await pSpam(fp32Bytes, features, batch), await pSpam(old, features, batch));
      assert.ok(d < 1e-5, `batch ${batch}: max |ΔP(spam)| ${d}`);
    }
  });

  test('INT8: int8 table, one MatMulInteger, no DequantizeLinear; fc1 carries the scale s/255', () => {
    const int8 = textSpamOnnx(weights, 'matmul', 'int8');
    assert.deepEqual(opTypes(int8), [
      'Gather',
      'QuantizeLinear',
      'Unsqueeze',
      'MatMulInteger',
      'Cast',
      'Squeeze',
      'MatMul',
      'Add',
      'Relu',
      'MatMul',
      'Add',
      'Softmax',
    ]);
    const inits = onnx.ModelProto.decode(int8).graph!.initializer!;
    const table = inits.find((t) => t.name === 'embedding.weight_int8')!;
    assert.equal(table.dataType, onnx.TensorProto.DataType.INT8);
    assert.equal(table.rawData!.byteLength, weights.V * weights.D);
    const fc1 = inits.find((t) => t.name === 'fc1.weight')!;
    const w1 = readFloatTensor(fc1);
    const { scale } = quantizeTable(weights.emb);
    w1.forEach((v, i) => assert.equal(v, Math.fround(weights.w1[i]! * WEIGHT_SCALE * scale)));
  });

  test('INT8: folding the dequantization after the sum gives what dequantizing every row would', async () => {
    const int8 = textSpamOnnx(weights, 'matmul', 'int8');
    const sample = features.slice(0, 40);
    const got = await pSpam(int8, sample, 1);
    const table = quantizeTable(weights.emb);
    const want = Float32Array.from(sample, (f) => rowwiseDequantizedPSpam(weights, table, f));
    const d = maxAbsDiff(got, want);
    assert.ok(d < 1e-4, `max |ΔP(spam)| ${d}`);
  });

  test('INT8: a message scores the same alone and padded in a batch (the weight scale is fixed, not per batch)', async () => {
    const int8 = textSpamOnnx(weights, 'matmul', 'int8');
    const d = maxAbsDiff(await pSpam(int8, features, 1), await pSpam(int8, features, 8));
    assert.ok(d < 1e-5, `max |ΔP(spam)| ${d}`);
    // and stays close to FP32: no decision flips on the fixture, |ΔP(spam)| under 0.05
    const fp32 = await pSpam(fp32Bytes, features, 8);
    const q = await pSpam(int8, features, 8);
    assert.ok(maxAbsDiff(q, fp32) < 0.05);
    assert.equal(q.filter((p, i) => p > 0.5 !== fp32[i]! > 0.5).length, 0);
  });

  test('the featurizer’s weights are in [0, 1], the range the fixed scale 1/255 covers', () => {
    for (const f of features) for (const w of f.weights) assert.ok(w >= 0 && w <= 1, `${w}`);
  });

  test('the floor graph has the model’s inputs and output, one Slice node, and runs on the engine’s feeds', async () => {
    const io = (bytes: Uint8Array) => {
      const g = onnx.ModelProto.decode(bytes).graph!;
      return JSON.stringify([g.input, g.output].map((vs) => vs!.map((v) => [v.name, v.type])));
    };
    const floor = sessionFloorOnnx();
    assert.equal(io(floor), io(fp32Bytes));
    assert.deepEqual(opTypes(floor), ['Slice']);
    // 'probabilities'[b][1] of the floor is the second weight of message b, also when padded in a batch
    const items = features.filter((f) => f.ids.length >= 2).slice(0, 20);
    const p = await pSpam(floor, items, 8);
    assert.deepEqual(
      [...p],
      items.map((f) => Math.fround(f.weights[1]!)),
    );
  });

  test('quantizeTable: symmetric, largest magnitude at ±127, error at most half a step', () => {
    const emb = Float32Array.of(0, 0.5, -1, 0.25, 0.01);
    const { q, scale } = quantizeTable(emb);
    assert.equal(scale, 1 / 127);
    assert.deepEqual([...q], [0, 64, -127, 32, 1]);
    emb.forEach((v, i) => assert.ok(Math.abs(q[i]! * scale - v) <= scale / 2 + 1e-9));
  });
});
