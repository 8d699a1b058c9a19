/** Pieces every part of the OpenAPI document uses: the error body and response helpers. */
import { z } from 'zod';
import type { ZodOpenApiResponsesObject } from 'zod-openapi';

export const errorSchema = z
  .object({ error: z.string() })
  .meta({ id: 'Error', examples: [{ error: 'inputs: missing input "weights"' }] });

const ERROR_MEANING: Record<number, string> = {
  400: 'bad JSON or a bad field; the message names it',
  401: 'no API key, or a bad one',
  404: 'unknown model, task, job or route',
  409: 'the job is not cancellable, or its idempotencyKey was used for a different job',
  413: 'the body is too large',
  415: 'wrong media type',
  429: 'rate limited; see Retry-After',
  503: 'draining or not ready (with Retry-After), or a model this needs is missing or corrupted here',
};

/**
 * Error responses: `{"error": …}` with the given statuses. 401, 429 and 503 apply to every keyed route:
 * a bad key, the rate limit, and a draining or not-ready instance are checked before any route.
 */
export function errors(...codes: number[]): ZodOpenApiResponsesObject {
  return Object.fromEntries(
    [...new Set([...codes, 401, 429, 503])].map((c) => [
      String(c),
      { description: ERROR_MEANING[c]!, content: { 'application/json': { schema: errorSchema } } },
    ]),
  );
}

export const json = (schema: z.ZodType, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
