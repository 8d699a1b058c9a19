/**
 * The operator console at `/console`: static page assets (public: they hold no data) and the small JSON
 * API the page reads (`/console/api/*`, behind the same API-key auth and rate limit as every other route).
 * The page asks for a key and sends it as `Authorization: Bearer` on each of its fetches.
 */
import { fileURLToPath } from 'node:url';
import express, { Router, type Request } from 'express';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { JobQueue } from '../jobs/queue.ts';
import { parseWith } from '../modalities/decode.ts';
import type { ModelRegistry } from '../models/registry.ts';
import type { Db } from '../store/db.ts';
import { JOB_STATUSES, type JobStore } from '../store/jobs.ts';
import { jobView } from './jobs.ts';

/** `GET /console/api/status` takes no query parameters. */
export const consoleStatusQuery = z.object({}).strict();
/** `GET /console/api/jobs?limit=&status=`: the key's most recent jobs, each with its transitions. */
export const consoleJobsQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).default(20),
    status: z.enum(JOB_STATUSES).optional(),
  })
  .strict();

export interface DependencyStatus {
  name: string;
  ready: boolean;
  latencyMs: number;
  error?: string;
}

/** Runs one readiness check with a deadline; never throws. */
export async function probe(
  name: string,
  check: () => Promise<unknown>,
  timeoutMs = 2000,
): Promise<DependencyStatus> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([check(), deadline]);
    return { name, ready: true, latencyMs: Math.round(performance.now() - started) };
  } catch (err) {
    return {
      name,
      ready: false,
      latencyMs: Math.round(performance.now() - started),
      error: (err as Error).message,
    };
  } finally {
    clearTimeout(timer);
  }
}

function assetsDir(): string {
  // Sources: app/console; the esbuild bundle ships it as dist/console (scripts/build.mjs copies it).
  const rel = import.meta.url.endsWith('.ts') ? '../../console/' : './console/';
  return fileURLToPath(new URL(rel, import.meta.url));
}

/** The page, its script and style: mounted before authentication. */
export function consoleAssets(): Router {
  const router = Router();
  router.use('/console', express.static(assetsDir())); // /console redirects to /console/
  return router;
}

export interface ConsoleApiDeps {
  registry: ModelRegistry;
  db: Db;
  redis: Redis;
  queue: JobQueue;
  store: JobStore;
  /** Readiness of the service as its probe reports it, and whether the inference engine serves. */
  service: () => { ready: boolean; draining: boolean; reason: string; inFlight: number };
  engineReady: () => boolean;
}

/** The JSON the console reads: mounted after authentication. */
export function consoleApi(deps: ConsoleApiDeps): Router {
  const router = Router();
  router.get('/console/api/status', async (req, res) => {
    parseWith(consoleStatusQuery, req.query, 'query');
    let depth: Awaited<ReturnType<JobQueue['depth']>> | undefined;
    const engine = deps.engineReady();
    const dependencies = await Promise.all([
      probe('postgres', () => deps.db.query('SELECT 1')),
      probe('redis', () => deps.redis.ping()),
      probe('queue', async () => (depth = await deps.queue.depth())),
      probe('inference', async () => {
        if (!engine) throw new Error('inference engine not serving');
      }),
    ]);
    res.json({
      service: deps.service(),
      dependencies,
      models: [
        ...deps.registry.all().map(({ entry }) => ({
          name: entry.name,
          version: entry.version,
          precision: entry.precision,
          task: entry.task,
          role: entry.role,
          bytes: entry.bytes,
          ready: engine,
        })),
        // Chosen models whose file is missing or corrupted here: shown not ready, with the reason.
        ...deps.registry.unavailable.map((u) => ({
          name: u.name,
          version: u.version,
          task: u.task,
          ready: false,
          error: u.reason,
        })),
      ],
      queue: depth ?? null,
    });
  });

  router.get('/console/api/jobs', async (req: Request, res) => {
    const q = parseWith(consoleJobsQuery, req.query, 'query');
    const jobs = await deps.store.list(req.apiKey!.name, { status: q.status, limit: q.limit });
    const events = await deps.store.eventsOf(jobs.map((j) => j.id));
    res.json({ jobs: jobs.map((j) => ({ ...jobView(j), events: events.get(j.id) ?? [] })) });
  });
  return router;
}
