/**
 * (d) What one job costs the stores, read from Redis and Postgres themselves around a run: Redis
 * commands (every command, those run inside BullMQ's Lua scripts included), Lua script calls (one round
 * trip each), Redis CPU, and Postgres write transactions (each one a commit that waits for a WAL flush;
 * counted as transaction ids handed out, which only writes take, so the bench's own polling reads do
 * not count).
 */
import { Redis } from 'ioredis';
import pg from 'pg';

export interface StoreCounters {
  redisCommands: number;
  redisScripts: number;
  redisCpuSeconds: number;
  pgWriteTransactions: number;
  /** calls per Redis command (commandstats), Lua-internal calls included */
  commands?: Record<string, number>;
}

export interface PerJobCosts {
  redisCommands: number;
  redisScripts: number;
  redisCpuMs: number;
  pgWriteTransactions: number;
  /** Redis calls per job by command, most first (absent in runs from before it was read) */
  byCommand?: Record<string, number>;
}

const field = (info: string, name: string) =>
  Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);

/** Every command's calls=N in an `INFO commandstats` answer. */
export function commandCalls(info: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/** Calls per job by command between two readings, most first; commands that did not run are left out. */
export function commandsPerJob(
  before: Record<string, number>,
  after: Record<string, number>,
  jobs: number,
): Record<string, number> {
  const rows = Object.entries(after)
    .map(([cmd, n]) => [cmd, (n - (before[cmd] ?? 0)) / jobs] as const)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);
  return Object.fromEntries(rows);
}

/** calls=N of one cmdstat line, 0 when the command never ran. */
const calls = (info: string, cmd: string) =>
  Number(new RegExp(`^cmdstat_${cmd}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);

export async function readCounters(redisUrl: string, databaseUrl: string): Promise<StoreCounters> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const db = new pg.Client({ connectionString: databaseUrl });
  try {
    await db.connect();
    const [stats, cmds, cpu, xid] = await Promise.all([
      redis.info('stats'),
      redis.info('commandstats'),
      redis.info('cpu'),
      db.query<{ xmax: string }>('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xmax'),
    ]);
    return {
      // minus the three INFO calls of this probe itself is noise at thousands of jobs; not corrected
      redisCommands: field(stats, 'total_commands_processed'),
      redisScripts: ['evalsha', 'eval', 'evalsha_ro', 'eval_ro', 'fcall'].reduce(
        (a, c) => a + calls(cmds, c),
        0,
      ),
      redisCpuSeconds: field(cpu, 'used_cpu_user') + field(cpu, 'used_cpu_sys'),
      pgWriteTransactions: Number(xid.rows[0]!.xmax),
      commands: commandCalls(cmds),
    };
  } finally {
    redis.disconnect();
    await db.end();
  }
}

/** Per-job costs between two readings. */
export function perJob(before: StoreCounters, after: StoreCounters, jobs: number): PerJobCosts {
  return {
    redisCommands: (after.redisCommands - before.redisCommands) / jobs,
    redisScripts: (after.redisScripts - before.redisScripts) / jobs,
    redisCpuMs: ((after.redisCpuSeconds - before.redisCpuSeconds) * 1000) / jobs,
    pgWriteTransactions: (after.pgWriteTransactions - before.pgWriteTransactions) / jobs,
    byCommand: commandsPerJob(before.commands ?? {}, after.commands ?? {}, jobs),
  };
}
