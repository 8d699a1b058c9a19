/**
 * Static INT8 quantization (scripts/quantize/{calibrate,qdq,simplify,static}.ts): the calibration math, the
 * QDQ rewrite on a hand-built Conv → Relu → Conv model (valid ONNX that ORT loads and fuses to QLinearConv,
 * outputs within the quantization error, at opset 13 and with the contrib Q/DQ below it), the exact
 * simplifications, and the shipped OCR INT8 files (every Conv runs as QLinearConv).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxNS } from 'onnx-proto';
import { findEntry, MODELS_DIR, readManifest } from '../../scripts/lib/model-eval.ts';
import { Histogram, percentileRange, RangeStats } from '../../scripts/quantize/calibrate.ts';
import { calibrate, preprocessModel } from '../../scripts/quantize/calibrate-ort.ts';
import { activationParams, applyQdq, planQdq, quantizeBias } from '../../scripts/quantize/qdq.ts';
import { affineParams, ELEMENTWISE_OPS, lookupParams } from '../../scripts/quantize/qdq-elementwise.ts';
import { dequantizeValue, quantizeValue } from '../../scripts/quantize/math.ts';
import { simplifyModel } from '../../scripts/quantize/simplify.ts';
import { quantizeStatic } from '../../scripts/quantize/static.ts';
import { seededRandom } from '../../scripts/quantize/index.ts';

const { onnx } = onnxProto;
const T = onnx.TensorProto.DataType;
const tmp = mkdtempSync(join(tmpdir(), 'static-quantize-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const tensor = (name: string, data: Float32Array, dims: number[]) =>
  onnx.TensorProto.create({ name, dataType: T.FLOAT, dims, rawData: new Uint8Array(data.buffer.slice(0)) });
const node = (opType: string, input: string[], output: string[], attribute: OnnxNS.IAttributeProto[] = []) =>
  onnx.NodeProto.create({ opType, input, output, name: `${opType}_${output[0]}`, attribute });
const ints = (name: string, v: number[]) =>
  onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: v });
const io = (name: string, dims: number[]) =>
  onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: T.FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  });
function model(opset: number, nodes: OnnxNS.INodeProto[], inits: OnnxNS.ITensorProto[], outDims: number[]) {
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 7,
      opsetImport: [{ domain: '', version: opset }],
      graph: {
        name: 'g',
        node: nodes,
        input: [io('x', [1, 3, 16, 16])],
        output: [io('y', outDims)],
        initializer: inits,
      },
    }),
  ).finish();
}
const gauss = (n: number, seed: number, sd = 1) => {
  const r = seededRandom(seed);
  return Float32Array.from(
    { length: n },
    () => sd * Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r()),
  );
};

/** x[1,3,16,16] → Conv 3→8 3×3 pad 1 → Relu → Conv 8→4 1×1 → y */
function convReluConv(opset: number) {
  return model(
    opset,
    [
      node('Conv', ['x', 'w1', 'b1'], ['c1'], [ints('pads', [1, 1, 1, 1])]),
      node('Relu', ['c1'], ['r1']),
      node('Conv', ['r1', 'w2', 'b2'], ['y']),
    ],
    [
      tensor('w1', gauss(8 * 3 * 9, 1, 0.3), [8, 3, 3, 3]),
      tensor('b1', gauss(8, 2, 0.1), [8]),
      tensor('w2', gauss(4 * 8, 3, 0.4), [4, 8, 1, 1]),
      tensor('b2', gauss(4, 4, 0.1), [4]),
    ],
    [1, 4, 16, 16],
  );
}
const input = (seed: number) => ({ x: new ort.Tensor('float32', gauss(3 * 16 * 16, seed), [1, 3, 16, 16]) });
const ONE = { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 } as const;

async function run(bytes: Uint8Array, feed = input(99)) {
  const s = await ort.InferenceSession.create(bytes, ONE);
  const out = (await s.run(feed)).y!.data as Float32Array;
  await s.release();
  return out;
}
/** The quantized output differs from the float one, by less than `share` of the float output's largest |y|. */
function assertQuantizedClose(f: Float32Array, q: Float32Array, share: number) {
  let maxAbs = 0;
  let maxErr = 0;
  f.forEach((v, i) => {
    maxAbs = Math.max(maxAbs, Math.abs(v));
    maxErr = Math.max(maxErr, Math.abs(v - q[i]!));
  });
  assert.ok(maxErr < share * maxAbs, `max error ${maxErr} of max |y| ${maxAbs}`);
  assert.ok(maxErr > 0, 'the quantized model is not the float one');
}
/** op types of the model after ORT's full optimization (what actually runs) */
async function optimizedOps(bytes: Uint8Array): Promise<string[]> {
  const path = join(tmp, `opt-${Math.random().toString(36).slice(2)}.onnx`);
  const s = await ort.InferenceSession.create(bytes, { ...ONE, optimizedModelFilePath: path });
  await s.release();
  return onnx.ModelProto.decode(readFileSync(path)).graph!.node!.map((n) => n.opType!);
}

describe('calibration math', () => {
  test('RangeStats keeps the extremes over several batches; nothing seen is [0, 0]', () => {
    const r = new RangeStats();
    assert.deepEqual(r.range(), [0, 0]);
    r.add([1, -2, 3]);
    r.add(Float32Array.of(0.5, 7));
    assert.deepEqual(r.range(), [-2, 7]);
  });

  test('percentile cuts a lone outlier that min-max keeps, and every kept value stays inside', () => {
    const values = Float32Array.from({ length: 100_000 }, (_, i) => i / 100_000); // [0, 1)
    values[0] = -0.001;
    values[1] = 50; // one outlier
    const stats = new RangeStats();
    stats.add(values);
    assert.deepEqual(stats.range(), [Math.fround(-0.001), 50]);
    const h = new Histogram(...stats.range(), 2048);
    h.add(values);
    const [lo, hi] = percentileRange(h, 99.99);
    assert.ok(hi < 1.1 && hi >= 0.9999, `hi ${hi}`);
    assert.ok(lo <= 0, 'range includes 0');
    const inside = values.filter((v) => v >= lo && v <= hi).length;
    assert.ok(inside >= values.length * 0.9999 - 1, `${inside} kept`);
    assert.deepEqual(percentileRange(h, 100), [Math.fround(-0.001), 50]);
  });

  test('a range that is all positive is widened to include 0; invalid percentiles are refused', () => {
    const h = new Histogram(2, 3, 10);
    h.add([2, 2.5, 3]);
    assert.equal(percentileRange(h, 100)[0], 0);
    assert.throws(() => percentileRange(h, 0), /percentile/);
  });

  test('u8 activation parameters and the int32 bias follow ORT (scale s_x·s_w, zero point 0)', () => {
    assert.deepEqual(activationParams([0, 2.55]), { scale: Math.fround(0.01), zeroPoint: 0 });
    const p = activationParams([-1, 1]);
    assert.equal(p.zeroPoint, 127); // 1 / float32(2/255) is just under 127.5
    const b = quantizeBias(Float32Array.of(0.5, -0.25), 0.01, Float32Array.of(0.5, 0.1));
    assert.deepEqual([...b.scales], [Math.fround(0.005), Math.fround(0.001)]);
    assert.deepEqual([...b.data], [100, -250]);
  });
});

describe('QDQ rewrite', () => {
  for (const opset of [13, 11]) {
    test(`opset ${opset}: Relu folded, ORT runs the inner Conv as QLinearConv, outputs within the quantization error`, async () => {
      const fp32 = convReluConv(opset);
      const plan = planQdq(onnx.ModelProto.decode(fp32));
      assert.deepEqual(plan.folds, { c1: 'r1' });
      assert.deepEqual(plan.tensors, ['x', 'r1']); // y is a graph output: left in float
      const feeds = [1, 2, 3, 4].map(input);
      const ranges = await calibrate(fp32, plan.tensors, feeds, { method: 'minmax' });
      const { bytes, report } = applyQdq(fp32, plan, ranges);
      assert.equal(report.qdqDomain, opset >= 13 ? 'ai.onnx' : 'com.microsoft');
      const ops = await optimizedOps(bytes);
      // the first Conv (+ Relu) is one QLinearConv; the second writes the graph output, which stays float, so
      // it has no output Q and ORT keeps it a float Conv over dequantized inputs
      assert.equal(ops.filter((o) => o === 'QLinearConv').length, 1, ops.join(','));
      assert.equal(ops.filter((o) => o === 'Conv').length, 1, ops.join(','));
      assert.ok(!ops.includes('Relu'), ops.join(','));
      assertQuantizedClose(await run(fp32), await run(bytes), 0.05);
    });
  }

  test('a range missing for a planned tensor is refused', () => {
    const fp32 = convReluConv(13);
    const plan = planQdq(onnx.ModelProto.decode(fp32));
    assert.throws(() => applyQdq(fp32, plan, { x: [-1, 1] }), /no calibrated range for tensor 'r1'/);
  });
});

/**
 * x → Conv 3→8 3×3 → HardSwish (HardSigmoid, Mul) → Mul(1.3) → Add(-0.2) ─┬────────────────┐
 *                                                                          └ Conv 8→8 1×1 ─ Add ─ Resize ×2 ─ Conv 8→4 → y
 */
function elementwiseBlock() {
  const scalar = (name: string, v: number) => tensor(name, Float32Array.of(v), []);
  const hs = [
    onnx.AttributeProto.create({ name: 'alpha', type: onnx.AttributeProto.AttributeType.FLOAT, f: 1 / 6 }),
    onnx.AttributeProto.create({ name: 'beta', type: onnx.AttributeProto.AttributeType.FLOAT, f: 0.5 }),
  ];
  const mode = onnx.AttributeProto.create({
    name: 'mode',
    type: onnx.AttributeProto.AttributeType.STRING,
    s: new TextEncoder().encode('nearest'),
  });
  return model(
    13,
    [
      node('Conv', ['x', 'w1', 'b1'], ['c1'], [ints('pads', [1, 1, 1, 1])]),
      node('HardSigmoid', ['c1'], ['h1'], hs),
      node('Mul', ['c1', 'h1'], ['s1']),
      node('Mul', ['s1', 'a'], ['m1']),
      node('Add', ['m1', 'c'], ['x1']),
      node('Conv', ['x1', 'w2', 'b2'], ['c2']),
      node('Add', ['x1', 'c2'], ['r1']),
      node('Resize', ['r1', '', 'scales'], ['u1'], [mode]),
      node('Conv', ['u1', 'w3', 'b3'], ['y']),
    ],
    [
      tensor('w1', gauss(8 * 3 * 9, 11, 0.4), [8, 3, 3, 3]),
      tensor('b1', gauss(8, 12, 0.2), [8]),
      scalar('a', 1.3),
      scalar('c', -0.2),
      tensor('w2', gauss(8 * 8, 13, 0.3), [8, 8, 1, 1]),
      tensor('b2', gauss(8, 14, 0.1), [8]),
      tensor('scales', Float32Array.of(1, 1, 2, 2), [4]),
      tensor('w3', gauss(4 * 8, 15, 0.3), [4, 8, 1, 1]),
      tensor('b3', gauss(4, 16, 0.1), [4]),
    ],
    [1, 4, 32, 32],
  );
}

describe('element-wise ops between the Convs in u8 (qdq-elementwise.ts)', () => {
  test('HardSigmoid as a u8 lookup: every input is within half a step (+ the zero point offset) of HardSigmoid', () => {
    const { q, dq } = lookupParams(1 / 6, 0.5);
    assert.deepEqual(q, { scale: Math.fround(6 / 255), zeroPoint: 128 });
    assert.deepEqual(dq, { scale: Math.fround(1 / 255), zeroPoint: 0 });
    for (let x = -5; x <= 5; x += 0.01) {
      const h = dequantizeValue(quantizeValue(x, q, 0, 255), dq);
      const exact = Math.max(0, Math.min(1, x / 6 + 0.5));
      assert.ok(Math.abs(h - exact) <= 1 / 510 + 1 / 510 + 1e-6, `x ${x}: ${h} vs ${exact}`);
    }
    assert.equal(dequantizeValue(quantizeValue(-3.5, q, 0, 255), dq), 0);
    assert.equal(dequantizeValue(quantizeValue(3.5, q, 0, 255), dq), 1);
    assert.throws(() => lookupParams(-1, 0.5), /no u8 lookup form/);
  });

  test('a folded affine y = a·x + c: c is a whole number of steps, so x = 0 maps to exactly c', () => {
    for (const [a, c, range] of [
      [1.3, -0.2, [-1, 4]],
      [0.7, 0.05, [0, 2]],
      [2, 3, [2.5, 9]],
    ] as [number, number, [number, number]][]) {
      const { q, dq } = affineParams(a, c, range);
      const y0 = dequantizeValue(quantizeValue(0, q, 0, 255), dq);
      assert.ok(Math.abs(y0 - c) < 1e-6, `a ${a} c ${c}: ${y0}`);
      for (const x of [-0.5, 0.3, 1, 2.2]) {
        const y = dequantizeValue(quantizeValue(x, q, 0, 255), dq);
        const exact = Math.min(Math.max(a * x + c, Math.min(range[0], c, 0)), Math.max(range[1], c, 0));
        assert.ok(Math.abs(y - exact) <= dq.scale / 2 + 1e-6, `a ${a} c ${c} x ${x}: ${y} vs ${exact}`);
      }
    }
  });

  test('HardSwish, affine, residual Add and Resize run as u8 kernels in ORT, outputs within the quantization error', async () => {
    const fp32 = elementwiseBlock();
    const plan = planQdq(onnx.ModelProto.decode(fp32), ['Conv'], ELEMENTWISE_OPS);
    const ew = plan.elementwise!;
    assert.deepEqual(
      ew.nodes.map((n) => n.op),
      ['HardSigmoid', 'Mul', 'Add', 'Resize'],
    );
    assert.deepEqual(Object.keys(ew.affine), ['s1']);
    assert.deepEqual(ew.measure, ['x1']);
    assert.deepEqual(ew.sameRange, { u1: 'r1' });
    const feeds = [1, 2, 3, 4].map(input);
    const ranges = await calibrate(fp32, [...plan.tensors, ...ew.measure], feeds, { method: 'minmax' });
    const { bytes, report } = applyQdq(fp32, plan, ranges);
    assert.deepEqual(report.elementwise, { HardSigmoid: 1, Mul: 1, Add: 1, Resize: 1, affineFolded: 1 });
    const ops = await optimizedOps(bytes);
    // HardSigmoid as the requantization x + 0 (QLinearAdd with a scalar), beside the residual QLinearAdd
    for (const [op, n] of [
      ['QLinearMul', 1],
      ['QLinearAdd', 2],
      ['QLinearLeakyRelu', 0],
    ] as const)
      assert.equal(ops.filter((o) => o === op).length, n, `${op}: ${ops.join(',')}`);
    for (const op of ['HardSigmoid', 'Mul', 'Add'])
      assert.ok(!ops.includes(op), `float ${op}: ${ops.join(',')}`);
    // one Q on the graph input; the only DQs are the last Conv's input, weight and bias (it writes the graph
    // output, so it stays float): no float round trip between the u8 kernels
    assert.equal(ops.filter((o) => o === 'QLinearConv').length, 2, ops.join(','));
    assert.equal(ops.filter((o) => o === 'QuantizeLinear').length, 1, ops.join(','));
    assert.equal(ops.filter((o) => o === 'DequantizeLinear').length, 3, ops.join(','));
    assertQuantizedClose(await run(fp32), await run(bytes), 0.08);
  });

  test('without the element-wise ops the same block keeps float HardSigmoid / Mul / Add between DQ and Q', async () => {
    const fp32 = elementwiseBlock();
    const plan = planQdq(onnx.ModelProto.decode(fp32));
    assert.equal(plan.elementwise, undefined);
    const ranges = await calibrate(fp32, plan.tensors, [1, 2].map(input), { method: 'minmax' });
    const ops = await optimizedOps(applyQdq(fp32, plan, ranges).bytes);
    for (const op of ['HardSigmoid', 'Mul', 'Add', 'DequantizeLinear'])
      assert.ok(ops.includes(op), `${op}: ${ops.join(',')}`);
  });
});

describe('simplifications', () => {
  test('Conv → Mul(a) → Add(c) → HardSwish decomposition becomes Conv → HardSigmoid → Mul, same outputs', async () => {
    const scalar = (name: string, v: number) => tensor(name, Float32Array.of(v), []);
    const fp32 = model(
      13,
      [
        node('Conv', ['x', 'w1', 'b1'], ['c1'], [ints('pads', [1, 1, 1, 1])]),
        node('Mul', ['a', 'c1'], ['m1']),
        node('Add', ['m1', 'c'], ['x1']),
        node('Add', ['x1', 'three'], ['p3']),
        node('Clip', ['p3', 'zero', 'six'], ['cl']),
        node('Mul', ['x1', 'cl'], ['xm']),
        node('Div', ['xm', 'six'], ['y']),
      ],
      [
        tensor('w1', gauss(4 * 3 * 9, 5, 0.5), [4, 3, 3, 3]),
        tensor('b1', gauss(4, 6, 0.2), [4]),
        scalar('a', 1.7),
        scalar('c', -0.4),
        scalar('three', 3),
        scalar('zero', 0),
        scalar('six', 6),
      ],
      [1, 4, 16, 16],
    );
    const { bytes, report } = simplifyModel(fp32);
    assert.deepEqual(report, {
      convAffineFolded: 1,
      hardSwishFused: 1,
      convTransposeFolded: 0,
      convTransposePairsComposed: 0,
      convTransposeToDepthToSpace: 0,
    });
    assert.deepEqual(
      onnx.ModelProto.decode(bytes).graph!.node!.map((n) => n.opType),
      ['Conv', 'HardSigmoid', 'Mul'],
    );
    const [f, s] = [await run(fp32), await run(bytes)];
    f.forEach((v, i) => assert.ok(Math.abs(v - s[i]!) < 1e-5, `${i}: ${v} vs ${s[i]}`));
  });

  test('ConvTranspose → Add(bias) → BatchNormalization becomes one ConvTranspose with a bias (then Conv + DepthToSpace), same outputs', async () => {
    const fp32 = model(
      13,
      [
        node('ConvTranspose', ['x', 'wt'], ['t1'], [ints('strides', [2, 2]), ints('kernel_shape', [2, 2])]),
        node('Add', ['t1', 'bt'], ['a1']),
        node('BatchNormalization', ['a1', 'g', 'beta', 'mean', 'var'], ['y']),
      ],
      [
        tensor('wt', gauss(3 * 5 * 4, 21, 0.5), [3, 5, 2, 2]),
        tensor('bt', gauss(5, 22, 0.3), [1, 5, 1, 1]),
        tensor('g', gauss(5, 23, 1), [5]),
        tensor('beta', gauss(5, 24, 0.2), [5]),
        tensor('mean', gauss(5, 25, 0.3), [5]),
        tensor(
          'var',
          Float32Array.from(gauss(5, 26, 1), (v) => v * v + 0.1),
          [5],
        ),
      ],
      [1, 5, 32, 32],
    );
    const { bytes, report } = simplifyModel(fp32);
    assert.equal(report.convTransposeFolded, 2);
    // then, as its kernel is its stride, a 1 × 1 Conv + DepthToSpace (the test below)
    assert.equal(report.convTransposeToDepthToSpace, 1);
    assert.deepEqual(
      onnx.ModelProto.decode(bytes).graph!.node!.map((n) => n.opType),
      ['Conv', 'DepthToSpace'],
    );
    const [f, s] = [await run(fp32), await run(bytes)];
    f.forEach((v, i) => assert.ok(Math.abs(v - s[i]!) < 1e-4, `${i}: ${v} vs ${s[i]}`));
  });

  test('ConvTranspose (k = stride 2) → Relu → ConvTranspose (k = stride 2) → Sigmoid becomes Conv → Relu → Conv → Sigmoid → DepthToSpace(4), same outputs', async () => {
    const attrs = (k: number, s = k) => [ints('strides', [s, s]), ints('kernel_shape', [k, k])];
    const fp32 = model(
      13,
      [
        node('ConvTranspose', ['x', 'wa', 'ba'], ['t1'], attrs(2)),
        node('Relu', ['t1'], ['r1']),
        node('ConvTranspose', ['r1', 'wb', 'bb'], ['t2'], attrs(2)),
        node('Sigmoid', ['t2'], ['y']),
      ],
      [
        tensor('wa', gauss(3 * 5 * 4, 31, 0.5), [3, 5, 2, 2]),
        tensor('ba', gauss(5, 32, 0.3), [5]),
        tensor('wb', gauss(5 * 2 * 4, 33, 0.5), [5, 2, 2, 2]),
        tensor('bb', gauss(2, 34, 0.3), [2]),
      ],
      [1, 2, 64, 64],
    );
    const { bytes, report } = simplifyModel(fp32);
    assert.equal(report.convTransposePairsComposed, 1);
    const nodes = onnx.ModelProto.decode(bytes).graph!.node!;
    assert.deepEqual(
      nodes.map((n) => n.opType),
      ['Conv', 'Relu', 'Conv', 'Sigmoid', 'DepthToSpace'],
    );
    assert.equal(Number(nodes[4]!.attribute!.find((a) => a.name === 'blocksize')!.i), 4);
    const [f, s] = [await run(fp32), await run(bytes)];
    assert.equal(s.length, f.length);
    f.forEach((v, i) => assert.ok(Math.abs(v - s[i]!) < 1e-5, `${i}: ${v} vs ${s[i]}`));
  });

  test('a lone ConvTranspose (k = stride 4) → Relu becomes Conv → Relu → DepthToSpace; kernel ≠ stride is left alone', async () => {
    const lone = (k: number, s: number, out: number) =>
      model(
        13,
        [
          node('ConvTranspose', ['x', 'w'], ['t1'], [ints('strides', [s, s]), ints('kernel_shape', [k, k])]),
          node('Relu', ['t1'], ['y']),
        ],
        [tensor('w', gauss(3 * 4 * k * k, 41, 0.5), [3, 4, k, k])],
        [1, 4, out, out],
      );
    const fp32 = lone(4, 4, 64);
    const { bytes, report } = simplifyModel(fp32);
    assert.equal(report.convTransposeToDepthToSpace, 1);
    assert.deepEqual(
      onnx.ModelProto.decode(bytes).graph!.node!.map((n) => n.opType),
      ['Conv', 'Relu', 'DepthToSpace'],
    );
    const [f, s] = [await run(fp32), await run(bytes)];
    f.forEach((v, i) => assert.ok(Math.abs(v - s[i]!) < 1e-5, `${i}: ${v} vs ${s[i]}`));
    const overlapping = simplifyModel(lone(3, 2, 33));
    assert.equal(overlapping.report.convTransposeToDepthToSpace, 0);
    assert.deepEqual(
      onnx.ModelProto.decode(overlapping.bytes).graph!.node!.map((n) => n.opType),
      ['ConvTranspose', 'Relu'],
    );
  });

  test('a Conv output read twice is not folded', async () => {
    const fp32 = model(
      13,
      [node('Conv', ['x', 'w1'], ['c1']), node('Mul', ['a', 'c1'], ['m1']), node('Add', ['m1', 'c1'], ['y'])],
      [tensor('w1', gauss(4 * 3, 7), [4, 3, 1, 1]), tensor('a', Float32Array.of(2), [])],
      [1, 4, 16, 16],
    );
    assert.equal(simplifyModel(fp32).report.convAffineFolded, 0);
  });
});

describe('quantizeStatic end to end on the hand-built model', () => {
  test('percentile and min-max both give a QDQ model that ORT runs', async () => {
    const fp32 = convReluConv(13);
    const pre = await preprocessModel(fp32);
    assert.ok(pre.byteLength > 0);
    for (const method of ['minmax', 'percentile'] as const) {
      const { bytes, report } = await quantizeStatic(fp32, [1, 2, 3].map(input), { method });
      assert.equal(report.qdq.quantized.length, 2);
      assert.equal((await run(bytes)).length, 4 * 16 * 16);
    }
    await assert.rejects(quantizeStatic(fp32, [], { method: 'minmax' }), /at least one calibration input/);
  });
});

describe('the shipped static INT8 OCR models', () => {
  const manifest = readManifest();
  for (const name of ['ocr-det', 'ocr-rec']) {
    test(`${name}: every Conv of the FP32 model runs as QLinearConv in ORT; file ≤ 0.3 × FP32`, async () => {
      const q = findEntry(manifest, name, 'int8')!;
      const f = findEntry(manifest, name, 'fp32')!;
      assert.match(q.source, /^INT8 static quantization/);
      assert.ok(q.bytes <= 0.3 * f.bytes, `${q.bytes} / ${f.bytes}`);
      const fp32Ops = onnx.ModelProto.decode(readFileSync(join(MODELS_DIR, f.file))).graph!.node!.map(
        (n) => n.opType,
      );
      // the detector's ConvTranspose head (kernel = stride) runs as 1 × 1 Convs + DepthToSpace (simplify.ts)
      const convs = fp32Ops.filter((o) => o === 'Conv' || o === 'ConvTranspose').length;
      const ops = await optimizedOps(readFileSync(join(MODELS_DIR, q.file)));
      assert.equal(ops.filter((o) => o === 'QLinearConv').length, convs);
      for (const float of ['Conv', 'FusedConv', 'ConvTranspose', 'Relu'])
        assert.ok(!ops.includes(float), `a float ${float} is left: ${ops.join(',')}`);
      // MatMuls with constant weights: static (batch-independent), none dynamic
      const matmuls = ops.filter((o) => o === 'MatMulIntegerToFloat').length;
      assert.equal(matmuls, name === 'ocr-rec' ? 9 : 0);
      assert.ok(!ops.some((o) => o.startsWith('Dynamic')), ops.join(','));
      // the element-wise ops between the Convs run in u8 too: HardSwish as QLinearAdd(x, 0) + QLinearMul, the SE and
      // residual Mul / Add as QLinearMul / QLinearAdd; float ↔ u8 conversions only at the edges of the
      // Conv region (graph input, detector output, the recognizer's transformer neck) and one
      // QuantizeLinear per MatMul input
      assert.ok(!ops.includes('HardSigmoid'), ops.join(','));
      assert.ok(ops.filter((o) => o === 'QLinearAdd').length >= 30, ops.join(','));
      assert.ok(!ops.includes('QLinearLeakyRelu'), ops.join(','));
      const conversions = ops.filter((o) => o === 'QuantizeLinear' || o === 'DequantizeLinear').length;
      assert.ok(conversions <= 8 + matmuls, `${conversions} Q/DQ left: ${ops.join(',')}`);
    });
  }
});
