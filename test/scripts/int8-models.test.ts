/**
 * The INT8 variants in models/manifest.json: files and sha256, recorded accuracy within 1 point of the FP32
 * entry's, re-measured accuracy through ORT, reproducibility from scripts/make-int8.ts's recipe, precision
 * selection by ModelRegistry, and the opset upgrade (scripts/quantize/upgrade.ts) the OCR recognizer needs.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxNS } from 'onnx-proto';
import type { ModelEntry } from '../../app/src/models/manifest.ts';
import { DirectorySource, ModelRegistry } from '../../app/src/models/registry.ts';
import { OCR_STATIC_OPTIONS } from '../../scripts/make-int8.ts';
import { textSpamOnnx, textSpamWeights } from '../../scripts/lib/text-graph.ts';
import { ocrCalibrationFeeds } from '../../scripts/quantize/ocr-calibration.ts';
import { quantizeStatic } from '../../scripts/quantize/static.ts';
import {
  evalOcr,
  evalText,
  findEntry,
  MODELS_DIR,
  ortContext,
  readManifest,
  textFixture,
} from '../../scripts/lib/model-eval.ts';
import { QuantizeError, quantizeModel, seededRandom } from '../../scripts/quantize/index.ts';
import { OP_HISTORY, upgradeBlockers, upgradeOpset } from '../../scripts/quantize/upgrade.ts';

const { onnx } = onnxProto;
const T = onnx.TensorProto.DataType;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const manifest = readManifest();
const int8Entries = manifest.models.filter((m) => m.precision === 'int8');
const fp32Of = (e: ModelEntry) => findEntry(manifest, e.name, 'fp32')!;
/** The accuracy metrics each model records (the FP32 entry has them too). */
const ACCURACY_METRICS: Record<string, string[]> = {
  'text-spam': ['heldOutAccuracy', 'heldOutShortAccuracy'],
  'ocr-rec': ['fixtureCharAccuracy'],
  'ocr-det': ['fixtureCharAccuracy'],
};

describe('INT8 manifest entries', () => {
  test('text-spam, ocr-det and ocr-rec have INT8 variants', () => {
    assert.deepEqual(int8Entries.map((e) => e.name).sort(), ['ocr-det', 'ocr-rec', 'text-spam']);
  });

  for (const entry of int8Entries) {
    test(`${entry.name} int8: file, sha256, bytes, tensors and the FP32 sibling's specs`, async () => {
      const bytes = readFileSync(join(MODELS_DIR, entry.file));
      assert.equal(sha256(bytes), entry.sha256);
      assert.equal(bytes.byteLength, entry.bytes);
      const fp32 = fp32Of(entry);
      assert.ok(fp32, `${entry.name} has no FP32 entry`);
      assert.notEqual(entry.file, fp32.file);
      // ONNX names are unique; ORT would silently use the last of two same-named initializers
      const names = onnx.ModelProto.decode(bytes).graph!.initializer!.map((t) => t.name!);
      assert.deepEqual(
        names.filter((n, i) => names.indexOf(n) !== i),
        [],
        `${entry.name} int8 repeats initializer names`,
      );
      for (const key of [
        'version',
        'task',
        'role',
        'modality',
        'inputs',
        'outputs',
        'batching',
        'labels',
        'preprocess',
        'assets',
        'license',
      ] as const) {
        assert.deepEqual(entry[key], fp32[key], key);
      }
      assert.ok(entry.bytes < fp32.bytes);
      const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
      assert.deepEqual(
        session.inputNames,
        entry.inputs.map((i) => i.name),
      );
      assert.deepEqual(
        session.outputNames,
        entry.outputs.map((o) => o.name),
      );
      await session.release();
    });

    test(`${entry.name} int8: recorded accuracy within 1 point of the FP32 entry's`, () => {
      for (const metric of ACCURACY_METRICS[entry.name]!) {
        const q = entry.metrics[metric];
        const f = fp32Of(entry).metrics[metric];
        assert.equal(typeof q, 'number', `int8 ${metric}`);
        assert.equal(typeof f, 'number', `fp32 ${metric}`);
        assert.ok(f! - q! <= 0.01, `${metric}: fp32 ${f}, int8 ${q}`);
      }
    });
  }

  test('text-spam int8: re-measured through ORT on the held-out fixture sample: ≥ 0.95 and within 1 point of FP32', async () => {
    const entry = findEntry(manifest, 'text-spam', 'int8')!;
    const samples = textFixture();
    assert.ok(samples.length >= 200);
    const q = await evalText(join(MODELS_DIR, entry.file), entry, samples);
    const f = await evalText(join(MODELS_DIR, fp32Of(entry).file), fp32Of(entry), samples);
    assert.ok(q.accuracy >= 0.95, `int8 accuracy ${q.accuracy}`);
    assert.ok(f.accuracy - q.accuracy <= 0.01, `fp32 ${f.accuracy}, int8 ${q.accuracy}`);
    let maxDelta = 0;
    q.pSpam.forEach((p, i) => (maxDelta = Math.max(maxDelta, Math.abs(p - f.pSpam[i]!))));
    assert.ok(maxDelta < 0.05, `max |ΔP(spam)| ${maxDelta}`);
  });

  for (const role of ['det', 'rec'] as const) {
    test(`ocr-${role} int8 (the other model FP32): image.ocr re-measured on the fixture images matches the recorded character accuracy`, async () => {
      const det = findEntry(manifest, 'ocr-det', role === 'det' ? 'int8' : 'fp32')!;
      const rec = findEntry(manifest, 'ocr-rec', role === 'rec' ? 'int8' : 'fp32')!;
      const q = role === 'det' ? det : rec;
      const ctx = await ortContext([
        { entry: det, path: join(MODELS_DIR, det.file) },
        { entry: rec, path: join(MODELS_DIR, rec.file) },
      ]);
      try {
        const result = await evalOcr(ctx);
        assert.ok(
          Math.abs(result.charAccuracy - q.metrics.fixtureCharAccuracy!) < 1e-3,
          `${result.charAccuracy}`,
        );
        assert.ok(result.charAccuracy >= 0.95);
      } finally {
        await ctx.release();
      }
    });
  }

  test('text-spam INT8 is reproduced byte for byte from the FP32 file by the make-int8 recipe', () => {
    const text = findEntry(manifest, 'text-spam', 'int8')!;
    const weights = textSpamWeights(readFileSync(join(MODELS_DIR, fp32Of(text).file)));
    const textBytes = textSpamOnnx(weights, 'matmul', 'int8');
    assert.equal(sha256(textBytes), text.sha256);
  });

  test('ocr-det static INT8 is reproduced from the same calibration images (byte for byte here; within a rounding step elsewhere)', async () => {
    const det = findEntry(manifest, 'ocr-det', 'int8')!;
    const method = /calibrated by (minmax|percentile)/.exec(det.source)?.[1] as 'minmax' | 'percentile';
    assert.ok(method, det.source);
    const detFp32 = fp32Of(det);
    const feeds = await calibrationFeeds();
    const { bytes } = await quantizeStatic(readFileSync(join(MODELS_DIR, detFp32.file)), feeds.det, {
      ...OCR_STATIC_OPTIONS,
      method,
    });
    // Byte for byte on this CPU; ORT's FP32 kernels may round differently on another one, so a
    // different file must still be the same graph with every initializer within a rounding step.
    if (sha256(bytes) !== det.sha256)
      assertSameQuantizedModel(bytes, readFileSync(join(MODELS_DIR, det.file)));
  });
});

/** Same nodes (op types, inputs, outputs) and initializers equal up to one rounding step. */
function assertSameQuantizedModel(rebuilt: Uint8Array, shipped: Uint8Array) {
  const [a, b] = [onnx.ModelProto.decode(rebuilt).graph!, onnx.ModelProto.decode(shipped).graph!];
  const nodes = (g: OnnxNS.IGraphProto) =>
    g.node!.map((n) => `${n.opType}(${n.input!.join(',')})->${n.output!.join(',')}`);
  assert.deepEqual(nodes(a), nodes(b));
  const inits = new Map(b.initializer!.map((t) => [t.name!, t]));
  assert.equal(a.initializer!.length, inits.size);
  for (const t of a.initializer!) {
    const u = inits.get(t.name!);
    assert.ok(u, `initializer ${t.name} is missing from the shipped file`);
    assert.equal(t.dataType, u.dataType, t.name!);
    assert.deepEqual(t.dims!.map(Number), u.dims!.map(Number), t.name!);
    const [x, y] = [tensorValues(t), tensorValues(u)];
    assert.equal(x.length, y.length, `${t.name}: value count`);
    assert.equal(
      x.length,
      t.dims!.map(Number).reduce((a, d) => a * d, 1),
      `${t.name}: values read`,
    );
    const float = t.dataType === T.FLOAT;
    for (let i = 0; i < x.length; i++) {
      const tolerance = float ? 1e-3 * Math.max(Math.abs(y[i]!), 1e-6) : 1;
      assert.ok(Math.abs(x[i]! - y[i]!) <= tolerance, `${t.name}[${i}]: ${x[i]} vs ${y[i]}`);
    }
  }
}

function tensorValues(t: OnnxNS.ITensorProto): number[] {
  const raw = t.rawData && t.rawData.length ? t.rawData : undefined;
  if (!raw) return [...(t.floatData ?? []), ...(t.int32Data ?? []), ...(t.int64Data ?? []).map(Number)];
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const read: Partial<Record<number, [number, (o: number) => number]>> = {
    [T.FLOAT]: [4, (o) => view.getFloat32(o, true)],
    [T.INT32]: [4, (o) => view.getInt32(o, true)],
    [T.INT8]: [1, (o) => view.getInt8(o)],
    [T.UINT8]: [1, (o) => view.getUint8(o)],
    [T.INT64]: [8, (o) => Number(view.getBigInt64(o, true))],
  };
  const [size, get] = read[t.dataType!] ?? [1, (o: number) => view.getUint8(o)];
  return Array.from({ length: raw.byteLength / size }, (_, i) => get(i * size));
}

/** The detector's and recognizer's feeds from models/calibration/ocr (FP32 models), computed once. */
let ocrFeeds: ReturnType<typeof ocrCalibrationFeeds> | undefined;
function calibrationFeeds() {
  ocrFeeds ??= (async () => {
    const [det, rec] = [findEntry(manifest, 'ocr-det', 'fp32')!, findEntry(manifest, 'ocr-rec', 'fp32')!];
    const ctx = await ortContext([
      { entry: det, path: join(MODELS_DIR, det.file) },
      { entry: rec, path: join(MODELS_DIR, rec.file) },
    ]);
    try {
      return await ocrCalibrationFeeds(ctx);
    } finally {
      await ctx.release();
    }
  })();
  return ocrFeeds;
}

/** NCHW batch of `images` ([1, C, H', W'] each), each cropped or zero-padded to `h` × `w` (the app pads with 0). */
function stackImages(images: readonly ort.Tensor[], h: number, w: number): ort.Tensor {
  const c = images[0]!.dims[1]!;
  const out = new Float32Array(images.length * c * h * w);
  images.forEach((t, b) => {
    const [, , th, tw] = t.dims as [number, number, number, number];
    const data = t.data as Float32Array;
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < Math.min(h, th); y++) {
        const row = data.subarray((ch * th + y) * tw, (ch * th + y) * tw + Math.min(w, tw));
        out.set(row, ((b * c + ch) * h + y) * w);
      }
  });
  return new ort.Tensor('float32', out, [images.length, c, h, w]);
}

/** Largest |a[i] − b[i]| over b's length (a may hold more rows). */
function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < b.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/**
 * The app batches requests dynamically (rec: batching 'pad'), so a line's answer must not depend on which
 * other lines share its batch. Every INT8 scale is fixed at quantization time (QuantizeLinear with calibrated
 * parameters; integer kernels are exact; the float parts work row by row), so the bound is 0: the dynamic
 * MatMuls the recognizer had before issue 13 (DynamicQuantizeLinear, one scale per batch) gave 2.4e-2 here.
 */
describe('OCR models: an input gives the same output alone and in batches of 2 and 8 with other inputs', () => {
  for (const role of ['det', 'rec'] as const)
    for (const precision of ['fp32', 'int8'] as const)
      test(`ocr-${role} ${precision}`, async () => {
        const entry = findEntry(manifest, `ocr-${role}`, precision)!;
        const inputs = (await calibrationFeeds())[role].map((f) => f.x!);
        assert.ok(inputs.length >= 6, `${inputs.length} calibration inputs`);
        const session = await ort.InferenceSession.create(join(MODELS_DIR, entry.file), {
          intraOpNumThreads: 1,
        });
        try {
          const output = session.outputNames[0]!;
          // three targets of different sizes, each with batch-mates of other content
          for (const k of [0, 1, Math.floor(inputs.length / 2)]) {
            const target = inputs[k]!;
            const [, , h, w] = target.dims as number[];
            const alone = (await session.run({ x: target }))[output]!.data as Float32Array;
            for (const n of [2, 8]) {
              const mates = Array.from({ length: n - 1 }, (_, i) => inputs[(k + 1 + i * 2) % inputs.length]!);
              const batch = stackImages([target, ...mates], h!, w!);
              const rows = (await session.run({ x: batch }))[output]!.data as Float32Array;
              assert.equal(rows.length, n * alone.length);
              const d = maxAbsDiff(rows, alone);
              assert.equal(d, 0, `input ${k} (${h}x${w}) in a batch of ${n}: max |diff| ${d}`);
            }
          }
        } finally {
          await session.release();
        }
      });
});

describe('MODEL_PRECISION selects the variant (ModelRegistry + DirectorySource on models/)', () => {
  for (const precision of ['fp32', 'int8'] as const) {
    test(`${precision}`, async () => {
      const registry = await ModelRegistry.load(new DirectorySource(MODELS_DIR), { precision });
      for (const name of ['text-spam', 'ocr-det', 'ocr-rec']) {
        const loaded = registry.get(name)!;
        assert.equal(loaded.entry.precision, precision, name);
        assert.equal(loaded.path, join(MODELS_DIR, findEntry(manifest, name, precision)!.file));
        assert.equal(loaded.entry.labels?.length, findEntry(manifest, name, 'fp32')!.labels?.length);
      }
      // models without an INT8 variant are served in FP32 either way
      assert.equal(registry.get('silero-vad')!.entry.precision, 'fp32');
      assert.equal(registry.forTask('image.ocr').get('rec')!.entry.precision, precision);
      assert.equal(registry.forTask('image.ocr').get('det')!.entry.precision, precision);
    });
  }
});

// ---------------------------------------------------------------------------------------------------------
// opset upgrade

function valueInfo(name: string, dims: number[]): OnnxNS.IValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: T.FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  });
}
const ints = (name: string, v: number[]) =>
  onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: v });
const float = (name: string, f: number) =>
  onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f });
const str = (name: string, s: string) =>
  onnx.AttributeProto.create({
    name,
    type: onnx.AttributeProto.AttributeType.STRING,
    s: new TextEncoder().encode(s),
  });
const node = (opType: string, input: string[], output: string[], attribute: OnnxNS.IAttributeProto[] = []) =>
  onnx.NodeProto.create({ opType, input, output, name: `${opType}_${output[0]}`, attribute });

function model(
  opset: number,
  nodes: OnnxNS.INodeProto[],
  input: OnnxNS.IValueInfoProto[],
  output: OnnxNS.IValueInfoProto[],
  initializer: OnnxNS.ITensorProto[] = [],
) {
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 4,
      producerName: 'int8-models.test',
      opsetImport: [{ domain: '', version: opset }],
      graph: { name: 'g', node: nodes, input, output, initializer },
    }),
  ).finish();
}

/** opset 9: Clip(min, max) → Slice(starts/ends/axes, an out-of-range end) → Clip(max only) → MatMul → Softmax. */
function clipSliceModel(opset = 9) {
  const w = Float32Array.from({ length: 5 * 3 }, (_, i) => Math.sin(i + 1));
  return model(
    opset,
    [
      node('Clip', ['x'], ['c1'], [float('min', -0.5), float('max', 0.75)]),
      node('Slice', ['c1'], ['s1'], [ints('starts', [1, -5]), ints('ends', [3, 1000]), ints('axes', [0, 1])]),
      node('Clip', ['s1'], ['c2'], [float('max', 0.6)]),
      node('MatMul', ['c2', 'w'], ['m']),
      node(
        'Softmax',
        ['m'],
        ['y'],
        [onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 })],
      ),
    ],
    [valueInfo('x', [4, 6])],
    [valueInfo('y', [2, 3])],
    [onnx.TensorProto.create({ name: 'w', dataType: T.FLOAT, dims: [5, 3], floatData: [...w] })],
  );
}

async function run(bytes: Uint8Array, x: Float32Array, dims: number[]) {
  const s = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', x, dims) });
  await s.release();
  return out[s.outputNames[0]!]!.data as Float32Array;
}

describe('opset upgrade (scripts/quantize/upgrade.ts)', () => {
  test('opset 9 Clip/Slice attributes become inputs at opset 11 with identical outputs in ORT', async () => {
    const before = clipSliceModel();
    const { bytes, report } = upgradeOpset(before);
    assert.deepEqual(report.converted, { Clip: 2, Slice: 1 });
    assert.equal(report.from, 9);
    const m = onnx.ModelProto.decode(bytes);
    assert.equal(Number(m.opsetImport[0]!.version), 11);
    const [c1, s1, c2] = m.graph!.node!;
    assert.deepEqual(c1!.attribute, []);
    assert.equal(c1!.input!.length, 3);
    assert.deepEqual(c2!.input!.slice(0, 2), ['s1', ''], 'absent min stays an empty optional input');
    assert.equal(s1!.input!.length, 4);
    assert.deepEqual(s1!.attribute, []);
    const rand = seededRandom(7);
    const x = Float32Array.from({ length: 24 }, () => 2 * rand() - 1);
    assert.deepEqual(await run(bytes, x, [4, 6]), await run(before, x, [4, 6]));
    // and the quantizer now accepts it
    assert.throws(() => quantizeModel(before), QuantizeError);
    assert.equal(quantizeModel(bytes).report.quantized.length, 1);
  });

  test('the real OCR recognizer upgraded gives bit-identical outputs to the opset 9 original', async () => {
    const rec = findEntry(manifest, 'ocr-rec', 'fp32')!;
    const original = readFileSync(join(MODELS_DIR, rec.file));
    const up = upgradeOpset(original);
    assert.deepEqual(up.report.converted, { Clip: 28, Slice: 10 });
    const rand = seededRandom(11);
    const x = Float32Array.from({ length: 3 * 48 * 320 }, () => 2 * rand() - 1);
    const [a, b] = [await run(original, x, [1, 3, 48, 320]), await run(up.bytes, x, [1, 3, 48, 320])];
    assert.equal(a.length, 40 * 6625);
    assert.deepEqual(b, a);
  });

  test('refuses what it has not checked, naming the op; leaves opset ≥ 11 alone', () => {
    const up9 = model(
      9,
      [node('Upsample', ['x', 's'], ['y'])],
      [valueInfo('x', [1, 1, 2, 2])],
      [valueInfo('y', [1, 1, 4, 4])],
    );
    assert.throws(() => upgradeOpset(up9), /Upsample: its schema history/);
    const conv = model(
      9,
      [node('Conv', ['x', 'w'], ['y'], [str('auto_pad', 'SAME_UPPER')])],
      [valueInfo('x', [1, 1, 4, 4])],
      [valueInfo('y', [1, 1, 4, 4])],
    );
    assert.throws(() => upgradeOpset(conv), /auto_pad=SAME_UPPER/);
    assert.throws(() => upgradeOpset(clipSliceModel(6)), /opset 6 is older than 7/);
    const current = clipSliceModel(11);
    assert.equal(upgradeOpset(current).bytes, current);
    const sub = node(
      'If',
      ['c'],
      ['y'],
      [
        onnx.AttributeProto.create({
          name: 'then_branch',
          type: onnx.AttributeProto.AttributeType.GRAPH,
          g: { name: 't' },
        }),
      ],
    );
    assert.deepEqual(upgradeBlockers([sub], 9), ['If: subgraphs are not upgraded']);
    const bn = node(
      'BatchNormalization',
      ['x', 's', 'b', 'm', 'v'],
      ['y'],
      [onnx.AttributeProto.create({ name: 'spatial', type: onnx.AttributeProto.AttributeType.INT, i: 0 })],
    );
    assert.match(upgradeBlockers([bn], 8)[0]!, /spatial=0/);
  });

  test('only ops whose schema changes in (7, 11] are widening or converted are listed', () => {
    for (const [op, h] of Object.entries(OP_HISTORY)) {
      for (const c of h.changes) {
        assert.ok(c.version > 7 && c.version <= 11, `${op}: ${c.version}`);
        if (c.kind === 'convert')
          assert.ok(['Slice', 'Clip'].includes(op), `${op} is marked convert but has no converter`);
      }
    }
    for (const op of ['Upsample', 'Resize', 'Pad', 'Dropout', 'TopK', 'Scan', 'Loop', 'If'])
      assert.equal(OP_HISTORY[op], undefined, op);
  });
});
