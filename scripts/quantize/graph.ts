/**
 * The graph rewrite: ONNX Runtime style dynamic INT8 quantization of
 * MatMul (constant weight) and Gather (constant table) nodes.
 *
 *   MatMul(A, W)  ->  DynamicQuantizeLinear(A) -> (A_q, A_scale, A_zp)
 *                     MatMulInteger(A_q, W_q, A_zp, W_zp) -> Cast(to=float)
 *                     Mul(A_scale, W_scale) -> Mul(cast, scales) -> out
 *
 * which is exactly what ORT's MatMulIntegerToFloatFusion matches (and then
 * DynamicQuantizeMatMulFusion turns into a single DynamicQuantizeMatMul).
 *
 *   Gather(T, idx) -> Gather(T_q, idx) -> DequantizeLinear(., T_scale, T_zp) -> out
 */
import { quantizePerChannel, quantizePerTensor, type QType, type QuantizedTensor } from './math.ts';
import {
  DataType,
  QuantizeError,
  collectUses,
  decodeModel,
  defaultOpset,
  dimsOf,
  encodeModel,
  getAttr,
  intAttr,
  isExternal,
  makeNode,
  makeTensor,
  onnx,
  readFloatTensor,
  toNumber,
  type NodeProto,
  type TensorProto,
} from './onnx.ts';

export type QuantizableOp = 'MatMul' | 'Gather';
export const QUANTIZABLE_OPS: readonly QuantizableOp[] = ['MatMul', 'Gather'];
export const MIN_OPSET = 11;

export interface QuantizeOptions {
  /** one scale per output column of MatMul weights (and per embedding column of Gather tables, opset >= 13) */
  perChannel?: boolean;
  /** op types to quantize (default: MatMul and Gather) */
  ops?: readonly string[];
  /**
   * Gather tables: 'uint8' asymmetric (default; ORT's quantize_dynamic quantizes the
   * Gather data input with the activation type, uint8) or 'int8' symmetric.
   */
  gatherType?: QType;
  /**
   * 7-bit MatMul weights ([-64, 64], ORT's reduce_range). Costs one bit of weight
   * precision; avoids int16 saturation in ORT's U8S8 kernels on AVX2 CPUs without VNNI.
   */
  reduceRange?: boolean;
  /** called after each weight is quantized: elements done / total */
  onProgress?: (done: number, total: number) => void;
}

export interface QuantizedWeight {
  node: string;
  op: QuantizableOp;
  weight: string;
  shape: number[];
  type: QType;
  perChannel: boolean;
  scaleMin: number;
  scaleMax: number;
}

export interface QuantizeReport {
  opset: number;
  constantsLifted: number;
  quantized: QuantizedWeight[];
  skipped: { node: string; op: string; reason: string }[];
  /** things done differently from what was asked (e.g. per-tensor instead of per-channel) */
  notes: string[];
  /** op types deliberately left in float (Conv, ConvTranspose, Gemm) with counts */
  leftFloat: Record<string, number>;
  nodesBefore: number;
  nodesAfter: number;
  bytesIn: number;
  bytesOut: number;
  /** float32 bytes of the weights that were quantized, and their quantized size */
  weightBytesBefore: number;
  weightBytesAfter: number;
}

export interface QuantizeResult {
  bytes: Uint8Array;
  report: QuantizeReport;
}

const LEFT_FLOAT_OPS = new Set(['Conv', 'ConvTranspose', 'Gemm']);

function isDefaultDomain(node: NodeProto): boolean {
  return !node.domain || node.domain === 'ai.onnx';
}

/**
 * Quantize an ONNX model (serialized bytes) and return the serialized result.
 * Throws QuantizeError for models it refuses (opset < 11, external data,
 * unsupported options).
 */
export function quantizeModel(inputBytes: Uint8Array, options: QuantizeOptions = {}): QuantizeResult {
  const ops = new Set(options.ops ?? QUANTIZABLE_OPS);
  for (const op of ops) {
    if (op === 'Conv' || op === 'ConvTranspose') {
      throw new QuantizeError(
        `${op} is not quantized by design: the dynamic ConvInteger path is not fused into one kernel the way ` +
          `MatMul is, older ONNX Runtime releases had no CPU ConvInteger kernel for int8 weights, and CNNs want ` +
          `static (calibrated QDQ) quantization instead; Conv stays float32`,
      );
    }
    if (!(QUANTIZABLE_OPS as readonly string[]).includes(op)) {
      throw new QuantizeError(`unsupported op type '${op}' (supported: ${QUANTIZABLE_OPS.join(', ')})`);
    }
  }
  const gatherType: QType = options.gatherType ?? 'uint8';
  const perChannel = options.perChannel ?? false;
  const reduceRange = options.reduceRange ?? false;

  const model = decodeModel(inputBytes);
  const graph = model.graph;
  if (!graph) throw new QuantizeError('model has no graph');

  const opset = defaultOpset(model);
  if (opset === undefined) throw new QuantizeError('model does not import the default ai.onnx opset');
  if (opset < MIN_OPSET) {
    throw new QuantizeError(
      `model uses ai.onnx opset ${opset}; INT8 dynamic quantization needs opset >= ${MIN_OPSET} ` +
        `(DynamicQuantizeLinear was added in opset 11). Re-export the model with opset >= 11 ` +
        `(e.g. torch.onnx.export(..., opset_version=13)) and run the quantizer again.`,
    );
  }
  for (const t of graph.initializer ?? []) {
    if (isExternal(t)) {
      throw new QuantizeError(
        `initializer '${t.name}' is stored as external data; external data is not supported — ` +
          `save the model with all tensors inline (onnx.save(model, path, save_as_external_data=False))`,
      );
    }
  }

  const report: QuantizeReport = {
    opset,
    constantsLifted: 0,
    quantized: [],
    skipped: [],
    notes: [],
    leftFloat: {},
    nodesBefore: graph.node?.length ?? 0,
    nodesAfter: 0,
    bytesIn: inputBytes.byteLength,
    bytesOut: 0,
    weightBytesBefore: 0,
    weightBytesAfter: 0,
  };

  // ---- 1. lift Constant nodes that feed MatMul weights / Gather tables into initializers
  const weightSlots = new Set<string>();
  for (const node of graph.node ?? []) {
    if (!isDefaultDomain(node)) continue;
    if (node.opType === 'MatMul' && ops.has('MatMul') && node.input?.[1]) weightSlots.add(node.input[1]);
    if (node.opType === 'Gather' && ops.has('Gather') && node.input?.[0]) weightSlots.add(node.input[0]);
  }
  const initializers = new Map<string, TensorProto>();
  for (const t of graph.initializer ?? []) if (t.name) initializers.set(t.name, t);
  graph.initializer = graph.initializer ?? [];
  const graphOutputs = new Set((graph.output ?? []).map((v) => v.name ?? ''));
  const kept: NodeProto[] = [];
  for (const node of graph.node ?? []) {
    const out = node.output?.[0];
    const value = getAttr(node, 'value')?.t;
    if (
      isDefaultDomain(node) &&
      node.opType === 'Constant' &&
      out &&
      weightSlots.has(out) &&
      !graphOutputs.has(out) &&
      value &&
      value.dataType === DataType.FLOAT &&
      !isExternal(value) &&
      !initializers.has(out)
    ) {
      const lifted = onnx.TensorProto.create({ ...value, name: out });
      graph.initializer.push(lifted);
      initializers.set(out, lifted);
      report.constantsLifted++;
      continue;
    }
    kept.push(node);
  }
  graph.node = kept;

  // ---- 2. bookkeeping: names in use, graph inputs (an initializer that is also a graph input can be overridden at run time)
  const graphInputs = new Set((graph.input ?? []).map((v) => v.name ?? ''));
  const taken = new Set<string>();
  for (const v of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])])
    if (v.name) taken.add(v.name);
  for (const name of initializers.keys()) taken.add(name);
  for (const node of graph.node) {
    if (node.name) taken.add(node.name);
    for (const o of node.output ?? []) if (o) taken.add(o);
  }
  const unique = (base: string): string => {
    let name = base;
    for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
    taken.add(name);
    return name;
  };

  // ---- 3. work out what will be quantized (for the progress total)
  const skip = (node: NodeProto, reason: string): void => {
    report.skipped.push({ node: node.name || node.output?.[0] || '?', op: node.opType ?? '?', reason });
  };
  const matmulWeightReason = (node: NodeProto): string | undefined => {
    const [a, b] = node.input ?? [];
    if (!a || !b) return 'MatMul without two inputs';
    const w = initializers.get(b);
    if (!w) return 'weight (input B) is not a constant initializer';
    if (graphInputs.has(b)) return 'weight is also a graph input, so it can be overridden at run time';
    if (initializers.has(a)) return 'input A is constant (nothing dynamic to quantize)';
    if (w.dataType !== DataType.FLOAT) return `weight is not float32 (data_type ${w.dataType})`;
    if (dimsOf(w).length < 2) return 'weight has rank < 2';
    return undefined;
  };
  const gatherTableReason = (node: NodeProto): string | undefined => {
    const data = node.input?.[0];
    if (!data) return 'Gather without a data input';
    const t = initializers.get(data);
    if (!t) return 'data (input 0) is not a constant initializer';
    if (graphInputs.has(data)) return 'table is also a graph input, so it can be overridden at run time';
    if (t.dataType !== DataType.FLOAT) return `table is not float32 (data_type ${t.dataType})`;
    return undefined;
  };
  let total = 0;
  const counted = new Set<string>();
  for (const node of graph.node) {
    if (!isDefaultDomain(node) || !ops.has(node.opType ?? '')) continue;
    const weight = node.opType === 'MatMul' ? node.input?.[1] : node.input?.[0];
    const ok =
      node.opType === 'MatMul'
        ? !matmulWeightReason(node)
        : node.opType === 'Gather' && !gatherTableReason(node);
    if (ok && weight && !counted.has(weight)) {
      counted.add(weight);
      total += dimsOf(initializers.get(weight) as TensorProto).reduce((x, y) => x * y, 1);
    }
  }
  let done = 0;
  options.onProgress?.(0, total);

  // ---- 4. rewrite
  const newInits: TensorProto[] = [];
  const replacedWeights = new Set<string>();
  interface WeightQ {
    q: string;
    scale: string;
    zp: string;
    tensor: QuantizedTensor;
  }
  const weightCache = new Map<string, WeightQ>();
  const addQuantizedWeight = (
    weightName: string,
    key: string,
    quantize: (values: Float32Array, dims: number[]) => QuantizedTensor,
  ): WeightQ => {
    const cached = weightCache.get(key);
    if (cached) return cached;
    const t = initializers.get(weightName) as TensorProto;
    const dims = dimsOf(t);
    const values = readFloatTensor(t);
    const tensor = quantize(values, dims);
    const q = unique(`${weightName}_quantized`);
    const scale = unique(`${weightName}_scale`);
    const zp = unique(`${weightName}_zero_point`);
    const paramDims = tensor.axis === undefined ? [] : [tensor.scales.length];
    newInits.push(
      makeTensor(q, tensor.data, dims),
      makeTensor(scale, tensor.scales, paramDims),
      makeTensor(zp, tensor.zeroPoints, paramDims),
    );
    report.weightBytesBefore += values.length * 4;
    report.weightBytesAfter += tensor.data.length + tensor.scales.length * 4 + tensor.zeroPoints.length;
    replacedWeights.add(weightName);
    const entry = { q, scale, zp, tensor };
    weightCache.set(key, entry);
    done += values.length;
    options.onProgress?.(done, total);
    return entry;
  };
  const dqlCache = new Map<string, { q: string; scale: string; zp: string }>();
  const rewritten: NodeProto[] = [];

  for (const node of graph.node) {
    const op = node.opType ?? '';
    if (isDefaultDomain(node) && LEFT_FLOAT_OPS.has(op))
      report.leftFloat[op] = (report.leftFloat[op] ?? 0) + 1;
    if (!isDefaultDomain(node) || !ops.has(op)) {
      rewritten.push(node);
      continue;
    }
    const base = node.name || (node.output?.[0] ?? op);

    if (op === 'MatMul') {
      const reason = matmulWeightReason(node);
      if (reason) {
        skip(node, reason);
        rewritten.push(node);
        continue;
      }
      const [a, b] = node.input as [string, string];
      const out = node.output?.[0] as string;
      const dims = dimsOf(initializers.get(b) as TensorProto);
      const channelWise = perChannel && dims.length === 2;
      if (perChannel && !channelWise) {
        report.notes.push(
          `${base}: per-channel needs a 2-D weight, got rank ${dims.length}; used per-tensor`,
        );
      }
      const w = addQuantizedWeight(b, `${b}|matmul|${channelWise}`, (values, d) =>
        channelWise
          ? quantizePerChannel(values, d, 1, 'int8', true, reduceRange)
          : quantizePerTensor(values, 'int8', true, reduceRange),
      );
      let dql = dqlCache.get(a);
      if (!dql) {
        dql = { q: unique(`${a}_quantized`), scale: unique(`${a}_scale`), zp: unique(`${a}_zero_point`) };
        rewritten.push(
          makeNode('DynamicQuantizeLinear', [a], [dql.q, dql.scale, dql.zp], unique(`${a}_QuantizeLinear`)),
        );
        dqlCache.set(a, dql);
      }
      const mmOut = unique(`${out}_output_quantized`);
      const castOut = unique(`${mmOut}_cast_output`);
      const scalesOut = unique(`${base}_scales_mul_output`);
      rewritten.push(
        makeNode('MatMulInteger', [dql.q, w.q, dql.zp, w.zp], [mmOut], unique(`${base}_quant`)),
        makeNode('Cast', [mmOut], [castOut], unique(`${base}_cast`), [intAttr('to', DataType.FLOAT)]),
        // order matters for the fusion: Mul(A_scale, B_scale)
        makeNode('Mul', [dql.scale, w.scale], [scalesOut], unique(`${base}_scales_mul`)),
        makeNode('Mul', [castOut, scalesOut], [out], unique(`${base}_output_scale_mul`)),
      );
      report.quantized.push(describe(node, 'MatMul', b, dims, w.tensor));
      continue;
    }

    // Gather
    const reason = gatherTableReason(node);
    if (reason) {
      skip(node, reason);
      rewritten.push(node);
      continue;
    }
    const [data, indices] = node.input as [string, string];
    const out = node.output?.[0] as string;
    const dims = dimsOf(initializers.get(data) as TensorProto);
    const axisAttr = getAttr(node, 'axis');
    const axis = axisAttr ? toNumber(axisAttr.i) : 0;
    // per-column scales survive the gather only if rows are gathered (axis 0) of a 2-D table,
    // and DequantizeLinear's `axis` needs opset 13
    const channelWise = perChannel && dims.length === 2 && (axis === 0 || axis === -2) && opset >= 13;
    if (perChannel && !channelWise) {
      report.notes.push(
        `${base}: per-channel Gather needs a 2-D table gathered on axis 0 and opset >= 13; used per-tensor`,
      );
    }
    const symmetric = gatherType === 'int8';
    const w = addQuantizedWeight(data, `${data}|gather|${channelWise}|${gatherType}`, (values, d) =>
      channelWise
        ? quantizePerChannel(values, d, 1, gatherType, symmetric)
        : quantizePerTensor(values, gatherType, symmetric),
    );
    const gOut = unique(`${out}_quantized`);
    rewritten.push(
      makeNode('Gather', [w.q, indices], [gOut], unique(`${base}_quant`), node.attribute ?? []),
      makeNode(
        'DequantizeLinear',
        [gOut, w.scale, w.zp],
        [out],
        unique(`${base}_dequantize`),
        channelWise ? [intAttr('axis', -1)] : [],
      ),
    );
    report.quantized.push(describe(node, 'Gather', data, dims, w.tensor));
  }

  graph.node = rewritten;
  graph.initializer.push(...newInits);

  // ---- 5. drop float weights nothing reads any more
  const uses = collectUses(graph);
  for (const o of graph.output ?? []) if (o.name) uses.set(o.name, (uses.get(o.name) ?? 0) + 1);
  const dead = new Set([...replacedWeights].filter((n) => !uses.has(n)));
  graph.initializer = graph.initializer.filter((t) => !dead.has(t.name ?? ''));
  graph.valueInfo = (graph.valueInfo ?? []).filter((v) => !dead.has(v.name ?? ''));

  if (report.quantized.length > 0) {
    model.metadataProps = (model.metadataProps ?? []).filter((p) => p.key !== 'clawstack.quantization');
    model.metadataProps.push(
      onnx.StringStringEntryProto.create({
        key: 'clawstack.quantization',
        value: JSON.stringify({ scheme: 'dynamic-int8', perChannel, reduceRange, gatherType, ops: [...ops] }),
      }),
    );
  }

  const bytes = encodeModel(model);
  report.nodesAfter = graph.node.length;
  report.bytesOut = bytes.byteLength;
  return { bytes, report };
}

function describe(
  node: NodeProto,
  op: QuantizableOp,
  weight: string,
  shape: number[],
  t: QuantizedTensor,
): QuantizedWeight {
  let scaleMin = Infinity;
  let scaleMax = -Infinity;
  for (const s of t.scales) {
    scaleMin = Math.min(scaleMin, s);
    scaleMax = Math.max(scaleMax, s);
  }
  return {
    node: node.name || node.output?.[0] || '?',
    op,
    weight,
    shape,
    type: t.type,
    perChannel: t.axis !== undefined,
    scaleMin,
    scaleMax,
  };
}
