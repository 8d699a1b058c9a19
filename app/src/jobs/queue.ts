/**
 * The job queue: BullMQ over Redis, with real BullMQ priorities. Postgres holds the job record (input,
 * status, result); the queue entry only points at it, so losing Redis loses no job — `recover()` puts
 * every unfinished job back.
 */
import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { AppError } from '../errors.ts';
import { isDependencyError, withTimeout } from '../health/dependencies.ts';
import type { TaskRunner } from '../modalities/runner.ts';
import { WriteCoalescer } from '../store/coalescer.ts';
import type { Claim, JobStore, Priority } from '../store/jobs.ts';
import type { JobData } from './entry.ts';

export type { JobData } from './entry.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';

export const QUEUE_NAME = 'clawstack-jobs';
/** BullMQ priority numbers: lower runs first. */
export const BULL_PRIORITY: Record<Priority, number> = { high: 1, normal: 5, low: 10 };
const ATTEMPTS = 3;

/**
 * Job locks and the stalled-job check, tuned so a job whose worker was killed runs again within
 * ~12 s: its lock (renewed every LOCK_MS / 2) lapses at most LOCK_MS after the kill, and every
 * worker looks for lapsed locks every STALLED_CHECK_MS (and once when it starts). Inference runs on
 * threads, so the event loop that renews locks never stalls anywhere near LOCK_MS.
 */
export const LOCK_MS = 8_000;
export const STALLED_CHECK_MS = 4_000;
/** A job is failed for good after being abandoned this many times by a dying worker. */
const MAX_STALLED = 3;
/** How long submitting a job may wait for Redis. */
const ADD_TIMEOUT_MS = 2_000;
/** How long a job waits to be tried again while Postgres is unreachable (no attempt is used up). */
const DEPENDENCY_RETRY_MS = 2_000;
/** A queue entry failed this long ago (completed ones are removed) whose job Postgres still calls unfinished is stale. */
const STALE_FINISHED_MS = 30_000;

/** ioredis connection for BullMQ; workers need `maxRetriesPerRequest: null` (blocking commands). */
export function bullConnection(url: string, forWorker: boolean): Redis {
  const opts: RedisOptions = { maxRetriesPerRequest: forWorker ? null : 3, enableReadyCheck: true };
  return new Redis(url, opts);
}

export class JobQueue {
  private bull?: Queue<JobData>;
  /** Adds that arrive together (a coalesced batch of records answering at once) go in one addBulk. */
  private readonly adds: WriteCoalescer<JobData, undefined>;

  /**
   * BullMQ's queue, made on first use: in the bundle that is what loads BullMQ (dist/bullmq.cjs), which
   * the service does after it listens (or a job request before that does, and waits for it).
   */
  get queue(): Queue<JobData> {
    if (this.bull) return this.bull;
    this.bull = new Queue<JobData>(QUEUE_NAME, {
      connection: this.connection,
      defaultJobOptions: {
        attempts: ATTEMPTS,
        backoff: { type: 'exponential', delay: 1000 },
        // A completed entry is never read again (the result and history are in Postgres; recovery looks
        // only at unfinished jobs); keeping and trimming them cost 5 Redis commands per job. A late add
        // of a job already done makes an entry whose claim finds it finished and skips it.
        removeOnComplete: true,
        removeOnFail: { age: 24 * 3600 },
      },
    });
    // Without a listener BullMQ prints the queue's errors with console.error, outside the service's log.
    const log = this.log;
    if (log) this.bull.on('error', (err) => log.error({ err }, 'job queue error'));
    return this.bull;
  }

  constructor(
    private readonly connection: Redis,
    private readonly log?: Logger,
  ) {
    this.adds = new WriteCoalescer(async (jobs) => {
      await this.queue.addBulk(
        jobs.map((data) => ({
          name: data.task,
          data,
          opts: { jobId: data.id, priority: BULL_PRIORITY[data.priority] },
        })),
      );
      return jobs.map(() => undefined);
    });
  }

  /**
   * Enqueues a job whose record is already in Postgres. Bounded: while Redis is reconnecting BullMQ
   * waits for it without a deadline, and the request must not; a job that was not enqueued in time is
   * put back by recovery (the job id keeps a late add from making a second entry).
   */
  add(data: JobData) {
    return this.addMany([data]);
  }

  /** Enqueues several recorded jobs at once (a batch): pushed together, they go in one addBulk. */
  async addMany(jobs: JobData[]): Promise<void> {
    await withTimeout(Promise.all(jobs.map((data) => this.adds.push(data))), ADD_TIMEOUT_MS);
  }

  /** Removes a waiting job (after it was cancelled in Postgres). */
  async remove(id: string) {
    const job = await this.queue.getJob(id);
    await job?.remove().catch(() => {});
  }

  /** Jobs waiting in the queue per priority (not counting running ones). */
  async depth(): Promise<Record<Priority, number>> {
    const counts = await this.queue.getCountsPerPriority(Object.values(BULL_PRIORITY));
    const entries = Object.entries(BULL_PRIORITY).map(([name, n]) => [name, counts[n] ?? 0]);
    return Object.fromEntries(entries) as Record<Priority, number>;
  }

  /** Queue depth per priority, into the metrics gauge. */
  async observeDepth(metrics: Metrics) {
    for (const [priority, n] of Object.entries(await this.depth()))
      metrics.jobQueueDepth.set({ priority }, n);
  }

  /**
   * Re-enqueues unfinished jobs whose queue entry is gone (Redis lost, or a crash between insert and
   * add), or finished long ago without Postgres hearing of it (failed by the stalled-job check, or
   * while Postgres was down).
   */
  async recover(store: JobStore, log: Logger): Promise<number> {
    let restored = 0;
    for (const job of await store.unfinished()) {
      const entry = await this.queue.getJob(job.id);
      if (entry) {
        if (!entry.finishedOn || Date.now() - entry.finishedOn < STALE_FINISHED_MS) continue;
        await entry.remove();
      }
      await this.add({ id: job.id, task: job.task, priority: job.priority }); // input read from the record
      restored++;
    }
    if (restored) log.warn({ restored }, 're-enqueued unfinished jobs missing from the queue');
    return restored;
  }

  async close() {
    await this.bull?.close(); // a queue never used is not made (nor BullMQ loaded) to be closed
  }
}

export interface JobWorkerOptions {
  connection: Redis;
  concurrency: number;
  store: JobStore;
  runner: TaskRunner;
  log: Logger;
  metrics?: Metrics;
  /** Start taking jobs immediately (default) or only after `resume()`. */
  autorun?: boolean;
}

/** A task whose job turned out not to be claimable: nothing to record. */
const SKIPPED = Symbol('skipped');

/** Runs queued jobs: claims the record, runs the task, stores the result or the error. */
export class JobWorker {
  readonly worker: Worker<JobData>;

  constructor(private readonly opts: JobWorkerOptions) {
    this.worker = new Worker<JobData>(QUEUE_NAME, (job, token) => this.processOrDefer(job, token), {
      connection: opts.connection,
      concurrency: opts.concurrency,
      autorun: opts.autorun ?? true,
      lockDuration: LOCK_MS,
      stalledInterval: STALLED_CHECK_MS,
      maxStalledCount: MAX_STALLED,
    });
    this.worker.on('failed', (job, err) => {
      if (!job) return;
      const final = err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
      const update = final
        ? opts.store.fail(job.data.id, err.message)
        : opts.store.requeue(job.data.id, err.message);
      update
        .then((rec) => {
          if (final && rec) opts.metrics?.jobsCompleted.inc({ task: job.data.task, status: 'failed' });
        })
        .catch((e: Error) => opts.log.error({ err: e, job: job.data.id }, 'could not record job failure'));
      opts.log.warn(
        { job: job.data.id, attempt: job.attemptsMade, final, err: err.message },
        'job attempt failed',
      );
    });
    this.worker.on('error', (err) => opts.log.error({ err }, 'job worker error'));
  }

  /**
   * Runs a job; when Postgres (its record) is unreachable, puts it back for a little later without
   * using up an attempt, so an outage of a few seconds fails no job.
   */
  private async processOrDefer(job: Job<JobData>, token?: string) {
    try {
      return await this.process(job);
    } catch (err) {
      if (!token || !isDependencyError(err)) throw err;
      this.opts.log.warn({ job: job.data.id, err: (err as Error).message }, 'dependency down: job deferred');
      await job.moveToDelayed(Date.now() + DEPENDENCY_RETRY_MS, token);
      throw new DelayedError();
    }
  }

  /**
   * Claims the job and runs its task. With the input in the queue entry the task starts at once, while
   * the claim waits for its statement; a claim still waiting when the result is ready goes with it in
   * one row change. Either way the result is recorded only if the claim found the job unfinished, so a
   * job cancelled or finished meanwhile records nothing (its run is wasted, never counted).
   */
  private async process(job: Job<JobData>) {
    const { store, metrics } = this.opts;
    const takenAt = Date.now();
    const claim = store.claim(job.data.id);
    claim.claimed.then(
      (rec) => {
        if (rec?.attempts === 1)
          metrics?.jobWait.observe({ priority: rec.priority }, (takenAt - rec.createdAt.getTime()) / 1000);
      },
      () => {},
    );
    const input = 'input' in job.data ? job.data.input : (await claim.claimed)?.input;
    if (input === undefined) return { skipped: true }; // cancelled or finished meanwhile
    const result = await this.runTask(job.data.task, input, claim);
    if (result === SKIPPED) return { skipped: true };
    if (!(await claim.finish(result))) return { skipped: true };
    metrics?.jobsCompleted.inc({ task: job.data.task, status: 'succeeded' });
    return { ok: true };
  }

  /**
   * The task's result. A failure is reported only once the claim is written (the failure handler
   * records it against a running job); when the claim found the job cancelled or finished, SKIPPED.
   */
  private async runTask(task: string, input: unknown, claim: Claim): Promise<unknown> {
    const { runner } = this.opts;
    try {
      let served;
      let decoded;
      try {
        served = runner.get(task);
        decoded = await served.module.decodeJobInput(input);
      } catch (err) {
        throw new UnrecoverableError((err as Error).message);
      }
      return (await runner.run(served, decoded)).result;
    } catch (err) {
      if (!(await claim.claimed)) return SKIPPED;
      // A client error (bad audio, undecodable image) will not get better with retries.
      if (err instanceof AppError && err.status < 500) throw new UnrecoverableError(err.message);
      throw err;
    }
  }

  resume() {
    this.worker.run().catch((err: Error) => this.opts.log.error({ err }, 'job worker stopped'));
  }

  /**
   * Stops taking jobs and waits for the active ones, at most `timeoutMs` (BullMQ's close() has no
   * deadline of its own). Jobs still running then are left to BullMQ's stalled-job recovery.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      this.worker.close().then(() => true),
      new Promise<boolean>((res) => (timer = setTimeout(() => res(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (!finished) await this.worker.close(true);
    return finished;
  }
}
