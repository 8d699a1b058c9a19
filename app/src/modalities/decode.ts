/** Shared decoding for task modules: JSON bodies validated by a schema, base64 fields of job inputs. */
import type { z } from 'zod';
import { BadRequestError } from '../errors.ts';
import type { RawRequest } from './types.ts';

/**
 * Formats a zod error as "field: problem" for the first issue; `root` names where the value sits
 * (`input` for a job's input, `query`), and stands alone when the problem is the value itself.
 */
export function describeZodError(error: z.ZodError, root?: string): string {
  const issue = error.issues[0]!;
  const path = [...(root && root !== 'query' ? [root] : []), ...issue.path.map(String)].join('.');
  return `${path || root || 'body'}: ${issue.message}`;
}

export function parseWith<T>(schema: z.ZodType<T>, value: unknown, root?: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new BadRequestError(describeZodError(parsed.error, root));
  return parsed.data;
}

export function parseJsonBody<T>(req: RawRequest, schema: z.ZodType<T>): T {
  let json: unknown;
  try {
    json = JSON.parse(req.body.toString('utf8'));
  } catch (err) {
    throw new BadRequestError(`malformed JSON: ${(err as Error).message}`);
  }
  return parseWith(schema, json);
}

/** Decodes a base64 field of a job input (binary inputs such as WAV or PNG travel this way). */
export function base64Field(input: unknown, field: string): Buffer {
  const value = (input as Record<string, unknown> | null)?.[field];
  if (typeof value !== 'string' || value.length === 0) {
    throw new BadRequestError(`input.${field}: expected a base64-encoded string`);
  }
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) throw new BadRequestError(`input.${field}: not valid base64`);
  return Buffer.from(value, 'base64');
}
