/**
 * (d) Async jobs end to end: N `POST /v1/jobs` submitted by autocannon (fixed amount, some concurrency),
 * then Postgres is polled until every one of them has finished. Throughput and latency come from the job
 * records themselves (created_at → finished_at, both written by Postgres' clock).
 */
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { runLoad, type LoadResult } from './load.ts';

export interface JobsResult {
  submitted: number;
  succeeded: number;
  failed: number;
  submit: LoadResult;
  /** finished jobs / (last finished_at − first created_at). */
  jobsPerSec: number;
  p50: number;
  p99: number;
  drainSeconds: number;
}

export async function runJobs(opts: {
  url: string;
  databaseUrl: string;
  apiKey: string;
  texts: string[];
  count: number;
  connections: number;
  serverPid: number;
  timeoutMs?: number;
}): Promise<JobsResult> {
  const db = new pg.Client({ connectionString: opts.databaseUrl });
  await db.connect();
  try {
    const marker = (await db.query<{ now: Date }>('SELECT clock_timestamp() AS now')).rows[0]!.now;
    const bodies = opts.texts.map((text) => JSON.stringify({ task: 'text.classify', input: { text } }));
    const submit = await runLoad({
      url: opts.url,
      path: '/v1/jobs',
      headers: { authorization: `Bearer ${opts.apiKey}` },
      bodies,
      connections: opts.connections,
      amount: opts.count,
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
      if (counts.total >= submit.ok && counts.done >= counts.total) break;
      if (Date.now() > deadline) throw new Error(`jobs did not finish in time: ${JSON.stringify(counts)}`);
      await sleep(100);
    }
    const drainSeconds = (Date.now() - submittedAt) / 1000;
    const stats = await db.query<{ n: string; span: number; p50: number; p99: number }>(
      `SELECT count(*) AS n,
              extract(epoch FROM max(finished_at) - min(created_at)) AS span,
              percentile_disc(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at) * 1000) AS p50,
              percentile_disc(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at) * 1000) AS p99
         FROM jobs WHERE created_at >= $1 AND status = 'succeeded'`,
      [marker],
    );
    const s = stats.rows[0]!;
    return {
      submitted: counts.total,
      succeeded: counts.succeeded,
      failed: counts.failed,
      submit,
      jobsPerSec: Number(s.n) / Number(s.span),
      p50: Number(s.p50),
      p99: Number(s.p99),
      drainSeconds,
    };
  } finally {
    await db.end();
  }
}
