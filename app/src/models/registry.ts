/**
 * ModelRegistry: which models this process serves, read from manifest.json at a model source, each
 * file checked against its sha256 before it is used.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Precision } from '../config.ts';
import { manifestSchema, type Manifest, type ModelEntry } from './manifest.ts';

export class ModelIntegrityError extends Error {}

export interface LoadedModel {
  entry: ModelEntry;
  /** Local path of the verified ONNX file. */
  path: string;
  /** Local paths of the entry's verified assets, keyed by their manifest `file`. */
  assets: Record<string, string>;
}

/** Where model files come from: a local directory, or a cache filled from object storage. */
export interface ModelSource {
  readonly description: string;
  /** Returns the manifest text. */
  manifest(): Promise<string>;
  /** Returns a local path holding `file` with the given sha256, fetching it if needed. */
  localFile(file: string, sha256: string): Promise<string>;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A model directory on local disk (the default: `models/`). */
export class DirectorySource implements ModelSource {
  constructor(readonly dir: string) {}
  get description() {
    return this.dir;
  }
  manifest() {
    return readFile(join(this.dir, 'manifest.json'), 'utf8');
  }
  async localFile(file: string, sha256: string) {
    const path = join(this.dir, file);
    let actual: string;
    try {
      actual = await sha256File(path);
    } catch (err) {
      throw new ModelIntegrityError(`model file ${path} cannot be read: ${(err as Error).message}`);
    }
    if (actual !== sha256) {
      throw new ModelIntegrityError(`model file ${path} has sha256 ${actual}, manifest says ${sha256}: refusing it`);
    }
    return path;
  }
}

export function parseManifest(text: string, where: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ModelIntegrityError(`${where}/manifest.json is not JSON: ${(err as Error).message}`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelIntegrityError(`${where}/manifest.json: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  return parsed.data;
}

export interface RegistryOptions {
  /** Preferred precision; a model that has only the other precision is served in that one. */
  precision: Precision;
  /** Only these model names (empty: all). */
  only?: string[];
}

export class ModelRegistry {
  private constructor(
    private readonly byName: Map<string, LoadedModel>,
    readonly source: string,
    /** Manifest models this process does not serve (left out by MODELS), for the repository index. */
    readonly unserved: { name: string; version: string }[] = [],
  ) {}

  static async load(source: ModelSource, options: RegistryOptions): Promise<ModelRegistry> {
    const manifest = parseManifest(await source.manifest(), source.description);
    const chosen = new Map<string, ModelEntry>();
    for (const entry of manifest.models) {
      if (options.only?.length && !options.only.includes(entry.name)) continue;
      const current = chosen.get(entry.name);
      if (!current || (current.precision !== options.precision && entry.precision === options.precision)) {
        chosen.set(entry.name, entry);
      }
    }
    for (const name of options.only ?? []) {
      if (!chosen.has(name)) throw new ModelIntegrityError(`MODELS names "${name}", which the manifest does not have`);
    }
    const loaded = await Promise.all(
      [...chosen.values()].map(async (entry): Promise<LoadedModel> => {
        const path = await source.localFile(entry.file, entry.sha256);
        const assets: Record<string, string> = {};
        for (const asset of entry.assets) assets[asset.file] = await source.localFile(asset.file, asset.sha256);
        return { entry, path, assets };
      }),
    );
    const unserved = new Map(
      manifest.models.filter((e) => !chosen.has(e.name)).map((e) => [e.name, { name: e.name, version: e.version }]),
    );
    return new ModelRegistry(new Map(loaded.map((m) => [m.entry.name, m])), source.description, [
      ...unserved.values(),
    ]);
  }

  all(): LoadedModel[] {
    return [...this.byName.values()];
  }

  /** A model by name, and optionally version (undefined when absent). */
  get(name: string, version?: string): LoadedModel | undefined {
    const model = this.byName.get(name);
    if (!model || (version !== undefined && model.entry.version !== version)) return undefined;
    return model;
  }

  /** The models of a task keyed by role. */
  forTask(task: string): Map<string, LoadedModel> {
    return new Map(this.all().filter((m) => m.entry.task === task).map((m) => [m.entry.role, m]));
  }
}
