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

/** A manifest model this process cannot serve: its file is missing or fails its checksum. */
export interface UnavailableModel {
  name: string;
  version: string;
  task: string;
  /** Where the file should be: a path, or an s3:// URL (bucket and key). */
  file: string;
  reason: string;
}

/** Where model files come from: a local directory, or a cache filled from object storage. */
export interface ModelSource {
  readonly description: string;
  /** The one command (or step) that puts the models where this source reads them. */
  readonly publishHint: string;
  /** Where a manifest-relative file lives in this source (path or s3:// URL), for messages. */
  where(file: string): string;
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

/**
 * A model directory on local disk (the default: `models/`). `knownSha256` may give a file's sha256
 * computed elsewhere from its current bytes (the first inference thread hashes the files it preloads:
 * inference/spawn.ts `prehashed`); undefined (or a promise of it) means the file is hashed here.
 */
export class DirectorySource implements ModelSource {
  constructor(
    readonly dir: string,
    private readonly knownSha256: (path: string) => Promise<string | undefined> | undefined = () => undefined,
  ) {}
  get description() {
    return this.dir;
  }
  get publishHint() {
    return `copy the repository's models/ (manifest.json and the files it lists) to ${this.dir}`;
  }
  where(file: string) {
    return join(this.dir, file);
  }
  async manifest() {
    try {
      return await readFile(join(this.dir, 'manifest.json'), 'utf8');
    } catch (err) {
      throw new ModelIntegrityError(
        `no model manifest at ${join(this.dir, 'manifest.json')} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); ${this.publishHint}`,
      );
    }
  }
  async localFile(file: string, sha256: string) {
    const path = join(this.dir, file);
    let actual: string;
    try {
      actual = (await this.knownSha256(path)) ?? (await sha256File(path));
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
    /** Chosen models whose file is missing or corrupted: named in readiness and in 503 answers. */
    readonly unavailable: UnavailableModel[] = [],
    /** How to publish the models to this source. */
    readonly publishHint = '',
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
    const unavailable: UnavailableModel[] = [];
    const results = await Promise.all(
      [...chosen.values()].map(async (entry): Promise<LoadedModel | undefined> => {
        let file = entry.file;
        try {
          const path = await source.localFile(entry.file, entry.sha256);
          const assets: Record<string, string> = {};
          for (const asset of entry.assets) {
            file = asset.file;
            assets[asset.file] = await source.localFile(asset.file, asset.sha256);
          }
          return { entry, path, assets };
        } catch (err) {
          // One model's missing or corrupted file must not take the others down with it.
          if (!(err instanceof ModelIntegrityError)) throw err;
          const { name, version, task } = entry;
          unavailable.push({ name, version, task, file: source.where(file), reason: err.message });
          return undefined;
        }
      }),
    );
    const loaded = results.filter((m): m is LoadedModel => m !== undefined);
    if (loaded.length === 0 && unavailable.length > 0)
      throw new ModelIntegrityError(
        `no model can be served: ${unavailable.map((u) => u.reason).join('; ')}; ${source.publishHint}`,
      );
    const unserved = new Map(
      manifest.models.filter((e) => !chosen.has(e.name)).map((e) => [e.name, { name: e.name, version: e.version }]),
    );
    return new ModelRegistry(
      new Map(loaded.map((m) => [m.entry.name, m])),
      source.description,
      [...unserved.values()],
      unavailable,
      source.publishHint,
    );
  }

  /** Why `name` cannot be served (its file is missing or corrupted), or undefined. */
  unavailableModel(name: string): UnavailableModel | undefined {
    return this.unavailable.find((u) => u.name === name);
  }

  /** The message of a 503 for a model (or a task's models) that cannot be served. */
  unavailableMessage(models: UnavailableModel[]): string {
    const what = models.map((m) => `model "${m.name}" is unavailable (${m.file}: missing or failed its checksum)`);
    return `${what.join('; ')}; the operator must publish the models (${this.publishHint}) and restart`;
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
