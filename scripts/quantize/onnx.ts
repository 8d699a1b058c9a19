/**
 * Thin helpers over the `onnx-proto` protobufjs static module.
 */
import onnxProto from 'onnx-proto';
import type { onnx as OnnxNS } from 'onnx-proto';

export const { onnx } = onnxProto;

export type ModelProto = OnnxNS.ModelProto;
export type GraphProto = OnnxNS.IGraphProto;
export type NodeProto = OnnxNS.INodeProto;
export type TensorProto = OnnxNS.ITensorProto;
export type AttributeProto = OnnxNS.IAttributeProto;
export type ValueInfoProto = OnnxNS.IValueInfoProto;

export const DataType = onnx.TensorProto.DataType;

export class QuantizeError extends Error {
  override name = 'QuantizeError';
}

/** int64 fields decode as Long objects (long.js is installed) or numbers. */
export function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (
    v &&
    typeof v === 'object' &&
    'toNumber' in v &&
    typeof (v as { toNumber: unknown }).toNumber === 'function'
  ) {
    return (v as { toNumber(): number }).toNumber();
  }
  if (v === null || v === undefined) return 0;
  return Number(v);
}

export function dimsOf(t: TensorProto): number[] {
  return (t.dims ?? []).map(toNumber);
}

export function isExternal(t: TensorProto): boolean {
  return t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || (t.externalData?.length ?? 0) > 0;
}

export function decodeModel(bytes: Uint8Array): ModelProto {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new QuantizeError(`not a valid ONNX model: ${(err as Error).message}`);
  }
}

export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** Version of the default (ai.onnx) opset, or undefined if not imported. */
export function defaultOpset(model: ModelProto): number | undefined {
  const entry = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  return entry ? toNumber(entry.version) : undefined;
}

/** Read a FLOAT tensor stored as float_data or little-endian raw_data. */
export function readFloatTensor(t: TensorProto): Float32Array {
  if (isExternal(t)) throw new QuantizeError(`tensor '${t.name}' uses external data, which is not supported`);
  if (t.dataType !== DataType.FLOAT)
    throw new QuantizeError(`tensor '${t.name}' is not float32 (data_type ${t.dataType})`);
  const count = dimsOf(t).reduce((a, b) => a * b, 1);
  let out: Float32Array;
  if (t.rawData && t.rawData.length > 0) {
    if (t.rawData.length !== count * 4) {
      throw new QuantizeError(
        `tensor '${t.name}': raw_data has ${t.rawData.length} bytes, expected ${count * 4}`,
      );
    }
    out = new Float32Array(count);
    const view = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  } else {
    const fd = t.floatData ?? [];
    if (fd.length !== count)
      throw new QuantizeError(`tensor '${t.name}': float_data has ${fd.length} values, expected ${count}`);
    out = Float32Array.from(fd);
  }
  return out;
}

function littleEndianBytes(arr: Float32Array | Int8Array | Uint8Array | Int32Array): Uint8Array {
  if (arr instanceof Int32Array) {
    const bytes = new Uint8Array(arr.length * 4);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < arr.length; i++) view.setInt32(i * 4, arr[i] as number, true);
    return bytes;
  }
  if (arr instanceof Float32Array) {
    const bytes = new Uint8Array(arr.length * 4);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < arr.length; i++) view.setFloat32(i * 4, arr[i] as number, true);
    return bytes;
  }
  return new Uint8Array(arr.buffer.slice(arr.byteOffset, arr.byteOffset + arr.byteLength));
}

/** Build a tensor with raw_data (dense, little-endian). */
export function makeTensor(
  name: string,
  data: Float32Array | Int8Array | Uint8Array | Int32Array,
  dims: readonly number[],
): TensorProto {
  const dataType =
    data instanceof Int32Array
      ? DataType.INT32
      : data instanceof Float32Array
        ? DataType.FLOAT
        : data instanceof Int8Array
          ? DataType.INT8
          : DataType.UINT8;
  return onnx.TensorProto.create({ name, dataType, dims: [...dims], rawData: littleEndianBytes(data) });
}

export function makeNode(
  opType: string,
  inputs: string[],
  outputs: string[],
  name: string,
  attributes: AttributeProto[] = [],
  domain = '',
): NodeProto {
  return onnx.NodeProto.create({
    opType,
    input: inputs,
    output: outputs,
    name,
    attribute: attributes,
    domain,
  });
}

export function intAttr(name: string, value: number): AttributeProto {
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i: value });
}

export function intsAttr(name: string, values: readonly number[]): AttributeProto {
  return onnx.AttributeProto.create({
    name,
    type: onnx.AttributeProto.AttributeType.INTS,
    ints: [...values],
  });
}

export function getAttr(node: NodeProto, name: string): AttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

/** Every tensor name a graph (and its subgraphs, which may capture outer names) reads. */
export function collectUses(graph: GraphProto, into: Map<string, number> = new Map()): Map<string, number> {
  for (const node of graph.node ?? []) {
    for (const name of node.input ?? []) if (name) into.set(name, (into.get(name) ?? 0) + 1);
    for (const attr of node.attribute ?? []) {
      if (attr.g) collectUses(attr.g, into);
      for (const g of attr.graphs ?? []) collectUses(g, into);
    }
  }
  return into;
}
