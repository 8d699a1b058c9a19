/**
 * TaskRunner: runs a task's module against the loaded models through the engine, with the result
 * cache in front. The sync endpoints and the job worker both call it.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { NotFoundError, UnavailableError } from '../errors.ts';
import type { InferenceEngine } from '../inference/engine.ts';
import type { ModelEntry } from '../models/manifest.ts';
import type { ModelRegistry } from '../models/registry.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { InferenceContext, TaskModule } from './types.ts';

export interface ServedTask {
  module: TaskModule;
  models: Map<string, ModelEntry>;
  context: InferenceContext;
  /** Part of the cache key: the task's model names, versions and precisions. */
  modelTag: string;
}

export class ResultCache {
  constructor(
    private readonly redis: Redis,
    private readonly ttlSeconds: number,
    private readonly metrics?: Metrics,
  ) {}

  static key(task: ServedTask, fingerprint: Buffer | string): string {
    const digest = createHash('sha256').update(fingerprint).digest('base64url');
    return `clawstack:cache:${task.module.task}:${task.modelTag}:${digest}`;
  }

  get enabled() {
    return this.ttlSeconds > 0;
  }

  async get(task: ServedTask, key: string): Promise<unknown> {
    const hit = await this.redis.get(key);
    (hit === null ? this.metrics?.cacheMisses : this.metrics?.cacheHits)?.inc({ task: task.module.task });
    return hit === null ? undefined : JSON.parse(hit);
  }

  async set(key: string, value: unknown) {
    await this.redis.set(key, JSON.stringify(value), 'EX', this.ttlSeconds);
  }
}

export class TaskRunner {
  private readonly tasks = new Map<string, ServedTask>();
  /** Tasks whose models are in the manifest but missing or corrupted here: task → 503 message. */
  private readonly unavailable = new Map<string, string>();

  constructor(
    modules: TaskModule[],
    registry: ModelRegistry,
    engine: InferenceEngine,
    private readonly cache?: ResultCache,
  ) {
    for (const module of modules) {
      const missing = registry.unavailable.filter((m) => m.task === module.task);
      // A task with any model missing (OCR needs det and rec) answers 503 naming it, not a 500 later.
      if (missing.length) {
        this.unavailable.set(module.task, registry.unavailableMessage(missing));
        continue;
      }
      const loaded = registry.forTask(module.task);
      if (loaded.size === 0 && module.needsModels !== false) continue;
      const models = new Map([...loaded].map(([role, m]) => [role, m.entry]));
      const assets: Record<string, string> = Object.assign({}, ...[...loaded.values()].map((m) => m.assets));
      const context: InferenceContext = {
        asset(file) {
          const path = assets[file];
          if (!path) throw new Error(`task ${module.task} has no asset ${file}`);
          return path;
        },
        model(role = 'main') {
          const entry = models.get(role);
          if (!entry) throw new Error(`task ${module.task} has no model with role ${role}`);
          return entry;
        },
        infer: (role, feeds) => engine.infer(context.model(role).name, feeds),
        inferInput: (role, input) => engine.inferInput(context.model(role).name, input),
        inferSequence: (role, input) => engine.inferSequence(context.model(role).name, input),
      };
      const modelTag = [...models.values()]
        .map((m) => `${m.name}@${m.version}.${m.precision}`)
        .sort()
        .join('+');
      this.tasks.set(module.task, { module, models, context, modelTag });
    }
  }

  /** Tasks served by this process. */
  list(): ServedTask[] {
    return [...this.tasks.values()];
  }

  get(task: string): ServedTask {
    const served = this.tasks.get(task);
    const unavailable = this.unavailable.get(task);
    if (unavailable) throw new UnavailableError(`task ${task}: ${unavailable}`);
    if (!served) {
      throw new NotFoundError(
        `unknown task "${task}"; served: ${[...this.tasks.keys()].join(', ') || 'none'}`,
      );
    }
    return served;
  }

  /** Runs a decoded input, answering from the cache when the same input met the same models before. */
  async run(served: ServedTask, input: unknown): Promise<{ result: unknown; cached: boolean }> {
    if (!this.cache?.enabled || served.module.cacheable === false)
      return { result: await served.module.run(input, served.context), cached: false };
    const key = ResultCache.key(served, served.module.fingerprint(input));
    const hit = await this.cache.get(served, key);
    if (hit !== undefined) return { result: hit, cached: true };
    const result = await served.module.run(input, served.context);
    await this.cache.set(key, result);
    return { result, cached: false };
  }
}
