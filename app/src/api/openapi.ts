/**
 * The OpenAPI 3.1 document, generated (zod-openapi) from the zod schemas the routes validate with:
 * request bodies and queries are the very schema objects the handlers parse, so the document cannot
 * drift from the validation. Served at /openapi.json; /docs renders it (Swagger UI).
 */
import { z } from 'zod';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject } from 'zod-openapi';
import { TASK_MODULES, type TaskModule } from '../modalities/index.ts';
import { JOB_STATUSES } from '../store/jobs.ts';
import { consoleJobsQuery, consoleStatusQuery } from './console.ts';
import {
  batchItemSchema,
  batchSchema,
  jobViewSchema,
  listSchema,
  MAX_BATCH_JOBS,
  submitSchema,
} from './jobs.ts';
import { DOCS_ASSETS } from './docs.ts';
import { errors, errorSchema, json } from './openapi-parts.ts';
import { v2Paths } from './openapi-v2.ts';
import { SERVER_VERSION } from './v2.ts';

/** An operation that needs no API key. */
const open = (op: ZodOpenApiOperationObject): ZodOpenApiOperationObject => ({ ...op, security: [] });

function publicPaths(): ZodOpenApiPathsObject {
  // Models whose file is missing or corrupted here: the instance still serves the others.
  const unavailableModels = z
    .array(z.object({ name: z.string(), version: z.string(), file: z.string() }))
    .optional()
    .describe('models this instance cannot serve (file missing or failed its checksum); absent when none');
  return {
    '/v2/health/live': {
      get: open({
        tags: ['health'],
        summary: 'Liveness: the process runs',
        responses: { '200': json(z.object({ live: z.literal(true) }), 'alive') },
      }),
    },
    '/v2/health/ready': {
      get: open({
        tags: ['health'],
        summary: 'Readiness: models loaded, stores connected, not draining',
        responses: {
          '200': json(z.object({ ready: z.literal(true), unavailableModels }), 'ready'),
          '503': json(
            z
              .object({ ready: z.literal(false), reason: z.string(), unavailableModels })
              .meta({ examples: [{ ready: false, reason: 'draining' }] }),
            'not ready, with the reason',
          ),
        },
      }),
    },
    '/metrics': {
      get: open({
        tags: ['health'],
        summary: 'Prometheus metrics (text exposition format)',
        responses: { '200': { description: 'metrics', content: { 'text/plain': { schema: z.string() } } } },
      }),
    },
    '/openapi.json': {
      get: open({
        tags: ['docs'],
        summary: 'This document',
        responses: { '200': json(z.object({ openapi: z.string() }).loose(), 'OpenAPI 3.1 document') },
      }),
    },
    '/docs': {
      get: open({
        tags: ['docs'],
        summary: 'Interactive API documentation (Swagger UI)',
        responses: { '200': { description: 'HTML page', content: { 'text/html': { schema: z.string() } } } },
      }),
    },
    '/docs/{file}': {
      get: open({
        tags: ['docs'],
        summary: "The docs page's script, styles and icon (from swagger-ui-dist)",
        requestParams: {
          path: z.object({ file: z.enum(Object.keys(DOCS_ASSETS) as [string, ...string[]]) }),
        },
        responses: {
          '200': {
            description: 'the file',
            content: { '*/*': { schema: z.string().meta({ format: 'binary' }) } },
          },
          '404': json(errorSchema, 'not one of the docs files'),
        },
      }),
    },
  };
}

/** The operator console's JSON API (its page files under /console/ are static and public). */
function consolePaths(): ZodOpenApiPathsObject {
  const dependency = z.object({
    name: z.string(),
    ready: z.boolean(),
    latencyMs: z.number(),
    error: z.string().optional(),
  });
  const event = z.object({
    status: z.enum(JOB_STATUSES),
    at: z.iso.datetime({ offset: true }),
    detail: z.string().nullable(),
  });
  return {
    '/console/api/status': {
      get: {
        tags: ['console'],
        summary: 'Readiness of each dependency and model, and queue depth per priority',
        requestParams: { query: consoleStatusQuery },
        responses: {
          '200': json(
            z
              .object({
                service: z.object({}).loose(),
                dependencies: z.array(dependency),
                models: z.array(
                  z.object({ name: z.string(), ready: z.boolean(), error: z.string().optional() }).loose(),
                ),
                queue: z
                  .record(z.string(), z.number())
                  .nullable()
                  .describe('null when the queue did not answer'),
              })
              .loose(),
            'status',
          ),
          ...errors(400),
        },
      },
    },
    '/console/api/jobs': {
      get: {
        tags: ['console'],
        summary: "The caller's most recent jobs, each with its status transitions",
        requestParams: { query: consoleJobsQuery },
        responses: {
          '200': json(z.object({ jobs: z.array(jobViewSchema.extend({ events: z.array(event) })) }), 'jobs'),
          ...errors(400),
        },
      },
    },
  };
}

const taskPath = (t: TaskModule) => t.task.split('.') as [string, string];

function taskPaths(tasks: TaskModule[]): ZodOpenApiPathsObject {
  const content: Record<string, { schema: z.ZodType }> = {};
  // Several tasks take JSON (text.classify, debug.echo): the JSON body is any of their request schemas.
  const jsonBodies = tasks.filter((t) => t.contentTypes.includes('application/json'));
  for (const t of tasks) {
    for (const type of t.contentTypes) {
      content[type] = {
        schema:
          type !== 'application/json'
            ? z.string().meta({ format: 'binary' })
            : jsonBodies.length > 1
              ? z.union(jsonBodies.map((j) => j.schemas.request!))
              : t.schemas.request!,
      };
    }
  }
  const lines = tasks.map((t) => `- \`POST /v1/${taskPath(t).join('/')}\`: ${t.contentTypes.join(', ')}`);
  return {
    '/v1/{modality}/{verb}': {
      post: {
        tags: ['tasks'],
        summary: 'Run a task synchronously',
        description: `One route per served task; the body is the task's raw input:\n${lines.join('\n')}`,
        requestParams: {
          path: z.object({
            modality: z.enum(tasks.map((t) => taskPath(t)[0]) as [string, ...string[]]),
            verb: z.enum(tasks.map((t) => taskPath(t)[1]) as [string, ...string[]]),
          }),
        },
        requestBody: { required: true, content },
        responses: {
          '200': {
            description: "the task's result (`x-cache: hit` when it came from the result cache)",
            content: { 'application/json': { schema: z.union(tasks.map((t) => t.schemas.result)) } },
          },
          ...errors(400, 404, 413, 415),
        },
      },
    },
  };
}

function jobPaths(tasks: TaskModule[]): ZodOpenApiPathsObject {
  // The submission schema itself, its `input` narrowed to the tasks' own job-input schemas.
  const submission = submitSchema.extend({ input: z.union(tasks.map((t) => t.schemas.jobInput)) }).meta({
    id: 'JobSubmission',
    examples: [{ task: 'text.classify', input: { text: 'lunch at noon?' }, priority: 'high' }],
  });
  const id = { path: z.object({ id: z.uuid() }) };
  const submitted = jobViewSchema.extend({ statusUrl: z.string() });
  // The envelope itself, its items narrowed to the submission schema (each item is parsed as one).
  const batch = batchSchema.extend({ jobs: z.array(submission).min(1).max(MAX_BATCH_JOBS) }).meta({
    examples: [
      {
        jobs: [
          { task: 'text.classify', input: { text: 'lunch at noon?' }, idempotencyKey: 'mail-1' },
          { task: 'text.classify', input: { text: 'WIN A PRIZE' }, idempotencyKey: 'mail-2' },
        ],
      },
    ],
  });
  return {
    '/v1/jobs': {
      post: {
        tags: ['jobs'],
        summary: 'Submit a job (async; BullMQ priority)',
        requestBody: { required: true, content: { 'application/json': { schema: submission } } },
        responses: {
          '202': json(submitted, 'queued; Location is the status URL'),
          '200': json(submitted, 'an earlier submission with this idempotencyKey made this job'),
          ...errors(400, 409, 413, 415),
        },
      },
      get: {
        tags: ['jobs'],
        summary: "List the caller's jobs, newest first",
        requestParams: { query: listSchema },
        responses: { '200': json(z.object({ jobs: z.array(jobViewSchema) }), 'jobs'), ...errors(400) },
      },
    },
    '/v1/jobs/batch': {
      post: {
        tags: ['jobs'],
        summary: `Submit up to ${MAX_BATCH_JOBS} jobs in one request`,
        description:
          'Each item is a POST /v1/jobs body and is checked on its own: the answer lists, in order, each ' +
          "item's job (202 new, 200 made earlier under its idempotencyKey) or its error (its own 4xx/5xx). " +
          'Every item counts against the rate limit; a batch that does not fit what is left is refused whole (429). ' +
          'The records are committed before the jobs are enqueued, in one multi-row insert and one BullMQ addBulk. ' +
          'Poll them together with GET /v1/jobs?ids=….',
        requestBody: { required: true, content: { 'application/json': { schema: batch } } },
        responses: {
          '200': json(z.object({ jobs: z.array(batchItemSchema) }), "each item's outcome, in order"),
          ...errors(400, 413, 415),
        },
      },
    },
    '/v1/jobs/{id}': {
      get: {
        tags: ['jobs'],
        summary: 'A job: status, result, status transitions',
        requestParams: id,
        responses: {
          '200': json(
            jobViewSchema.extend({
              events: z.array(
                z.object({
                  status: z.enum(JOB_STATUSES),
                  at: z.iso.datetime({ offset: true }),
                  detail: z.string().nullable(),
                }),
              ),
            }),
            'the job',
          ),
          ...errors(404),
        },
      },
      delete: {
        tags: ['jobs'],
        summary: 'Cancel a queued job',
        requestParams: id,
        responses: { '200': json(jobViewSchema, 'cancelled'), ...errors(404, 409) },
      },
    },
  };
}

/** The whole document (plain JSON). */
export function openApiDocument(tasks: TaskModule[] = TASK_MODULES) {
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'clawstack',
      version: SERVER_VERSION,
      description:
        'Self-hosted inference: task endpoints, async jobs, and the Open Inference Protocol v2 (KServe / Triton REST). ' +
        'Every route except health, metrics and these docs needs an API key.',
    },
    security: [{ bearer: [] }, { apiKey: [] }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <key>' },
        apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
      },
    },
    paths: { ...publicPaths(), ...taskPaths(tasks), ...jobPaths(tasks), ...v2Paths(), ...consolePaths() },
  });
}
