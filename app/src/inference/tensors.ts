/** Tensor helpers shared by the engine's main-thread batcher and its inference threads. */
import type { TensorType } from '../models/manifest.ts';
import type { TensorData, TypedArray } from '../modalities/types.ts';

export function allocate(type: TensorType, length: number): TypedArray {
  switch (type) {
    case 'float32':
      return new Float32Array(length);
    case 'int64':
      return new BigInt64Array(length);
    case 'int32':
      return new Int32Array(length);
    case 'int8':
      return new Int8Array(length);
    case 'uint8':
    case 'bool':
      return new Uint8Array(length);
  }
}

export const elementCount = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** Copies `src` (shape `srcDims`) into `dst` (shape `dstDims`, each dim ≥ the source's) at `offset`, zero-padded. */
function padCopy(src: TypedArray, srcDims: number[], dst: TypedArray, dstDims: number[], offset: number) {
  if (srcDims.length === 0) {
    (dst as Float32Array)[offset] = (src as Float32Array)[0]!;
    return;
  }
  if (srcDims.length === 1) {
    (dst as Float32Array).set(src as Float32Array, offset);
    return;
  }
  const srcInner = elementCount(srcDims.slice(1));
  const dstInner = elementCount(dstDims.slice(1));
  for (let i = 0; i < srcDims[0]!; i++) {
    padCopy(
      src.subarray(i * srcInner, (i + 1) * srcInner),
      srcDims.slice(1),
      dst,
      dstDims.slice(1),
      offset + i * dstInner,
    );
  }
}

/**
 * Stacks batch-1 requests into one batch along dim 0, zero-padding every other dim to the largest in
 * the batch. Returns the feeds for the batch.
 */
export function collate(requests: Record<string, TensorData>[]): Record<string, TensorData> {
  const first = requests[0]!;
  if (requests.length === 1) return first;
  const out: Record<string, TensorData> = {};
  for (const name of Object.keys(first)) {
    const tensors = requests.map((r) => r[name]!);
    const rank = tensors[0]!.dims.length;
    const inner = tensors[0]!.dims.slice(1).map((_, d) => Math.max(...tensors.map((t) => t.dims[d + 1]!)));
    const dims = [requests.length, ...inner];
    if (rank === 0) throw new Error(`input ${name} has no batch dimension`);
    const data = allocate(tensors[0]!.type, elementCount(dims));
    const stride = elementCount(inner);
    tensors.forEach((t, i) => {
      const needsPad = t.dims.slice(1).some((d, k) => d !== inner[k]);
      if (needsPad) padCopy(t.data, t.dims.slice(1), data, inner, i * stride);
      else (data as Float32Array).set(t.data as Float32Array, i * stride);
    });
    out[name] = { type: tensors[0]!.type, data, dims };
  }
  return out;
}

/** Splits batched outputs back into `count` batch-1 results. */
export function split(outputs: Record<string, TensorData>, count: number): Record<string, TensorData>[] {
  if (count === 1) return [outputs];
  const results: Record<string, TensorData>[] = Array.from({ length: count }, () => ({}));
  for (const [name, t] of Object.entries(outputs)) {
    const stride = elementCount(t.dims.slice(1));
    for (let i = 0; i < count; i++) {
      results[i]![name] = {
        type: t.type,
        // A view, not a copy: each caller only reads its slice (OCR rec outputs are [B, T, 6625]).
        data: t.data.subarray(i * stride, (i + 1) * stride),
        dims: [1, ...t.dims.slice(1)],
      };
    }
  }
  return results;
}
