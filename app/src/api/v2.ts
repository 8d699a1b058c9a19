/**
 * Open Inference Protocol v2 (KServe / Triton REST): server and model metadata, readiness, and infer
 * on raw tensors.
 */
import { Router, type Request } from 'express';
import { jsonBody } from './json.ts';
import { z } from 'zod';
import { BadRequestError, NotFoundError, UnavailableError } from '../errors.ts';
import { InferenceError, type InferenceEngine } from '../inference/engine.ts';
import { allocate, elementCount } from '../inference/tensors.ts';
import { describeZodError } from '../modalities/decode.ts';
import type { TensorData, TensorMap } from '../modalities/types.ts';
import { V2_DATATYPE, type ModelEntry, type TensorSpec } from '../models/manifest.ts';
import type { LoadedModel, ModelRegistry } from '../models/registry.ts';

export const SERVER_NAME = 'clawstack';
export const SERVER_VERSION = '0.1.0';

const inferRequestSchema = z.object({
  id: z.string().max(256).optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
  inputs: z
    .array(
      z.object({
        name: z.string(),
        shape: z.array(z.number().int().min(0)),
        datatype: z.string(),
        parameters: z.record(z.string(), z.unknown()).optional(),
        data: z.array(z.unknown()),
      }),
    )
    .min(1),
  outputs: z
    .array(z.object({ name: z.string(), parameters: z.record(z.string(), z.unknown()).optional() }))
    .optional(),
});
type InferRequest = z.infer<typeof inferRequestSchema>;

const tensorMeta = (t: TensorSpec) => ({ name: t.name, datatype: V2_DATATYPE[t.type], shape: t.shape });

export function modelMetadata(entry: ModelEntry) {
  return {
    name: entry.name,
    versions: [entry.version],
    platform: 'onnxruntime_onnx',
    inputs: entry.inputs.map(tensorMeta),
    outputs: entry.outputs.map(tensorMeta),
    parameters: { task: entry.task, modality: entry.modality, precision: entry.precision },
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

const INT_RANGE: Partial<Record<TensorData['type'], [number, number]>> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  int8: [-128, 127],
  uint8: [0, 255],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

/** Checks one request input against the model's spec and builds its tensor. */
function toTensor(input: InferRequest['inputs'][number], spec: TensorSpec, where: string): TensorData {
  const expected = V2_DATATYPE[spec.type];
  if (input.datatype !== expected)
    throw new BadRequestError(`${where}.datatype: expected ${expected}, got ${input.datatype}`);
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
  const values = flatten(input.data);
  const count = elementCount(input.shape);
  if (values.length !== count) {
    throw new BadRequestError(
      `${where}.data: shape [${input.shape.join(', ')}] needs ${count} values, got ${values.length}`,
    );
  }
  const data = allocate(spec.type, count);
  const range = INT_RANGE[spec.type];
  for (let i = 0; i < count; i++) {
    let v = values[i];
    if (spec.type === 'bool' && typeof v === 'boolean') v = v ? 1 : 0;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new BadRequestError(`${where}.data[${i}]: expected a finite number, got ${JSON.stringify(v)}`);
    }
    if (range && (!Number.isInteger(v) || v < range[0] || v > range[1])) {
      throw new BadRequestError(`${where}.data[${i}]: ${v} is not a valid ${expected}`);
    }
    if (data instanceof BigInt64Array) data[i] = BigInt(v);
    else data[i] = v;
  }
  return { type: spec.type, data, dims: input.shape };
}

function sliceBatch(t: TensorData, i: number): TensorData {
  const stride = elementCount(t.dims.slice(1));
  return { type: t.type, data: t.data.subarray(i * stride, (i + 1) * stride), dims: [1, ...t.dims.slice(1)] };
}

function concatOutputs(parts: TensorMap[], name: string, datatype: string) {
  const first = parts[0]![name]!;
  const data: number[] = [];
  for (const p of parts) {
    const t = p[name]!;
    const values = t.data as ArrayLike<number | bigint>;
    for (let i = 0; i < values.length; i++) data.push(Number(values[i]));
  }
  return { name, datatype, shape: [parts.length, ...first.dims.slice(1)], data };
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
    if (!model) {
      throw new NotFoundError(
        registry.get(name) ? `model "${name}" has no version "${version}"` : `unknown model "${name}"`,
      );
    }
    return model;
  };

  router.get('/v2', (_req, res) => {
    res.json({ name: SERVER_NAME, version: SERVER_VERSION, extensions: ['model_repository_index'] });
  });
  router.get('/v2/models', (_req, res) => {
    res.json({
      models: registry.all().map((m) => ({
        name: m.entry.name,
        version: m.entry.version,
        state: opts.engine() ? 'READY' : 'UNAVAILABLE',
      })),
    });
  });
  for (const base of ['/v2/models/:model', '/v2/models/:model/versions/:version']) {
    router.get(base, (req, res) => {
      res.json(modelMetadata(findModel(req).entry));
    });
    router.get(`${base}/ready`, (req, res) => {
      const model = findModel(req);
      const ready = opts.engine() !== undefined;
      res.status(ready ? 200 : 503).json({ name: model.entry.name, ready });
    });
    router.post(`${base}/infer`, jsonBody(opts.bodyLimit), async (req, res) => {
      const model = findModel(req);
      const engine = opts.engine();
      if (!engine) throw new UnavailableError('models are not loaded yet');
      const parsed = inferRequestSchema.safeParse(req.body);
      if (!parsed.success) throw new BadRequestError(describeZodError(parsed.error));
      const body = parsed.data;
      const { entry } = model;
      const byName = new Map(body.inputs.map((input, i) => [input.name, { input, i }]));
      for (const input of body.inputs) {
        if (!entry.inputs.some((s) => s.name === input.name)) {
          throw new BadRequestError(
            `inputs: model "${entry.name}" has no input "${input.name}" (inputs: ${entry.inputs.map((s) => s.name).join(', ')})`,
          );
        }
      }
      const tensors: TensorMap = {};
      for (const spec of entry.inputs) {
        const found = byName.get(spec.name);
        if (!found) throw new BadRequestError(`inputs: missing input "${spec.name}"`);
        tensors[spec.name] = toTensor(found.input, spec, `inputs[${found.i}]`);
      }
      const batch = Object.values(tensors)[0]!.dims[0]!;
      for (const [name, t] of Object.entries(tensors)) {
        if (t.dims[0] !== batch)
          throw new BadRequestError(`inputs: "${name}" has batch size ${t.dims[0]}, others ${batch}`);
      }
      if (batch === 0) throw new BadRequestError('inputs: batch size is 0');
      const wanted = body.outputs?.map((o) => o.name) ?? entry.outputs.map((o) => o.name);
      for (const name of wanted) {
        if (!entry.outputs.some((o) => o.name === name))
          throw new BadRequestError(`outputs: model "${entry.name}" has no output "${name}"`);
      }
      let parts: TensorMap[];
      try {
        parts = await Promise.all(
          Array.from({ length: batch }, (_, i) => {
            const feeds: TensorMap = {};
            for (const [name, t] of Object.entries(tensors)) feeds[name] = sliceBatch(t, i);
            return engine.infer(entry.name, feeds);
          }),
        );
      } catch (err) {
        // Shapes and types were checked above; what ONNX Runtime still rejects is this input's values.
        if (err instanceof InferenceError)
          throw new BadRequestError(`inference failed for this input: ${err.message}`);
        throw err;
      }
      res.json({
        model_name: entry.name,
        model_version: entry.version,
        ...(body.id === undefined ? {} : { id: body.id }),
        outputs: wanted.map((name) => {
          const spec = entry.outputs.find((o) => o.name === name)!;
          return concatOutputs(parts, name, V2_DATATYPE[spec.type]);
        }),
      });
    });
  }
  return router;
}
