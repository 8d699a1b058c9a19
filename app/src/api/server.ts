/** The Express application: middleware order is request id → metrics → health → auth → rate limit → routes. */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Express, type NextFunction, type Request, type Response, type Router } from 'express';
import helmet from 'helmet';
import type { Redis } from 'ioredis';
import { pinoHttp } from 'pino-http';
import { rateLimit, requireApiKey, type KeyVerifier } from '../auth/index.ts';
import type { FailedAuthThrottle } from '../auth/failed-auth.ts';
import { NotFoundError, UnavailableError } from '../errors.ts';
import type { InferenceEngine } from '../inference/engine.ts';
import type { JobQueue } from '../jobs/queue.ts';
import type { TaskRunner } from '../modalities/runner.ts';
import type { ModelRegistry } from '../models/registry.ts';
import type { Db } from '../store/db.ts';
import type { JobStore } from '../store/jobs.ts';
import type { Logger } from '../telemetry/logger.ts';
import { HEALTH_LIVE_PATH, HEALTH_READY_PATH, METRICS_PATH } from './paths.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { stampOn, traceRequest, tracing, type Stage } from '../telemetry/stages.ts';
import { consoleApi, consoleAssets } from './console.ts';
import { fixedHeaders, recordHeaderEdits } from './fixed-headers.ts';
import { docsRouter } from './docs.ts';
import { DEPENDENCY_RETRY_AFTER_SECONDS, errorHandler } from './errors.ts';
import { openApiDocument } from './openapi.ts';
import { jobsRouter } from './jobs.ts';
import { taskRouter } from './tasks.ts';
import { v2Router } from './v2.ts';

/** Shared lifecycle state: readiness and drain. */
export class ServiceState {
  ready = false;
  draining = false;
  inFlight = 0;
  reason = 'starting';
}

export interface ApiDeps {
  log: Logger;
  metrics: Metrics;
  state: ServiceState;
  bodyLimit: number;
  /** Express's "trust proxy" (which X-Forwarded-For hops give the client address); unset: the socket peer. */
  trustProxy?: boolean | number | string;
  /** Absent for a worker-only process: it serves health and metrics only. */
  serving?: {
    registry: ModelRegistry;
    engine: InferenceEngine;
    runner: TaskRunner;
    store: JobStore;
    queue: JobQueue;
    db: Db;
    redis: Redis;
    verifier: KeyVerifier;
    /** Brute-force throttle on failed authentications per client address. */
    authThrottle?: FailedAuthThrottle;
    rateLimit: { requests: number; windowSeconds: number };
  };
  /** Extra work before a scrape (queue depth). */
  beforeScrape?: () => Promise<void>;
}

/**
 * A router that serves GET (and HEAD) only, passed over by every other request without walking its
 * routes: the task and inference POSTs skip the public docs and console routers. OPTIONS still reaches
 * it (Express answers it with the route's Allow header). The router's `stack` stays visible on the
 * wrapper, as on a router (the OpenAPI test lists the app's routes through it).
 */
export function readsOnly(router: Router) {
  const reads = (req: Request, res: Response, next: NextFunction) =>
    req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS'
      ? router(req, res, next)
      : next();
  return Object.assign(reads, { stack: router.stack });
}

export function createApi(deps: ApiDeps): Express {
  const { log, metrics, state } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('bodyLimit', deps.bodyLimit);
  app.set('query parser', 'simple');
  if (deps.trustProxy !== undefined) app.set('trust proxy', deps.trustProxy);
  // STAGE_TRACE_FILE: stamps along each request (telemetry/stages.ts); none of this exists when off.
  const stageEnd = (stage: Stage) => (_req: Request, res: Response, next: NextFunction) => {
    stampOn(res, stage);
    next();
  };
  if (tracing)
    app.use((_req: Request, res: Response, next: NextFunction) => {
      traceRequest(res, (done) => res.once('finish', done));
      next();
    });

  const requestId = (req: IncomingMessage, res: ServerResponse) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', id);
    return id;
  };
  app.use(
    log.isLevelEnabled('info')
      ? pinoHttp({
          logger: log,
          genReqId: requestId,
          customLogLevel: (_req, res, err) =>
            err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
          autoLogging: {
            ignore: (req) => req.url === '/metrics' || req.url?.startsWith('/v2/health') === true,
          },
          // One short line per request, and never a header: Authorization / x-api-key carry keys.
          serializers: {
            req: (req: { id: unknown; method: string; url: string; remoteAddress?: string }) => ({
              id: req.id,
              method: req.method,
              url: req.url,
              remoteAddress: req.remoteAddress,
            }),
            res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
          },
        })
      : // Request logs are info: above that level, pino-http's per-request child logger is pure cost.
        (req: Request, res: Response, next: NextFunction) => {
          req.id = requestId(req, res);
          next();
        },
  );
  // helmet's headers are constant: worked out once, set per response without helmet's chain (fixed-headers.ts).
  app.use(
    fixedHeaders(
      recordHeaderEdits(helmet({ contentSecurityPolicy: false, crossOriginEmbedderPolicy: false })),
    ),
  );

  app.use((req: Request, res: Response, next: NextFunction) => {
    const start = performance.now();
    state.inFlight++;
    res.once('close', () => {
      state.inFlight--;
      const route = req.route ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      const labels = { method: req.method, route, status: String(res.statusCode) };
      const seconds = (performance.now() - start) / 1000;
      metrics.httpDuration.observe(labels, seconds);
      metrics.httpRequests.inc(labels);
      metrics.httpLatency.observe(seconds);
    });
    next();
  });

  app.get(HEALTH_LIVE_PATH, (_req, res) => {
    res.json({ live: true });
  });
  app.get(HEALTH_READY_PATH, (_req, res) => {
    const ready = state.ready && !state.draining;
    // Models missing here do not make the instance unready (the others serve); readiness names them.
    const missing = deps.serving?.registry.unavailable.map(({ name, version, file }) => ({
      name,
      version,
      file,
    }));
    const unavailableModels = missing?.length ? { unavailableModels: missing } : {};
    res
      .status(ready ? 200 : 503)
      .json(
        ready
          ? { ready, ...unavailableModels }
          : { ready, reason: state.draining ? 'draining' : state.reason, ...unavailableModels },
      );
  });
  app.get(METRICS_PATH, async (_req, res) => {
    await deps.beforeScrape?.().catch((err: Error) => log.warn({ err }, 'metrics collection failed'));
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });

  app.use(readsOnly(docsRouter(() => openApiDocument())));

  // While draining, new work goes elsewhere: the load balancer has seen readiness fail. While Redis or
  // Postgres is down, every request is refused at once (it could not succeed), with Retry-After.
  app.use((_req: Request, res: Response, next: NextFunction) => {
    if (state.draining) {
      res.setHeader('Connection', 'close');
      throw new UnavailableError('server is shutting down; retry on another instance', 1);
    }
    if (!state.ready) {
      throw new UnavailableError(
        `service unavailable (${state.reason || 'not ready'}); retry later`,
        DEPENDENCY_RETRY_AFTER_SECONDS,
      );
    }
    next();
  });

  const s = deps.serving;
  if (s) {
    app.use(readsOnly(consoleAssets())); // public page assets; its data calls below need a key
    if (tracing) app.use(stageEnd('middleware'));
    app.use(requireApiKey(s.verifier, s.authThrottle));
    if (tracing) app.use(stageEnd('auth'));
    app.use(rateLimit(s.redis, s.rateLimit, metrics));
    if (tracing) app.use(stageEnd('rateLimit'));
    // The sync task endpoints first: they take most requests. The one other POST /v1/x/y route,
    // /v1/jobs/batch, is passed on by the task router (it serves no task under jobs.*).
    app.use(taskRouter({ runner: s.runner, bodyLimit: deps.bodyLimit }));
    app.use(
      v2Router({
        registry: s.registry,
        engine: () => (state.ready ? s.engine : undefined),
        bodyLimit: deps.bodyLimit,
      }),
    );
    app.use(
      jobsRouter({
        store: s.store,
        queue: s.queue,
        runner: s.runner,
        bodyLimit: deps.bodyLimit,
        log,
        metrics,
      }),
    );
    app.use(consoleApi({ ...s, service: () => ({ ...state }), engineReady: () => state.ready }));
  }

  app.use((req: Request) => {
    throw new NotFoundError(`no route for ${req.method} ${req.path}`);
  });
  app.use(errorHandler(log));
  return app;
}
