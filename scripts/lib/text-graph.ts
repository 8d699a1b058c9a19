/**
 * The text-spam ONNX graph, built from its trained weights: one builder for training's export
 * (scripts/train-text.ts), the INT8 variant (scripts/make-int8.ts) and the old formulation the benchmark
 * compares against (scripts/bench-models.ts).
 *
 * Inputs `ids` int64 [B,L] and `weights` float32 [B,L] (0 where padded), output `probabilities` [B,2]; the
 * formulations differ only in how the weighted sum of embedding rows (the "bag") is computed:
 *
 * - `mul-reducesum` (shipped until issue 13): Gather [B,L,D] → Mul(Unsqueeze(weights, 2)) → ReduceSum(axis 1).
 *   ORT spends most of its time in the broadcasting Mul and the Gather.
 * - `matmul`: Unsqueeze(weights, 1) [B,1,L] MatMul Gather [B,L,D] → [B,1,D] → Squeeze: the sum is a batched
 *   matrix-vector product (one MLAS kernel, no [B,L,D] temporary for the products).
 * - `matmul` with an `int8` table: the table is int8 symmetric per-tensor (scale s) and the weights are
 *   quantized to uint8 with the fixed scale 1/255 (they are L2-normalised, so every weight is in [0, 1]):
 *   Gather on int8 → MatMulInteger (u8 × s8 → int32) → Cast. Dequantization is linear and the scale is
 *   per-tensor, so it commutes with the weighted sum: instead of a DequantizeLinear on every gathered row,
 *   the single factor s/255 is folded into fc1's weight, and no dequantize node is left.
 */
import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';
import { dimsOf, readFloatTensor } from '../quantize/onnx.ts';

const { onnx } = onnxProto;
const { FLOAT, INT64, INT8, UINT8 } = onnx.TensorProto.DataType;
const INT = onnx.AttributeProto.AttributeType.INT;

export type BagFormulation = 'mul-reducesum' | 'matmul';
export type TablePrecision = 'fp32' | 'int8';

/** Trained weights: embedding [V,D], fc1 [D,H] + [H], fc2 [H,C] + [C] (MatMul layout: input × output). */
export interface TextSpamWeights {
  V: number;
  D: number;
  H: number;
  C: number;
  emb: Float32Array;
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
}

/** Fixed scale of the uint8 weights in the INT8 graph: weights are L2-normalised, hence in [0, 1]. */
export const WEIGHT_SCALE = 1 / 255;

/** int8 symmetric per-tensor quantization of the embedding table: q = round(x / s), s = max|x| / 127. */
export function quantizeTable(emb: Float32Array): { q: Int8Array; scale: number } {
  let amax = 0;
  for (const v of emb) amax = Math.max(amax, Math.abs(v));
  const scale = amax > 0 ? amax / 127 : 1;
  const q = Int8Array.from(emb, (v) => Math.max(-127, Math.min(127, Math.round(v / scale))));
  return { q, scale };
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  // Typed arrays are little-endian on every platform Node supports, as ONNX raw_data requires.
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function initializer(
  name: string,
  dims: number[],
  data: Float32Array | BigInt64Array | Int8Array | Uint8Array,
): Onnx.ITensorProto {
  const dataType =
    data instanceof Float32Array
      ? FLOAT
      : data instanceof BigInt64Array
        ? INT64
        : data instanceof Int8Array
          ? INT8
          : UINT8;
  return { name, dims, dataType, rawData: bytesOf(data) };
}

function valueInfo(name: string, elemType: number, dims: (number | string)[]): Onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

const node = (
  opType: string,
  inputs: string[],
  outputs: string[],
  attribute: Onnx.IAttributeProto[] = [],
): Onnx.INodeProto => ({ opType, input: inputs, output: outputs, name: outputs[0] as string, attribute });

const gather = (table: string) =>
  node('Gather', [table, 'ids'], ['bag.embedded'], [{ name: 'axis', type: INT, i: 0 }]);

/** The bag's nodes and the initializers they need, ending in `bag.sum` [B,D]. */
function bagNodes(
  w: TextSpamWeights,
  formulation: BagFormulation,
  table: TablePrecision,
): { nodes: Onnx.INodeProto[]; inits: Onnx.ITensorProto[]; fc1Scale: number } {
  const { V, D } = w;
  if (formulation === 'mul-reducesum') {
    if (table !== 'fp32') throw new Error('the mul-reducesum formulation is built with an fp32 table only');
    return {
      nodes: [
        gather('embedding.weight'),
        node('Unsqueeze', ['weights', 'const.axis_2'], ['bag.weights']),
        node('Mul', ['bag.embedded', 'bag.weights'], ['bag.weighted']),
        node(
          'ReduceSum',
          ['bag.weighted', 'const.axis_1'],
          ['bag.sum'],
          [{ name: 'keepdims', type: INT, i: 0 }],
        ),
      ],
      inits: [initializer('embedding.weight', [V, D], w.emb)],
      fc1Scale: 1,
    };
  }
  const squeeze = node('Squeeze', ['bag.sum3', 'const.axis_1'], ['bag.sum']);
  if (table === 'fp32') {
    return {
      nodes: [
        gather('embedding.weight'),
        node('Unsqueeze', ['weights', 'const.axis_1'], ['bag.weights']),
        node('MatMul', ['bag.weights', 'bag.embedded'], ['bag.sum3']),
        squeeze,
      ],
      inits: [initializer('embedding.weight', [V, D], w.emb)],
      fc1Scale: 1,
    };
  }
  const { q, scale } = quantizeTable(w.emb);
  return {
    nodes: [
      gather('embedding.weight_int8'),
      node('QuantizeLinear', ['weights', 'bag.weight_scale', 'bag.weight_zero_point'], ['bag.weights_u8']),
      node('Unsqueeze', ['bag.weights_u8', 'const.axis_1'], ['bag.weights']),
      node('MatMulInteger', ['bag.weights', 'bag.embedded'], ['bag.sum3_int32']),
      node('Cast', ['bag.sum3_int32'], ['bag.sum3'], [{ name: 'to', type: INT, i: FLOAT }]),
      squeeze,
    ],
    inits: [
      initializer('embedding.weight_int8', [V, D], q),
      initializer('bag.weight_scale', [], Float32Array.of(WEIGHT_SCALE)),
      initializer('bag.weight_zero_point', [], Uint8Array.of(0)),
    ],
    // dequantize(Σ w_u8 · q) = (1/255) · s · Σ w_u8 · q: one factor, folded into fc1's weight
    fc1Scale: WEIGHT_SCALE * scale,
  };
}

/** The graph inputs and output every text-spam graph (and the floor) shares. */
const interfaceOf = (C: number): Pick<Onnx.IGraphProto, 'input' | 'output'> => ({
  input: [valueInfo('ids', INT64, ['batch', 'features']), valueInfo('weights', FLOAT, ['batch', 'features'])],
  output: [valueInfo('probabilities', FLOAT, ['batch', C])],
});

/**
 * The text-spam model as ONNX bytes (opset 13, IR 8). The `mul-reducesum` FP32 graph is byte for byte what
 * scripts/train-text.ts exported before issue 13.
 */
export function textSpamOnnx(
  w: TextSpamWeights,
  formulation: BagFormulation = 'matmul',
  table: TablePrecision = 'fp32',
): Uint8Array {
  const { D, H, C } = w;
  const bag = bagNodes(w, formulation, table);
  const w1 = bag.fc1Scale === 1 ? w.w1 : Float32Array.from(w.w1, (v) => v * bag.fc1Scale);
  const graph: Onnx.IGraphProto = {
    name: 'text_spam_embedding_bag_mlp',
    ...interfaceOf(C),
    initializer: [
      ...bag.inits,
      initializer('fc1.weight', [D, H], w1),
      initializer('fc1.bias', [H], w.b1),
      initializer('fc2.weight', [H, C], w.w2),
      initializer('fc2.bias', [C], w.b2),
      ...(formulation === 'mul-reducesum' ? [initializer('const.axis_2', [1], BigInt64Array.of(2n))] : []),
      initializer('const.axis_1', [1], BigInt64Array.of(1n)),
    ],
    node: [
      ...bag.nodes,
      node('MatMul', ['bag.sum', 'fc1.weight'], ['fc1.matmul']),
      node('Add', ['fc1.matmul', 'fc1.bias'], ['fc1.out']),
      node('Relu', ['fc1.out'], ['fc1.relu']),
      node('MatMul', ['fc1.relu', 'fc2.weight'], ['fc2.matmul']),
      node('Add', ['fc2.matmul', 'fc2.bias'], ['logits']),
      node('Softmax', ['logits'], ['probabilities'], [{ name: 'axis', type: INT, i: -1 }]),
    ],
  };
  const proto: Onnx.IModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'clawstack scripts/train-text.ts',
    producerVersion: '1',
    modelVersion: 1,
    docString:
      'Spam/ham classifier: hashed word+bigram features -> embedding bag -> MLP -> softmax ["ham","spam"].',
    graph,
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(proto)).finish();
}

/**
 * ORT's floor for this model's interface: the same inputs (`ids` int64, `weights` float32, both [B,L]) and
 * output (`probabilities` float32 [B,C]) with a single Slice node (the first C weights of each row; L ≥ C), so
 * one session.run costs the call, input binding and output copy and no model work. The benchmark times it
 * interleaved with the real graphs (a batch-1 target below this floor cannot be met by any graph).
 */
export function sessionFloorOnnx(C = 2): Uint8Array {
  const graph: Onnx.IGraphProto = {
    name: 'text_spam_session_floor',
    ...interfaceOf(C),
    initializer: [
      initializer('const.start', [1], BigInt64Array.of(0n)),
      initializer('const.end', [1], BigInt64Array.of(BigInt(C))),
      initializer('const.axis_1', [1], BigInt64Array.of(1n)),
    ],
    node: [node('Slice', ['weights', 'const.start', 'const.end', 'const.axis_1'], ['probabilities'])],
  };
  const proto: Onnx.IModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'clawstack scripts/lib/text-graph.ts',
    graph,
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(proto)).finish();
}

/** The FP32 weights of a text-spam ONNX file of either formulation (not of an INT8 one). */
export function textSpamWeights(bytes: Uint8Array): TextSpamWeights {
  const model = onnx.ModelProto.decode(bytes);
  const byName = new Map((model.graph?.initializer ?? []).map((t) => [t.name ?? '', t]));
  const get = (name: string) => {
    const t = byName.get(name);
    if (!t) throw new Error(`text-spam graph: no initializer ${name} (an FP32 text-spam model is needed)`);
    return { data: readFloatTensor(t), dims: dimsOf(t) };
  };
  const emb = get('embedding.weight');
  const w1 = get('fc1.weight');
  const w2 = get('fc2.weight');
  return {
    V: emb.dims[0]!,
    D: emb.dims[1]!,
    H: w1.dims[1]!,
    C: w2.dims[1]!,
    emb: emb.data,
    w1: w1.data,
    b1: get('fc1.bias').data,
    w2: w2.data,
    b2: get('fc2.bias').data,
  };
}
