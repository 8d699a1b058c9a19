/**
 * An InferenceContext for tests that runs a task's models directly with real onnxruntime-node sessions,
 * one request at a time (batch dimension 1, no engine, no batching). The models, their sha256 and their
 * specs come from models/manifest.json exactly as the app reads it; the app's engine can replace this.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { manifestSchema, type ModelEntry, type TensorType } from '../../../app/src/models/manifest.ts';
import type {
  InferenceContext,
  TensorData,
  TensorMap,
  TypedArray,
} from '../../../app/src/modalities/types.ts';

export const MODELS_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../../models');

export interface DirectContext extends InferenceContext {
  /** Calls of `infer` so far, per role. */
  calls: Record<string, number>;
  release(): Promise<void>;
}

export async function loadManifestEntries(task: string): Promise<ModelEntry[]> {
  const manifest = manifestSchema.parse(
    JSON.parse(await readFile(join(MODELS_DIR, 'manifest.json'), 'utf8')),
  );
  const entries = manifest.models.filter((m) => m.task === task);
  if (!entries.length) throw new Error(`manifest has no model for task ${task}`);
  return entries;
}

async function verified(file: string, sha256: string): Promise<Buffer> {
  const bytes = await readFile(join(MODELS_DIR, file));
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== sha256) throw new Error(`${file}: sha256 ${actual} does not match the manifest (${sha256})`);
  return bytes;
}

function toOrt(t: TensorData): ort.Tensor {
  if (t.type === 'bool') return new ort.Tensor('bool', Uint8Array.from(t.data as Uint8Array), t.dims);
  return new ort.Tensor(t.type, t.data as never, t.dims);
}

function fromOrt(t: ort.Tensor): TensorData {
  const type = t.type as TensorType;
  if (!['float32', 'int64', 'int32', 'uint8', 'int8', 'bool'].includes(type)) {
    throw new Error(`output tensor type ${t.type} is not supported`);
  }
  return { type, data: t.data as TypedArray, dims: [...t.dims] };
}

/** Loads every manifest model of `task` (checking sha256 and the declared input/output names). */
export async function directContext(task: string): Promise<DirectContext> {
  const entries = await loadManifestEntries(task);
  const sessions = new Map<string, { entry: ModelEntry; session: ort.InferenceSession }>();
  for (const entry of entries) {
    const bytes = await verified(entry.file, entry.sha256);
    for (const asset of entry.assets) await verified(asset.file, asset.sha256);
    const session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      logSeverityLevel: 3,
    });
    const names = (specs: { name: string }[]) => specs.map((s) => s.name).join(',');
    if (
      names(entry.inputs) !== session.inputNames.join(',') ||
      names(entry.outputs) !== session.outputNames.join(',')
    ) {
      throw new Error(
        `${entry.name}: manifest tensors do not match the model's (${session.inputNames} -> ${session.outputNames})`,
      );
    }
    sessions.set(entry.role, { entry, session });
  }
  const calls: Record<string, number> = {};
  const get = (role: string) => {
    const s = sessions.get(role);
    if (!s) throw new Error(`task ${task} has no model with role ${role}`);
    return s;
  };
  return {
    calls,
    model: (role = 'main') => get(role).entry,
    async infer(role: string, feeds: TensorMap): Promise<TensorMap> {
      const { entry, session } = get(role);
      const inputs: Record<string, ort.Tensor> = {};
      for (const spec of entry.inputs) {
        const t = feeds[spec.name];
        if (!t) throw new Error(`${entry.name}: missing input ${spec.name}`);
        if (t.type !== spec.type)
          throw new Error(`${entry.name}: input ${spec.name} is ${t.type}, model wants ${spec.type}`);
        if (t.dims.length !== spec.shape.length || spec.shape.some((d, i) => d !== -1 && d !== t.dims[i])) {
          throw new Error(`${entry.name}: input ${spec.name} dims [${t.dims}] do not fit [${spec.shape}]`);
        }
        inputs[spec.name] = toOrt(t);
      }
      calls[role] = (calls[role] ?? 0) + 1;
      const out = await session.run(inputs);
      return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, fromOrt(v)]));
    },
    async release() {
      for (const { session } of sessions.values()) await session.release();
    },
  };
}
