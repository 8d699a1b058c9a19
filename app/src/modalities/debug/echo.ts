/**
 * `debug.echo`: returns its input, with no model and no cache. It is a probe of the path every task
 * shares: for a job, API → Postgres record → queue → worker → Postgres result, with no inference time
 * in it. Operators use it as a queue health check / smoke test after a deploy, and bench:serve (d)
 * uses it to measure what the queue itself moves. Served only with ECHO_TASK=true.
 */
import { z } from 'zod';
import { parseJsonBody, parseWith } from '../decode.ts';
import type { TaskModule } from '../types.ts';

type EchoValue = Record<string, unknown>;

const echoSchema = z.record(z.string(), z.unknown()).meta({
  id: 'DebugEchoInput',
  description: 'any JSON object; the result is the same object',
  examples: [{ probe: 'queue-health', sentAt: '2026-11-30T21:00:00Z' }],
});
const echoResult = z.record(z.string(), z.unknown()).meta({
  id: 'DebugEchoResult',
  description: 'the input, unchanged',
  examples: [{ probe: 'queue-health', sentAt: '2026-11-30T21:00:00Z' }],
});

export const debugEcho: TaskModule<EchoValue, EchoValue> = {
  task: 'debug.echo',
  contentTypes: ['application/json'],
  needsModels: false,
  // Storing the answer in Redis would cost more than computing it.
  cacheable: false,
  schemas: { request: echoSchema, jobInput: echoSchema, result: echoResult },
  decodeRequest: (req) => parseJsonBody(req, echoSchema),
  decodeJobInput: (input) => parseWith(echoSchema, input, 'input'),
  fingerprint: (input) => JSON.stringify(input),
  run: (input) => Promise.resolve(input),
};
