/**
 * Exact graph simplifications applied before static quantization (and measurable on FP32 alone):
 *
 * - `foldConvAffine`: Conv → Mul(scalar a) [→ Add(scalar c)] becomes one Conv with weights a·W and bias
 *   a·b + c. PP-OCRv4's PP-LCNetV3 backbone has such a learnable scalar affine after each Conv, written
 *   with the constant as Mul's first input, which ORT's ConvMulFusion does not match. With it folded, the
 *   Conv's output feeds its activation directly and the QDQ Conv keeps its fused QLinearConv → Q shape.
 * - `fuseHardSwish`: x · Clip(x + 3, 0, 6) / 6 (Add, Clip, Mul, Div: four passes over the tensor) becomes
 *   x · HardSigmoid(x; α = 1/6, β = 0.5) (two passes); HardSigmoid(x) = max(0, min(1, x/6 + 1/2)) is the
 *   same function.
 *
 * - `foldConvTransposeAffine`: ConvTranspose → Add(per-channel bias) [→ BatchNormalization] becomes one
 *   ConvTranspose with its output channels scaled by the normalisation and a bias input. PP-OCRv4's detector
 *   head exports the bias as a separate Add, and ORT fuses BatchNormalization into Conv but not into
 *   ConvTranspose, so these were two full-resolution passes of their own.
 *
 * All rewrite in place and return how many patterns they replaced; readers must be the only readers of
 * the intermediate tensors, which must not be graph outputs.
 */
import {
  DataType,
  collectUses,
  decodeModel,
  dimsOf,
  encodeModel,
  makeNode,
  makeTensor,
  onnx,
  readFloatTensor,
  type GraphProto,
  type NodeProto,
  type TensorProto,
} from './onnx.ts';

interface Index {
  inits: Map<string, TensorProto>;
  readers: Map<string, NodeProto[]>;
  outputs: Set<string>;
}

function index(graph: GraphProto): Index {
  const readers = new Map<string, NodeProto[]>();
  for (const n of graph.node ?? [])
    for (const i of n.input ?? []) if (i) readers.set(i, [...(readers.get(i) ?? []), n]);
  return {
    inits: new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t])),
    readers,
    outputs: new Set((graph.output ?? []).map((o) => o.name ?? '')),
  };
}

/** The only reader of `tensor`, if there is exactly one and the tensor is not a graph output. */
function soleReader(ix: Index, tensor: string, op: string): NodeProto | undefined {
  const r = ix.readers.get(tensor) ?? [];
  return r.length === 1 && r[0]!.opType === op && !ix.outputs.has(tensor) ? r[0] : undefined;
}

/** The single float value of a one-element constant input, and the other (dynamic) input. */
function scalarOperand(ix: Index, node: NodeProto): { value: number; other: string } | undefined {
  const [a, b] = node.input ?? [];
  for (const [k, other] of [
    [a, b],
    [b, a],
  ] as const) {
    const t = ix.inits.get(k ?? '');
    if (t && t.dataType === DataType.FLOAT && dimsOf(t).reduce((x, y) => x * y, 1) === 1 && other)
      return { value: readFloatTensor(t)[0]!, other };
  }
  return undefined;
}

export function foldConvAffine(graph: GraphProto): number {
  const ix = index(graph);
  const removed = new Set<NodeProto>();
  let folded = 0;
  for (const conv of graph.node ?? []) {
    if (conv.opType !== 'Conv') continue;
    const w = ix.inits.get(conv.input?.[1] ?? '');
    const mul = soleReader(ix, conv.output![0]!, 'Mul');
    const a = mul && scalarOperand(ix, mul);
    if (!w || !mul || !a || (ix.readers.get(w.name!) ?? []).length !== 1) continue;
    const add = soleReader(ix, mul.output![0]!, 'Add');
    const c = add && scalarOperand(ix, add);
    const end = c ? add! : mul;
    const dims = dimsOf(w);
    const bias = conv.input?.[2] ? ix.inits.get(conv.input[2]) : undefined;
    if (conv.input?.[2] && (!bias || (ix.readers.get(bias.name!) ?? []).length !== 1)) continue;
    const b = bias ? readFloatTensor(bias) : new Float32Array(dims[0]!);
    const nw = readFloatTensor(w).map((v) => v * a.value);
    const nb = b.map((v) => v * a.value + (c?.value ?? 0));
    Object.assign(w, makeTensor(w.name!, nw, dims));
    if (bias) Object.assign(bias, makeTensor(bias.name!, nb, [nb.length]));
    else {
      const name = `${w.name}_folded_bias`;
      graph.initializer!.push(makeTensor(name, nb, [nb.length]));
      conv.input = [conv.input![0]!, conv.input![1]!, name];
    }
    conv.output![0] = end.output![0]!;
    removed.add(mul);
    if (c) removed.add(add!);
    folded++;
  }
  graph.node = (graph.node ?? []).filter((n) => !removed.has(n));
  return folded;
}

function isConst(ix: Index, name: string | undefined, value: number): boolean {
  const t = ix.inits.get(name ?? '');
  return !!t && t.dataType === DataType.FLOAT && readFloatTensor(t).every((v) => v === value);
}

/** The HardSwish match starting at an `Add(x, 3)`: the nodes to replace and x. */
function matchHardSwish(ix: Index, add: NodeProto) {
  const s = scalarOperand(ix, add);
  if (add.opType !== 'Add' || !s || s.value !== 3) return undefined;
  const clip = soleReader(ix, add.output![0]!, 'Clip');
  if (!clip || !isConst(ix, clip.input?.[1], 0) || !isConst(ix, clip.input?.[2], 6)) return undefined;
  const mul = soleReader(ix, clip.output![0]!, 'Mul');
  if (!mul || !mul.input!.includes(s.other) || !mul.input!.includes(clip.output![0]!)) return undefined;
  const div = soleReader(ix, mul.output![0]!, 'Div');
  if (!div || div.input![0] !== mul.output![0] || !isConst(ix, div.input?.[1], 6)) return undefined;
  return { x: s.other, nodes: [add, clip, mul, div], out: div.output![0]! };
}

export function fuseHardSwish(graph: GraphProto): number {
  const ix = index(graph);
  const out: NodeProto[] = [];
  const skip = new Set<NodeProto>();
  let fused = 0;
  for (const node of graph.node ?? []) {
    if (skip.has(node)) continue;
    const m = matchHardSwish(ix, node);
    if (!m) {
      out.push(node);
      continue;
    }
    m.nodes.forEach((n) => skip.add(n));
    const h = `${m.out}_hardsigmoid`;
    const attrs = [
      onnx.AttributeProto.create({ name: 'alpha', type: onnx.AttributeProto.AttributeType.FLOAT, f: 1 / 6 }),
      onnx.AttributeProto.create({ name: 'beta', type: onnx.AttributeProto.AttributeType.FLOAT, f: 0.5 }),
    ];
    out.push(makeNode('HardSigmoid', [m.x], [h], `${m.out}_HardSigmoid`, attrs));
    out.push(makeNode('Mul', [m.x, h], [m.out], `${m.out}_HardSwishMul`));
    fused++;
  }
  graph.node = out;
  return fused;
}

/** Per-channel values of a constant shaped [C], [1, C, 1, 1] or a scalar, as C numbers; else undefined. */
function channelConstant(ix: Index, name: string | undefined, channels: number): Float32Array | undefined {
  const t = ix.inits.get(name ?? '');
  if (!t || t.dataType !== DataType.FLOAT) return undefined;
  const dims = dimsOf(t);
  const v = readFloatTensor(t);
  if (v.length === 1) return new Float32Array(channels).fill(v[0]!);
  const perChannel =
    dims.length === 1 || (dims.length === 4 && dims[0] === 1 && dims[2] === 1 && dims[3] === 1);
  return perChannel && v.length === channels ? v : undefined;
}

/** BatchNormalization (inference form, constant parameters) as y = k·x + m per channel. */
function batchNormAffine(ix: Index, bn: NodeProto, channels: number) {
  const [scale, b, mean, variance] = [1, 2, 3, 4].map((i) => channelConstant(ix, bn.input?.[i], channels));
  if (!scale || !b || !mean || !variance || (bn.output ?? []).filter(Boolean).length !== 1) return undefined;
  const eps = bn.attribute?.find((a) => a.name === 'epsilon')?.f ?? 1e-5;
  const k = scale.map((s, c) => s / Math.sqrt(variance[c]! + eps));
  return { k, m: b.map((v, c) => v - mean[c]! * k[c]!) };
}

export function foldConvTransposeAffine(graph: GraphProto): number {
  const ix = index(graph);
  const removed = new Set<NodeProto>();
  for (const ct of graph.node ?? []) {
    const w = ix.inits.get(ct.input?.[1] ?? '');
    const group = Number(ct.attribute?.find((a) => a.name === 'group')?.i ?? 1);
    if (ct.opType !== 'ConvTranspose' || !w || ct.input?.[2] || group !== 1) continue;
    if ((ix.readers.get(w.name!) ?? []).length !== 1) continue;
    const dims = dimsOf(w);
    const cout = dims[1]!;
    const add = soleReader(ix, ct.output![0]!, 'Add');
    const other = add?.input?.find((i) => i !== ct.output![0]);
    const bias = add && channelConstant(ix, other, cout);
    if (!add || !bias) continue;
    const bn = soleReader(ix, add.output![0]!, 'BatchNormalization');
    const aff = bn && bn.input?.[0] === add.output![0] ? batchNormAffine(ix, bn, cout) : undefined;
    const k = aff?.k ?? new Float32Array(cout).fill(1);
    const plane = dims.slice(2).reduce((a, b) => a * b, 1);
    const nw = readFloatTensor(w).map((v, i) => v * k[Math.floor(i / plane) % cout]!);
    Object.assign(w, makeTensor(w.name!, nw, dims));
    const nb = bias.map((v, c) => v * k[c]! + (aff?.m[c] ?? 0));
    const name = `${w.name}_folded_bias`;
    graph.initializer!.push(makeTensor(name, nb, [cout]));
    ct.input = [ct.input![0]!, w.name!, name];
    const end = aff ? bn! : add;
    ct.output![0] = end.output![0]!;
    removed.add(add);
    if (aff) removed.add(bn!);
  }
  graph.node = (graph.node ?? []).filter((n) => !removed.has(n));
  return removed.size;
}

export interface SimplifyReport {
  convAffineFolded: number;
  hardSwishFused: number;
  /** Add + BatchNormalization nodes folded into ConvTranspose */
  convTransposeFolded: number;
}

/** Both simplifications on serialized bytes; initializers nothing reads any more are dropped. */
export function simplifyModel(bytes: Uint8Array): { bytes: Uint8Array; report: SimplifyReport } {
  const model = decodeModel(bytes);
  const graph = model.graph!;
  const report = {
    convAffineFolded: foldConvAffine(graph),
    hardSwishFused: fuseHardSwish(graph),
    convTransposeFolded: foldConvTransposeAffine(graph),
  };
  const used = collectUses(graph);
  for (const o of graph.output ?? []) used.set(o.name ?? '', 1);
  graph.initializer = (graph.initializer ?? []).filter((t) => used.has(t.name ?? ''));
  return { bytes: encodeModel(model), report };
}
