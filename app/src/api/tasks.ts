/** Task endpoints: `POST /v1/{modality}/{verb}` for every served task, sync. */
import { Router } from 'express';
import { rawBody } from './body.ts';
import { UnsupportedMediaTypeError } from '../errors.ts';
import type { ServedTask, TaskRunner } from '../modalities/runner.ts';
import { sendPostJson } from './json.ts';
import { stampOn, tracing, withStampsOf } from '../telemetry/stages.ts';

/** The path segment of the jobs API (`/v1/jobs/...`): no task is named under it. */
export const JOBS_SEGMENT = 'jobs';

export function taskRouter(opts: { runner: TaskRunner; bodyLimit: number }) {
  const router = Router();
  const raw = rawBody(opts.bodyLimit);
  router.post(
    '/v1/:modality/:verb',
    (req, res, next) => {
      // POST /v1/jobs/batch belongs to the jobs router, mounted after this one.
      if (req.params.modality === JOBS_SEGMENT) return next('router');
      // Resolve the task (404) and check the media type (415) before reading a possibly large body.
      const served = opts.runner.get(`${req.params.modality}.${req.params.verb}`);
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (!served.module.contentTypes.includes(type)) {
        throw new UnsupportedMediaTypeError(
          `${served.module.task} accepts ${served.module.contentTypes.join(', ')}; got ${type || 'no content type'}`,
        );
      }
      res.locals.task = { served, type };
      if (tracing) stampOn(res, 'routed');
      next();
    },
    raw,
    async (req, res) => {
      const { served, type } = res.locals.task as { served: ServedTask; type: string };
      if (tracing) stampOn(res, 'bodyRead');
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const input = await served.module.decodeRequest({ contentType: type, body });
      if (tracing) stampOn(res, 'parsed');
      const { result, cached } = await (tracing
        ? withStampsOf(res, () => opts.runner.run(served, input))
        : opts.runner.run(served, input));
      if (tracing) stampOn(res, 'resultReady');
      res.setHeader('x-cache', cached ? 'hit' : 'miss');
      sendPostJson(res, result);
      if (tracing) stampOn(res, 'written');
    },
  );
  return router;
}
