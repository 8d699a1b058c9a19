import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, after } from 'node:test';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxNS } from 'onnx-proto';
import {
  asymmetricUint8Params,
  computeScaleZeroPoint,
  quantizePerChannel,
  quantizePerTensor,
  roundHalfEven,
  symmetricInt8Params,
} from '../../scripts/quantize/math.ts';
import { compareModels, quantizeModel, QuantizeError, seededRandom } from '../../scripts/quantize/index.ts';

const { onnx } = onnxProto;
const T = onnx.TensorProto.DataType;

// ---------------------------------------------------------------- helpers

function gaussians(n: number, seed: number, sd = 1): Float32Array {
  const rand = seededRandom(seed);
  return Float32Array.from(
    { length: n },
    () => sd * Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand()),
  );
}

function valueInfo(name: string, elemType: number, dims: (number | string)[]): OnnxNS.IValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

function floatTensor(
  name: string,
  data: Float32Array,
  dims: number[],
  form: 'raw' | 'float_data' = 'raw',
): OnnxNS.ITensorProto {
  if (form === 'float_data')
    return onnx.TensorProto.create({ name, dataType: T.FLOAT, dims, floatData: Array.from(data) });
  const raw = new Uint8Array(data.length * 4);
  const view = new DataView(raw.buffer);
  data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return onnx.TensorProto.create({ name, dataType: T.FLOAT, dims, rawData: raw });
}

function node(
  opType: string,
  input: string[],
  output: string[],
  attribute: OnnxNS.IAttributeProto[] = [],
): OnnxNS.INodeProto {
  return onnx.NodeProto.create({ opType, input, output, name: `${opType}_${output[0]}`, attribute });
}

function buildModel(opts: {
  opset?: number;
  nodes: OnnxNS.INodeProto[];
  inputs: OnnxNS.IValueInfoProto[];
  outputs: OnnxNS.IValueInfoProto[];
  initializers?: OnnxNS.ITensorProto[];
}): Uint8Array {
  const opset = opts.opset ?? 13;
  const model = onnx.ModelProto.create({
    irVersion: opset <= 10 ? 5 : 7,
    producerName: 'quantize.test',
    opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: 'g',
      node: opts.nodes,
      input: opts.inputs,
      output: opts.outputs,
      initializer: opts.initializers ?? [],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

function decode(bytes: Uint8Array): OnnxNS.ModelProto {
  return onnx.ModelProto.decode(bytes);
}

function opTypes(bytes: Uint8Array): string[] {
  return (decode(bytes).graph?.node ?? []).map((n) => n.opType ?? '');
}

function initializer(bytes: Uint8Array, name: string): OnnxNS.ITensorProto | undefined {
  return decode(bytes).graph?.initializer?.find((t) => t.name === name);
}

function rawInt8(t: OnnxNS.ITensorProto | undefined): Int8Array {
  assert.ok(t?.rawData, 'tensor with raw_data');
  return new Int8Array(
    t.rawData.buffer.slice(t.rawData.byteOffset, t.rawData.byteOffset + t.rawData.byteLength),
  );
}

function rawFloat(t: OnnxNS.ITensorProto | undefined): Float32Array {
  assert.ok(t?.rawData, 'tensor with raw_data');
  const view = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
  return Float32Array.from({ length: t.rawData.byteLength / 4 }, (_, i) => view.getFloat32(i * 4, true));
}

async function run(
  bytes: Uint8Array,
  feeds: Record<string, ort.Tensor>,
  optimizedPath?: string,
): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    ...(optimizedPath ? { optimizedModelFilePath: optimizedPath } : {}),
  });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'quantize-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

// ---------------------------------------------------------------- math

describe('quantize math', () => {
  it('rounds half to even', () => {
    assert.equal(roundHalfEven(0.5), 0);
    assert.equal(roundHalfEven(1.5), 2);
    assert.equal(roundHalfEven(2.5), 2);
    assert.equal(roundHalfEven(-0.5), 0);
    assert.ok(Object.is(roundHalfEven(-0.5), 0), '-0.5 rounds to +0, not -0');
    assert.equal(roundHalfEven(-1.5), -2);
    assert.equal(roundHalfEven(-2.5), -2);
    assert.equal(roundHalfEven(2.4999), 2);
    assert.equal(roundHalfEven(2.5001), 3);
    assert.equal(roundHalfEven(-126.6), -127);
  });

  it('symmetric int8 weights: scale = max|w| / 127, zero point 0, range [-127, 127]', () => {
    const w = [0.5, -2.54, 1, 0.01].map(Math.fround);
    const p = symmetricInt8Params(w);
    assert.equal(p.scale, Math.fround(2.54 / 127)); // 0.02
    assert.equal(p.zeroPoint, 0);
    const q = quantizePerTensor(w, 'int8', true);
    // 0.5/0.02 = 25, -2.54/0.02 = -127, 1/0.02 = 50, 0.01/0.02 = 0.5 -> 0 (half to even)
    assert.deepEqual(Array.from(q.data), [25, -127, 50, 0]);
    assert.deepEqual(Array.from(q.zeroPoints), [0]);
    // a positive max maps to +127, never to -128
    assert.deepEqual(Array.from(quantizePerTensor([-1, 4], 'int8', true).data), [-32, 127]); // -31.75 -> -32
    // an all-zero tensor gets scale 1 (ORT's guard against a zero scale)
    assert.deepEqual(symmetricInt8Params([0, 0]), { scale: 1, zeroPoint: 0 });
  });

  it('asymmetric uint8 (DynamicQuantizeLinear semantics): range includes 0, zp = round(-min/scale)', () => {
    // The ONNX DynamicQuantizeLinear spec example. Note -2.5 -> 26 and 0.5 -> 179 only come out
    // with float32 arithmetic (a float64 implementation yields 25 for -2.5).
    const x = [0, 2, -3, -2.5, 1.34, 0.5].map(Math.fround);
    const p = asymmetricUint8Params(x);
    assert.equal(p.scale, Math.fround(5 / 255));
    assert.equal(p.zeroPoint, 153);
    assert.deepEqual(Array.from(quantizePerTensor(x, 'uint8', false).data), [153, 255, 0, 26, 221, 179]);
    // all positive: the range is widened to [0, max], so zp = 0
    assert.deepEqual(asymmetricUint8Params([1, 2.55]), { scale: Math.fround(2.55 / 255), zeroPoint: 0 });
    // all negative: [min, 0], zp = 255
    assert.deepEqual(asymmetricUint8Params([-5.1, -1]), { scale: Math.fround(5.1 / 255), zeroPoint: 255 });
    // zp is rounded half to even: min = -1.5, max = 253.5 -> scale 1, zp = round(1.5) = 2
    assert.deepEqual(computeScaleZeroPoint(-1.5, 253.5, 0, 255, false), { scale: 1, zeroPoint: 2 });
    // and zp = round(2.5) = 2, not 3
    assert.deepEqual(computeScaleZeroPoint(-2.5, 252.5, 0, 255, false), { scale: 1, zeroPoint: 2 });
  });

  it('per-channel axis 1 of a [K, N] weight gives one scale per output column', () => {
    // K = 3, N = 2, row-major: column 0 = [2.5, -127, 0.5], column 1 = [3, 254, -5]
    const w = [2.5, 3, -127, 254, 0.5, -5];
    const q = quantizePerChannel(w, [3, 2], 1, 'int8', true);
    assert.equal(q.axis, 1);
    assert.deepEqual(Array.from(q.scales), [1, 2]); // 127/127, 254/127
    assert.deepEqual(Array.from(q.zeroPoints), [0, 0]);
    // col 0: 2.5 -> 2, -127, 0.5 -> 0; col 1: 3/2 = 1.5 -> 2, 127, -5/2 = -2.5 -> -2
    assert.deepEqual(Array.from(q.data), [2, 2, -127, 127, 0, -2]);
    // axis 0 would instead pick rows
    const rows = quantizePerChannel(w, [3, 2], 0, 'int8', true);
    assert.deepEqual(Array.from(rows.scales), [3 / 127, 254 / 127, 5 / 127].map(Math.fround));
  });

  it('matches onnxruntime DynamicQuantizeLinear on random data', async () => {
    const x = gaussians(257, 7, 3);
    const bytes = buildModel({
      opset: 11,
      nodes: [node('DynamicQuantizeLinear', ['x'], ['y', 's', 'zp'])],
      inputs: [valueInfo('x', T.FLOAT, [257])],
      outputs: [valueInfo('y', T.UINT8, [257]), valueInfo('s', T.FLOAT, []), valueInfo('zp', T.UINT8, [])],
    });
    const out = await run(bytes, { x: new ort.Tensor('float32', x, [257]) });
    const mine = quantizePerTensor(x, 'uint8', false);
    assert.equal((out.s?.data as Float32Array)[0], mine.scales[0]);
    assert.equal((out.zp?.data as Uint8Array)[0], mine.zeroPoints[0]);
    assert.deepEqual(Array.from(out.y?.data as Uint8Array), Array.from(mine.data));
  });
});

// ---------------------------------------------------------------- graph

/**
 * Worst-case error of the quantized MatMul, element by element, from first principles
 * (assuming exact integer arithmetic in MatMulInteger):
 * X = sa*(Xq - za) + ex with |ex| <= sa (sa/2 from rounding; a full step only if the
 * rounded zero point pushes an extreme value into saturation), W = sw*Wq + ew with
 * |ew| <= sw/2 (symmetric weights never saturate), so
 *   |Y - Yq| <= sum_k |x_k| sw_j/2 + sa |w_kj| + sa sw_j/2   (+ float32 accumulation slack).
 * sa and sw are computed here from the data, independently of the quantizer.
 */
function matmulErrorBound(
  x: Float32Array,
  w: Float32Array,
  M: number,
  K: number,
  N: number,
  perChannel: boolean,
  qmax = 127,
): Float64Array {
  let xmin = 0;
  let xmax = 0;
  for (const v of x) {
    xmin = Math.min(xmin, v);
    xmax = Math.max(xmax, v);
  }
  const sa = (xmax - xmin) / 255;
  const sw = new Float64Array(N);
  let all = 0;
  for (let k = 0; k < K; k++)
    for (let j = 0; j < N; j++) all = Math.max(all, Math.abs(w[k * N + j] as number));
  for (let j = 0; j < N; j++) {
    let m = 0;
    for (let k = 0; k < K; k++) m = Math.max(m, Math.abs(w[k * N + j] as number));
    sw[j] = (perChannel ? m : all) / qmax;
  }
  const bound = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let b = 0;
      let mag = 0;
      for (let k = 0; k < K; k++) {
        const xv = Math.abs(x[i * K + k] as number);
        const wv = Math.abs(w[k * N + j] as number);
        b += (xv * (sw[j] as number)) / 2 + sa * wv + (sa * (sw[j] as number)) / 2;
        mag += xv * wv;
      }
      bound[i * N + j] = b + 1e-5 * mag;
    }
  }
  return bound;
}

function matmulModel(K: number, N: number, w: Float32Array, bias: Float32Array): Uint8Array {
  return buildModel({
    nodes: [node('MatMul', ['x', 'W'], ['h']), node('Add', ['h', 'B'], ['y'])],
    inputs: [valueInfo('x', T.FLOAT, ['batch', K])],
    outputs: [valueInfo('y', T.FLOAT, ['batch', N])],
    initializers: [floatTensor('W', w, [K, N]), floatTensor('B', bias, [N])],
  });
}

describe('quantizeModel graph rewrite', () => {
  const K = 96;
  const N = 48;
  const M = 16;
  // columns with very different magnitudes, so per-channel visibly matters
  const w = gaussians(K * N, 11).map((v, i) => v * 0.05 * (1 + 20 * ((i % N) / N) ** 2));
  const bias = gaussians(N, 12, 0.1);
  const x = gaussians(M * K, 13);

  const variants = [false, true].flatMap((perChannel) =>
    [false, true].map((reduceRange) => ({ perChannel, reduceRange })),
  );
  for (const { perChannel, reduceRange } of variants) {
    const title = `${perChannel ? 'per-channel' : 'per-tensor'}, ${reduceRange ? '7-bit reduce-range' : 'full-range'} weights`;
    it(`MatMul with an initializer weight -> DynamicQuantizeLinear + MatMulInteger (${title})`, async () => {
      const fp32 = matmulModel(K, N, w, bias);
      const { bytes, report } = quantizeModel(fp32, { perChannel, reduceRange });
      const qmax = reduceRange ? 64 : 127;

      assert.deepEqual(opTypes(bytes), [
        'DynamicQuantizeLinear',
        'MatMulInteger',
        'Cast',
        'Mul',
        'Mul',
        'Add',
      ]);
      const mmi = decode(bytes).graph?.node?.[1];
      assert.deepEqual(mmi?.input, ['x_quantized', 'W_quantized', 'x_zero_point', 'W_zero_point']);
      assert.deepEqual(
        decode(bytes).graph?.node?.[3]?.input,
        ['x_scale', 'W_scale'],
        'Mul(A_scale, B_scale) as ORT fuses it',
      );
      assert.equal(initializer(bytes, 'W'), undefined, 'float weight removed');
      assert.equal(report.quantized.length, 1);
      assert.equal(report.quantized[0]?.perChannel, perChannel);

      // stored weights: int8, symmetric, scale = max|w|/127 (/64 with reduce-range; per column if per-channel), q = round(w / s)
      const wq = initializer(bytes, 'W_quantized');
      assert.equal(wq?.dataType, T.INT8);
      const scales = rawFloat(initializer(bytes, 'W_scale'));
      const zp = initializer(bytes, 'W_zero_point');
      assert.equal(zp?.dataType, T.INT8);
      assert.deepEqual(
        (zp?.dims ?? []).map(Number),
        perChannel ? [N] : [],
        'b_zero_point is [N] per-channel, scalar per-tensor',
      );
      assert.deepEqual(Array.from(rawInt8(zp)), new Array(perChannel ? N : 1).fill(0));
      assert.equal(scales.length, perChannel ? N : 1);
      const q = rawInt8(wq);
      for (let j = 0; j < N; j++) {
        let m = 0;
        for (let k = 0; k < K; k++) m = Math.max(m, Math.abs(w[k * N + j] as number));
        const s = scales[perChannel ? j : 0] as number;
        if (perChannel) assert.equal(s, Math.fround(m / qmax), `scale of column ${j}`);
        for (let k = 0; k < K; k++) {
          const expected = roundHalfEven(Math.fround((w[k * N + j] as number) / s));
          assert.equal(q[k * N + j], expected, `W_q[${k},${j}]`);
          assert.ok(Math.abs(expected) <= qmax);
        }
      }

      // run both in onnxruntime
      const feeds = { x: new ort.Tensor('float32', x, [M, K]) };
      const optimized = join(tmp, `matmul-${perChannel}-${reduceRange}.opt.onnx`);
      const [ref, got] = [(await run(fp32, feeds)).y, (await run(bytes, feeds, optimized)).y];
      const bound = matmulErrorBound(x, w, M, K, N, perChannel, qmax);
      const f = ref?.data as Float32Array;
      const g = got?.data as Float32Array;
      let maxErr = 0;
      let sumErr = 0;
      let maxRef = 0;
      let sumRef = 0;
      for (let i = 0; i < f.length; i++) {
        const d = Math.abs((g[i] as number) - (f[i] as number));
        // With 7-bit weights a u8 x s8 pair sum is at most 2*255*64 = 32640 < 2^15, so the int16
        // VPMADDUBSW path of ORT's U8S8 kernel (AVX2 without VNNI) cannot saturate and integer
        // arithmetic is exact on every CPU: every element must be within the analytic bound.
        if (reduceRange)
          assert.ok(d <= (bound[i] as number), `y[${i}]: |${g[i]} - ${f[i]}| = ${d} > bound ${bound[i]}`);
        maxErr = Math.max(maxErr, d);
        sumErr += d;
        maxRef = Math.max(maxRef, Math.abs(f[i] as number));
        sumRef += Math.abs(f[i] as number);
      }
      // Full-range weights can saturate on AVX2-without-VNNI CPUs (ORT documents this), so for them
      // only sanity ceilings apply. Measured on an AVX2 EPYC: max rel 1.2% / 11% (per-tensor /
      // per-channel, full range; the per-channel one is saturation), 2.1% / 1.9% with reduce-range;
      // mean rel 1.4-4.3% (the small-magnitude columns dominate the mean under per-tensor scales).
      assert.ok(maxErr / maxRef < (reduceRange ? 0.05 : 0.2), `max relative error ${maxErr / maxRef}`);
      assert.ok(sumErr / sumRef < 0.08, `mean relative error ${sumErr / sumRef}`);

      // ORT fused the pattern into a single DynamicQuantizeMatMul (bias Add folded in)
      const fused = opTypes(new Uint8Array(readFileSync(optimized)));
      assert.ok(fused.includes('DynamicQuantizeMatMul'), `ORT fused graph: ${fused.join(', ')}`);
      assert.ok(!fused.includes('MatMulInteger'), `ORT fused graph: ${fused.join(', ')}`);

      // smaller: 96x48 float32 weights (18 KiB) -> int8 (4.5 KiB)
      assert.ok(bytes.length < fp32.length * 0.35, `${fp32.length} -> ${bytes.length} bytes`);
    });
  }

  it('per-channel is more accurate than per-tensor when columns differ in scale', async () => {
    const fp32 = matmulModel(K, N, w, bias);
    const feeds = { x: new ort.Tensor('float32', x, [M, K]) };
    const pt = await compareModels(fp32, quantizeModel(fp32, { reduceRange: true }).bytes, {
      feeds,
      runs: 0,
    });
    const pc = await compareModels(fp32, quantizeModel(fp32, { perChannel: true, reduceRange: true }).bytes, {
      feeds,
      runs: 0,
    });
    assert.ok(
      (pc.outputs[0]?.meanRelError ?? 1) < (pt.outputs[0]?.meanRelError ?? 0),
      JSON.stringify({ pt: pt.outputs, pc: pc.outputs }),
    );
  });

  it('lifts a Constant-node weight (float_data) into an initializer, then quantizes it', async () => {
    const K2 = 8;
    const N2 = 4;
    const w2 = gaussians(K2 * N2, 21);
    const constant = node(
      'Constant',
      [],
      ['Wc'],
      [
        onnx.AttributeProto.create({
          name: 'value',
          type: onnx.AttributeProto.AttributeType.TENSOR,
          t: floatTensor('', w2, [K2, N2], 'float_data'),
        }),
      ],
    );
    const fp32 = buildModel({
      nodes: [constant, node('MatMul', ['x', 'Wc'], ['y'])],
      inputs: [valueInfo('x', T.FLOAT, [2, K2])],
      outputs: [valueInfo('y', T.FLOAT, [2, N2])],
    });
    const { bytes, report } = quantizeModel(fp32);
    assert.equal(report.constantsLifted, 1);
    assert.deepEqual(opTypes(bytes), ['DynamicQuantizeLinear', 'MatMulInteger', 'Cast', 'Mul', 'Mul']);
    assert.equal(initializer(bytes, 'Wc'), undefined);
    const q = rawInt8(initializer(bytes, 'Wc_quantized'));
    const s = rawFloat(initializer(bytes, 'Wc_scale'))[0] as number;
    assert.deepEqual(
      Array.from(q),
      Array.from(w2, (v) => roundHalfEven(Math.fround(v / s))),
    );
    const xs = gaussians(2 * K2, 22);
    const feeds = { x: new ort.Tensor('float32', xs, [2, K2]) };
    const [ref, got] = [(await run(fp32, feeds)).y, (await run(bytes, feeds)).y];
    const bound = matmulErrorBound(xs, w2, 2, K2, N2, false);
    (ref?.data as Float32Array).forEach((v, i) =>
      assert.ok(Math.abs((got?.data as Float32Array)[i]! - v) <= bound[i]!),
    );
  });

  for (const variant of [
    { gatherType: 'uint8' as const, perChannel: false, opset: 13 },
    { gatherType: 'int8' as const, perChannel: false, opset: 11 },
    { gatherType: 'uint8' as const, perChannel: true, opset: 13 },
  ]) {
    it(`Gather table -> Gather(int table) + DequantizeLinear (${JSON.stringify(variant)})`, async () => {
      const rows = 1000;
      const D = 16;
      const table = gaussians(rows * D, 31).map((v, i) => v * (0.2 + (i % D) / 4) + 0.3);
      const fp32 = buildModel({
        opset: variant.opset,
        nodes: [node('Gather', ['E', 'ids'], ['emb']), node('Relu', ['emb'], ['y'])],
        inputs: [valueInfo('ids', T.INT64, ['batch', 'seq'])],
        outputs: [
          valueInfo('emb', T.FLOAT, ['batch', 'seq', D]),
          valueInfo('y', T.FLOAT, ['batch', 'seq', D]),
        ],
        initializers: [floatTensor('E', table, [rows, D])],
      });
      const { bytes, report } = quantizeModel(fp32, {
        gatherType: variant.gatherType,
        perChannel: variant.perChannel,
      });
      assert.deepEqual(opTypes(bytes), ['Gather', 'DequantizeLinear', 'Relu']);
      const eq = initializer(bytes, 'E_quantized');
      assert.equal(eq?.dataType, variant.gatherType === 'int8' ? T.INT8 : T.UINT8);
      assert.equal(initializer(bytes, 'E'), undefined);
      assert.equal(report.quantized[0]?.perChannel, variant.perChannel);
      const dq = decode(bytes).graph?.node?.[1];
      assert.equal(dq?.attribute?.find((a) => a.name === 'axis') !== undefined, variant.perChannel);

      // error of each gathered value: one quantization step per element at most (half a step
      // from rounding, the other half only at a saturated extreme), with the step computed here
      const stepOf = (cols: number[]): number => {
        let lo = 0;
        let hi = 0;
        for (let r = 0; r < rows; r++) {
          for (const c of cols) {
            lo = Math.min(lo, table[r * D + c] as number);
            hi = Math.max(hi, table[r * D + c] as number);
          }
        }
        return variant.gatherType === 'int8' ? Math.max(-lo, hi) / 127 : (hi - lo) / 255;
      };
      const allCols = Array.from({ length: D }, (_, c) => c);
      const steps = allCols.map((c) => (variant.perChannel ? stepOf([c]) : stepOf(allCols)));
      const idsData = BigInt64Array.from({ length: 3 * 7 }, (_, i) => BigInt((i * 137) % rows));
      const feeds = { ids: new ort.Tensor('int64', idsData, [3, 7]) };
      const [ref, got] = [await run(fp32, feeds), await run(bytes, feeds)];
      const f = ref.emb?.data as Float32Array;
      const g = got.emb?.data as Float32Array;
      let halfStepViolations = 0;
      for (let i = 0; i < f.length; i++) {
        const step = steps[i % D] as number;
        const d = Math.abs((g[i] as number) - (f[i] as number));
        assert.ok(d <= step * (1 + 1e-5), `emb[${i}] error ${d} > step ${step}`);
        if (d > (step / 2) * (1 + 1e-5)) halfStepViolations++;
      }
      assert.equal(
        halfStepViolations,
        0,
        'random data never hits the zero-point tie, so rounding error is at most half a step',
      );
      assert.ok(got.y, 'downstream Relu still runs');
      // 1000x16 float32 table (62.5 KiB) -> 1 byte per value
      assert.ok(bytes.length < fp32.length * 0.3, `${fp32.length} -> ${bytes.length} bytes`);
    });
  }

  it('leaves Conv in float32 (weights byte-identical) and quantizes the MatMul after it', async () => {
    const convW = gaussians(2 * 1 * 3 * 3, 41);
    const mmW = gaussians(18 * 4, 42);
    const fp32 = buildModel({
      nodes: [
        node('Conv', ['x', 'CW', 'CB'], ['c']),
        node('Flatten', ['c'], ['f']),
        node('MatMul', ['f', 'MW'], ['y']),
      ],
      inputs: [valueInfo('x', T.FLOAT, [1, 1, 5, 5])],
      outputs: [valueInfo('y', T.FLOAT, [1, 4])],
      initializers: [
        floatTensor('CW', convW, [2, 1, 3, 3]),
        floatTensor('CB', Float32Array.of(0.1, -0.2), [2]),
        floatTensor('MW', mmW, [18, 4]),
      ],
    });
    const { bytes, report } = quantizeModel(fp32);
    const before = decode(fp32).graph!;
    const after = decode(bytes).graph!;
    const conv = after.node?.find((n) => n.opType === 'Conv');
    assert.deepEqual(conv?.input, ['x', 'CW', 'CB']);
    assert.ok(!opTypes(bytes).includes('ConvInteger'));
    assert.deepEqual(
      initializer(bytes, 'CW')?.rawData,
      before.initializer?.find((t) => t.name === 'CW')?.rawData,
    );
    assert.equal(initializer(bytes, 'CW')?.dataType, T.FLOAT);
    assert.deepEqual(report.leftFloat, { Conv: 1 });
    assert.ok(opTypes(bytes).includes('MatMulInteger'));
    assert.throws(() => quantizeModel(fp32, { ops: ['Conv'] }), /ConvInteger/);

    const feeds = { x: new ort.Tensor('float32', gaussians(25, 43), [1, 1, 5, 5]) };
    const check = await compareModels(fp32, bytes, { feeds, runs: 0 });
    assert.ok((check.outputs[0]?.maxRelError ?? 1) < 0.05, JSON.stringify(check.outputs));
  });

  it('--ops restricts what is quantized', () => {
    const fp32 = matmulModel(K, N, w, bias);
    const { bytes, report } = quantizeModel(fp32, { ops: ['Gather'] });
    assert.deepEqual(opTypes(bytes), ['MatMul', 'Add']);
    assert.equal(report.quantized.length, 0);
  });

  it('keeps the float weight when another node still reads it', async () => {
    const fp32 = buildModel({
      nodes: [node('MatMul', ['x', 'W'], ['y']), node('ReduceSum', ['W'], ['wsum'])],
      inputs: [valueInfo('x', T.FLOAT, [2, 4])],
      outputs: [valueInfo('y', T.FLOAT, [2, 3]), valueInfo('wsum', T.FLOAT, [1, 1])],
      initializers: [floatTensor('W', gaussians(12, 51), [4, 3])],
    });
    const { bytes } = quantizeModel(fp32);
    assert.ok(initializer(bytes, 'W'), 'W still present for ReduceSum');
    assert.ok(initializer(bytes, 'W_quantized'));
    const out = await run(bytes, { x: new ort.Tensor('float32', gaussians(8, 52), [2, 4]) });
    assert.ok(out.wsum && out.y);
  });

  it('refuses opset 10 with a message naming the opset', () => {
    const fp32 = buildModel({
      opset: 10,
      nodes: [node('MatMul', ['x', 'W'], ['y'])],
      inputs: [valueInfo('x', T.FLOAT, [1, 2])],
      outputs: [valueInfo('y', T.FLOAT, [1, 2])],
      initializers: [floatTensor('W', Float32Array.of(1, 2, 3, 4), [2, 2])],
    });
    assert.throws(
      () => quantizeModel(fp32),
      (err: unknown) =>
        err instanceof QuantizeError && /opset 10/.test(err.message) && /opset >= 11/.test(err.message),
    );
  });

  it('refuses external data', () => {
    const ext = onnx.TensorProto.create({
      name: 'W',
      dataType: T.FLOAT,
      dims: [2, 2],
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [{ key: 'location', value: 'weights.bin' }],
    });
    const fp32 = buildModel({
      nodes: [node('MatMul', ['x', 'W'], ['y'])],
      inputs: [valueInfo('x', T.FLOAT, [1, 2])],
      outputs: [valueInfo('y', T.FLOAT, [1, 2])],
      initializers: [ext],
    });
    assert.throws(() => quantizeModel(fp32), /external data/);
  });
});
