/** The one place errors become HTTP responses: `{"error": "..."}` with the right status. */
import type { NextFunction, Request, Response } from 'express';
import { AppError, TooManyRequestsError, UnavailableError } from '../errors.ts';
import { isDependencyError } from '../health/dependencies.ts';
import type { Logger } from '../telemetry/logger.ts';

interface HttpishError {
  status?: number;
  statusCode?: number;
  type?: string;
  expose?: boolean;
  message?: string;
}

/** Retry-After while Redis or Postgres is down: the monitor re-probes every second. */
export const DEPENDENCY_RETRY_AFTER_SECONDS = 2;

export function errorHandler(log: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    let status = 500;
    let message = 'internal server error';
    if (err instanceof AppError) {
      status = err.status;
      message = err.message;
      if (err instanceof TooManyRequestsError || (err instanceof UnavailableError && err.retryAfterSeconds))
        res.setHeader('Retry-After', String(err.retryAfterSeconds));
    } else if (isDependencyError(err)) {
      // Redis or Postgres went away under this request: the client should come back, not give up.
      status = 503;
      message = 'a dependency is unavailable; retry later';
      res.setHeader('Retry-After', String(DEPENDENCY_RETRY_AFTER_SECONDS));
    } else {
      const e = err as HttpishError;
      const s = e.status ?? e.statusCode;
      if (typeof s === 'number' && s >= 400 && s < 500) {
        status = s;
        // body-parser's messages, made specific
        if (e.type === 'entity.too.large')
          message = `request body exceeds the limit of ${req.app.get('bodyLimit')} bytes`;
        else if (e.type === 'entity.parse.failed') message = `malformed JSON: ${e.message}`;
        else message = e.message ?? 'bad request';
      }
    }
    if (status === 503) log.warn({ reqId: req.id, why: message }, 'request refused: unavailable');
    else if (status >= 500) log.error({ err, reqId: req.id }, 'request failed');
    if (res.headersSent) return res.end();
    res.status(status).json({ error: message });
  };
}
