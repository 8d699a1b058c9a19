/**
 * (d) Where a job's wall time goes on the worker side, from timestamps the stores already keep (no
 * instrumentation in the app): BullMQ's events stream (`waiting` = added, `active` = taken by a worker
 * slot, `completed` = moved to completed; the stream ids are Redis' clock in ms) and Postgres' job record
 * (`started_at` = the claim statement ran, `finished_at` = the result statement ran, both
 * clock_timestamp() inside the statement). One machine, one clock.
 */
import { Redis } from 'ioredis';
import type pg from 'pg';

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
  'claim ran → result statement ran (claim commit, decode, run, coalescer wait, round trip; 0 when the result went with the claim)',
  'result ran → completed in Redis (result commit, return, moveToCompleted)',
  'slot busy per job (taken → completed)',
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

/**
 * Per job id, when BullMQ's events stream got its `waiting`, `active` and `completed` events (the stream
 * id's milliseconds: Redis' clock). The stream is capped (~10,000 events), so only the latest jobs have
 * all three; the queue's own entries are removed on completion and keep no timestamps.
 */
export function eventTimes(entries: [string, string[]][]): Map<string, Partial<Record<string, number>>> {
  const out = new Map<string, Partial<Record<string, number>>>();
  for (const [id, fields] of entries) {
    const at = Number(id.split('-')[0]);
    const field = (name: string) => fields[fields.indexOf(name) + 1];
    const event = field('event');
    const jobId = fields.includes('jobId') ? field('jobId') : undefined;
    if (!event || !jobId) continue;
    const times = out.get(jobId) ?? {};
    times[event] ??= at;
    out.set(jobId, times);
  }
  return out;
}

/** The timestamps of the succeeded jobs created since `marker` that are still in the events stream. */
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
    const events = eventTimes(await redis.xrange(`bull:${queueName}:events`, '-', '+'));
    return rows.flatMap((r) => {
      const t = events.get(r.id);
      if (!t?.waiting || !t.active || !t.completed) return [];
      return [
        {
          addedMs: t.waiting,
          fetchedMs: t.active,
          claimedMs: Number(r.started),
          resultMs: Number(r.finished),
          completedMs: t.completed,
        },
      ];
    });
  } finally {
    redis.disconnect();
  }
}
