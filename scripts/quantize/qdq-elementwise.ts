/**
 * Static INT8 beyond Conv: the element-wise ops *between* quantized Convs get Q / DQ pairs too, so that
 * ONNX Runtime's QDQ transformer turns them into its u8 kernels and the tensors stay u8 from one QLinearConv
 * to the next (no DequantizeLinear → float op → QuantizeLinear round trip per op).
 *
 * Which ops, from ORT's CPU selectors (onnxruntime/core/optimizer/qdq_transformer/selectors_actions/
 * qdq_selector_action_transformer.cc): Add, Mul → QLinearAdd / QLinearMul; Concat → QLinearConcat;
 * GlobalAveragePool, AveragePool, Sigmoid, LeakyRelu → QLinear* (unary, via a 256-entry lookup table);
 * Resize → the u8 Resize kernel (its DQ / Q are dropped, so input and output share one scale and zero point).
 * ConvTranspose, HardSigmoid and normalisations have no u8 form there and stay float.
 *
 * HardSigmoid(x) = clip(αx + β, 0, 1) does get one, exactly up to rounding: written as Add(x, 0) (the
 * identity, which ORT runs as QLinearAdd with a scalar operand) whose output QuantizeLinear has scale
 * 1 / (255 α) and zero point round(255 β), read back by a DequantizeLinear with scale 1 / 255 and zero point 0:
 * dequantized, that is clip(round(x · 255α) + round(255β), 0, 255) / 255 — HardSigmoid on the u8 grid, the
 * saturation of the u8 type doing the clip. For PP-OCR's HardSwish (α = 1/6, β = 1/2, zero point 128) the
 * grid point sits half a step (1/510) above β. (Until issue 13 the identity was LeakyRelu(α = 1), which ORT
 * runs as QLinearLeakyRelu, a 256-entry table read byte by byte; the vectorized QLinearAdd gives the same
 * requantization, within one u8 step of rounding, and took ocr-rec and ocr-det about 5 % faster at batch 1.)
 *
 * A scalar affine y = a·x + c (Mul by a constant a > 0, optionally then Add of a constant c: PP-LCNetV3's
 * learnable affine after each HardSwish) on the output of a rewritten node costs nothing in u8: x's
 * QuantizeLinear gets scale s_y / a and zero point zp_y + round(c / s_y), its DequantizeLinear y's (s_y, zp_y),
 * so the producer's u8 output already is y's (the Mul and Add are removed; c is off by at most s_y / 2).
 *
 * Only the "Conv region" is rewritten: an element-wise node whose every non-constant input is already
 * quantized (a planned Conv's input or output, or the output of a node rewritten here). The transformer
 * region of the OCR recognizer (LayerNorm, attention) keeps its float ops and ORT's float fusions.
 */
import { computeScaleZeroPoint, type QParams } from './math.ts';
import {
  DataType,
  getAttr,
  readFloatTensor,
  type GraphProto,
  type NodeProto,
  type TensorProto,
} from './onnx.ts';

export type ElementwiseOp =
  | 'Add'
  | 'Mul'
  | 'Concat'
  | 'GlobalAveragePool'
  | 'AveragePool'
  | 'Sigmoid'
  | 'Resize'
  | 'DepthToSpace'
  | 'HardSigmoid';
export const ELEMENTWISE_OPS: readonly ElementwiseOp[] = [
  'Add',
  'Mul',
  'Concat',
  'GlobalAveragePool',
  'AveragePool',
  'Sigmoid',
  'Resize',
  'DepthToSpace',
  'HardSigmoid',
];

/** What the element-wise extension adds to a Conv QDQ plan. */
export interface ElementwisePlan {
  /** rewritten nodes, by output name */
  nodes: { output: string; op: ElementwiseOp }[];
  /** activation tensors that now need a range (inputs and outputs of the rewritten nodes) */
  tensors: string[];
  /** constant (initializer) inputs of rewritten Add / Mul / Concat nodes, quantized u8 per tensor */
  constants: string[];
  /** HardSigmoid output → its (α, β): the node becomes LeakyRelu(1) with the fixed Q / DQ pair above */
  lookups: Record<string, { alpha: number; beta: number }>;
  /** tensor → the tensor whose range it must share (Resize output → input: ORT drops their Q / DQ) */
  sameRange: Record<string, string>;
  /** x → y = a·x + c folded into x's Q / DQ pair (the Mul / Add nodes are removed) */
  affine: Record<string, { a: number; c: number; y: string; removed: string[] }>;
  /** tensors only calibration needs (the affines' outputs) */
  measure: string[];
}

function scalarOf(inits: Map<string, TensorProto>, name: string | undefined): number | undefined {
  const t = inits.get(name ?? '');
  if (!t || t.dataType !== DataType.FLOAT) return undefined;
  const v = readFloatTensor(t);
  return v.length === 1 ? v[0] : undefined;
}

/** y = a·x + c starting at `mul`, when x is read by the Mul alone; undefined otherwise. */
function matchAffine(
  mul: NodeProto,
  inits: Map<string, TensorProto>,
  readers: Map<string, NodeProto[]>,
  outputs: Set<string>,
) {
  const [i0, i1] = mul.input ?? [];
  const a = scalarOf(inits, i0) ?? scalarOf(inits, i1);
  const x = inits.has(i0 ?? '') ? i1 : i0;
  if (mul.opType !== 'Mul' || a === undefined || !(a > 0) || !x || inits.has(x)) return undefined;
  if ((readers.get(x) ?? []).length !== 1 || outputs.has(mul.output![0]!)) return undefined;
  const next = readers.get(mul.output![0]!) ?? [];
  const add = next.length === 1 && next[0]!.opType === 'Add' ? next[0]! : undefined;
  const c = add
    ? scalarOf(
        inits,
        add.input?.find((i) => i !== mul.output![0]),
      )
    : undefined;
  const end = add && c !== undefined && !outputs.has(add.output![0]!) ? add : undefined;
  return { x, a, c: end ? c! : 0, y: (end ?? mul).output![0]!, removed: end ? [mul, end] : [mul] };
}

/** The dynamic inputs a node's quantized form reads (Resize: only the data; its roi / scales are constants). */
function dataInputs(node: NodeProto, inits: Map<string, TensorProto>): string[] {
  const ins = (node.input ?? []).filter((i) => i && !inits.has(i));
  return node.opType === 'Resize' ? ins.filter((i) => i === node.input![0]) : ins;
}

function isElementwise(node: NodeProto, ops: readonly ElementwiseOp[]): node is NodeProto {
  return (!node.domain || node.domain === 'ai.onnx') && ops.includes(node.opType as ElementwiseOp);
}

/**
 * Extends a Conv plan (its quantized tensors in `quantized`) over the element-wise nodes of the Conv region.
 * Pure: reads the graph only; nodes are visited in graph (topological) order.
 */
export function planElementwise(
  graph: GraphProto,
  quantized: ReadonlySet<string>,
  ops: readonly ElementwiseOp[] = ELEMENTWISE_OPS,
): ElementwisePlan {
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const outputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  const region = new Set(quantized);
  const plan: ElementwisePlan = {
    nodes: [],
    tensors: [],
    constants: [],
    lookups: {},
    sameRange: {},
    affine: {},
    measure: [],
  };
  const tensors = new Set<string>();
  const constants = new Set<string>();
  const readers = new Map<string, NodeProto[]>();
  for (const n of graph.node ?? [])
    for (const i of n.input ?? []) if (i) readers.set(i, [...(readers.get(i) ?? []), n]);
  const rewritten = new Set<string>();
  const absorbed = new Set<NodeProto>();
  for (const node of graph.node ?? []) {
    if (absorbed.has(node) || !isElementwise(node, ops)) continue;
    const aff = ops.includes('Mul') ? matchAffine(node, inits, readers, outputs) : undefined;
    if (aff && rewritten.has(aff.x) && !plan.lookups[aff.x]) {
      aff.removed.forEach((n) => absorbed.add(n));
      plan.affine[aff.x] = { a: aff.a, c: aff.c, y: aff.y, removed: aff.removed.map((n) => n.output![0]!) };
      plan.measure.push(aff.y);
      region.add(aff.y);
      continue;
    }
    const out = node.output?.[0];
    const ins = dataInputs(node, inits);
    if (!out || outputs.has(out) || ins.length === 0 || !ins.every((i) => region.has(i))) continue;
    const op = node.opType as ElementwiseOp;
    if (op === 'Resize' && (node.input ?? []).slice(1).some((i) => i && !inits.has(i))) continue;
    for (const i of ins) tensors.add(i);
    if (op === 'Add' || op === 'Mul' || op === 'Concat')
      for (const i of node.input ?? []) if (inits.has(i)) constants.add(i);
    if (op === 'HardSigmoid')
      plan.lookups[out] = { alpha: getAttr(node, 'alpha')?.f ?? 0.2, beta: getAttr(node, 'beta')?.f ?? 0.5 };
    else tensors.add(out);
    if (op === 'Resize' || op === 'DepthToSpace') plan.sameRange[out] = ins[0]!;
    region.add(out);
    rewritten.add(out);
    plan.nodes.push({ output: out, op });
  }
  plan.tensors = [...tensors].filter((t) => !quantized.has(t) && !plan.affine[t]);
  plan.constants = [...constants];
  return plan;
}

/** u8 Q / DQ parameters of a HardSigmoid lookup (see the file comment): the Q's, then the DQ's. */
export function lookupParams(alpha: number, beta: number): { q: QParams; dq: QParams } {
  if (!(alpha > 0) || beta < 0 || beta > 1)
    throw new Error(`HardSigmoid(alpha ${alpha}, beta ${beta}) has no u8 lookup form here`);
  return {
    q: { scale: Math.fround(1 / (255 * alpha)), zeroPoint: Math.round(255 * beta) },
    dq: { scale: Math.fround(1 / 255), zeroPoint: 0 },
  };
}

/** u8 asymmetric per-tensor parameters of a constant (its range widened to include 0). */
export function constantParams(values: Float32Array): QParams {
  let lo = 0;
  let hi = 0;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return computeScaleZeroPoint(lo, hi, 0, 255, false);
}

/**
 * The Q / DQ pair that folds y = a·x + c into x's quantization, from y's calibrated range (widened to c). The
 * scale is widened just enough that c is a whole number k of steps, so the shift k is exact; a c smaller
 * than one step is left out (an error below one step).
 */
export function affineParams(a: number, c: number, yRange: [number, number]): { q: QParams; dq: QParams } {
  const lo = Math.min(yRange[0], c, 0);
  const hi = Math.max(yRange[1], c, 0);
  let dq = computeScaleZeroPoint(lo, hi, 0, 255, false);
  const k = Math.trunc(c / dq.scale);
  if (k !== 0) {
    const scale = Math.fround(c / k);
    dq = { scale, zeroPoint: Math.min(255, Math.max(0, Math.round(-lo / scale))) };
  }
  const zp = Math.min(255, Math.max(0, dq.zeroPoint + k));
  return { q: { scale: Math.fround(dq.scale / a), zeroPoint: zp }, dq };
}
