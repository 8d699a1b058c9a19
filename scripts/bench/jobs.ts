/**
 * (d) Async jobs end to end: N jobs submitted by autocannon (fixed amount, some concurrency), one per
 * `POST /v1/jobs` or `perRequest` at a time with `POST /v1/jobs/batch`,
 * then Postgres is polled until every one of them has finished. Throughput and latency come from the job
 * records themselves (created_at → finished_at, both written by Postgres' clock). What each job cost the
 * server (CPU), Redis and Postgres is read around the run (./queue-costs.ts).
 */
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { runLoad, type LoadResult } from './load.ts';
import { cpuSeconds } from './procs.ts';
import { perJob, readCounters, type PerJobCosts } from './queue-costs.ts';
import { readJobTimes, stageStats, type StageStats } from './queue-stages.ts';

export interface JobsResult {
  task: string;
  submitted: number;
  succeeded: number;
  failed: number;
  submit: LoadResult;
  /** finished jobs / (last finished_at − first created_at). */
  jobsPerSec: number;
  p50: number;
  p99: number;
  drainSeconds: number;
  /** server CPU (all threads) from the first submit to the last job finished, per job */
  serverCpuMsPerJob: number;
  costs: PerJobCosts;
  /** where a job's wall time went on the worker side (./queue-stages.ts) */
  stages?: StageStats;
}

export async function runJobs(opts: {
  url: string;
  databaseUrl: string;
  redisUrl: string;
  apiKey: string;
  task: string;
  /** the jobs' inputs, rotated */
  inputs: unknown[];
  count: number;
  connections: number;
  serverPid: number;
  timeoutMs?: number;
  /** Jobs per request: absent, one `POST /v1/jobs` each; n, `POST /v1/jobs/batch` with n jobs each. */
  perRequest?: number;
}): Promise<JobsResult> {
  const db = new pg.Client({ connectionString: opts.databaseUrl });
  await db.connect();
  try {
    const marker = (await db.query<{ now: Date }>('SELECT clock_timestamp() AS now')).rows[0]!.now;
    const per = opts.perRequest;
    const bodies = per
      ? batchBodies(opts.task, opts.inputs, per)
      : opts.inputs.map((input) => JSON.stringify({ task: opts.task, input }));
    const before = await readCounters(opts.redisUrl, opts.databaseUrl);
    const cpu0 = cpuSeconds(opts.serverPid);
    const submit = await runLoad({
      url: opts.url,
      path: per ? '/v1/jobs/batch' : '/v1/jobs',
      headers: { authorization: `Bearer ${opts.apiKey}` },
      bodies,
      connections: opts.connections,
      amount: per ? Math.ceil(opts.count / per) : opts.count,
      serverPid: opts.serverPid,
    });
    const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
    const submittedAt = Date.now();
    let counts = { total: 0, done: 0, succeeded: 0, failed: 0 };
    for (;;) {
      const r = await db.query<{ total: string; done: string; succeeded: string; failed: string }>(
        `SELECT count(*) AS total,
                count(*) FILTER (WHERE status IN ('succeeded', 'failed', 'cancelled')) AS done,
                count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
                count(*) FILTER (WHERE status = 'failed') AS failed
           FROM jobs WHERE created_at >= $1`,
        [marker],
      );
      const row = r.rows[0]!;
      counts = {
        total: Number(row.total),
        done: Number(row.done),
        succeeded: Number(row.succeeded),
        failed: Number(row.failed),
      };
      if (counts.total >= submit.ok * (per ?? 1) && counts.done >= counts.total) break;
      if (Date.now() > deadline) throw new Error(`jobs did not finish in time: ${JSON.stringify(counts)}`);
      await sleep(100);
    }
    const drainSeconds = (Date.now() - submittedAt) / 1000;
    const cpuPerJob = ((cpuSeconds(opts.serverPid) - cpu0) * 1000) / counts.total;
    const costs = perJob(before, await readCounters(opts.redisUrl, opts.databaseUrl), counts.total);
    const stats = await db.query<{ n: string; span: number; p50: number; p99: number }>(
      `SELECT count(*) AS n,
              extract(epoch FROM max(finished_at) - min(created_at)) AS span,
              percentile_disc(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at) * 1000) AS p50,
              percentile_disc(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at) * 1000) AS p99
         FROM jobs WHERE created_at >= $1 AND status = 'succeeded'`,
      [marker],
    );
    const s = stats.rows[0]!;
    const times = await readJobTimes(db, opts.redisUrl, marker);
    return {
      task: opts.task,
      submitted: counts.total,
      succeeded: counts.succeeded,
      failed: counts.failed,
      submit,
      jobsPerSec: Number(s.n) / Number(s.span),
      p50: Number(s.p50),
      p99: Number(s.p99),
      drainSeconds,
      serverCpuMsPerJob: cpuPerJob,
      costs,
      ...(times.length ? { stages: stageStats(times) } : {}),
    };
  } finally {
    await db.end();
  }
}

/** Batch bodies of `per` jobs each, rotating through the inputs (as many bodies as inputs). */
export function batchBodies(task: string, inputs: unknown[], per: number): string[] {
  return inputs.map((_, i) =>
    JSON.stringify({
      jobs: Array.from({ length: per }, (_, k) => ({ task, input: inputs[(i + k) % inputs.length] })),
    }),
  );
}
