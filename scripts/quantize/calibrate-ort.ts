/**
 * The onnxruntime side of static quantization: the FP32 pre-processing pass and the calibration runs.
 *
 * - `preprocessModel`: ORT's basic graph optimizations (constant folding: Constant nodes become
 *   initializers; Conv + BatchNormalization / Mul / Add fusion), saved with `optimizedModelFilePath`. ORT's
 *   python quantizer does the same before quantize_static (quant_pre_process); the result is still
 *   standard ONNX, so the QDQ rewrite sees the weights the kernels will use.
 * - `calibrate`: the FP32 model with every tensor to measure added as a graph output, run on each
 *   calibration feed; min-max in a first pass, and for 'percentile' a histogram over that range in a
 *   second pass (calibrate.ts).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { Histogram, percentileRange, RangeStats, type CalibrationMethod } from './calibrate.ts';
import { decodeModel, encodeModel, onnx } from './onnx.ts';
import type { Ranges } from './qdq.ts';

export type Feeds = Record<string, ort.Tensor>;

const ONE_THREAD: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  logSeverityLevel: 3,
};

/** ORT basic-level optimization of an FP32 model, returned as bytes. */
export async function preprocessModel(bytes: Uint8Array): Promise<Uint8Array> {
  const dir = mkdtempSync(join(tmpdir(), 'clawstack-preprocess-'));
  try {
    const path = join(dir, 'optimized.onnx');
    const session = await ort.InferenceSession.create(bytes, {
      ...ONE_THREAD,
      graphOptimizationLevel: 'basic',
      optimizedModelFilePath: path,
    });
    await session.release();
    return new Uint8Array(readFileSync(path));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The model with `tensors` added as graph outputs (type float, shape left unknown). */
export function withOutputs(bytes: Uint8Array, tensors: readonly string[]): Uint8Array {
  const model = decodeModel(bytes);
  const graph = model.graph!;
  const have = new Set((graph.output ?? []).map((o) => o.name));
  for (const name of tensors) {
    if (have.has(name)) continue;
    graph.output!.push(
      onnx.ValueInfoProto.create({
        name,
        type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } },
      }),
    );
  }
  return encodeModel(model);
}

export interface CalibrationOptions {
  method: CalibrationMethod;
  /** kept share of values for 'percentile' (ORT's default 99.999) */
  percentile?: number;
  bins?: number;
}

/** Activation ranges of `tensors` over the calibration feeds. */
export async function calibrate(
  bytes: Uint8Array,
  tensors: readonly string[],
  feeds: readonly Feeds[],
  options: CalibrationOptions,
): Promise<Ranges> {
  const session = await ort.InferenceSession.create(withOutputs(bytes, tensors), {
    ...ONE_THREAD,
    graphOptimizationLevel: 'disabled',
  });
  const stats = new Map(tensors.map((t) => [t, new RangeStats()]));
  const hists = new Map<string, Histogram>();
  try {
    const pass = async (visit: (t: string, data: Float32Array) => void) => {
      for (const feed of feeds) {
        const out = await session.run(feed, [...tensors]);
        for (const t of tensors) visit(t, out[t]!.data as Float32Array);
      }
    };
    await pass((t, data) => stats.get(t)!.add(data));
    if (options.method === 'minmax')
      return Object.fromEntries(tensors.map((t) => [t, stats.get(t)!.range()]));
    for (const t of tensors) {
      const [lo, hi] = stats.get(t)!.range();
      hists.set(t, new Histogram(lo, hi, options.bins ?? 2048));
    }
    await pass((t, data) => hists.get(t)!.add(data));
    const p = options.percentile ?? 99.999;
    return Object.fromEntries(tensors.map((t) => [t, percentileRange(hists.get(t)!, p)]));
  } finally {
    await session.release();
  }
}
