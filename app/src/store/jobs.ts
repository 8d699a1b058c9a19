/** JobStore: job records, their status transitions, results and errors, in Postgres. */
import type { Db } from './db.ts';

export const PRIORITIES = ['high', 'normal', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];
export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export interface JobRecord {
  id: string;
  task: string;
  priority: Priority;
  status: JobStatus;
  input: unknown;
  result: unknown;
  error: string | null;
  owner: string;
  attempts: number;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

// Columns aliased to JobRecord's field names, so rows are records as they come.
const COLUMNS = `id, task, priority, status, input, result, error, owner, attempts,
  created_at AS "createdAt", started_at AS "startedAt", finished_at AS "finishedAt"`;

export class JobStore {
  constructor(private readonly db: Db) {}

  private async transition(sql: string, params: unknown[], status: JobStatus, detail?: string) {
    const res = await this.db.query<JobRecord>(
      `WITH changed AS (${sql} RETURNING ${COLUMNS}),
            ev AS (INSERT INTO job_events (job_id, status, detail) SELECT id, $${params.length + 1}, $${params.length + 2} FROM changed)
       SELECT * FROM changed`,
      [...params, status, detail ?? null],
    );
    return res.rows[0];
  }

  create(job: {
    id: string;
    task: string;
    priority: Priority;
    input: unknown;
    owner: string;
    apiKeyId: string | null;
  }) {
    return this.transition(
      `INSERT INTO jobs (id, task, priority, status, input, owner, api_key_id) VALUES ($1, $2, $3, 'queued', $4, $5, $6)`,
      [job.id, job.task, job.priority, JSON.stringify(job.input), job.owner, job.apiKeyId],
      'queued',
    ) as Promise<JobRecord>;
  }

  /** Claims a job for running; undefined when it was cancelled or already finished. */
  start(id: string) {
    return this.transition(
      `UPDATE jobs SET status = 'running', started_at = clock_timestamp(), attempts = attempts + 1
        WHERE id = $1 AND status IN ('queued', 'running')`,
      [id],
      'running',
    );
  }

  succeed(id: string, result: unknown) {
    return this.transition(
      `UPDATE jobs SET status = 'succeeded', result = $2, error = NULL, finished_at = clock_timestamp()
        WHERE id = $1 AND status = 'running'`,
      [id, JSON.stringify(result)],
      'succeeded',
    );
  }

  fail(id: string, error: string) {
    return this.transition(
      `UPDATE jobs SET status = 'failed', error = $2, finished_at = clock_timestamp()
        WHERE id = $1 AND status IN ('queued', 'running')`,
      [id, error],
      'failed',
      error,
    );
  }

  /** Back to queued after a failed attempt that will be retried. */
  requeue(id: string, error: string) {
    return this.transition(
      `UPDATE jobs SET status = 'queued', error = $2 WHERE id = $1 AND status = 'running'`,
      [id, error],
      'queued',
      error,
    );
  }

  /** Cancels a queued job of this owner; undefined when it is not (or no longer) queued. */
  cancel(id: string, owner: string) {
    return this.transition(
      `UPDATE jobs SET status = 'cancelled', finished_at = clock_timestamp() WHERE id = $1 AND owner = $2 AND status = 'queued'`,
      [id, owner],
      'cancelled',
    );
  }

  async get(id: string, owner?: string): Promise<JobRecord | undefined> {
    const res = await this.db.query<JobRecord>(
      `SELECT ${COLUMNS} FROM jobs WHERE id = $1 ${owner === undefined ? '' : 'AND owner = $2'}`,
      owner === undefined ? [id] : [id, owner],
    );
    return res.rows[0];
  }

  async list(
    owner: string,
    opts: { status?: JobStatus; limit: number; before?: Date },
  ): Promise<JobRecord[]> {
    const params: unknown[] = [owner];
    let where = 'owner = $1';
    if (opts.status) {
      params.push(opts.status);
      where += ` AND status = $${params.length}`;
    }
    if (opts.before) {
      params.push(opts.before);
      where += ` AND created_at < $${params.length}`;
    }
    params.push(opts.limit);
    const res = await this.db.query<JobRecord>(
      `SELECT ${COLUMNS} FROM jobs WHERE ${where} ORDER BY created_at DESC LIMIT $${params.length}`,
      params,
    );
    return res.rows;
  }

  async events(id: string): Promise<{ status: string; at: Date; detail: string | null }[]> {
    const res = await this.db.query(
      'SELECT status, at, detail FROM job_events WHERE job_id = $1 ORDER BY at, id',
      [id],
    );
    return res.rows;
  }

  /** The transitions of several jobs at once, grouped by job id (ids without events are absent). */
  async eventsOf(ids: string[]): Promise<Map<string, { status: string; at: Date; detail: string | null }[]>> {
    const res = await this.db.query<{ jobId: string; status: string; at: Date; detail: string | null }>(
      'SELECT job_id AS "jobId", status, at, detail FROM job_events WHERE job_id = ANY($1::uuid[]) ORDER BY at, id',
      [ids],
    );
    const out = new Map<string, { status: string; at: Date; detail: string | null }[]>();
    for (const { jobId, ...event } of res.rows) out.set(jobId, [...(out.get(jobId) ?? []), event]);
    return out;
  }

  /** Jobs not finished, oldest first: what the queue must hold. */
  async unfinished(): Promise<Pick<JobRecord, 'id' | 'task' | 'priority' | 'status'>[]> {
    const res = await this.db.query(
      `SELECT id, task, priority, status FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at`,
    );
    return res.rows;
  }

  /** Deletes finished jobs older than `days`. */
  async purge(days: number): Promise<number> {
    const res = await this.db.query(
      `DELETE FROM jobs WHERE status IN ('succeeded', 'failed', 'cancelled') AND finished_at < now() - make_interval(days => $1)`,
      [days],
    );
    return res.rowCount ?? 0;
  }
}
