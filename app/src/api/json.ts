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
