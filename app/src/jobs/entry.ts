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
  const json = JSON.stringify(input);
  return json !== undefined && Buffer.byteLength(json) <= INLINE_INPUT_MAX_BYTES
    ? { id, task, priority, input }
    : { id, task, priority };
}
