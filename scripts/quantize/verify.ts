/**
 * Accuracy check: run the float32 and the quantized model in onnxruntime-node
 * on the same inputs and measure how far the outputs drift.
 */
import ort from 'onnxruntime-node';
import {
  DataType,
  decodeModel,
  dimsOf,
  getAttr,
  toNumber,
  type ModelProto,
  type TensorProto,
} from './onnx.ts';

export type Feeds = Record<string, ort.Tensor>;

export interface InputSpec {
  name: string;
  elemType: number;
  /** numbers for fixed dims, strings for symbolic ones */
  dims: (number | string)[];
  /** rows of the Gather table this input indexes, if it (directly or via Cast/Reshape/...) feeds Gather indices */
  gatherRows?: number;
}

export interface OutputError {
  name: string;
  elements: number;
  maxAbsError: number;
  meanAbsError: number;
  /** max |q - f| / max |f| */
  maxRelError: number;
  /** mean |q - f| / mean |f| */
  meanRelError: number;
  /** share of rows whose argmax over the last axis agrees (outputs of rank >= 2 with last dim > 1) */
  top1Agreement?: number;
}

export interface VerifyResult {
  inputs: { name: string; type: string; dims: number[] }[];
  outputs: OutputError[];
  /** mean wall time of one run, ms */
  fp32Ms: number;
  int8Ms: number;
}

export interface VerifyOptions {
  seed?: number;
  /** value for a symbolic first (batch) dimension */
  batch?: number;
  /** value for other symbolic dimensions */
  dynamicDim?: number;
  /** explicit shapes for random inputs, by input name (overrides the model's dims) */
  shapes?: Record<string, number[]>;
  /** use these inputs instead of random ones */
  feeds?: Feeds;
  /** timed runs per model (after one warm-up) */
  runs?: number;
}

/** mulberry32: small, seedable, good enough for test inputs. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

const PASS_THROUGH = new Set(['Cast', 'Reshape', 'Squeeze', 'Unsqueeze', 'Flatten', 'Identity']);

/** Graph inputs that are not initializers, with element type, shape and Gather table size. */
export function inputSpecs(model: ModelProto): InputSpec[] {
  const graph = model.graph;
  if (!graph) return [];
  const tables = new Map<string, TensorProto>();
  for (const t of graph.initializer ?? []) if (t.name) tables.set(t.name, t);
  for (const n of graph.node ?? []) {
    const t = getAttr(n, 'value')?.t;
    if (n.opType === 'Constant' && t && n.output?.[0]) tables.set(n.output[0], t);
  }
  const gatherRowsFor = (name: string, depth = 0): number | undefined => {
    if (depth > 4) return undefined;
    for (const n of graph.node ?? []) {
      if (n.opType === 'Gather' && n.input?.[1] === name) {
        const table = tables.get(n.input[0] ?? '');
        if (!table) continue;
        const dims = dimsOf(table);
        const axisAttr = getAttr(n, 'axis');
        let axis = axisAttr ? toNumber(axisAttr.i) : 0;
        if (axis < 0) axis += dims.length;
        return dims[axis];
      }
      if (PASS_THROUGH.has(n.opType ?? '') && n.input?.[0] === name && n.output?.[0]) {
        const rows = gatherRowsFor(n.output[0], depth + 1);
        if (rows !== undefined) return rows;
      }
    }
    return undefined;
  };
  const initNames = new Set((graph.initializer ?? []).map((t) => t.name));
  return (graph.input ?? [])
    .filter((v) => v.name && !initNames.has(v.name))
    .map((v) => {
      const tt = v.type?.tensorType;
      const dims = (tt?.shape?.dim ?? []).map((d) =>
        d.dimParam ? d.dimParam : d.dimValue != null ? toNumber(d.dimValue) : '?',
      );
      const spec: InputSpec = { name: v.name as string, elemType: tt?.elemType ?? 0, dims };
      const rows = gatherRowsFor(spec.name);
      if (rows !== undefined) spec.gatherRows = rows;
      return spec;
    });
}

/** Random inputs from the model's input specs, seeded so runs are reproducible. */
export function makeSampleInputs(modelBytes: Uint8Array, options: VerifyOptions = {}): Feeds {
  const names = new Set(inputSpecs(decodeModel(modelBytes)).map((s) => s.name));
  for (const name of Object.keys(options.shapes ?? {})) {
    if (!names.has(name))
      throw new Error(`--shape: model has no input '${name}' (inputs: ${[...names].join(', ')})`);
  }
  const rand = seededRandom(options.seed ?? 1234);
  const batch = options.batch ?? 4;
  const dyn = options.dynamicDim ?? 16;
  const feeds: Feeds = {};
  for (const spec of inputSpecs(decodeModel(modelBytes))) {
    const dims =
      options.shapes?.[spec.name] ??
      spec.dims.map((d, i) => (typeof d === 'number' && d > 0 ? d : i === 0 ? batch : dyn));
    const n = dims.reduce((a, b) => a * b, 1);
    const randInt = (hi: number): number => Math.floor(rand() * hi);
    switch (spec.elemType) {
      case DataType.FLOAT:
        feeds[spec.name] = new ort.Tensor(
          'float32',
          Float32Array.from({ length: n }, () => gaussian(rand)),
          dims,
        );
        break;
      case DataType.DOUBLE:
        feeds[spec.name] = new ort.Tensor(
          'float64',
          Float64Array.from({ length: n }, () => gaussian(rand)),
          dims,
        );
        break;
      case DataType.INT64:
        feeds[spec.name] = new ort.Tensor(
          'int64',
          BigInt64Array.from({ length: n }, () => BigInt(randInt(spec.gatherRows ?? 4))),
          dims,
        );
        break;
      case DataType.INT32:
        feeds[spec.name] = new ort.Tensor(
          'int32',
          Int32Array.from({ length: n }, () => randInt(spec.gatherRows ?? 4)),
          dims,
        );
        break;
      case DataType.BOOL:
        feeds[spec.name] = new ort.Tensor(
          'bool',
          Uint8Array.from({ length: n }, () => randInt(2)),
          dims,
        );
        break;
      default:
        throw new Error(
          `input '${spec.name}' has element type ${spec.elemType}, which random inputs do not cover; pass --inputs samples.json`,
        );
    }
  }
  return feeds;
}

const ELEM_TO_ORT: Record<number, ort.Tensor.Type> = {
  [DataType.FLOAT]: 'float32',
  [DataType.DOUBLE]: 'float64',
  [DataType.INT64]: 'int64',
  [DataType.INT32]: 'int32',
  [DataType.BOOL]: 'bool',
  [DataType.UINT8]: 'uint8',
  [DataType.INT8]: 'int8',
};

function flatten(v: unknown, dims: number[], out: number[], depth = 0): void {
  if (Array.isArray(v)) {
    if (dims.length <= depth) dims.push(v.length);
    for (const x of v) flatten(x, dims, out, depth + 1);
  } else out.push(Number(v));
}

/**
 * Parse a samples file: `{ "input": { "type": "int64", "dims": [1, 8], "data": [...] } }`
 * or `{ "input": [[...nested...]] }` (type taken from the model's input spec).
 */
export function parseSamples(json: string, modelBytes: Uint8Array): Feeds {
  const raw = JSON.parse(json) as Record<string, unknown>;
  const specs = new Map(inputSpecs(decodeModel(modelBytes)).map((s) => [s.name, s]));
  const feeds: Feeds = {};
  for (const [name, value] of Object.entries(raw)) {
    const spec = specs.get(name);
    if (!spec)
      throw new Error(`samples: model has no input '${name}' (inputs: ${[...specs.keys()].join(', ')})`);
    let dims: number[] = [];
    let data: number[] = [];
    let type = ELEM_TO_ORT[spec.elemType];
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const obj = value as { type?: ort.Tensor.Type; dims?: number[]; data?: unknown[] };
      type = obj.type ?? type;
      data = (obj.data ?? []).map(Number);
      dims = obj.dims ?? [data.length];
    } else flatten(value, dims, data);
    if (!type) throw new Error(`samples: cannot tell the element type of '${name}'`);
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== data.length)
      throw new Error(`samples: '${name}' has ${data.length} values for dims [${dims.join(',')}]`);
    feeds[name] = toTensor(type, data, dims);
  }
  return feeds;
}

function toTensor(type: ort.Tensor.Type, data: number[], dims: number[]): ort.Tensor {
  switch (type) {
    case 'float32':
      return new ort.Tensor(type, Float32Array.from(data), dims);
    case 'float64':
      return new ort.Tensor(type, Float64Array.from(data), dims);
    case 'int64':
      return new ort.Tensor(
        type,
        BigInt64Array.from(data, (x) => BigInt(Math.trunc(x))),
        dims,
      );
    case 'int32':
      return new ort.Tensor(type, Int32Array.from(data), dims);
    case 'bool':
    case 'uint8':
      return new ort.Tensor(type, Uint8Array.from(data), dims);
    case 'int8':
      return new ort.Tensor(type, Int8Array.from(data), dims);
    default:
      throw new Error(`samples: unsupported type ${type}`);
  }
}

export const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
};

async function timedRuns(
  session: ort.InferenceSession,
  feeds: Feeds,
  runs: number,
): Promise<{ out: ort.InferenceSession.ReturnType; ms: number }> {
  const out = await session.run(feeds); // warm-up, and the outputs we compare
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await session.run(feeds);
  return { out, ms: runs > 0 ? (performance.now() - t0) / runs : 0 };
}

export function compareOutputs(name: string, ref: ort.Tensor, got: ort.Tensor): OutputError {
  const f = ref.data as ArrayLike<number>;
  const q = got.data as ArrayLike<number>;
  if (f.length !== q.length)
    throw new Error(`output '${name}': ${f.length} elements in float32 vs ${q.length} quantized`);
  let maxAbs = 0;
  let sumAbs = 0;
  let maxRef = 0;
  let sumRef = 0;
  for (let i = 0; i < f.length; i++) {
    const d = Math.abs(Number(q[i]) - Number(f[i]));
    const r = Math.abs(Number(f[i]));
    if (d > maxAbs || Number.isNaN(d)) maxAbs = d;
    sumAbs += d;
    if (r > maxRef) maxRef = r;
    sumRef += r;
  }
  const n = Math.max(f.length, 1);
  const result: OutputError = {
    name,
    elements: f.length,
    maxAbsError: maxAbs,
    meanAbsError: sumAbs / n,
    maxRelError: maxRef > 0 ? maxAbs / maxRef : maxAbs,
    meanRelError: sumRef > 0 ? sumAbs / sumRef : sumAbs / n,
  };
  const dims = ref.dims;
  const last = dims[dims.length - 1] ?? 0;
  if (dims.length >= 2 && last > 1) {
    const rows = f.length / last;
    let agree = 0;
    for (let r = 0; r < rows; r++) {
      let bf = 0;
      let bq = 0;
      for (let c = 1; c < last; c++) {
        if (Number(f[r * last + c]) > Number(f[r * last + bf])) bf = c;
        if (Number(q[r * last + c]) > Number(q[r * last + bq])) bq = c;
      }
      if (bf === bq) agree++;
    }
    result.top1Agreement = agree / rows;
  }
  return result;
}

/** Load both models in onnxruntime-node, feed the same inputs, compare every output. */
export async function compareModels(
  fp32Bytes: Uint8Array,
  int8Bytes: Uint8Array,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const feeds = options.feeds ?? makeSampleInputs(fp32Bytes, options);
  const runs = options.runs ?? 5;
  const fSession = await ort.InferenceSession.create(fp32Bytes, SESSION_OPTIONS);
  const qSession = await ort.InferenceSession.create(int8Bytes, SESSION_OPTIONS);
  try {
    const f = await timedRuns(fSession, feeds, runs);
    const q = await timedRuns(qSession, feeds, runs);
    const outputs = fSession.outputNames.map((name) => {
      const ref = f.out[name];
      const got = q.out[name];
      if (!ref || !got)
        throw new Error(`output '${name}' missing from the ${ref ? 'quantized' : 'float32'} model`);
      return compareOutputs(name, ref, got);
    });
    return {
      inputs: Object.entries(feeds).map(([name, t]) => ({ name, type: t.type, dims: [...t.dims] })),
      outputs,
      fp32Ms: f.ms,
      int8Ms: q.ms,
    };
  } finally {
    await fSession.release();
    await qSession.release();
  }
}
