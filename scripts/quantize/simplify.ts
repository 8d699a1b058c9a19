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
 * - `convTransposeToDepthToSpace`: a ConvTranspose whose kernel equals its stride k (no padding, dilation or
 *   output padding, group 1) writes every input pixel to its own k × k output block, so it is a 1 × 1 Conv
 *   with k²·M output channels followed by DepthToSpace(k, CRD). A Relu that is its only reader moves before
 *   the DepthToSpace (they commute). PP-OCRv4's detector head ends in two such ConvTransposes (k = 2), which
 *   ORT's CPU EP cannot run in u8; as Conv they become QLinearConv with the Relu folded into its output.
 *
 * All rewrite in place and return how many patterns they replaced; readers must be the only readers of
 * the intermediate tensors, which must not be graph outputs.
 */
import {
  DataType,
  collectUses,
  decodeModel,
  defaultOpset,
  dimsOf,
  getAttr,
  intAttr,
  intsAttr,
  toNumber,
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

const ints = (node: NodeProto, name: string) => (getAttr(node, name)?.ints ?? []).map(toNumber);

/** The block size k of a ConvTranspose that is a 1 × 1 Conv + DepthToSpace(k), or undefined. */
function depthToSpaceBlock(ix: Index, ct: NodeProto): number | undefined {
  const w = ix.inits.get(ct.input?.[1] ?? '');
  const b = ct.input?.[2];
  if (ct.opType !== 'ConvTranspose' || !w || w.dataType !== DataType.FLOAT || (b && !ix.inits.has(b)))
    return undefined;
  const dims = dimsOf(w);
  const k = dims[2]!;
  const pad = getAttr(ct, 'auto_pad')?.s;
  const flat = (name: string, want: number) => ints(ct, name).every((v) => v === want);
  const ok =
    dims.length === 4 &&
    dims[3] === k &&
    k > 1 &&
    Number(getAttr(ct, 'group')?.i ?? 1) === 1 &&
    ints(ct, 'strides').length === 2 &&
    flat('strides', k) &&
    flat('kernel_shape', k) &&
    flat('pads', 0) &&
    flat('dilations', 1) &&
    flat('output_padding', 0) &&
    !getAttr(ct, 'output_shape') &&
    (!pad || pad.length === 0 || new TextDecoder().decode(pad) === 'NOTSET') &&
    (ix.readers.get(w.name!) ?? []).length === 1 &&
    (!b || (ix.readers.get(b) ?? []).length === 1);
  return ok ? k : undefined;
}

/** W [C, M, k, k] → W' [M·k·k, C, 1, 1] with W'[m·k² + a·k + b, c] = W[c, m, a, b]; the bias repeated k² times. */
export function depthToSpaceWeights(w: Float32Array, dims: readonly number[], bias?: Float32Array) {
  const [c, m, k] = dims as [number, number, number];
  const kk = k * k;
  const out = new Float32Array(w.length);
  for (let ci = 0; ci < c; ci++)
    for (let mi = 0; mi < m; mi++)
      for (let j = 0; j < kk; j++) out[(mi * kk + j) * c + ci] = w[(ci * m + mi) * kk + j]!;
  const b = bias ? Float32Array.from({ length: m * kk }, (_, i) => bias[Math.floor(i / kk)]!) : undefined;
  return { weight: out, dims: [m * kk, c, 1, 1], bias: b };
}

/**
 * Two such ConvTransposes in a row, A (W_A [C, M, k1, k1]) then B (W_B [M, N, k2, k2]), as two 1 × 1 Convs at the
 * input's resolution and one DepthToSpace(K = k1·k2, CRD): Conv0 has M·k1² outputs, channel p·M + m for A's
 * output channel m at block position p = (a, b); Conv1 maps them to N·K² channels, N·K² + (a·k2 + a')·K +
 * (b·k2 + b') for B's output n at (a', b') inside A's block (a, b), reading only A's block p. The k1 × larger
 * intermediate tensor between them is never written.
 */
export function composedDepthToSpaceWeights(
  a: { w: Float32Array; dims: readonly number[]; bias?: Float32Array },
  b: { w: Float32Array; dims: readonly number[]; bias?: Float32Array },
) {
  const [c, m, k1] = a.dims as [number, number, number];
  const [, n, k2] = b.dims as [number, number, number];
  const [kk1, kk2, K] = [k1 * k1, k2 * k2, k1 * k2];
  const w0 = new Float32Array(kk1 * m * c);
  const b0 = new Float32Array(kk1 * m);
  for (let p = 0; p < kk1; p++)
    for (let mi = 0; mi < m; mi++) {
      b0[p * m + mi] = a.bias?.[mi] ?? 0;
      for (let ci = 0; ci < c; ci++) w0[(p * m + mi) * c + ci] = a.w[(ci * m + mi) * kk1 + p]!;
    }
  const outs = n * K * K;
  const w1 = new Float32Array(outs * kk1 * m);
  const b1 = new Float32Array(outs);
  for (let ni = 0; ni < n; ni++)
    for (let p = 0; p < kk1; p++)
      for (let q = 0; q < kk2; q++) {
        const [ay, ax, by, bx] = [Math.floor(p / k1), p % k1, Math.floor(q / k2), q % k2];
        const o = ni * K * K + (ay * k2 + by) * K + (ax * k2 + bx);
        b1[o] = b.bias?.[ni] ?? 0;
        for (let mi = 0; mi < m; mi++) w1[o * kk1 * m + p * m + mi] = b.w[(mi * n + ni) * kk2 + q]!;
      }
  return { w0, dims0: [kk1 * m, c, 1, 1], b0, w1, dims1: [outs, kk1 * m, 1, 1], b1, blocksize: K };
}

function depthToSpaceNode(input: string, output: string, name: string, blocksize: number): NodeProto {
  return makeNode('DepthToSpace', [input], [output], name, [
    intAttr('blocksize', blocksize),
    onnx.AttributeProto.create({
      name: 'mode',
      type: onnx.AttributeProto.AttributeType.STRING,
      s: new TextEncoder().encode('CRD'),
    }),
  ]);
}

/** Sets a ConvTranspose's constant weight and bias to a 1 × 1 Conv's (the tensors keep their names). */
function toConv1x1(
  graph: GraphProto,
  ix: Index,
  ct: NodeProto,
  w: Float32Array,
  dims: number[],
  b: Float32Array | undefined,
) {
  const weight = ix.inits.get(ct.input![1]!)!;
  Object.assign(weight, makeTensor(weight.name!, w, dims));
  const bias = ct.input?.[2] ? ix.inits.get(ct.input[2]) : undefined;
  if (bias && b) Object.assign(bias, makeTensor(bias.name!, b, [b.length]));
  else if (b) {
    graph.initializer!.push(makeTensor(`${weight.name}_bias`, b, [b.length]));
    ct.input = [ct.input![0]!, weight.name!, `${weight.name}_bias`];
  }
  ct.opType = 'Conv';
  ct.attribute = [intsAttr('kernel_shape', [1, 1])];
}

const UNARY_BEFORE_DEPTH_TO_SPACE = ['Relu', 'Sigmoid'];

function convTransposeWeights(ix: Index, ct: NodeProto) {
  const w = ix.inits.get(ct.input![1]!)!;
  const bias = ct.input?.[2] ? ix.inits.get(ct.input[2]) : undefined;
  return { w: readFloatTensor(w), dims: dimsOf(w), bias: bias && readFloatTensor(bias) };
}

/**
 * The Conv now writes `<its output>_depth`; an element-wise op in `unaryOps` that is its only reader moves
 * before the DepthToSpace(k) (they commute), which writes the original tensor name after it.
 */
function insertDepthToSpace(
  ix: Index,
  conv: NodeProto,
  unaryOps: readonly string[],
  k: number,
  after: Map<NodeProto, NodeProto>,
) {
  const out = conv.output![0]!;
  const [unary] = unaryOps.map((op) => soleReader(ix, out, op)).filter(Boolean);
  const last = unary ?? conv;
  const end = last.output![0]!;
  conv.output = [`${out}_depth`];
  if (unary) [unary.input, unary.output] = [[`${out}_depth`], [`${end}_depth`]];
  after.set(last, depthToSpaceNode(`${end}_depth`, end, `${conv.name || out}_DepthToSpace`, k));
}

/** ConvTranspose A [→ Relu] → ConvTranspose B [→ Relu | Sigmoid], each kernel = stride: see composedDepthToSpaceWeights. */
export function composeConvTransposePairs(graph: GraphProto): number {
  const ix = index(graph);
  const after = new Map<NodeProto, NodeProto>();
  let pairs = 0;
  for (const a of graph.node ?? []) {
    const k1 = depthToSpaceBlock(ix, a);
    const relu = k1 && soleReader(ix, a.output![0]!, 'Relu');
    const mid = relu ? relu.output![0]! : a.output![0]!;
    const b = k1 ? (ix.readers.get(mid) ?? [])[0] : undefined;
    if (!k1 || !b || (ix.readers.get(mid) ?? []).length !== 1 || ix.outputs.has(mid)) continue;
    const k2 = b.input?.[0] === mid ? depthToSpaceBlock(ix, b) : undefined;
    if (!k2) continue;
    const d = composedDepthToSpaceWeights(convTransposeWeights(ix, a), convTransposeWeights(ix, b));
    toConv1x1(graph, ix, a, d.w0, d.dims0, d.b0);
    toConv1x1(graph, ix, b, d.w1, d.dims1, d.b1);
    insertDepthToSpace(ix, b, UNARY_BEFORE_DEPTH_TO_SPACE, d.blocksize, after);
    pairs++;
  }
  graph.node = (graph.node ?? []).flatMap((n) => (after.has(n) ? [n, after.get(n)!] : [n]));
  return pairs;
}

export function convTransposeToDepthToSpace(graph: GraphProto): number {
  const ix = index(graph);
  const after = new Map<NodeProto, NodeProto>();
  let rewritten = 0;
  for (const ct of graph.node ?? []) {
    const k = depthToSpaceBlock(ix, ct);
    if (k === undefined) continue;
    const { w, dims, bias } = convTransposeWeights(ix, ct);
    const d = depthToSpaceWeights(w, dims, bias);
    toConv1x1(graph, ix, ct, d.weight, d.dims, d.bias);
    insertDepthToSpace(ix, ct, ['Relu'], k, after);
    rewritten++;
  }
  graph.node = (graph.node ?? []).flatMap((n) => (after.has(n) ? [n, after.get(n)!] : [n]));
  return rewritten;
}

export interface SimplifyReport {
  convAffineFolded: number;
  hardSwishFused: number;
  /** Add + BatchNormalization nodes folded into ConvTranspose */
  convTransposeFolded: number;
  /** pairs of ConvTranspose (kernel = stride) rewritten as two 1 × 1 Convs + one DepthToSpace */
  convTransposePairsComposed: number;
  /** other ConvTransposes (kernel = stride) rewritten as 1 × 1 Conv + DepthToSpace */
  convTransposeToDepthToSpace: number;
}

/** Both DepthToSpace rewrites; none below opset 11 (DepthToSpace's CRD mode). */
function depthToSpace(graph: GraphProto, opset: number) {
  if (opset < 11) return { convTransposePairsComposed: 0, convTransposeToDepthToSpace: 0 };
  const convTransposePairsComposed = composeConvTransposePairs(graph);
  return { convTransposePairsComposed, convTransposeToDepthToSpace: convTransposeToDepthToSpace(graph) };
}

/** Both simplifications on serialized bytes; initializers nothing reads any more are dropped. */
export function simplifyModel(bytes: Uint8Array): { bytes: Uint8Array; report: SimplifyReport } {
  const model = decodeModel(bytes);
  const graph = model.graph!;
  const report = {
    convAffineFolded: foldConvAffine(graph),
    hardSwishFused: fuseHardSwish(graph),
    convTransposeFolded: foldConvTransposeAffine(graph),
    ...depthToSpace(graph, defaultOpset(model) ?? 0),
  };
  const used = collectUses(graph);
  for (const o of graph.output ?? []) used.set(o.name ?? '', 1);
  graph.initializer = (graph.initializer ?? []).filter((t) => used.has(t.name ?? ''));
  return { bytes: encodeModel(model), report };
}
