/**
 * Response headers that never depend on the request (helmet's, with its CSP off), worked out once at
 * start-up by running the middleware against a recording response, then set on every response in the
 * same order with the same names and values. helmet itself runs a chain of a dozen small middlewares
 * per request to set the same constant headers.
 */
import type { NextFunction, Request, Response } from 'express';

export type HeaderEdit = { set: string; value: string | number | readonly string[] } | { remove: string };

type Middleware = (req: Request, res: Response, next: (err?: unknown) => void) => void;

/**
 * The header edits `middleware` makes on a response, in order. Throws when it does anything else (reads
 * the request, writes the response, fails, or does not call next at once): such a middleware is not
 * request-independent and must run per request.
 */
export function recordHeaderEdits(middleware: Middleware): HeaderEdit[] {
  const edits: HeaderEdit[] = [];
  const refuse = (what: string) => () => {
    throw new Error(`recordHeaderEdits: the middleware ${what}; its headers are not fixed`);
  };
  const req = new Proxy({}, { get: refuse('reads the request') }) as Request;
  const res = new Proxy(
    {
      setHeader: (name: string, value: string | number | readonly string[]) =>
        void edits.push({ set: name, value }),
      removeHeader: (name: string) => void edits.push({ remove: name }),
    },
    {
      get: (target, prop) =>
        prop in target ? target[prop as keyof typeof target] : refuse(`uses res.${String(prop)}`)(),
    },
  ) as unknown as Response;
  let called = false;
  middleware(req, res, (err) => {
    if (err) throw err instanceof Error ? err : new Error(String(err));
    called = true;
  });
  if (!called) throw new Error('recordHeaderEdits: the middleware did not call next() at once');
  return edits;
}

/** Middleware: applies `edits` (from recordHeaderEdits) to every response, in their order. */
export function fixedHeaders(edits: readonly HeaderEdit[]) {
  return (_req: Request, res: Response, next: NextFunction) => {
    for (const e of edits) {
      if ('set' in e) res.setHeader(e.set, e.value);
      else res.removeHeader(e.remove);
    }
    next();
  };
}
