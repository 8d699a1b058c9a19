/**
 * Static INT8 quantization in QDQ format (ONNX Runtime's quantize_static, QuantFormat.QDQ, u8 activations /
 * s8 weights): every Conv (and optionally ConvTranspose) with a constant weight gets
 *
 *   x ─► QuantizeLinear(s_x, zp_x) ─► DequantizeLinear ─► Conv ◄── DequantizeLinear(W_q int8, s_w[c], 0)
 *                                                           ▲ └──── DequantizeLinear(b_q int32, s_x·s_w[c], 0)
 *   Conv ─► y ─► QuantizeLinear(s_y, zp_y) ─► DequantizeLinear ─► every reader of y
 *
 * which ORT's QDQ selectors turn into one QLinearConv (u8 × s8, per-channel weight scales). A MatMul with a
 * constant 2-D weight gets the same input and weight (per output column) pairs but no output pair, which ORT
 * fuses into MatMulIntegerToFloat: static scales make a row's result independent of its batch-mates, unlike
 * the dynamic quantizer's DynamicQuantizeLinear (one scale per batch). Activation
 * scales come from calibration (`planQdq` names the tensors, the caller measures their ranges); a Relu
 * or Clip(0, hi) that is the only reader of a Conv's output is folded into the output's QuantizeLinear
 * (u8 with zero point 0 clamps at 0, as ORT's quantizer does), so the Conv feeds the Q directly.
 *
 * Per-channel DequantizeLinear (`axis`) needs opset 13; below that the com.microsoft contrib
 * QuantizeLinear / DequantizeLinear are used, which ORT's QDQ selectors also accept.
 */
import {
  computeScaleZeroPoint,
  quantizePerChannel,
  quantizeValue,
  roundHalfEven,
  type QParams,
} from './math.ts';
import {
  affineParams,
  constantParams,
  lookupParams,
  planElementwise,
  type ElementwiseOp,
  type ElementwisePlan,
} from './qdq-elementwise.ts';
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
  makeNode,
  makeTensor,
  onnx,
  readFloatTensor,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from './onnx.ts';

export type StaticOp = 'Conv' | 'ConvTranspose' | 'MatMul';
export const STATIC_OPS: readonly StaticOp[] = ['Conv', 'ConvTranspose', 'MatMul'];

export interface QdqPlan {
  /** quantized nodes (by output name) with their op type */
  nodes: { output: string; op: StaticOp }[];
  /** activation tensors that get a QuantizeLinear / DequantizeLinear pair: what calibration must measure */
  tensors: string[];
  /** Conv output → the Relu / Clip output that replaces it (the activation node is removed) */
  folds: Record<string, string>;
  skipped: { node: string; op: string; reason: string }[];
  /** element-wise nodes between the Convs that are quantized too (qdq-elementwise.ts) */
  elementwise?: ElementwisePlan;
}

export interface QdqReport {
  opset: number;
  quantized: { node: string; op: StaticOp; weight: string; shape: number[]; perChannel: boolean }[];
  activations: number;
  foldedActivations: number;
  /** element-wise nodes rewritten, per op type */
  elementwise: Record<string, number>;
  skipped: QdqPlan['skipped'];
  qdqDomain: string;
  bytesIn: number;
  bytesOut: number;
}

export type Ranges = Record<string, [number, number]>;

const isDefault = (n: NodeProto) => !n.domain || n.domain === 'ai.onnx';

function initializerMap(graph: GraphProto): Map<string, TensorProto> {
  return new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
}

/** Reader count per tensor name, and the graph's outputs. */
function readers(graph: GraphProto): { uses: Map<string, NodeProto[]>; outputs: Set<string> } {
  const uses = new Map<string, NodeProto[]>();
  for (const n of graph.node ?? [])
    for (const i of n.input ?? []) if (i) uses.set(i, [...(uses.get(i) ?? []), n]);
  return { uses, outputs: new Set((graph.output ?? []).map((v) => v.name ?? '')) };
}

/** Clip bounds from its (constant) inputs or, before opset 11, its attributes. */
function clipBounds(node: NodeProto, inits: Map<string, TensorProto>): [number, number] | undefined {
  const scalar = (name: string | undefined, dflt: number) => {
    if (!name) return dflt;
    const t = inits.get(name);
    return t ? readFloatTensor(t)[0] : undefined;
  };
  if (node.opType === 'Relu') return [0, Infinity];
  if (node.opType !== 'Clip') return undefined;
  const lo = getAttr(node, 'min')?.f ?? scalar(node.input?.[1], -Infinity);
  const hi = getAttr(node, 'max')?.f ?? scalar(node.input?.[2], Infinity);
  return lo === undefined || hi === undefined ? undefined : [lo, hi];
}

function skipReason(node: NodeProto, inits: Map<string, TensorProto>): string | undefined {
  const w = inits.get(node.input?.[1] ?? '');
  if (!w) return 'weight (input 1) is not a constant initializer';
  if (w.dataType !== DataType.FLOAT) return `weight is not float32 (data_type ${w.dataType})`;
  const b = node.input?.[2];
  if (b && !inits.has(b)) return 'bias (input 2) is not a constant initializer';
  if (inits.has(node.input?.[0] ?? '')) return 'input is constant';
  if (node.opType === 'ConvTranspose' && Number(getAttr(node, 'group')?.i ?? 1) !== 1)
    return 'grouped ConvTranspose (per-channel axis would not be the output channel)';
  if (node.opType === 'MatMul' && dimsOf(w).length !== 2) return `weight has rank ${dimsOf(w).length}, not 2`;
  return undefined;
}

/**
 * Which nodes get quantized and which activation tensors need a range. Pure: reads the graph only.
 * Expects initializers, not Constant nodes (run ORT's basic optimizer first: `preprocessModel`).
 */
export function planQdq(
  model: ModelProto,
  ops: readonly StaticOp[] = ['Conv'],
  elementwise: readonly ElementwiseOp[] = [],
): QdqPlan {
  const graph = model.graph;
  if (!graph) throw new QuantizeError('model has no graph');
  const inits = initializerMap(graph);
  const { uses, outputs } = readers(graph);
  const plan: QdqPlan = { nodes: [], tensors: [], folds: {}, skipped: [] };
  const tensors = new Set<string>();
  for (const node of graph.node ?? []) {
    const op = node.opType as StaticOp;
    if (!isDefault(node) || !ops.includes(op)) continue;
    const reason = skipReason(node, inits);
    if (reason) {
      plan.skipped.push({ node: node.name || node.output?.[0] || '?', op, reason });
      continue;
    }
    const out = node.output![0]!;
    plan.nodes.push({ output: out, op });
    tensors.add(node.input![0]!);
    // A MatMul's output stays float: ORT fuses DQ(x) · DQ(W) → MatMul into MatMulIntegerToFloat. Quantizing
    // it too (QLinearMatMul, and its bias Add in u8) measured slower on the OCR recognizer (docs/models.md).
    if (op === 'MatMul') continue;
    const next = uses.get(out) ?? [];
    const act = next.length === 1 && !outputs.has(out) ? next[0]! : undefined;
    const bounds = act && isDefault(act) ? clipBounds(act, inits) : undefined;
    if (act && bounds && bounds[0] === 0 && !outputs.has(act.output![0]!)) {
      plan.folds[out] = act.output![0]!;
      tensors.add(act.output![0]!);
    } else if (!outputs.has(out)) tensors.add(out);
  }
  plan.tensors = [...tensors].filter((t) => !outputs.has(t));
  if (elementwise.length > 0) {
    plan.elementwise = planElementwise(graph, new Set(plan.tensors), elementwise);
    plan.tensors.push(...plan.elementwise.tensors);
  }
  return plan;
}

/** u8 asymmetric activation parameters for a calibrated range (widened to include 0, as ORT does). */
export function activationParams(range: [number, number]) {
  return computeScaleZeroPoint(range[0], range[1], 0, 255, false);
}

/** int32 bias with scale s_x · s_w[c] per output channel, zero point 0 (ORT's quantize_bias_static). */
export function quantizeBias(
  bias: Float32Array,
  inputScale: number,
  weightScales: Float32Array,
): { data: Int32Array; scales: Float32Array } {
  const scales = Float32Array.from(bias, (_, c) =>
    Math.fround(inputScale * (weightScales[weightScales.length === 1 ? 0 : c] as number)),
  );
  const data = Int32Array.from(bias, (b, c) => {
    const s = scales[c] as number;
    const q = s > 0 ? roundHalfEven(Math.fround(b / s)) : 0;
    return Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, q));
  });
  return { data, scales };
}

interface Emit {
  inits: TensorProto[];
  nodes: NodeProto[];
  domain: string;
  /** dequantized tensor name → its DQ scale (a Conv's int32 bias scale is s_x · s_w with this s_x) */
  scales: Map<string, number>;
}

/**
 * Q → DQ pair on an activation tensor; returns the dequantized name readers switch to. The DQ reads the Q's
 * parameters unless `dqParams` differ (a HardSigmoid lookup, qdq-elementwise.ts).
 */
function emitActivation(e: Emit, t: string, p: QParams, dqParams: QParams = p): string {
  // A tensor quantized again (a HardSigmoid turned lookup, qdq-elementwise.ts) keeps only its latest
  // parameters: ONNX names are unique, and ORT would silently use the last of two same-named initializers.
  replaceInit(e, makeTensor(`${t}_scale`, Float32Array.of(p.scale), []));
  replaceInit(e, makeTensor(`${t}_zero_point`, Uint8Array.of(p.zeroPoint), []));
  let [dqScale, dqZp] = [`${t}_scale`, `${t}_zero_point`];
  if (dqParams !== p) {
    // shared by every pair with the same DQ parameters (all HardSigmoid lookups read 1/255, 0)
    [dqScale, dqZp] = [`dq_${dqParams.scale}_scale`, `dq_${dqParams.scale}_${dqParams.zeroPoint}_zero_point`];
    if (!e.inits.some((i) => i.name === dqScale))
      e.inits.push(makeTensor(dqScale, Float32Array.of(dqParams.scale), []));
    if (!e.inits.some((i) => i.name === dqZp))
      e.inits.push(makeTensor(dqZp, Uint8Array.of(dqParams.zeroPoint), []));
  }
  const q = `${t}_quantized`;
  const dq = `${t}_dequantized`;
  // unnamed: node names are optional in ONNX, and ~200 pairs of them would cost the file 2 % of its size
  e.nodes.push(makeNode('QuantizeLinear', [t, `${t}_scale`, `${t}_zero_point`], [q], ''));
  e.nodes.push(makeNode('DequantizeLinear', [q, dqScale, dqZp], [dq], ''));
  e.scales.set(dq, dqParams.scale);
  return dq;
}

/** Adds `t`, dropping an earlier initializer of the same name. */
function replaceInit(e: Emit, t: TensorProto) {
  const i = e.inits.findIndex((x) => x.name === t.name);
  if (i >= 0) e.inits.splice(i, 1);
  e.inits.push(t);
}

/** u8 per-tensor constant behind a DequantizeLinear (a constant operand of a quantized Add / Mul / Concat). */
function emitConstantU8(e: Emit, t: TensorProto): string {
  const values = readFloatTensor(t);
  const p = constantParams(values);
  const q = Uint8Array.from(values, (v) => quantizeValue(v, p, 0, 255));
  return emitU8Dq(e, t.name!, q, dimsOf(t), p);
}

/** The u8 scalar 0 behind one DequantizeLinear, shared by every HardSigmoid requantization (x + 0). */
function zeroDq(e: Emit): string {
  const name = 'hardsigmoid_zero';
  if (e.inits.some((i) => i.name === `${name}_quantized`)) return `${name}_dequantized`;
  return emitU8Dq(e, name, Uint8Array.of(0), [], { scale: 1, zeroPoint: 0 });
}

/** `q` (u8, per-tensor `p`) as initializers behind a DequantizeLinear named after `name`. */
function emitU8Dq(e: Emit, name: string, q: Uint8Array, dims: number[], p: QParams): string {
  e.inits.push(makeTensor(`${name}_quantized`, q, dims));
  e.inits.push(makeTensor(`${name}_scale`, Float32Array.of(p.scale), []));
  e.inits.push(makeTensor(`${name}_zero_point`, Uint8Array.of(p.zeroPoint), []));
  e.nodes.push(
    makeNode(
      'DequantizeLinear',
      [`${name}_quantized`, `${name}_scale`, `${name}_zero_point`],
      [`${name}_dequantized`],
      `${name}_DequantizeLinear`,
    ),
  );
  return `${name}_dequantized`;
}

/**
 * The element-wise part of the plan: HardSigmoid → Add(x, 0) with its requantizing Q / DQ, constant operands
 * as u8 DQ (only the rewritten nodes read them). Returns the DQ name per lookup tensor and the op counts.
 */
function applyElementwise(
  graph: GraphProto,
  ew: ElementwisePlan,
  e: Emit,
  dqName: Map<string, string>,
  ranges: Ranges,
) {
  const inits = initializerMap(graph);
  const after = new Map<string, NodeProto[]>();
  for (const [x, f] of Object.entries(ew.affine)) {
    const yRange = ranges[f.y];
    if (!yRange) throw new QuantizeError(`no calibrated range for tensor '${f.y}'`);
    const p = affineParams(f.a, f.c, yRange);
    const pair: Emit = { ...e, nodes: [] };
    dqName.set(f.y, emitActivation(pair, x, p.q, p.dq));
    after.set(x, pair.nodes);
  }
  const removed = new Set(Object.values(ew.affine).flatMap((f) => f.removed));
  graph.node = (graph.node ?? []).filter((n) => !removed.has(n.output?.[0] ?? ''));
  const counts: Record<string, number> = {};
  const rewritten = new Map(ew.nodes.map((n) => [n.output, n.op]));
  const constDq = new Map(ew.constants.map((c) => [c, emitConstantU8(e, inits.get(c)!)]));
  for (const node of graph.node ?? []) {
    const out = node.output?.[0] ?? '';
    const op = rewritten.get(out);
    if (!op) continue;
    counts[op] = (counts[op] ?? 0) + 1;
    node.input = (node.input ?? []).map((i) => constDq.get(i) ?? i);
    const lut = ew.lookups[out];
    if (!lut) continue;
    const p = lookupParams(lut.alpha, lut.beta);
    // x + 0: ORT's QLinearAdd with a scalar operand (vectorized MLAS) requantizes faster than the 256-entry
    // table of QLinearLeakyRelu(alpha = 1); the result is the same requantization, saturation doing the clip
    node.opType = 'Add';
    node.attribute = [];
    node.input = [node.input![0]!, zeroDq(e)];
    const pair: Emit = { ...e, nodes: [] };
    dqName.set(out, emitActivation(pair, out, p.q, p.dq));
    after.set(out, pair.nodes);
  }
  if (removed.size > 0) counts.affineFolded = Object.keys(ew.affine).length;
  return { counts, after };
}

/** A constant quantized tensor with per-channel scales and zero-valued zero points, behind DequantizeLinear. */
function emitConstantDq(
  e: Emit,
  name: string,
  data: Int8Array | Int32Array,
  dims: number[],
  scales: Float32Array,
  axis: number,
): string {
  const zeros = data instanceof Int8Array ? new Int8Array(scales.length) : new Int32Array(scales.length);
  e.inits.push(makeTensor(`${name}_quantized`, data, dims));
  e.inits.push(makeTensor(`${name}_scale`, scales, [scales.length]));
  e.inits.push(makeTensor(`${name}_zero_point`, zeros, [scales.length]));
  e.nodes.push(
    makeNode(
      'DequantizeLinear',
      [`${name}_quantized`, `${name}_scale`, `${name}_zero_point`],
      [`${name}_dequantized`],
      `${name}_DequantizeLinear`,
      [intAttr('axis', axis)],
      e.domain,
    ),
  );
  return `${name}_dequantized`;
}

/** int8 per-channel weight + int32 bias behind DequantizeLinear; rewires the node's inputs 1 and 2. */
function emitWeights(e: Emit, node: NodeProto, w: TensorProto, b: TensorProto | undefined, sx: number) {
  const dims = dimsOf(w);
  // the output channel: Conv [M, C/g, k…] axis 0, ConvTranspose [C, M/g, k…] axis 1, MatMul [K, N] axis 1
  const axis = node.opType === 'Conv' ? 0 : 1;
  const q = quantizePerChannel(readFloatTensor(w), dims, axis, 'int8', true);
  node.input![1] = emitConstantDq(e, w.name!, q.data as Int8Array, dims, q.scales, axis);
  if (!b) return;
  const bq = quantizeBias(readFloatTensor(b), sx, q.scales);
  node.input![2] = emitConstantDq(e, b.name!, bq.data, [bq.data.length], bq.scales, 0);
}

/** Removes folded Relu / Clip nodes; the Conv writes the activation's output instead. */
function applyFolds(graph: GraphProto, folds: Record<string, string>): void {
  const removed = new Set(Object.values(folds));
  graph.node = (graph.node ?? []).filter((n) => !removed.has(n.output?.[0] ?? ''));
  for (const n of graph.node) {
    const to = folds[n.output?.[0] ?? ''];
    if (to) n.output![0] = to;
  }
}

function useQdqDomain(model: ModelProto, opset: number): string {
  if (opset >= 13) return '';
  const imports = model.opsetImport ?? [];
  if (!imports.some((o) => o.domain === 'com.microsoft'))
    imports.push(onnx.OperatorSetIdProto.create({ domain: 'com.microsoft', version: 1 }));
  model.opsetImport = imports;
  return 'com.microsoft';
}

/**
 * Rewrites the model per `plan` with the measured activation `ranges` (one per `plan.tensors` entry).
 * Returns the serialized QDQ model.
 */
export function applyQdq(
  inputBytes: Uint8Array,
  plan: QdqPlan,
  ranges: Ranges,
): { bytes: Uint8Array; report: QdqReport } {
  const model = decodeModel(inputBytes);
  const graph = model.graph!;
  const opset = defaultOpset(model) ?? 0;
  if (opset < 10) throw new QuantizeError(`opset ${opset}: QuantizeLinear needs opset >= 10`);
  const inits = initializerMap(graph);
  applyFolds(graph, plan.folds);
  const e: Emit = { inits: [], nodes: [], domain: useQdqDomain(model, opset), scales: new Map() };
  const dqName = new Map<string, string>();
  const after = new Map<string, NodeProto[]>();
  for (const t of plan.tensors) {
    const range = ranges[plan.elementwise?.sameRange[t] ?? t];
    if (!range) throw new QuantizeError(`no calibrated range for tensor '${t}'`);
    const pair: Emit = { ...e, nodes: [] };
    dqName.set(t, emitActivation(pair, t, activationParams(range)));
    after.set(t, pair.nodes);
  }
  const ew = plan.elementwise
    ? applyElementwise(graph, plan.elementwise, e, dqName, ranges)
    : { counts: {}, after: new Map<string, NodeProto[]>() };
  for (const [t, nodes] of ew.after) after.set(t, nodes);
  const quantized: QdqReport['quantized'] = [];
  const wanted = new Set(plan.nodes.map((n) => plan.folds[n.output] ?? n.output));
  for (const node of graph.node ?? []) {
    if (!wanted.has(node.output?.[0] ?? '')) continue;
    const w = inits.get(node.input![1]!)!;
    const sx =
      e.scales.get(dqName.get(node.input![0]!) ?? '') ?? activationParams(ranges[node.input![0]!]!).scale;
    emitWeights(e, node, w, inits.get(node.input?.[2] ?? ''), sx);
    quantized.push({
      node: node.name ?? '',
      op: node.opType as StaticOp,
      weight: w.name!,
      shape: dimsOf(w),
      perChannel: true,
    });
  }
  const body: NodeProto[] = [...e.nodes];
  for (const t of (graph.input ?? []).map((v) => v.name ?? '')) body.push(...(after.get(t) ?? []));
  for (const node of graph.node ?? []) {
    node.input = (node.input ?? []).map((i) => dqName.get(i) ?? i);
    body.push(node);
    for (const o of node.output ?? []) body.push(...(after.get(o) ?? []));
  }
  graph.node = body;
  graph.initializer = [...(graph.initializer ?? []), ...e.inits];
  const used = collectUses(graph);
  graph.initializer = graph.initializer.filter((t) => used.has(t.name ?? ''));
  const bytes = encodeModel(model);
  return {
    bytes,
    report: {
      opset,
      quantized,
      activations: plan.tensors.length,
      foldedActivations: Object.keys(plan.folds).length,
      elementwise: ew.counts,
      skipped: plan.skipped,
      qdqDomain: e.domain || 'ai.onnx',
      bytesIn: inputBytes.byteLength,
      bytesOut: bytes.byteLength,
    },
  };
}
