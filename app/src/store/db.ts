/** Postgres access: one pool per process, and the migrations that run at start-up. */
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Logger } from '../telemetry/logger.ts';

export type Db = pg.Pool;

export function createPool(url: string, max = 10): Db {
  // A connection attempt is bounded, so a request never waits on a Postgres that is down: it fails
  // fast and the API answers 503.
  const pool = new pg.Pool({
    connectionString: url,
    max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
    keepAlive: true,
  });
  // An idle client's error (server restart) must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  return pool;
}

function migrationsDir(): string {
  // Sources: app/migrations; the esbuild bundle ships them as dist/migrations.
  const rel = import.meta.url.endsWith('.ts') ? '../../migrations/' : './migrations/';
  return fileURLToPath(new URL(rel, import.meta.url));
}

/**
 * Applies app/migrations/*.sql in name order, each once, in a transaction, under an advisory lock so
 * that an API and a worker starting together do not race.
 */
export async function migrate(db: Db, log: Logger, dir = migrationsDir()): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const client = await db.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock(727274)');
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const done = new Set(
      (await client.query<{ version: string }>('SELECT version FROM schema_migrations')).rows.map(
        (r) => r.version,
      ),
    );
    for (const file of files) {
      if (done.has(file)) continue;
      const sql = await readFile(`${dir}/${file}`, 'utf8');
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [file]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${file} failed: ${(err as Error).message}`, { cause: err });
      }
      applied.push(file);
      log.info({ migration: file }, 'applied migration');
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock(727274)').catch(() => {});
    client.release();
  }
  return applied;
}
