/** Shared decoding for task modules: JSON bodies validated by a schema, base64 fields of job inputs. */
import { z } from 'zod';
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

/** The body as JSON, not validated yet; 400 when it is not JSON. */
export function readJsonBody(req: RawRequest): unknown {
  try {
    return JSON.parse(req.body.toString('utf8'));
  } catch (err) {
    throw new BadRequestError(`malformed JSON: ${(err as Error).message}`);
  }
}

export function parseJsonBody<T>(req: RawRequest, schema: z.ZodType<T>): T {
  return parseWith(schema, readJsonBody(req));
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const compact = (v: string) => v.replace(/\s+/g, '');

/**
 * The job input of a task with a binary input: `{ "<field>": "<base64>" }` (whitespace ignored). One
 * schema validates job inputs and documents them in the OpenAPI document.
 */
export function base64Input(field: string, holding: string) {
  const needs = `"${field}" must be a non-empty base64 string holding ${holding}`;
  const value = z
    .string({ error: needs })
    .refine((v) => compact(v).length > 0, needs)
    .refine((v) => compact(v).length % 4 === 0 && BASE64.test(compact(v)), `"${field}" is not valid base64`)
    .meta({ description: `base64 of ${holding}`, contentEncoding: 'base64' });
  return z.object(
    { [field]: value },
    { error: `expected an object like { "${field}": "<base64 ${holding}>" }` },
  );
}

/**
 * Decodes the base64 field of a job input (binary inputs such as WAV or PNG travel this way), e.g.
 * `base64Field(input, 'audio', 'a WAV file')` for `{ "audio": "<base64>" }`.
 */
export function base64Field(input: unknown, field: string, holding: string): Buffer {
  const parsed = parseWith(base64Input(field, holding), input, 'input');
  return Buffer.from(compact(parsed[field]!), 'base64');
}
