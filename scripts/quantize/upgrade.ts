/**
 * Opset upgrade for the quantizer: raises a model's default (ai.onnx) opset declaration to 11, where
 * `DynamicQuantizeLinear` exists, but only when that is safe for every op the model uses.
 *
 * An op is safe when its schema does not change meaning between the model's opset and the target: either it
 * has no new version in (from, to], or every new version in that range only widens what is accepted (more
 * types, negative axes, a new optional attribute or input whose default is the old behaviour). Ops whose
 * schema changes incompatibly in that range are converted here:
 *
 *   - Slice-10: `starts`/`ends`/`axes` attributes become int64 inputs (same clamping semantics).
 *   - Clip-11:  `min`/`max` attributes become optional float scalar inputs (absent = ±infinity, as before).
 *
 * Any other op, an op from another domain, a subgraph (If/Loop/Scan), an `auto_pad` other than NOTSET/VALID
 * on Conv/pool ops (whose SAME_* rounding was clarified at opset 11), or a source opset < 7 is refused with
 * a {@link QuantizeError} that names it: nothing is guessed. The version history below is ONNX's
 * (`onnx.defs.get_schema(op, v).since_version`), checked for every op listed with onnx 1.12.
 */
import {
  DataType,
  QuantizeError,
  decodeModel,
  defaultOpset,
  encodeModel,
  getAttr,
  makeNode,
  onnx,
  toNumber,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
} from './onnx.ts';

/** The only target: the first opset with DynamicQuantizeLinear. */
export const UPGRADE_TARGET = 11;
/** Oldest source opset accepted (the version tables below are checked from here on). */
export const UPGRADE_MIN_SOURCE = 7;

/**
 * For each op: its schema versions (since_version) up to 11, and which of them are compatible with the
 * previous one for existing models ("widening") or need a converter. Versions ≤ UPGRADE_MIN_SOURCE are not
 * listed where they do not matter.
 */
interface OpHistory {
  /** since_version values in [7, 11] where the schema changed */
  changes: { version: number; kind: 'widening' | 'convert'; note: string }[];
  /** the op takes `auto_pad` and is only safe with NOTSET/VALID */
  autoPad?: boolean;
}

const SAME = (): OpHistory => ({ changes: [] });

export const OP_HISTORY: Record<string, OpHistory> = {
  // elementwise: Add/Sub/Mul/Div 7 (then 13, 14), Pow 7 (then 12), unary ops 6 (then 13)
  Add: SAME(),
  Sub: SAME(),
  Mul: SAME(),
  Div: SAME(),
  Pow: SAME(),
  Sqrt: SAME(),
  Relu: SAME(),
  Sigmoid: SAME(),
  Tanh: SAME(),
  Exp: SAME(),
  Log: SAME(),
  Abs: SAME(),
  Neg: SAME(),
  Reciprocal: SAME(),
  HardSigmoid: SAME(), // 6
  LeakyRelu: SAME(), // 6
  Sum: {
    changes: [{ version: 8, kind: 'widening', note: 'multidirectional broadcasting (equal shapes before)' }],
  },
  Max: {
    changes: [{ version: 8, kind: 'widening', note: 'multidirectional broadcasting (equal shapes before)' }],
  },
  Min: {
    changes: [{ version: 8, kind: 'widening', note: 'multidirectional broadcasting (equal shapes before)' }],
  },
  MatMul: { changes: [{ version: 9, kind: 'widening', note: 'more integer types' }] },
  Cast: { changes: [{ version: 9, kind: 'widening', note: 'string types' }] },
  Shape: SAME(), // 1, then 13
  Transpose: SAME(), // 1, then 13
  Reshape: SAME(), // 5, then 13
  Identity: SAME(), // 1, then 13
  GlobalAveragePool: SAME(), // 1
  GlobalMaxPool: SAME(), // 1
  BatchNormalization: {
    changes: [
      { version: 9, kind: 'widening', note: '`spatial` attribute removed (it had to be 1 for these inputs)' },
    ],
  },
  Constant: {
    changes: [
      { version: 9, kind: 'widening', note: 'more types' },
      { version: 11, kind: 'widening', note: 'optional sparse_value attribute' },
    ],
  },
  Conv: {
    changes: [{ version: 11, kind: 'widening', note: 'SAME_* auto_pad rounding clarified' }],
    autoPad: true,
  },
  AveragePool: {
    changes: [
      { version: 10, kind: 'widening', note: 'ceil_mode attribute, default 0 (floor) as before' },
      { version: 11, kind: 'widening', note: 'SAME_* auto_pad rounding clarified' },
    ],
    autoPad: true,
  },
  MaxPool: {
    changes: [
      { version: 8, kind: 'widening', note: 'optional Indices output' },
      { version: 10, kind: 'widening', note: 'ceil_mode (default 0) and dilations (default 1) attributes' },
      { version: 11, kind: 'widening', note: 'SAME_* auto_pad rounding clarified' },
    ],
    autoPad: true,
  },
  Concat: { changes: [{ version: 11, kind: 'widening', note: 'negative axis accepted' }] },
  Softmax: {
    changes: [{ version: 11, kind: 'widening', note: 'negative axis accepted (still coerced to 2-D)' }],
  },
  ReduceMean: { changes: [{ version: 11, kind: 'widening', note: 'negative axes accepted' }] },
  ReduceSum: { changes: [{ version: 11, kind: 'widening', note: 'negative axes accepted' }] },
  ReduceMax: { changes: [{ version: 11, kind: 'widening', note: 'negative axes accepted' }] },
  Squeeze: { changes: [{ version: 11, kind: 'widening', note: 'negative axes accepted' }] },
  Unsqueeze: { changes: [{ version: 11, kind: 'widening', note: 'negative axes accepted' }] },
  Flatten: {
    changes: [
      { version: 9, kind: 'widening', note: 'more types' },
      { version: 11, kind: 'widening', note: 'negative axis accepted' },
    ],
  },
  Gather: { changes: [{ version: 11, kind: 'widening', note: 'negative indices and axis accepted' }] },
  Gemm: {
    changes: [
      { version: 9, kind: 'widening', note: 'more types' },
      { version: 11, kind: 'widening', note: 'C becomes optional' },
    ],
  },
  Slice: {
    changes: [
      {
        version: 10,
        kind: 'convert',
        note: 'starts/ends/axes attributes become inputs (and optional steps)',
      },
      { version: 11, kind: 'widening', note: 'negative axes accepted' },
    ],
  },
  Clip: { changes: [{ version: 11, kind: 'convert', note: 'min/max attributes become optional inputs' }] },
};

export interface UpgradeReport {
  from: number;
  to: number;
  /** op type → count, for every op in the graph */
  ops: Record<string, number>;
  /** nodes rewritten, per op type */
  converted: Record<string, number>;
}

export interface UpgradeResult {
  bytes: Uint8Array;
  report: UpgradeReport;
}

/** Ops that stop a model from being upgraded, with the reason (empty: the upgrade is safe). */
export function upgradeBlockers(nodes: readonly NodeProto[], from: number, to = UPGRADE_TARGET): string[] {
  const problems = new Set<string>();
  for (const node of nodes) {
    const op = node.opType ?? '?';
    if (node.domain && node.domain !== 'ai.onnx') {
      problems.add(`${node.domain}.${op}: ops of other domains are not upgraded`);
      continue;
    }
    if ((node.attribute ?? []).some((a) => a.g || (a.graphs?.length ?? 0) > 0)) {
      problems.add(`${op}: subgraphs are not upgraded`);
      continue;
    }
    const history = OP_HISTORY[op];
    if (!history) {
      problems.add(`${op}: its schema history between opset ${from} and ${to} is not checked here`);
      continue;
    }
    if (op === 'BatchNormalization' && from < 9) {
      const spatial = getAttr(node, 'spatial');
      if (spatial && toNumber(spatial.i) !== 1)
        problems.add('BatchNormalization: spatial=0 has no equivalent from opset 9 on');
    }
    if (history.autoPad) {
      const pad = getAttr(node, 'auto_pad');
      const value = pad?.s ? new TextDecoder().decode(pad.s) : 'NOTSET';
      if (value !== 'NOTSET' && value !== 'VALID') {
        problems.add(`${op}: auto_pad=${value} (its rounding was redefined at opset 11)`);
      }
    }
  }
  return [...problems];
}

function int64Tensor(name: string, values: readonly number[]): TensorProto {
  return onnx.TensorProto.create({
    name,
    dataType: DataType.INT64,
    dims: [values.length],
    int64Data: values.map((v) => v),
  });
}
function floatScalar(name: string, value: number): TensorProto {
  return onnx.TensorProto.create({ name, dataType: DataType.FLOAT, dims: [], floatData: [value] });
}
function intsAttr(node: NodeProto, name: string): number[] | undefined {
  const a = getAttr(node, name);
  return a ? (a.ints ?? []).map(toNumber) : undefined;
}

/**
 * Upgrades the default opset to {@link UPGRADE_TARGET} (11) when safe; a model already at ≥ 11 is returned
 * unchanged. Throws QuantizeError naming every blocking op otherwise.
 */
export function upgradeOpset(inputBytes: Uint8Array, to = UPGRADE_TARGET): UpgradeResult {
  if (to !== UPGRADE_TARGET)
    throw new QuantizeError(`only an upgrade to opset ${UPGRADE_TARGET} is implemented`);
  const model = decodeModel(inputBytes);
  const graph = model.graph;
  if (!graph) throw new QuantizeError('model has no graph');
  const from = defaultOpset(model);
  if (from === undefined) throw new QuantizeError('model does not import the default ai.onnx opset');
  const nodes = graph.node ?? [];
  const ops: Record<string, number> = {};
  for (const n of nodes) ops[n.opType ?? '?'] = (ops[n.opType ?? '?'] ?? 0) + 1;
  if (from >= to) return { bytes: inputBytes, report: { from, to: from, ops, converted: {} } };
  if (from < UPGRADE_MIN_SOURCE) {
    throw new QuantizeError(
      `opset ${from} is older than ${UPGRADE_MIN_SOURCE}; the upgrade tables start at ${UPGRADE_MIN_SOURCE}`,
    );
  }
  const blockers = upgradeBlockers(nodes, from, to);
  if (blockers.length) {
    throw new QuantizeError(`cannot upgrade opset ${from} -> ${to} safely:\n  ${blockers.join('\n  ')}`);
  }

  const taken = new Set<string>();
  for (const t of graph.initializer ?? []) if (t.name) taken.add(t.name);
  for (const v of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])])
    if (v.name) taken.add(v.name);
  for (const n of nodes) for (const o of n.output ?? []) if (o) taken.add(o);
  let uid = 0;
  const unique = (base: string) => {
    let name = base;
    while (taken.has(name)) name = `${base}_${++uid}`;
    taken.add(name);
    return name;
  };
  const converted: Record<string, number> = {};
  const newInits: TensorProto[] = [];
  const keepAttrs = (node: NodeProto, drop: string[]): AttributeProto[] =>
    (node.attribute ?? []).filter((a) => !drop.includes(a.name ?? ''));
  const base = (node: NodeProto) => node.name || node.output?.[0] || node.opType || 'node';

  graph.node = nodes.map((node) => {
    const op = node.opType ?? '';
    if (op === 'Slice' && from < 10) {
      const starts = intsAttr(node, 'starts');
      const ends = intsAttr(node, 'ends');
      const axes = intsAttr(node, 'axes');
      if (!starts || !ends || starts.length !== ends.length || (axes && axes.length !== starts.length)) {
        throw new QuantizeError(
          `Slice ${base(node)}: starts/ends/axes attributes missing or of different lengths`,
        );
      }
      const names = [unique(`${base(node)}_starts`), unique(`${base(node)}_ends`)];
      newInits.push(int64Tensor(names[0]!, starts), int64Tensor(names[1]!, ends));
      if (axes) {
        names.push(unique(`${base(node)}_axes`));
        newInits.push(int64Tensor(names[2]!, axes));
      }
      converted.Slice = (converted.Slice ?? 0) + 1;
      return makeNode(
        'Slice',
        [node.input![0]!, ...names],
        [...(node.output ?? [])],
        node.name ?? '',
        keepAttrs(node, ['starts', 'ends', 'axes']),
      );
    }
    if (op === 'BatchNormalization' && from < 9 && getAttr(node, 'spatial')) {
      converted.BatchNormalization = (converted.BatchNormalization ?? 0) + 1;
      return { ...node, attribute: keepAttrs(node, ['spatial']) } as NodeProto;
    }
    if (op === 'Clip' && from < 11) {
      const min = getAttr(node, 'min');
      const max = getAttr(node, 'max');
      const inputs = [node.input![0]!, '', ''];
      if (min) {
        inputs[1] = unique(`${base(node)}_min`);
        newInits.push(floatScalar(inputs[1], min.f ?? 0));
      }
      if (max) {
        inputs[2] = unique(`${base(node)}_max`);
        newInits.push(floatScalar(inputs[2], max.f ?? 0));
      }
      while (inputs.length > 1 && inputs[inputs.length - 1] === '') inputs.pop();
      converted.Clip = (converted.Clip ?? 0) + 1;
      return makeNode(
        'Clip',
        inputs,
        [...(node.output ?? [])],
        node.name ?? '',
        keepAttrs(node, ['min', 'max']),
      );
    }
    return node;
  });
  graph.initializer = [...(graph.initializer ?? []), ...newInits];
  for (const entry of model.opsetImport ?? [])
    if (!entry.domain || entry.domain === 'ai.onnx') entry.version = to;
  // IR 5 is the first that knows opset 11 (any newer IR the model already has stays)
  if (toNumber(model.irVersion) < 5) model.irVersion = 5;
  model.metadataProps = (model.metadataProps ?? []).filter((p) => p.key !== 'clawstack.opset_upgrade');
  model.metadataProps.push(
    onnx.StringStringEntryProto.create({
      key: 'clawstack.opset_upgrade',
      value: JSON.stringify({ from, to, converted }),
    }),
  );
  return { bytes: encodeModel(model), report: { from, to, ops, converted } };
}
