/**
 * The binary tensor data extension's framing: a request or response body is a JSON object of
 * `Inference-Header-Content-Length` bytes followed by the tensors' bytes, in the order of the inputs
 * (outputs) that carry `parameters.binary_data_size`.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { BadRequestError } from '../errors.ts';
import { jsonBody } from './json.ts';

export const HEADER_LENGTH = 'inference-header-content-length';

/** Splits a binary request body into its JSON header and the bytes after it. */
export function splitInferBody(body: Buffer, headerLength: string): { json: unknown; binary: Buffer } {
  const n = /^\d+$/.test(headerLength.trim()) ? Number(headerLength) : NaN;
  if (!Number.isSafeInteger(n) || n > body.length) {
    throw new BadRequestError(
      `Inference-Header-Content-Length: expected a byte count up to the body's ${body.length}, got "${headerLength}"`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(body.subarray(0, n).toString('utf8'));
  } catch (err) {
    throw new BadRequestError(`malformed JSON in the first ${n} bytes: ${(err as Error).message}`);
  }
  return { json, binary: body.subarray(n) };
}

/**
 * Body parser for infer: JSON (415 for other media types), or, with `Inference-Header-Content-Length`,
 * JSON header + binary tensor data of any media type (clients send application/octet-stream or none).
 * The binary part is left in `res.locals.binary`.
 */
export function inferBody(limit: number) {
  const json = jsonBody(limit);
  const raw = express.raw({ type: () => true, limit });
  return (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers[HEADER_LENGTH];
    if (header === undefined) return json(req, res, next);
    raw(req, res, (err?: unknown) => {
      if (err) return next(err);
      try {
        const body = Buffer.isBuffer(req.body) ? (req.body as Buffer) : Buffer.alloc(0);
        const split = splitInferBody(body, String(header));
        req.body = split.json;
        res.locals.binary = split.binary;
        next();
      } catch (e) {
        next(e);
      }
    });
  };
}

/**
 * Hands each input that declares `binary_data_size` its slice of the binary part, in input order;
 * every byte must belong to an input.
 */
export function sliceBinaryInputs(
  inputs: { parameters?: { binary_data_size?: number } }[],
  binary: Buffer | undefined,
): (Buffer | undefined)[] {
  let offset = 0;
  const slices = inputs.map((input, i) => {
    const size = input.parameters?.binary_data_size;
    if (size === undefined) return undefined;
    if (!binary) {
      throw new BadRequestError(
        `inputs[${i}].parameters.binary_data_size: binary data needs the Inference-Header-Content-Length header`,
      );
    }
    if (offset + size > binary.length) {
      throw new BadRequestError(
        `inputs[${i}].parameters.binary_data_size: ${size} bytes from offset ${offset} run past the ${binary.length} bytes of binary data`,
      );
    }
    offset += size;
    return binary.subarray(offset - size, offset);
  });
  if (binary && offset !== binary.length) {
    throw new BadRequestError(
      `binary data: ${binary.length} bytes follow the JSON header but the inputs' binary_data_size add up to ${offset}`,
    );
  }
  return slices;
}

/** Sends a v2 response: plain JSON, or JSON header + binary outputs when any output is binary. */
export function sendInferResponse(res: Response, headerJson: string, binaryParts: Buffer[]) {
  if (binaryParts.length === 0) {
    res.type('application/json').send(headerJson);
    return;
  }
  const header = Buffer.from(headerJson, 'utf8');
  res.setHeader('Inference-Header-Content-Length', String(header.length));
  res.type('application/octet-stream').send(Buffer.concat([header, ...binaryParts]));
}
