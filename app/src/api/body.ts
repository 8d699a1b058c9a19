/**
 * The task route's body reader: express.raw, with a shorter path for the common case. A plain body
 * (no Content-Encoding) whose Content-Length is known and within the limit is read straight into one
 * Buffer of that size; everything else (chunked, compressed, too large, no length) goes through
 * express.raw unchanged, so its answers (413, 415, 400) stay those of body-parser.
 */
import type { IncomingMessage } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { BadRequestError } from '../errors.ts';

/** The byte count to read directly, or undefined when express.raw should handle the body. */
export function directLength(headers: IncomingMessage['headers'], limit: number): number | undefined {
  const encoding = headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return undefined;
  if (headers['transfer-encoding'] !== undefined) return undefined;
  const given = headers['content-length'];
  if (given === undefined || !/^\d{1,15}$/.test(given)) return undefined;
  const length = Number(given);
  return length <= limit ? length : undefined;
}

/** Reads exactly `length` bytes of `req` into one Buffer. */
export function readExactly(req: IncomingMessage, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const body = Buffer.allocUnsafe(length);
    let at = 0;
    const onData = (chunk: Buffer) => {
      // Node's parser never passes more than Content-Length; the guard keeps a bad stream from overrunning.
      if (at + chunk.length > length)
        return done(new BadRequestError('request size did not match content length'));
      chunk.copy(body, at);
      at += chunk.length;
    };
    const onEnd = () =>
      done(at === length ? undefined : new BadRequestError('request size did not match content length'));
    const onAborted = () => done(new BadRequestError('request aborted'));
    const onError = (err: Error) => done(new BadRequestError(err.message));
    const done = (err?: Error) => {
      req.off('data', onData).off('end', onEnd).off('aborted', onAborted).off('error', onError);
      if (err) {
        req.resume(); // read off the rest, as body-parser does, so the error answer can be written
        reject(err);
      } else resolve(body);
    };
    req.on('data', onData).on('end', onEnd).on('aborted', onAborted).on('error', onError);
  });
}

/** Middleware: `req.body` is the request's bytes as a Buffer (empty without a body). */
export function rawBody(limit: number) {
  const raw = express.raw({ type: () => true, limit });
  return (req: Request, res: Response, next: NextFunction) => {
    const length = directLength(req.headers, limit);
    if (length === undefined) return raw(req, res, next);
    if (length === 0) {
      req.body = Buffer.alloc(0);
      return next();
    }
    readExactly(req, length).then((body) => {
      req.body = body;
      next();
    }, next);
  };
}
