/** Async jobs: submit, read, list, cancel. Records live in Postgres; the queue holds pointers to them. */
import { randomUUID } from 'node:crypto';
import { Router, type Request } from 'express';
import { jsonBody } from './json.ts';
import { z } from 'zod';
import { BadRequestError, ConflictError, NotFoundError, UnavailableError } from '../errors.ts';
import type { JobQueue } from '../jobs/queue.ts';
import { parseWith } from '../modalities/decode.ts';
import type { TaskRunner } from '../modalities/runner.ts';
import { JOB_STATUSES, PRIORITIES, type JobRecord, type JobStore } from '../store/jobs.ts';
import type { Logger } from '../telemetry/logger.ts';

export const submitSchema = z
  .object({
    task: z.string().min(1).describe('a served task: text.classify, speech.detect, image.ocr'),
    input: z
      .unknown()
      .refine((v) => v !== undefined, 'required')
      .describe("the task's input; binary inputs base64-encoded"),
    priority: z.enum(PRIORITIES).default('normal'),
  })
  .strict();

export const listSchema = z.object({
  status: z.enum(JOB_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.iso.datetime({ offset: true }).optional().describe('only jobs created before this time'),
});

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
  })
  .meta({ id: 'Job' });

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
  };
}

export function jobsRouter(opts: {
  store: JobStore;
  queue: JobQueue;
  runner: TaskRunner;
  bodyLimit: number;
  log: Logger;
}) {
  const router = Router();
  const { store, queue, runner } = opts;
  const owner = (req: Request) => req.apiKey!.name;
  const jobId = (req: Request) => {
    const id = String(req.params.id);
    if (!UUID.test(id)) throw new NotFoundError(`no job "${id}"`);
    return id;
  };

  router.post('/v1/jobs', jsonBody(opts.bodyLimit), async (req, res) => {
    const body = parseWith(submitSchema, req.body);
    let served;
    try {
      served = runner.get(body.task);
    } catch (err) {
      if (err instanceof UnavailableError) throw err; // its models are missing here: 503, not the client's fault
      throw new BadRequestError(`task: ${(err as Error).message}`);
    }
    await served.module.decodeJobInput(body.input); // reject bad input now, not in the worker
    const id = randomUUID();
    const job = await store.create({
      id,
      task: body.task,
      priority: body.priority,
      input: body.input,
      owner: owner(req),
      apiKeyId: req.apiKey!.id,
    });
    try {
      await queue.add({ id, task: body.task, priority: body.priority });
    } catch (err) {
      // The record is durable; the worker's recovery re-enqueues it once Redis is back.
      opts.log.error({ err, job: id }, 'could not enqueue job; it will be recovered');
    }
    res
      .status(202)
      .location(`/v1/jobs/${id}`)
      .json({ ...jobView(job), statusUrl: `/v1/jobs/${id}` });
  });

  router.get('/v1/jobs', async (req, res) => {
    const q = parseWith(listSchema, req.query, 'query');
    const jobs = await store.list(owner(req), {
      status: q.status,
      limit: q.limit,
      before: q.before ? new Date(q.before) : undefined,
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
