/** Async jobs: submit, read, list, cancel. Records live in Postgres; the queue holds pointers to them. */
import { randomUUID } from 'node:crypto';
import { Router, type Request } from 'express';
import { jsonBody } from './json.ts';
import { z } from 'zod';
import { AppError, BadRequestError, ConflictError, NotFoundError, UnavailableError } from '../errors.ts';
import { isDependencyError } from '../health/dependencies.ts';
import { entryFor } from '../jobs/entry.ts';
import type { JobQueue } from '../jobs/queue.ts';
import { parseWith } from '../modalities/decode.ts';
import type { TaskRunner } from '../modalities/runner.ts';
import {
  JOB_STATUSES,
  PRIORITIES,
  type JobRecord,
  type JobStore,
  type NewJob,
  type Submitted,
} from '../store/jobs.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';

export const submitSchema = z
  .object({
    task: z.string().min(1).describe('a served task: text.classify, speech.detect, image.ocr'),
    input: z
      .unknown()
      .refine((v) => v !== undefined, 'required')
      .describe("the task's input; binary inputs base64-encoded"),
    priority: z.enum(PRIORITIES).default('normal'),
    idempotencyKey: z
      .string()
      .min(1)
      .max(255)
      .optional()
      .describe(
        "unique per API key owner: resubmitting with the same key (e.g. retrying after a timeout) returns the first submission's job instead of making another; the same key with a different task, input or priority is a 409",
      ),
  })
  .strict();

/** Most jobs in one batch request (one multi-row insert, one addBulk). */
export const MAX_BATCH_JOBS = 500;

/** The batch envelope; each item is checked on its own (per-item errors), so items are opaque here. */
export const batchSchema = z
  .object({
    jobs: z
      .array(z.unknown())
      .min(1, 'at least one job')
      .max(MAX_BATCH_JOBS, `at most ${MAX_BATCH_JOBS} jobs per request`)
      .describe(`1 to ${MAX_BATCH_JOBS} job submissions, each as POST /v1/jobs takes it`),
  })
  .strict();

export const listSchema = z.object({
  status: z.enum(JOB_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.iso.datetime({ offset: true }).optional().describe('only jobs created before this time'),
  ids: z
    .string()
    .optional()
    .describe(
      `only these jobs: comma-separated ids (at most ${MAX_BATCH_JOBS}), e.g. a batch's; all of them the caller owns are returned (limit does not apply)`,
    ),
});

const idsSchema = z.array(z.uuid()).max(MAX_BATCH_JOBS, `at most ${MAX_BATCH_JOBS} ids`);

/** What the job routes return (documentation of jobView below; results per task). */
export const jobViewSchema = z
  .object({
    id: z.uuid(),
    task: z.string(),
    priority: z.enum(PRIORITIES),
    status: z.enum(JOB_STATUSES),
    attempts: z.number().int(),
    createdAt: z.iso.datetime({ offset: true }),
    startedAt: z.iso.datetime({ offset: true }).nullable(),
    finishedAt: z.iso.datetime({ offset: true }).nullable(),
    result: z.unknown().optional().describe("the task's result, once succeeded"),
    error: z.string().optional(),
    idempotencyKey: z.string().optional(),
  })
  .meta({ id: 'Job' });

/** One item of a batch's answer: the job (202 new, 200 an earlier one with its idempotency key) or its error. */
export const batchItemSchema = z.union([
  z.object({
    status: z.union([z.literal(202), z.literal(200)]),
    job: jobViewSchema.extend({ statusUrl: z.string() }),
  }),
  z.object({ status: z.number().int().min(400).max(599), error: z.string() }),
]);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function jobView(job: JobRecord) {
  return {
    id: job.id,
    task: job.task,
    priority: job.priority,
    status: job.status,
    attempts: job.attempts,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    ...(job.status === 'succeeded' ? { result: job.result } : {}),
    ...(job.error ? { error: job.error } : {}),
    ...(job.idempotencyKey ? { idempotencyKey: job.idempotencyKey } : {}),
  };
}

/** Counts of a submission's outcomes, for the metrics counter. */
export function outcomeCounts(results: PromiseSettledResult<Submitted>[]) {
  const counts = { created: 0, duplicate: 0, rejected: 0 };
  for (const r of results)
    counts[r.status === 'rejected' ? 'rejected' : r.value.duplicate ? 'duplicate' : 'created']++;
  return counts;
}

/** A batch item's answer from its outcome: an app error keeps its status, anything else is a 500. */
export function batchItem(r: PromiseSettledResult<Submitted>) {
  if (r.status === 'fulfilled') {
    const job = jobView(r.value.record);
    return { status: r.value.duplicate ? 200 : 202, job: { ...job, statusUrl: `/v1/jobs/${job.id}` } };
  }
  const err = r.reason as Error;
  if (err instanceof AppError) return { status: err.status, error: err.message };
  if (isDependencyError(err))
    return {
      status: 503,
      error: 'a dependency is unavailable; retry this job later (with its idempotencyKey)',
    };
  return { status: 500, error: 'internal server error' };
}

export function jobsRouter(opts: {
  store: JobStore;
  queue: JobQueue;
  runner: TaskRunner;
  bodyLimit: number;
  log: Logger;
  metrics?: Metrics;
}) {
  const router = Router();
  const { store, queue, runner } = opts;
  const owner = (req: Request) => req.apiKey!.name;
  const jobId = (req: Request) => {
    const id = String(req.params.id);
    if (!UUID.test(id)) throw new NotFoundError(`no job "${id}"`);
    return id;
  };

  /** A submission checked as the worker will see it: bad input is rejected now, not in the worker. */
  const checked = async (item: unknown, req: Request): Promise<NewJob> => {
    const body = parseWith(submitSchema, item);
    let served;
    try {
      served = runner.get(body.task);
    } catch (err) {
      if (err instanceof UnavailableError) throw err; // its models are missing here: 503, not the client's fault
      throw new BadRequestError(`task: ${(err as Error).message}`);
    }
    await served.module.decodeJobInput(body.input);
    return {
      id: randomUUID(),
      task: body.task,
      priority: body.priority,
      input: body.input,
      owner: owner(req),
      apiKeyId: req.apiKey!.id,
      idempotencyKey: body.idempotencyKey ?? null,
    };
  };

  /**
   * Records the jobs (Postgres, committed) and only then enqueues the new ones, in one addBulk: a job
   * the queue did not take is durable and put back by the worker's recovery once Redis is back.
   */
  const submit = async (jobs: NewJob[], via: 'single' | 'batch') => {
    const results = await store.submit(jobs);
    const created = results.flatMap((r) =>
      r.status === 'fulfilled' && !r.value.duplicate ? [r.value.record] : [],
    );
    if (created.length) {
      try {
        await queue.addMany(created.map(entryFor));
      } catch (err) {
        opts.log.error({ err, jobs: created.length }, 'could not enqueue jobs; they will be recovered');
      }
    }
    for (const [outcome, n] of Object.entries(outcomeCounts(results)))
      if (n) opts.metrics?.jobsSubmitted.inc({ via, outcome }, n);
    return results;
  };

  router.post('/v1/jobs', jsonBody(opts.bodyLimit), async (req, res) => {
    const job = await checked(req.body, req);
    const [result] = await submit([job], 'single');
    if (result!.status === 'rejected') throw result!.reason;
    const { record, duplicate } = result!.value;
    res
      .status(duplicate ? 200 : 202)
      .location(`/v1/jobs/${record.id}`)
      .json({ ...jobView(record), statusUrl: `/v1/jobs/${record.id}` });
  });

  router.post('/v1/jobs/batch', jsonBody(opts.bodyLimit), async (req, res) => {
    const { jobs: items } = parseWith(batchSchema, req.body);
    await req.chargeRateLimit?.(items.length - 1); // the request itself paid for one
    const checks = await Promise.allSettled(items.map((item) => checked(item, req)));
    const valid = checks.flatMap((c) => (c.status === 'fulfilled' ? [c.value] : []));
    const recorded = await submit(valid, 'batch');
    // Postgres gone for every row: the whole request is a 503 with Retry-After, as a single submit's.
    const down = recorded.find((r) => r.status === 'rejected' && isDependencyError(r.reason));
    if (down && recorded.every((r) => r.status === 'rejected')) throw (down as PromiseRejectedResult).reason;
    const next = recorded.values();
    const results = checks.map((c) => (c.status === 'fulfilled' ? next.next().value! : c));
    for (const r of results)
      if (r.status === 'rejected' && !(r.reason instanceof AppError))
        opts.log.error({ err: r.reason, reqId: req.id }, 'batch job not recorded');
    const rejected = checks.length - valid.length;
    if (rejected) opts.metrics?.jobsSubmitted.inc({ via: 'batch', outcome: 'rejected' }, rejected);
    res.json({ jobs: results.map(batchItem) });
  });

  router.get('/v1/jobs', async (req, res) => {
    const q = parseWith(listSchema, req.query, 'query');
    const ids = q.ids === undefined ? undefined : parseWith(idsSchema, q.ids.split(','), 'ids');
    const jobs = await store.list(owner(req), {
      status: q.status,
      limit: ids ? ids.length : q.limit,
      before: q.before ? new Date(q.before) : undefined,
      ids,
    });
    res.json({ jobs: jobs.map(jobView) });
  });

  router.get('/v1/jobs/:id', async (req, res) => {
    const job = await store.get(jobId(req), owner(req));
    if (!job) throw new NotFoundError(`no job "${req.params.id}"`);
    res.json({ ...jobView(job), events: await store.events(job.id) });
  });

  router.delete('/v1/jobs/:id', async (req, res) => {
    const id = jobId(req);
    const cancelled = await store.cancel(id, owner(req));
    if (!cancelled) {
      const job = await store.get(id, owner(req));
      if (!job) throw new NotFoundError(`no job "${id}"`);
      throw new ConflictError(`job ${id} is ${job.status}; only queued jobs can be cancelled`);
    }
    await queue
      .remove(id)
      .catch((err: Error) =>
        opts.log.warn({ err, job: id }, 'could not remove cancelled job from the queue'),
      );
    res.json(jobView(cancelled));
  });

  return router;
}
