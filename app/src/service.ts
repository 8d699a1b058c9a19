/**
 * The service: wires config → stores → models → engine → API and/or worker for one process, and
 * drains it on shutdown.
 */
import type * as S3SourceTypes from './models/s3-source.ts';
import type { Server, ServerResponse } from 'node:http';
import type { Express } from 'express';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { createApi, ServiceState } from './api/server.ts';
import { KeyVerifier } from './auth/index.ts';
import { FailedAuthThrottle } from './auth/failed-auth.ts';
import { DependencyMonitor, redisProbe } from './health/dependencies.ts';
import { createHttpServer } from './api/timeouts.ts';
import type { AppConfig } from './config.ts';
import { InferenceEngine } from './inference/engine.ts';
import { prehashed } from './inference/spawn.ts';
import { bullConnection, JobQueue, JobWorker } from './jobs/queue.ts';
import { servedModules } from './modalities/index.ts';
import { ResultCache, TaskRunner } from './modalities/runner.ts';
import { DirectorySource, ModelIntegrityError, ModelRegistry, type ModelSource } from './models/registry.ts';
import { createPool, DbCredentials, migrate, type Db } from './store/db.ts';
import { JobStore } from './store/jobs.ts';
import { ApiKeyStore } from './store/keys.ts';
import type { Logger } from './telemetry/logger.ts';
import { Metrics } from './telemetry/metrics.ts';
import { enableStageTrace } from './telemetry/stages.ts';
import {
  STARTUP_TIMELINE_MSG,
  startupSummaryMsg,
  startupTimeline,
  summarizeTimeline,
  timed,
} from './telemetry/startup.ts';

export interface ServiceOptions {
  config: AppConfig & { REDIS_URL: string; DATABASE_URL: string };
  log: Logger;
  /** Model source override (tests); default from MODEL_SOURCE. */
  modelSource?: ModelSource;
  /** When the jobs open without a request first (tests); default JOBS_OPEN_DELAY_MS. */
  jobsOpenDelayMs?: number;
}

export interface Service {
  url: string;
  state: ServiceState;
  db: Db;
  keys: ApiKeyStore;
  jobs: JobStore;
  engine: InferenceEngine;
  registry: ModelRegistry;
  /** The Express application (tests enumerate its routes). */
  app: Express;
  /** Readiness false, stop taking work, finish in-flight requests and jobs (bounded), then close. */
  drain(timeoutMs?: number): Promise<{ clean: boolean }>;
}

/**
 * The model source named by MODEL_SOURCE: an `s3://bucket/prefix` URL (files cached under MODEL_CACHE_DIR,
 * default `<CLAWSTACK_DATA_DIR>/model-cache`, each checked against the manifest's sha256) or a directory.
 */
type S3SourceModule = typeof S3SourceTypes;

export async function modelSourceFor(config: AppConfig, log?: Logger): Promise<ModelSource> {
  if (config.MODEL_SOURCE.startsWith('s3://')) {
    // The AWS SDK is a large share of the bundle; only an s3:// source loads it (dist/s3-source.cjs).
    // The specifier is a variable, not a literal: esbuild bundles every literal it can see in import(),
    // both arms of a conditional included, which had put the whole SDK into dist/server.cjs as well.
    const file = import.meta.url.endsWith('.ts')
      ? './models/s3-source.ts'
      : // a path, not a URL: the server bundle turns import() into require() (scripts/build.mjs)
        fileURLToPath(new URL('./s3-source.cjs', import.meta.url));
    const { S3Source } = (await import(file)) as S3SourceModule;
    return new S3Source(config.MODEL_SOURCE, {
      cacheDir: resolve(config.MODEL_CACHE_DIR ?? join(config.CLAWSTACK_DATA_DIR, 'model-cache')),
      endpoint: config.MODEL_SOURCE_ENDPOINT,
      log: log?.child({ component: 'model-source' }),
    });
  }
  // Files the first inference thread preloads are hashed there once (it sends each sha256 over).
  return new DirectorySource(resolve(config.MODEL_SOURCE), prehashed);
}

export async function startService(opts: ServiceOptions): Promise<Service> {
  const { config, log } = opts;
  const role = config.CLAWSTACK_ROLE;
  const state = new ServiceState();
  const metrics = new Metrics(role);
  const closers: (() => Promise<unknown>)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse())
      await close().catch((err: Error) => log.warn({ err }, 'close failed'));
    closers.length = 0;
  };

  try {
    const credentials = new DbCredentials(config.DATABASE_URL, config.DATABASE_URL_FILE);
    const db = createPool(credentials, Math.max(10, config.WORKER_CONCURRENCY + 4), () =>
      log.warn(
        { file: credentials.file },
        'postgres refused the login: new connections use the credentials re-read from the file',
      ),
    );
    closers.push(() => db.end());
    const source = opts.modelSource ?? (await modelSourceFor(config, log));
    // Start-up path: inference threads spawn (loading onnxruntime-node) while the manifest's files are
    // verified and migrations run; the sessions load as soon as the registry is ready.
    const registryReady = timed('models: manifest, verify files (sha256)', () =>
      ModelRegistry.load(source, { precision: config.MODEL_PRECISION, only: config.MODELS }),
    );
    const engineReady = timed('inference engine: threads ready, sessions created', () =>
      InferenceEngine.start(registryReady, {
        threads: config.INFERENCE_THREADS,
        intraOpThreads: config.ORT_INTRA_OP_THREADS,
        provider: config.EXECUTION_PROVIDER,
        maxBatchSize: config.MAX_BATCH_SIZE,
        maxBatchDelayMs: config.MAX_BATCH_DELAY_MS,
        prepareInThreads: config.PREPARE_IN_THREADS,
        packByLength: config.PACK_BY_LENGTH,
        log,
        metrics,
      }),
    );
    // Redis, the queue and the stores do not wait for the models: the bootstrap key and the queue's
    // recovery run (after the migrations) while the sessions load.
    const stores = openStores(config, db, closers, log);
    const migrations = timed('postgres: connect, migrations check', () => migrate(db, log));
    const storesReady = migrations.then(() => prepareStores(stores, config, log));
    const [migrated, engine, prepared] = await Promise.allSettled([migrations, engineReady, storesReady]);
    if (engine.status === 'fulfilled') closers.push(() => engine.value.close());
    if (migrated.status === 'rejected') throw migrated.reason;
    if (engine.status === 'rejected') throw engine.reason;
    if (prepared.status === 'rejected') throw prepared.reason;
    const registry = await registryReady;
    for (const m of registry.unavailable)
      log.error(
        { model: m.name, version: m.version, file: m.file, publish: registry.publishHint, why: m.reason },
        `model ${m.name} is unavailable (${m.file}); publish the models: ${registry.publishHint}`,
      );
    // A worker would fail every job of that model: it stays down, saying why, until the models are there.
    if (config.CLAWSTACK_ROLE === 'worker' && registry.unavailable.length)
      throw new ModelIntegrityError(registry.unavailable.map((m) => m.reason).join('; '));
    return await serve(opts, {
      db,
      registry,
      engine: engine.value,
      state,
      metrics,
      closers,
      closeAll,
      ...stores,
    });
  } catch (err) {
    // Said before the teardown, so that nothing can lose it: terminating an inference thread still
    // loading onnxruntime-node aborted the whole process (SIGABRT; seen in the fault run when a corrupted
    // model was refused on a starved machine). engine.close() now waits for such a thread (spawn.ts).
    log.error({ err }, 'start-up failed; stopping what was started');
    await closeAll();
    throw err;
  }
}

/** Creates BOOTSTRAP_API_KEY's key unless it exists. */
async function bootstrapKey(keys: ApiKeyStore, key: string | undefined, log: Logger): Promise<void> {
  if (!key || (await keys.exists(key))) return;
  try {
    await keys.create('bootstrap', { key, actor: 'bootstrap' });
    log.info('created the bootstrap API key');
  } catch (err) {
    // Processes starting together (api + worker) race between exists() and create(): the loser finds
    // the key created by the other (unique violation on its hash), which is what it wanted.
    if ((err as { code?: string }).code !== '23505') throw err;
  }
}

interface Stores {
  redis: Redis;
  queue: JobQueue;
  jobs: JobStore;
  keys: ApiKeyStore;
}

/**
 * ioredis reports each failed reconnect as an 'error' event, and prints "[ioredis] Unhandled error event"
 * with a stack to stderr for a client nobody listens to. The dependency monitor already reports the
 * outage (and readiness says 503), so the clients' own errors go to the debug log.
 */
function logRedisErrors(client: Redis, name: string, log: Logger): Redis {
  client.on('error', (err: Error) => log.debug({ err, client: name }, 'redis client error'));
  return client;
}

/** Redis, the queue and the Postgres stores; their connections close with the service. */
function openStores(
  config: ServiceOptions['config'],
  db: Db,
  closers: (() => Promise<unknown>)[],
  log: Logger,
): Stores {
  const redis = logRedisErrors(new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 }), 'app', log);
  closers.push(() => redis.quit());
  const queueConn = logRedisErrors(bullConnection(config.REDIS_URL, false), 'queue', log);
  closers.push(() => queueConn.quit());
  const queue = new JobQueue(queueConn, log);
  closers.push(() => queue.close());
  return { redis, queue, jobs: new JobStore(db), keys: new ApiKeyStore(db) };
}

/** On a migrated database: the bootstrap key (the queue's recovery waits for the jobs, openJobs). */
async function prepareStores(s: Stores, config: ServiceOptions['config'], log: Logger): Promise<void> {
  await timed('postgres: bootstrap API key', () => bootstrapKey(s.keys, config.BOOTSTRAP_API_KEY, log));
}

/**
 * How long after listening a process that serves the API opens its jobs (BullMQ: queue, worker,
 * recovery) when no request came first. Loading BullMQ holds the main thread for ≈ 0.1–0.2 s, so it
 * waits until the first response is out (a readiness probe, or the first request) and does not delay it.
 */
export const JOBS_OPEN_DELAY_MS = 1000;

/**
 * Resolves with true after the server's first response is sent or after `ms`, whichever comes first;
 * with false at once when cancelled before.
 */
export function firstResponseOr(server: Server, ms: number): { done: Promise<boolean>; cancel(): void } {
  let settle!: (go: boolean) => void;
  const done = new Promise<boolean>((res) => (settle = res));
  const onRequest = (_req: unknown, response: ServerResponse) =>
    response.once('finish', () => setImmediate(() => settle(true)));
  const timer = setTimeout(() => settle(true), ms);
  server.on('request', onRequest);
  const cancel = () => settle(false);
  void done.then(() => {
    clearTimeout(timer);
    server.off('request', onRequest);
  });
  return { done, cancel };
}

interface Started extends Stores {
  db: Db;
  registry: ModelRegistry;
  engine: InferenceEngine;
  state: ServiceState;
  metrics: Metrics;
  closers: (() => Promise<unknown>)[];
  closeAll: () => Promise<void>;
}

/** Second half of start-up: stores, queue, worker and HTTP server on top of loaded models. */
async function serve(opts: ServiceOptions, started: Started): Promise<Service> {
  const { config, log } = opts;
  const { db, registry, engine, state, metrics, closers, closeAll, redis, queue, jobs, keys } = started;
  const role = config.CLAWSTACK_ROLE;
  const runsApi = role !== 'worker';
  const runsWorker = role !== 'api';
  log.info(
    {
      models: registry.all().map((m) => `${m.entry.name}@${m.entry.version} (${m.entry.precision})`),
      provider: engine.provider,
      source: registry.source,
    },
    'models loaded',
  );

  const cache = new ResultCache(redis, config.RESULT_CACHE_TTL_SECONDS, metrics);
  const runner = new TaskRunner(servedModules({ echoTask: config.ECHO_TASK }), registry, engine, cache);

  let worker: JobWorker | undefined;
  let recoverAfterOutage: (() => void) | undefined;
  let housekeeping: NodeJS.Timeout | undefined;
  /** The worker, its recovery and housekeeping (a process that runs it); first use of BullMQ. */
  const openJobs = async () => {
    // Making BullMQ's queue loads BullMQ (in the bundle: dist/bullmq.cjs).
    log.debug({ queue: queue.queue.name }, 'job queue made');
    if (!runsWorker || state.draining) return;
    const workerConn = logRedisErrors(bullConnection(config.REDIS_URL, true), 'worker', log);
    closers.push(() => workerConn.quit());
    worker = new JobWorker({
      connection: workerConn,
      concurrency: config.WORKER_CONCURRENCY,
      store: jobs,
      runner,
      log,
      metrics,
    });
    recoverAfterOutage = () =>
      void queue.recover(jobs, log).catch((err: Error) => log.warn({ err }, 'recovery failed'));
    const tidy = async () => {
      await queue.recover(jobs, log);
      if (config.JOB_RETENTION_DAYS > 0) await jobs.purge(config.JOB_RETENTION_DAYS);
    };
    housekeeping = setInterval(
      () => tidy().catch((err: Error) => log.warn({ err }, 'housekeeping failed')),
      60_000,
    );
    housekeeping.unref();
    await timed('queue: recover unfinished jobs', () => queue.recover(jobs, log)).catch((err: Error) =>
      log.warn({ err }, 'recovery failed; housekeeping tries again'),
    );
  };

  if (config.STAGE_TRACE_FILE) enableStageTrace(config.STAGE_TRACE_FILE);
  const app = timed('api: create the Express app', () =>
    createApi({
      log,
      metrics,
      state,
      bodyLimit: config.BODY_LIMIT_BYTES,
      trustProxy: config.TRUST_PROXY,
      serving: runsApi
        ? {
            registry,
            engine,
            runner,
            store: jobs,
            queue,
            db,
            redis,
            verifier: new KeyVerifier(keys, config.AUTH_CACHE_MS),
            authThrottle: new FailedAuthThrottle(
              redis,
              config.AUTH_FAILURES_PER_MINUTE,
              config.AUTH_CACHE_MS,
            ),
            rateLimit: {
              requests: config.RATE_LIMIT_REQUESTS,
              windowSeconds: config.RATE_LIMIT_WINDOW_SECONDS,
            },
          }
        : undefined,
      beforeScrape: () => queue.observeDepth(metrics),
    }),
  );
  const server: Server = createHttpServer(app, config);
  await timed(
    'http: listen',
    () =>
      new Promise<void>((res, rej) => {
        server.once('error', rej);
        server.listen(config.PORT, config.HOST, () => res());
      }),
  );
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${addr.port}`;
  state.ready = true;
  state.reason = '';
  // Readiness and the API's 503s follow Redis and Postgres; when they are back, jobs Redis lost
  // meanwhile (killed without a save) are put back at once instead of at the next housekeeping round.
  const monitor = new DependencyMonitor(
    [
      { name: 'redis', probe: redisProbe(redis) },
      { name: 'postgres', probe: () => db.query('SELECT 1') },
    ],
    {
      intervalMs: 1000,
      timeoutMs: 1000,
      failureThreshold: config.DEPENDENCY_FAILURE_THRESHOLD,
      log,
      onChange: (healthy, reason) => {
        state.ready = healthy;
        state.reason = reason;
        if (healthy) recoverAfterOutage?.();
      },
    },
  );
  monitor.start();
  closers.push(async () => monitor.stop());
  // BullMQ loads now (a job request before this loads it itself): see JOBS_OPEN_DELAY_MS.
  const jobsOpening = firstResponseOr(server, runsApi ? (opts.jobsOpenDelayMs ?? JOBS_OPEN_DELAY_MS) : 0);
  const jobsOpened = jobsOpening.done
    .then(async (go) => {
      if (!go) return;
      const t0 = performance.now();
      await openJobs();
      log.info({ ms: Math.round(performance.now() - t0) }, 'job queue open');
    })
    .catch((err: Error) => log.error({ err }, 'could not open the job queue'));
  // Times in ms since the process started (processStartEpochMs: performance.timeOrigin): a short
  // summary at info, every phase at debug.
  const phases = startupTimeline();
  const summary = summarizeTimeline(phases);
  log.info(summary, startupSummaryMsg(summary.readyMs));
  log.debug({ processStartEpochMs: performance.timeOrigin, phases }, STARTUP_TIMELINE_MSG);

  let draining: Promise<{ clean: boolean }> | undefined;
  const drain = (timeoutMs = config.DRAIN_TIMEOUT_MS) =>
    (draining ??= (async () => {
      const deadline = Date.now() + timeoutMs;
      state.draining = true;
      log.info({ timeoutMs }, 'draining: readiness is false, no new work is taken');
      jobsOpening.cancel();
      await jobsOpened; // an opening under way finishes first, so that its worker is drained too
      if (housekeeping) clearInterval(housekeeping);
      const closed = new Promise<void>((res) => server.close(() => res()));
      server.closeIdleConnections();
      const [workerClean] = await Promise.all([
        worker ? worker.drain(Math.max(0, deadline - Date.now())) : Promise.resolve(true),
        (async () => {
          while (state.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        })(),
      ]);
      const httpClean = state.inFlight === 0;
      server.closeAllConnections();
      await closed;
      await closeAll();
      log.info({ clean: workerClean && httpClean }, 'drained');
      return { clean: workerClean && httpClean };
    })());

  return { url, state, db, keys, jobs, engine, registry, app, drain };
}
