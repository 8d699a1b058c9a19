import express, { type NextFunction, type Request, type Response } from 'express';
import { UnsupportedMediaTypeError } from '../errors.ts';

/** A JSON body parser that answers 415 for other media types instead of leaving the body empty. */
export function jsonBody(limit: number) {
  const parse = express.json({ limit, type: () => true });
  return (req: Request, res: Response, next: NextFunction) => {
    if (!req.is(['application/json', 'application/*+json'])) {
      throw new UnsupportedMediaTypeError(
        `expected Content-Type application/json; got ${req.headers['content-type'] ?? 'none'}`,
      );
    }
    parse(req, res, next);
  };
}

/**
 * Sends `value` as a JSON answer to a POST: what res.json does, minus the ETag. res.send hashes every
 * body for an ETag (SHA-1), which only a conditional GET or HEAD can use (Express answers 304 to
 * those alone), and parses the Content-Type again to add the charset.
 */
export function sendPostJson(res: Response, value: unknown): void {
  const body = JSON.stringify(value);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}
