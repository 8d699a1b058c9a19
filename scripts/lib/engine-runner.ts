/**
 * The inference engine with every model of models/manifest.json and a TaskRunner over it, as the app
 * builds them (default engine settings, no result cache, no HTTP): for bench:engine-mix and the engine's
 * fairness tests.
 */
import pino from 'pino';
import type { Precision } from '../../app/src/config.ts';
import { InferenceEngine } from '../../app/src/inference/engine.ts';
import { servedModules } from '../../app/src/modalities/index.ts';
import { TaskRunner } from '../../app/src/modalities/runner.ts';
import { DirectorySource, ModelRegistry } from '../../app/src/models/registry.ts';
import type { Metrics } from '../../app/src/telemetry/metrics.ts';

export async function startEngineRunner(o: {
  threads: number;
  precision: Precision;
  metrics: Metrics;
}): Promise<{ engine: InferenceEngine; runner: TaskRunner }> {
  const registry = await ModelRegistry.load(new DirectorySource('models'), { precision: o.precision });
  const engine = await InferenceEngine.start(registry, {
    threads: o.threads,
    intraOpThreads: 1,
    provider: 'cpu',
    maxBatchSize: 32,
    maxBatchDelayMs: 2,
    log: pino({ level: 'silent' }),
    metrics: o.metrics,
  });
  return { engine, runner: new TaskRunner(servedModules({ echoTask: false }), registry, engine) };
}
