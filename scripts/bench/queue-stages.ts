/**
 * (d) Where a job's wall time goes on the worker side, from timestamps the stores already keep (no
 * instrumentation in the app): BullMQ's job hash (`timestamp` = added, `processedOn` = taken by a
 * worker slot, `finishedOn` = the slot asked to move it to completed, all Date.now() of a Node process)
 * and Postgres' job record (`started_at` = the claim statement ran, `finished_at` = the result statement
 * ran, both clock_timestamp() inside the statement). One machine, one clock.
 */
import { Redis } from 'ioredis';
import pg from 'pg';

export interface JobTimes {
  addedMs: number;
  fetchedMs: number;
  claimedMs: number;
  resultMs: number;
  completedMs: number;
}

export const STAGES = [
  'waiting in Redis (added → taken by a slot)',
  'taken → claim statement ran (coalescer wait + round trip)',
  'claim ran → result statement ran (claim commit, decode, run, coalescer wait, round trip)',
  'result ran → moveToCompleted asked (result commit + return)',
  'slot busy per job (taken → moveToCompleted asked)',
] as const;

export type StageStats = Record<(typeof STAGES)[number], { p50: number; mean: number }>;

const stat = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: s[Math.floor(s.length / 2)] ?? NaN, mean: s.reduce((a, x) => a + x, 0) / s.length };
};

/** Median and mean of each stage over the jobs (ms). */
export function stageStats(jobs: JobTimes[]): StageStats {
  const d = (f: (j: JobTimes) => number) => stat(jobs.map(f));
  return {
    [STAGES[0]]: d((j) => j.fetchedMs - j.addedMs),
    [STAGES[1]]: d((j) => j.claimedMs - j.fetchedMs),
    [STAGES[2]]: d((j) => j.resultMs - j.claimedMs),
    [STAGES[3]]: d((j) => j.completedMs - j.resultMs),
    [STAGES[4]]: d((j) => j.completedMs - j.fetchedMs),
  } as StageStats;
}

/** The timestamps of the succeeded jobs created since `marker` whose queue entries are still kept. */
export async function readJobTimes(
  db: pg.Client,
  redisUrl: string,
  marker: Date,
  queueName = 'clawstack-jobs',
): Promise<JobTimes[]> {
  const rows = (
    await db.query<{ id: string; started: number; finished: number }>(
      `SELECT id, extract(epoch FROM started_at) * 1000 AS started, extract(epoch FROM finished_at) * 1000 AS finished
         FROM jobs WHERE created_at >= $1 AND status = 'succeeded'`,
      [marker],
    )
  ).rows;
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const pipe = redis.pipeline();
    for (const r of rows) pipe.hmget(`bull:${queueName}:${r.id}`, 'timestamp', 'processedOn', 'finishedOn');
    const hashes = (await pipe.exec()) ?? [];
    return rows.flatMap((r, i) => {
      const [added, fetched, completed] = ((hashes[i]?.[1] ?? []) as (string | null)[]).map(Number);
      if (!added || !fetched || !completed) return [];
      return [
        {
          addedMs: added,
          fetchedMs: fetched,
          claimedMs: Number(r.started),
          resultMs: Number(r.finished),
          completedMs: completed,
        },
      ];
    });
  } finally {
    redis.disconnect();
  }
}
