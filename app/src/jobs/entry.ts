/**
 * What a queue entry carries: the job's id, task and priority, and its input when small. Kept apart from
 * ./queue.ts so the API can build entries without loading BullMQ.
 */
import type { JobRecord, Priority } from '../store/jobs.ts';

export interface JobData {
  id: string;
  task: string;
  priority: Priority;
  /**
   * The job's input as Postgres recorded it, when small (entryFor): the worker starts the task while
   * its claim is on the way instead of reading the record first. Absent: read from the record.
   */
  input?: unknown;
}

/** Inputs up to this size (JSON) ride in the queue entry; larger ones (images, audio) stay in Postgres. */
export const INLINE_INPUT_MAX_BYTES = 4096;

/** The queue entry of a recorded job: its input inline when it is small. */
export function entryFor(record: Pick<JobRecord, 'id' | 'task' | 'priority' | 'input'>): JobData {
  const { id, task, priority, input } = record;
  // A large input (a base64 image, MBs) is refused by its strings' length alone: serialising it only to
  // measure it cost ≈ 37 ms of the event loop for 5 MB.
  if (stringChars(input, INLINE_INPUT_MAX_BYTES) > INLINE_INPUT_MAX_BYTES) return { id, task, priority };
  const json = JSON.stringify(input);
  return json !== undefined && Buffer.byteLength(json) <= INLINE_INPUT_MAX_BYTES
    ? { id, task, priority, input }
    : { id, task, priority };
}

/**
 * A lower bound of the UTF-8 bytes of `value`'s JSON, counted until it passes `max`: the UTF-16 length
 * of its strings and keys (every code unit takes a byte or more, quoted or escaped) and one byte for each
 * other value (a number, true, false, null).
 */
export function stringChars(value: unknown, max: number): number {
  let n = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0 && n <= max) {
    const v = stack.pop();
    if (typeof v === 'string') n += v.length;
    else if (Array.isArray(v)) for (const x of v) stack.push(x);
    else if (v !== null && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) {
        n += k.length;
        stack.push(x);
      }
    else n += 1;
  }
  return n;
}
