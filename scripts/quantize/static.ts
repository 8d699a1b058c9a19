/**
 * Static (calibrated) INT8 quantization, end to end:
 *
 *   FP32 ─► ORT basic optimizations (preprocessModel) ─► exact simplifications (simplify.ts)
 *        ─► planQdq (which Convs, which activations) ─► calibrate (ORT runs on the calibration feeds)
 *        ─► applyQdq (QDQ graph: Conv, ConvTranspose, MatMul with constant weights)
 *
 *   const { bytes, report } = await quantizeStatic(fp32Bytes, feeds, { method: 'percentile' });
 */
import type { CalibrationMethod } from './calibrate.ts';
import { calibrate, preprocessModel, type Feeds } from './calibrate-ort.ts';
import { decodeModel } from './onnx.ts';
import { applyQdq, planQdq, type QdqReport, type StaticOp } from './qdq.ts';
import type { ElementwiseOp } from './qdq-elementwise.ts';
import { simplifyModel, type SimplifyReport } from './simplify.ts';

export interface StaticOptions {
  method: CalibrationMethod;
  /** kept share of values for 'percentile' */
  percentile?: number;
  ops?: readonly StaticOp[];
  /** element-wise ops between the quantized Convs to quantize too (qdq-elementwise.ts); none by default */
  elementwise?: readonly ElementwiseOp[];
}

export interface StaticReport {
  method: CalibrationMethod;
  percentile?: number;
  calibrationFeeds: number;
  simplify: SimplifyReport;
  qdq: QdqReport;
  bytesIn: number;
  bytesOut: number;
}

/** The FP32 model after the same pre-processing the static path applies (for a like-for-like FP32 timing). */
export async function simplifiedFp32(bytes: Uint8Array): Promise<Uint8Array> {
  return simplifyModel(await preprocessModel(bytes)).bytes;
}

export async function quantizeStatic(
  bytes: Uint8Array,
  feeds: readonly Feeds[],
  options: StaticOptions,
): Promise<{ bytes: Uint8Array; report: StaticReport }> {
  if (feeds.length === 0) throw new Error('static quantization needs at least one calibration input');
  const simplified = simplifyModel(await preprocessModel(bytes));
  const plan = planQdq(decodeModel(simplified.bytes), options.ops ?? ['Conv'], options.elementwise ?? []);
  const percentile = options.method === 'percentile' ? (options.percentile ?? 99.99) : undefined;
  const measured = [...plan.tensors, ...(plan.elementwise?.measure ?? [])];
  const ranges = await calibrate(simplified.bytes, measured, feeds, {
    method: options.method,
    percentile,
  });
  const qdq = applyQdq(simplified.bytes, plan, ranges);
  const out = qdq.bytes;
  return {
    bytes: out,
    report: {
      method: options.method,
      percentile,
      calibrationFeeds: feeds.length,
      simplify: simplified.report,
      qdq: qdq.report,
      bytesIn: bytes.byteLength,
      bytesOut: out.byteLength,
    },
  };
}
