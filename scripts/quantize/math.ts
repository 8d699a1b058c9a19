/**
 * Pure quantization math, following ONNX Runtime's python quantizer
 * (onnxruntime/python/tools/quantization/quant_utils.py: compute_scale_zp,
 * quantize_nparray) and the ONNX DynamicQuantizeLinear spec.
 *
 * Everything that ends up in the model is float32, so scales are rounded to
 * float32 (Math.fround) and `x / scale` is evaluated as a float32 division,
 * exactly like numpy does on float32 arrays and like the ORT kernels do.
 */

export type QType = 'int8' | 'uint8';

export interface QParams {
  /** float32 scale (already rounded with Math.fround) */
  scale: number;
  zeroPoint: number;
}

export interface QuantizedTensor {
  data: Int8Array | Uint8Array;
  type: QType;
  /** one entry per tensor (length 1) or per channel along `axis` */
  scales: Float32Array;
  zeroPoints: Int8Array | Uint8Array;
  /** undefined for per-tensor */
  axis?: number;
}

/** Smallest positive normal float32 (numpy.finfo(float32).tiny). */
const FLT_TINY = 1.1754943508222875e-38;

/** Round half to even (numpy.rint / numpy.round, and the ONNX spec's rounding). */
export function roundHalfEven(x: number): number {
  if (!Number.isFinite(x)) return x;
  const floor = Math.floor(x);
  const diff = x - floor;
  let r: number;
  if (diff < 0.5) r = floor;
  else if (diff > 0.5) r = floor + 1;
  else r = floor % 2 === 0 ? floor : floor + 1;
  return r + 0; // normalise -0 to 0
}

/**
 * Integer range of a quantized type (ORT's get_qmin_qmax_for_qType). ORT uses the
 * restricted symmetric range [-127, 127] for int8 weights when `symmetric` is set
 * (so that the range is symmetric around zero point 0), the full range otherwise.
 * `reduceRange` gives 7-bit ranges: int8 [-64, 64], uint8 [0, 127]; with it a
 * uint8 x int8 pair product sum 2 * 255 * 64 fits in int16, which avoids the
 * VPMADDUBSW saturation of ORT's U8S8 kernels on AVX2 CPUs without VNNI.
 */
export function qRange(type: QType, symmetric: boolean, reduceRange = false): [number, number] {
  if (type === 'int8') return reduceRange ? [-64, 64] : symmetric ? [-127, 127] : [-128, 127];
  if (symmetric) throw new Error('symmetric uint8 quantization is not supported (use int8 for symmetric)');
  return reduceRange ? [0, 127] : [0, 255];
}

/**
 * ORT's compute_scale_zp: widen [rmin, rmax] to include 0, make it symmetric
 * if asked, scale = (rmax - rmin) / (qmax - qmin) (1.0 if the range is empty),
 * zero point = round(qmin - rmin / scale) saturated to [qmin, qmax].
 */
export function computeScaleZeroPoint(
  rmin: number,
  rmax: number,
  qmin: number,
  qmax: number,
  symmetric: boolean,
): QParams {
  if (qmin > 0 || qmax < 0) throw new Error(`quantized range [${qmin}, ${qmax}] must contain 0`);
  let lo = Math.min(rmin, 0);
  let hi = Math.max(rmax, 0);
  if (symmetric) {
    const absMax = Math.max(Math.abs(lo), Math.abs(hi));
    lo = -absMax;
    hi = absMax;
  }
  let scale = Math.fround((hi - lo) / (qmax - qmin));
  if (!(scale >= FLT_TINY)) scale = 1;
  const zp = symmetric ? Math.round((qmin + qmax) / 2) : roundHalfEven(qmin - Math.fround(lo / scale));
  return { scale, zeroPoint: Math.min(qmax, Math.max(qmin, zp)) + 0 };
}

/** Symmetric int8 weight parameters: scale = max|w| / 127, zero point 0. */
export function symmetricInt8Params(values: ArrayLike<number>): QParams {
  const [min, max] = minMax(values);
  return computeScaleZeroPoint(min, max, -127, 127, true);
}

/**
 * uint8 asymmetric parameters with DynamicQuantizeLinear semantics:
 * the range always includes 0, scale = (max - min) / 255,
 * zero point = saturate(round(-min / scale)).
 */
export function asymmetricUint8Params(values: ArrayLike<number>): QParams {
  const [min, max] = minMax(values);
  return computeScaleZeroPoint(min, max, 0, 255, false);
}

/** q = saturate(round_half_even(x / scale) + zero_point), x / scale in float32. */
export function quantizeValue(x: number, p: QParams, qmin: number, qmax: number): number {
  const q = roundHalfEven(Math.fround(x / p.scale)) + p.zeroPoint;
  return q < qmin ? qmin : q > qmax ? qmax : q;
}

export function dequantizeValue(q: number, p: QParams): number {
  return Math.fround((q - p.zeroPoint) * p.scale);
}

export function minMax(values: ArrayLike<number>): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (Number.isNaN(v)) throw new Error('cannot quantize a tensor containing NaN');
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (values.length === 0) return [0, 0];
  return [min, max];
}

function allocate(type: QType, n: number): Int8Array | Uint8Array {
  return type === 'int8' ? new Int8Array(n) : new Uint8Array(n);
}

/** Per-tensor quantization of `values` with one scale / zero point. */
export function quantizePerTensor(
  values: ArrayLike<number>,
  type: QType,
  symmetric: boolean,
  reduceRange = false,
): QuantizedTensor {
  const [qmin, qmax] = qRange(type, symmetric, reduceRange);
  const [min, max] = minMax(values);
  const p = computeScaleZeroPoint(min, max, qmin, qmax, symmetric);
  const data = allocate(type, values.length);
  for (let i = 0; i < values.length; i++) data[i] = quantizeValue(values[i] as number, p, qmin, qmax);
  const zeroPoints = allocate(type, 1);
  zeroPoints[0] = p.zeroPoint;
  return { data, type, scales: Float32Array.of(p.scale), zeroPoints };
}

/**
 * Per-channel quantization: one scale / zero point per index along `axis`
 * of a row-major tensor with shape `dims`. For a MatMul weight B of shape
 * [K, N], axis 1 gives one scale per output column.
 */
export function quantizePerChannel(
  values: ArrayLike<number>,
  dims: readonly number[],
  axis: number,
  type: QType,
  symmetric: boolean,
  reduceRange = false,
): QuantizedTensor {
  const rank = dims.length;
  const ax = axis < 0 ? axis + rank : axis;
  if (ax < 0 || ax >= rank) throw new Error(`axis ${axis} out of range for rank ${rank}`);
  const total = dims.reduce((a, b) => a * b, 1);
  if (total !== values.length)
    throw new Error(`shape [${dims.join(',')}] does not match ${values.length} values`);
  const channels = dims[ax] as number;
  const inner = dims.slice(ax + 1).reduce((a, b) => a * b, 1);
  const mins = new Float64Array(channels).fill(Infinity);
  const maxs = new Float64Array(channels).fill(-Infinity);
  for (let i = 0; i < total; i++) {
    const c = Math.floor(i / inner) % channels;
    const v = values[i] as number;
    if (Number.isNaN(v)) throw new Error('cannot quantize a tensor containing NaN');
    if (v < (mins[c] as number)) mins[c] = v;
    if (v > (maxs[c] as number)) maxs[c] = v;
  }
  const [qmin, qmax] = qRange(type, symmetric, reduceRange);
  const params: QParams[] = [];
  for (let c = 0; c < channels; c++) {
    const lo = Number.isFinite(mins[c] as number) ? (mins[c] as number) : 0;
    const hi = Number.isFinite(maxs[c] as number) ? (maxs[c] as number) : 0;
    params.push(computeScaleZeroPoint(lo, hi, qmin, qmax, symmetric));
  }
  const data = allocate(type, total);
  for (let i = 0; i < total; i++) {
    const p = params[Math.floor(i / inner) % channels] as QParams;
    data[i] = quantizeValue(values[i] as number, p, qmin, qmax);
  }
  const zeroPoints = allocate(type, channels);
  params.forEach((p, c) => (zeroPoints[c] = p.zeroPoint));
  return { data, type, scales: Float32Array.from(params, (p) => p.scale), zeroPoints, axis: ax };
}

/** Dequantize a QuantizedTensor back to float32 (inverse of the above, for checks). */
export function dequantize(t: QuantizedTensor, dims: readonly number[]): Float32Array {
  const out = new Float32Array(t.data.length);
  const channels = t.axis === undefined ? 1 : (dims[t.axis] as number);
  const inner = t.axis === undefined ? t.data.length : dims.slice(t.axis + 1).reduce((a, b) => a * b, 1);
  for (let i = 0; i < out.length; i++) {
    const c = t.axis === undefined ? 0 : Math.floor(i / inner) % channels;
    out[i] = dequantizeValue(t.data[i] as number, {
      scale: t.scales[c] as number,
      zeroPoint: t.zeroPoints[c] as number,
    });
  }
  return out;
}
