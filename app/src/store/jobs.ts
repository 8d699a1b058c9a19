/**
 * JobStore: job records, their status transitions, results and errors, in Postgres. The three writes
 * every job makes (created, started, succeeded) are coalesced: concurrent ones go in one multi-row
 * statement with their job_events rows (./coalescer.ts) — creates in theirs, a worker's claims and
 * results together in one, a claim and its result in one row change when the task finished before the
 * claim went out — and each caller still gets its own row back only once it is committed.
 */
import { isDeepStrictEqual } from 'node:util';
import { ConflictError } from '../errors.ts';
import type { Db } from './db.ts';
import { DEFAULT_FLUSH_POLICY, GROUP_COMMIT_POLICY, WriteCoalescer, type FlushPolicy } from './coalescer.ts';

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
  /** The client's idempotency key for the submission that created it, if it gave one. */
  idempotencyKey: string | null;
  attempts: number;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

// Columns aliased to JobRecord's field names, so rows are records as they come.
const columns = (t = '') => `${t}id, ${t}task, ${t}priority, ${t}status, ${t}input, ${t}result, ${t}error,
  ${t}owner, ${t}idempotency_key AS "idempotencyKey", ${t}attempts, ${t}created_at AS "createdAt", ${t}started_at AS "startedAt", ${t}finished_at AS "finishedAt"`;
const COLUMNS = columns();

export interface NewJob {
  id: string;
  task: string;
  priority: Priority;
  input: unknown;
  owner: string;
  apiKeyId: string | null;
  /** Unique per owner: a second submission with the same key gets the first one's job. */
  idempotencyKey?: string | null;
}

/** A submission's outcome: the job it created, or (`duplicate`) the one an earlier submission with its key made. */
export interface Submitted {
  record: JobRecord;
  duplicate: boolean;
}

/** Each batch's changed rows, with one job_events row per changed job, in one statement. */
const withEvents = (changed: string, status: JobStatus) =>
  `WITH ${changed},
        ev AS (INSERT INTO job_events (job_id, status) SELECT id, '${status}' FROM changed)
   SELECT changed.* FROM changed`;

const CREATE_MANY = withEvents(
  `changed AS (
     INSERT INTO jobs (id, task, priority, status, input, owner, api_key_id, idempotency_key)
     SELECT id, task, priority, 'queued', input, owner, api_key_id, idempotency_key
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::text[], $6::uuid[], $7::text[])
         AS r(id, task, priority, input, owner, api_key_id, idempotency_key)
     -- a key used before (or earlier in this statement): no row; the caller looks up the first job
     ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
     RETURNING ${COLUMNS})`,
  'queued',
);
/**
 * A worker's writes, claims and results of concurrent jobs together, in one statement per flush:
 * the claims (queued/running → running, attempts + 1), the results (running → succeeded), and the
 * claims whose result was ready before the claim went out (queued/running → succeeded, attempts + 1: a
 * task started while its claim waited), each with its job_events rows, and every changed row back with
 * the kind of write that changed it.
 *
 * The commit waits for its WAL flush only when the statement holds a result: a claim need not be
 * durable before the job runs (lost in a Postgres crash, the job is back to queued, as if its worker
 * had died before claiming it), and a result, a synchronous commit after its claim in the WAL (or in
 * the same row change), cannot outlive its claim. Either is visible at once, so a cancel still meets
 * 'running'.
 */
const WORKER_WRITES = `
  WITH claimed AS (
         UPDATE jobs SET status = 'running', started_at = clock_timestamp(), attempts = attempts + 1
          WHERE id = ANY($1::uuid[]) AND status IN ('queued', 'running')
         RETURNING ${COLUMNS}),
       done AS (
         UPDATE jobs j SET status = 'succeeded', result = r.result, error = NULL, finished_at = clock_timestamp()
           FROM unnest($2::uuid[], $3::jsonb[]) AS r(id, result)
          WHERE j.id = r.id AND j.status = 'running'
         RETURNING ${columns('j.')}),
       ran AS (
         UPDATE jobs j SET status = 'succeeded', started_at = clock_timestamp(), attempts = j.attempts + 1,
                result = r.result, error = NULL, finished_at = clock_timestamp()
           FROM unnest($5::uuid[], $6::jsonb[]) AS r(id, result)
          WHERE j.id = r.id AND j.status IN ('queued', 'running')
         RETURNING ${columns('j.')}),
       ev AS (
         INSERT INTO job_events (job_id, status)
         SELECT id, 'running' FROM claimed UNION ALL SELECT id, 'succeeded' FROM done
         UNION ALL SELECT id, 'running' FROM ran UNION ALL SELECT id, 'succeeded' FROM ran)
  SELECT 'start' AS kind, claimed.* FROM claimed, (SELECT set_config('synchronous_commit', $4, true)) AS m1
  UNION ALL
  SELECT 'succeed' AS kind, done.* FROM done, (SELECT set_config('synchronous_commit', $4, true)) AS m2
  UNION ALL
  SELECT 'startAndSucceed' AS kind, ran.* FROM ran, (SELECT set_config('synchronous_commit', $4, true)) AS m3`;

/**
 * One of a worker's writes: claim a job, store a running job's result, or both at once (the claim had
 * not gone out yet when the result was ready).
 */
export type WorkerWrite =
  { kind: 'start'; id: string } | { kind: 'succeed' | 'startAndSucceed'; id: string; result: unknown };

/**
 * The parameters of one WORKER_WRITES statement for these writes. A job may appear once: its claim and
 * its result as two writes in one statement would both update its row, which Postgres does not order
 * (the caller's coalescer then writes the rows one by one).
 */
export function workerWriteParams(writes: WorkerWrite[]): unknown[] {
  const ids = new Set(writes.map((w) => w.id));
  if (ids.size < writes.length) throw new Error('a job appears twice in one statement of worker writes');
  const starts = writes.filter((w) => w.kind === 'start');
  const done = writes.flatMap((w) => (w.kind === 'succeed' ? [w] : []));
  const ran = writes.flatMap((w) => (w.kind === 'startAndSucceed' ? [w] : []));
  return [
    starts.map((w) => w.id),
    done.map((w) => w.id),
    done.map((w) => JSON.stringify(w.result)),
    // synchronous_commit for this transaction: set beside each kind's returned rows (a branch that
    // changed no row writes nothing); 'on' as soon as one result is in the statement
    done.length || ran.length ? 'on' : 'off',
    ran.map((w) => w.id),
    ran.map((w) => JSON.stringify(w.result)),
  ];
}

type WorkerRow = JobRecord & { kind: WorkerWrite['kind'] };

/** The records WORKER_WRITES returned, in the order of the writes (undefined: that write changed nothing). */
export function inOrderOfWrites(writes: WorkerWrite[], rows: WorkerRow[]): (JobRecord | undefined)[] {
  const byWrite = new Map(rows.map(({ kind, ...record }) => [`${kind} ${record.id}`, record]));
  return writes.map((w) => byWrite.get(`${w.kind} ${w.id}`));
}

/** The rows a statement returned, in the order of the ids asked for (undefined: that row did not change). */
export function inOrderOf(ids: string[], rows: JobRecord[]): (JobRecord | undefined)[] {
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => byId.get(id));
}

/** Whether a job an earlier submission made under the same idempotency key is the one `job` asks for. */
export function sameSubmission(job: NewJob, earlier: JobRecord): boolean {
  return (
    job.task === earlier.task &&
    job.priority === earlier.priority &&
    isDeepStrictEqual(JSON.parse(JSON.stringify(job.input)), earlier.input)
  );
}

/**
 * A submission whose row was not inserted (its idempotency key was taken): the earlier job when it asks
 * for the same thing, else a conflict.
 */
export function replayOf(job: NewJob, earlier: JobRecord | undefined): Submitted {
  if (!earlier) throw new Error(`job ${job.id} was not recorded`);
  if (!sameSubmission(job, earlier))
    throw new ConflictError(
      `idempotencyKey "${job.idempotencyKey}" was already used for a different job (${earlier.id})`,
    );
  return { record: earlier, duplicate: true };
}

/** A claim on its way (JobStore.claim). */
export interface Claim {
  /** The claimed record (or, once `finish` went with the claim, the finished one); undefined: not claimed. */
  claimed: Promise<JobRecord | undefined>;
  /** Stores the result; the finished record, or undefined when the job was not claimed or not running. */
  finish(result: unknown): Promise<JobRecord | undefined>;
}

export class JobStore {
  private readonly creates: WriteCoalescer<NewJob, JobRecord | undefined>;
  /** Claims and results, together: one statement per flush, the next when it returns (group commit). */
  private readonly workerWrites: WriteCoalescer<WorkerWrite, JobRecord | undefined>;

  constructor(
    private readonly db: Db,
    policy: FlushPolicy = DEFAULT_FLUSH_POLICY,
    /** Called with the kind and row count of every coalesced statement. */
    onFlush?: (kind: 'create' | 'worker', rows: number) => void,
    workerPolicy: FlushPolicy = GROUP_COMMIT_POLICY,
  ) {
    const rowsOf = async (sql: string, params: unknown[], ids: string[]) =>
      inOrderOf(ids, (await this.db.query<JobRecord>(sql, params)).rows);
    this.creates = new WriteCoalescer(
      (jobs) =>
        rowsOf(
          CREATE_MANY,
          [
            jobs.map((j) => j.id),
            jobs.map((j) => j.task),
            jobs.map((j) => j.priority),
            jobs.map((j) => JSON.stringify(j.input)),
            jobs.map((j) => j.owner),
            jobs.map((j) => j.apiKeyId),
            jobs.map((j) => j.idempotencyKey ?? null),
          ],
          jobs.map((j) => j.id),
        ),
      policy,
      (n) => onFlush?.('create', n),
    );
    this.workerWrites = new WriteCoalescer(
      async (writes) =>
        inOrderOfWrites(
          writes,
          (await this.db.query<WorkerRow>(WORKER_WRITES, workerWriteParams(writes))).rows,
        ),
      workerPolicy,
      (n) => onFlush?.('worker', n),
    );
  }

  private async transition(sql: string, params: unknown[], status: JobStatus, detail?: string) {
    const res = await this.db.query<JobRecord>(
      `WITH changed AS (${sql} RETURNING ${COLUMNS}),
            ev AS (INSERT INTO job_events (job_id, status, detail) SELECT id, $${params.length + 1}, $${params.length + 2} FROM changed)
       SELECT * FROM changed`,
      [...params, status, detail ?? null],
    );
    return res.rows[0];
  }

  /** Records a new job (queued); resolves once its row is committed. */
  async create(job: NewJob): Promise<JobRecord> {
    const record = await this.creates.push(job);
    if (!record) throw new Error(`job ${job.id} was not recorded`);
    return record;
  }

  /**
   * Records new jobs (queued), each once: a job whose idempotency key its owner used before comes back
   * as the earlier job (`duplicate`), or fails with a conflict when it asks for something else. Rows go
   * in the coalesced multi-row statements (one for a whole batch arriving at once); each outcome is
   * settled on its own, once its row is committed, so one bad row fails only itself.
   */
  async submit(jobs: NewJob[]): Promise<PromiseSettledResult<Submitted>[]> {
    const inserted = await Promise.allSettled(jobs.map((j) => this.creates.push(j)));
    const replays = jobs.filter((j, i) => {
      const r = inserted[i]!;
      return r.status === 'fulfilled' && !r.value && j.idempotencyKey;
    });
    const earlier = replays.length ? await this.byIdempotencyKey(replays) : new Map<string, JobRecord>();
    return Promise.all(
      jobs.map(async (job, i): Promise<PromiseSettledResult<Submitted>> => {
        const r = inserted[i]!;
        if (r.status === 'rejected') return r;
        try {
          const record = r.value;
          const value = record
            ? { record, duplicate: false }
            : replayOf(job, earlier.get(`${job.owner}\n${job.idempotencyKey}`));
          return { status: 'fulfilled', value };
        } catch (reason) {
          return { status: 'rejected', reason };
        }
      }),
    );
  }

  /** The jobs made under these jobs' (owner, idempotency key) pairs, by "owner\nkey". */
  private async byIdempotencyKey(jobs: NewJob[]): Promise<Map<string, JobRecord>> {
    const res = await this.db.query<JobRecord>(
      `SELECT ${COLUMNS} FROM jobs
        WHERE (owner, idempotency_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [jobs.map((j) => j.owner), jobs.map((j) => j.idempotencyKey)],
    );
    return new Map(res.rows.map((r) => [`${r.owner}\n${r.idempotencyKey}`, r]));
  }

  /** Claims a job for running; undefined when it was cancelled or already finished. */
  start(id: string): Promise<JobRecord | undefined> {
    return this.workerWrites.push({ kind: 'start', id });
  }

  /**
   * Claims a job without waiting for the claim: its task may run meanwhile. `finish` stores the result
   * under the same conditions as start-then-succeed: in the claim's own row change when the claim has
   * not gone out yet, else after it, and nothing when the claim found the job cancelled or finished.
   */
  claim(id: string): Claim {
    const write = this.workerWrites.pushAmendable({ kind: 'start', id });
    // awaited by `finish` or the worker's failure path, maybe only after it settled: not unhandled
    write.done.catch(() => {});
    return {
      claimed: write.done,
      finish: async (result) => {
        if (write.amend({ kind: 'startAndSucceed', id, result })) return write.done;
        return (await write.done) ? this.succeed(id, result) : undefined;
      },
    };
  }

  /** Stores a running job's result; undefined when it was no longer running. */
  succeed(id: string, result: unknown): Promise<JobRecord | undefined> {
    return this.workerWrites.push({ kind: 'succeed', id, result });
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
    opts: { status?: JobStatus; limit: number; before?: Date; ids?: string[] },
  ): Promise<JobRecord[]> {
    const params: unknown[] = [owner];
    let where = 'owner = $1';
    if (opts.ids) {
      params.push(opts.ids);
      where += ` AND id = ANY($${params.length}::uuid[])`;
    }
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
