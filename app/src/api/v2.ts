/**
 * Open Inference Protocol v2 (KServe / Triton REST): server and model metadata, readiness, the
 * repository index, and infer on tensors (JSON or the binary tensor data extension). Models whose
 * task reads text also take a BYTES input `text`, featurized by the task's own featurizer.
 */
import { Router, type Request } from 'express';
import { z } from 'zod';
import { BadRequestError, NotFoundError, UnavailableError } from '../errors.ts';
import { InferenceError, type InferenceEngine } from '../inference/engine.ts';
import { allocate, elementCount } from '../inference/tensors.ts';
import { TASK_MODULES } from '../modalities/index.ts';
import type { TensorData, TensorMap } from '../modalities/types.ts';
import type { ModelEntry, TensorSpec } from '../models/manifest.ts';
import type { LoadedModel, ModelRegistry } from '../models/registry.ts';
import { parseWith } from '../modalities/decode.ts';
import { inferBody, sendInferResponse, sliceBinaryInputs } from './v2-binary.ts';
import { jsonBody } from './json.ts';
import {
  binaryData,
  jsonData,
  readBinaryStrings,
  readBinaryValues,
  readJsonValues,
  toJson,
  toTypedArray,
  V2_DATATYPES,
  V2_OF,
} from './v2-tensors.ts';

export const SERVER_NAME = 'clawstack';
export const SERVER_VERSION = '0.1.0';
/** What this server implements beyond the core protocol (Triton's names where they exist). */
export const EXTENSIONS = ['binary_tensor_data', 'model_repository_index'];
/** The BYTES input of models whose task reads text. */
export const TEXT_INPUT = 'text';

export const inferRequestSchema = z
  .object({
    id: z.string().max(256).optional(),
    parameters: z
      .strictObject({
        binary_data_output: z.boolean().optional().describe('return every output as binary data'),
      })
      .optional(),
    inputs: z
      .array(
        z.object({
          name: z.string(),
          shape: z.array(z.number().int().min(0)),
          datatype: z.enum(V2_DATATYPES),
          parameters: z
            .strictObject({
              binary_data_size: z
                .number()
                .int()
                .min(0)
                .optional()
                .describe('bytes of this tensor in the binary part of the body'),
            })
            .optional(),
          data: z.array(z.unknown()).optional().describe('row-major values, flat or nested'),
        }),
      )
      .min(1),
    outputs: z
      .array(
        z.object({
          name: z.string(),
          parameters: z
            .strictObject({
              binary_data: z.boolean().optional().describe('return this output as binary data'),
            })
            .optional(),
        }),
      )
      .optional(),
  })
  .meta({
    id: 'InferRequest',
    examples: [
      { id: 'req-1', inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: ['lunch at noon?'] }] },
      {
        inputs: [
          { name: 'ids', datatype: 'INT64', shape: [1, 3], data: [17, 4242, 912] },
          { name: 'weights', datatype: 'FP64', shape: [1, 3], data: [0.58, 0.58, 0.58] },
        ],
        outputs: [{ name: 'probabilities', parameters: { binary_data: false } }],
      },
    ],
  });
type InferRequest = z.infer<typeof inferRequestSchema>;
type InferInput = InferRequest['inputs'][number];

export const repositoryIndexSchema = z
  .strictObject({ ready: z.boolean().optional().describe('only models ready for inference') })
  .meta({ id: 'RepositoryIndexRequest', examples: [{ ready: true }] });

const tensorMeta = (t: TensorSpec) => ({ name: t.name, datatype: V2_OF[t.type], shape: t.shape });
const textFeedsOf = (entry: ModelEntry) => TASK_MODULES.find((m) => m.task === entry.task)?.textFeeds;

export function modelMetadata(entry: ModelEntry) {
  const text = textFeedsOf(entry) !== undefined;
  return {
    name: entry.name,
    versions: [entry.version],
    platform: 'onnxruntime_onnx',
    inputs: [
      ...(text ? [{ name: TEXT_INPUT, datatype: 'BYTES', shape: [-1] }] : []),
      ...entry.inputs.map(tensorMeta),
    ],
    outputs: entry.outputs.map(tensorMeta),
    parameters: {
      task: entry.task,
      modality: entry.modality,
      precision: entry.precision,
      // Either `text` alone (the server featurizes it) or the model's own tensors.
      ...(text ? { text_input: TEXT_INPUT } : {}),
    },
  };
}

/** Row-major values of nested arrays; iterative, so a body nested 100,000 deep cannot overflow the stack. */
function flatten(data: unknown[]): unknown[] {
  const out: unknown[] = [];
  const stack: { arr: unknown[]; i: number }[] = [{ arr: data, i: 0 }];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    if (top.i >= top.arr.length) {
      stack.pop();
      continue;
    }
    const v = top.arr[top.i++];
    if (Array.isArray(v)) stack.push({ arr: v, i: 0 });
    else out.push(v);
  }
  return out;
}

/** The values of one input, from its JSON `data` or its binary slice, checked against its shape. */
function inputValues(input: InferInput, binary: Buffer | undefined, where: string) {
  const count = elementCount(input.shape);
  if ((input.data === undefined) === (binary === undefined)) {
    throw new BadRequestError(`${where}: give either data or parameters.binary_data_size`);
  }
  const values = input.data ? flatten(input.data) : undefined;
  if (values && values.length !== count) {
    throw new BadRequestError(
      `${where}.data: shape [${input.shape.join(', ')}] needs ${count} values, got ${values.length}`,
    );
  }
  return { count, values, binary };
}

/** Checks one request input against the model's spec and builds its tensor (converting its datatype). */
function toTensor(
  input: InferInput,
  binary: Buffer | undefined,
  spec: TensorSpec,
  where: string,
): TensorData {
  if (input.datatype === 'BYTES')
    throw new BadRequestError(`${where}.datatype: input "${spec.name}" takes ${V2_OF[spec.type]}, not BYTES`);
  if (input.shape.length !== spec.shape.length) {
    throw new BadRequestError(
      `${where}.shape: expected rank ${spec.shape.length} [${spec.shape.join(', ')}], got [${input.shape.join(', ')}]`,
    );
  }
  spec.shape.forEach((d, i) => {
    if (d !== -1 && input.shape[i] !== d) {
      throw new BadRequestError(
        `${where}.shape[${i}]: expected ${d}, got ${input.shape[i]} (model shape [${spec.shape.join(', ')}])`,
      );
    }
  });
  const v = inputValues(input, binary, where);
  const scalars = v.values
    ? readJsonValues(v.values, input.datatype, where)
    : readBinaryValues(v.binary!, input.datatype, v.count, where);
  return {
    type: spec.type,
    data: toTypedArray(scalars, input.datatype, spec.type, where),
    dims: input.shape,
  };
}

/** The texts of a BYTES `text` input: shape [N] or [N, 1], JSON strings or length-prefixed UTF-8. */
function textValues(input: InferInput, binary: Buffer | undefined, where: string): string[] {
  if (input.datatype !== 'BYTES') throw new BadRequestError(`${where}.datatype: "${TEXT_INPUT}" is BYTES`);
  const [n, one, ...rest] = input.shape;
  if (n === undefined || rest.length > 0 || (one !== undefined && one !== 1)) {
    throw new BadRequestError(
      `${where}.shape: expected [N] or [N, 1] texts, got [${input.shape.join(', ')}]`,
    );
  }
  const v = inputValues(input, binary, where);
  if (v.values) {
    return v.values.map((s, i) => {
      if (typeof s !== 'string') throw new BadRequestError(`${where}.data[${i}]: expected a string`);
      return s;
    });
  }
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  return readBinaryStrings(v.binary!, v.count, where).map((b, i) => {
    try {
      return utf8.decode(b);
    } catch {
      throw new BadRequestError(`${where}: BYTES element ${i} is not valid UTF-8`);
    }
  });
}

function sliceBatch(t: TensorData, i: number): TensorData {
  const stride = elementCount(t.dims.slice(1));
  return { type: t.type, data: t.data.subarray(i * stride, (i + 1) * stride), dims: [1, ...t.dims.slice(1)] };
}

/** A batch row: its feeds, or a text the engine featurizes in an inference thread (the model's prepare step). */
export type Row = TensorMap | { text: string };

/**
 * One row per batch row: from the `text` input (as texts, or featurized here with `prepareHere`), or from
 * tensors.
 */
export function requestFeeds(
  entry: ModelEntry,
  body: InferRequest,
  binary: Buffer | undefined,
  prepareHere = true,
): Row[] {
  const slices = sliceBinaryInputs(body.inputs, binary);
  const names = body.inputs.map((input) => input.name);
  const textFeeds = textFeedsOf(entry);
  const t = textFeeds ? names.indexOf(TEXT_INPUT) : -1;
  if (textFeeds && t >= 0) {
    if (body.inputs.length > 1)
      throw new BadRequestError(
        `inputs: send "${TEXT_INPUT}" alone, or ${entry.inputs.map((s) => `"${s.name}"`).join(' and ')}`,
      );
    const texts = textValues(body.inputs[t]!, slices[t], `inputs[${t}]`);
    if (texts.length === 0) throw new BadRequestError('inputs: batch size is 0');
    return texts.map((text) => (prepareHere ? textFeeds(entry, text) : { text }));
  }
  const allowed = [...(textFeeds ? [TEXT_INPUT] : []), ...entry.inputs.map((s) => s.name)];
  for (const name of names) {
    if (!allowed.includes(name))
      throw new BadRequestError(
        `inputs: model "${entry.name}" has no input "${name}" (inputs: ${allowed.join(', ')})`,
      );
  }
  const tensors: TensorMap = {};
  for (const spec of entry.inputs) {
    const i = names.indexOf(spec.name);
    if (i < 0) throw new BadRequestError(`inputs: missing input "${spec.name}"`);
    tensors[spec.name] = toTensor(body.inputs[i]!, slices[i], spec, `inputs[${i}]`);
  }
  const batch = Object.values(tensors)[0]!.dims[0]!;
  for (const [name, tensor] of Object.entries(tensors)) {
    if (tensor.dims[0] !== batch)
      throw new BadRequestError(`inputs: "${name}" has batch size ${tensor.dims[0]}, others ${batch}`);
  }
  if (batch === 0) throw new BadRequestError('inputs: batch size is 0');
  return Array.from({ length: batch }, (_, i) =>
    Object.fromEntries(Object.entries(tensors).map(([name, tensor]) => [name, sliceBatch(tensor, i)])),
  );
}

/** Stacks one output of every batch row (rows of equal shape) into one typed array. */
function gatherOutput(parts: TensorMap[], spec: TensorSpec): TensorData {
  const first = parts[0]![spec.name]!;
  const stride = first.data.length;
  const data = allocate(spec.type, stride * parts.length);
  parts.forEach((p, i) => (data as Float32Array).set(p[spec.name]!.data as Float32Array, i * stride));
  return { type: spec.type, data, dims: [parts.length, ...first.dims.slice(1)] };
}

/** The response's JSON header and binary parts: outputs in the order asked, binary where asked. */
export function inferResponse(entry: ModelEntry, body: InferRequest, parts: TensorMap[]) {
  const binaryDefault = body.parameters?.binary_data_output ?? false;
  const wanted = body.outputs ?? entry.outputs.map((o) => ({ name: o.name, parameters: undefined }));
  const binaryParts: Buffer[] = [];
  const outputs = wanted.map((o) => {
    const spec = entry.outputs.find((s) => s.name === o.name);
    if (!spec) throw new BadRequestError(`outputs: model "${entry.name}" has no output "${o.name}"`);
    const t = gatherOutput(parts, spec);
    const meta = { name: spec.name, datatype: V2_OF[spec.type], shape: t.dims };
    if (!(o.parameters?.binary_data ?? binaryDefault)) return { ...meta, data: jsonData(spec.type, t.data) };
    const bytes = binaryData(t.data);
    binaryParts.push(bytes);
    return { ...meta, parameters: { binary_data_size: bytes.length } };
  });
  const header = {
    model_name: entry.name,
    model_version: entry.version,
    ...(body.id === undefined ? {} : { id: body.id }),
    outputs,
  };
  return { headerJson: toJson(header), binaryParts };
}

async function runRows(engine: InferenceEngine, entry: ModelEntry, rows: Row[]): Promise<TensorMap[]> {
  const run = (row: Row) =>
    typeof row.text === 'string'
      ? engine.inferInput(entry.name, row.text)
      : engine.infer(entry.name, row as TensorMap);
  try {
    return await Promise.all(rows.map(run));
  } catch (err) {
    // Shapes and types were checked above; what ONNX Runtime still rejects is this input's values.
    if (err instanceof InferenceError)
      throw new BadRequestError(`inference failed for this input: ${err.message}`);
    throw err;
  }
}

export function v2Router(opts: {
  registry: ModelRegistry;
  engine: () => InferenceEngine | undefined;
  bodyLimit: number;
}) {
  const router = Router();
  const { registry } = opts;

  const findModel = (req: Request): LoadedModel => {
    const name = String(req.params.model);
    const version = req.params.version === undefined ? undefined : String(req.params.version);
    const model = registry.get(name, version);
    const unavailable = registry.unavailableModel(name);
    if (!model && unavailable) throw new UnavailableError(registry.unavailableMessage([unavailable]));
    if (!model) {
      throw new NotFoundError(
        registry.get(name) ? `model "${name}" has no version "${version}"` : `unknown model "${name}"`,
      );
    }
    return model;
  };
  const state = () => (opts.engine() ? 'READY' : 'UNAVAILABLE');

  router.get('/v2', (_req, res) => {
    res.json({ name: SERVER_NAME, version: SERVER_VERSION, extensions: EXTENSIONS });
  });
  router.get('/v2/models', (_req, res) => {
    res.json({
      models: registry.all().map((m) => ({ name: m.entry.name, version: m.entry.version, state: state() })),
    });
  });
  // The body is optional: clients send `{}`, `{"ready": true}` or nothing.
  const optionalJson = jsonBody(opts.bodyLimit);
  router.post(
    '/v2/repository/index',
    (req, res, next) =>
      req.headers['content-length'] === '0' || !req.headers['content-type']
        ? next()
        : optionalJson(req, res, next),
    (req, res) => {
      const { ready } = parseWith(repositoryIndexSchema, req.body ?? {});
      const served = registry.all().map((m) => ({
        name: m.entry.name,
        version: m.entry.version,
        state: state(),
        reason: opts.engine() ? '' : 'models are loading',
      }));
      const unserved = registry.unserved.map((m) => ({
        ...m,
        state: 'UNAVAILABLE',
        reason: 'not served by this instance (MODELS)',
      }));
      const missing = registry.unavailable.map((u) => ({
        name: u.name,
        version: u.version,
        state: 'UNAVAILABLE',
        reason: u.reason,
      }));
      const index = [...served, ...missing, ...unserved];
      res.json(ready ? index.filter((m) => m.state === 'READY') : index);
    },
  );
  for (const base of ['/v2/models/:model', '/v2/models/:model/versions/:version']) {
    router.get(base, (req, res) => {
      res.json(modelMetadata(findModel(req).entry));
    });
    router.get(`${base}/ready`, (req, res) => {
      const model = findModel(req);
      const ready = opts.engine() !== undefined;
      res.status(ready ? 200 : 503).json({ name: model.entry.name, ready });
    });
    router.post(`${base}/infer`, inferBody(opts.bodyLimit), async (req, res) => {
      const { entry } = findModel(req);
      const engine = opts.engine();
      if (!engine) throw new UnavailableError('models are not loaded yet');
      const body = parseWith(inferRequestSchema, req.body);
      const rows = requestFeeds(
        entry,
        body,
        res.locals.binary as Buffer | undefined,
        !engine.hasPrepare(entry.name),
      );
      // Check the requested outputs before running anything.
      for (const o of body.outputs ?? []) {
        if (!entry.outputs.some((s) => s.name === o.name))
          throw new BadRequestError(`outputs: model "${entry.name}" has no output "${o.name}"`);
      }
      const { headerJson, binaryParts } = inferResponse(entry, body, await runRows(engine, entry, rows));
      sendInferResponse(res, headerJson, binaryParts);
    });
  }
  return router;
}
