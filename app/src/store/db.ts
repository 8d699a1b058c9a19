/** Postgres access: one pool per process, and the migrations that run at start-up. */
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Logger } from '../telemetry/logger.ts';

export type Db = pg.Pool;

/** SQLSTATEs of a refused login: invalid_password, invalid_authorization_specification. */
const AUTH_FAILURES = new Set(['28P01', '28000']);

/** True when Postgres refused the login itself (a rotated password), not a query. */
export function isAuthFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && AUTH_FAILURES.has(code);
}

/**
 * The Postgres URL new connections use: fixed, or read from a file the host rewrites when the
 * credentials rotate (DATABASE_URL_FILE). Connections already open keep the login they made.
 */
export class DbCredentials {
  private current: string;

  constructor(
    initialUrl: string,
    /** The file to re-read on a refused login; absent: the URL never changes. */
    readonly file?: string,
  ) {
    this.current = initialUrl;
  }

  /** Credentials from `file` (its first line). */
  static async fromFile(file: string): Promise<DbCredentials> {
    return new DbCredentials(await readUrlFile(file), file);
  }

  get url(): string {
    return this.current;
  }

  /** Re-reads the file; true when the URL in it differs from the one in use. */
  async refresh(): Promise<boolean> {
    if (!this.file) return false;
    const next = await readUrlFile(this.file).catch(() => this.current);
    if (next === this.current || next === '') return false;
    this.current = next;
    return true;
  }
}

async function readUrlFile(file: string): Promise<string> {
  return (await readFile(file, 'utf8')).split('\n')[0]!.trim();
}

type ConnectCallback = (
  err: Error | undefined,
  client: pg.PoolClient | undefined,
  done: (release?: Error | boolean) => void,
) => void;

/**
 * A pool whose new connections log in with the current credentials, and which, when a login is
 * refused, re-reads them once and tries again (a rotation the host has already written). A login
 * still refused surfaces as the error (a dependency error: 503 with Retry-After).
 */
class RecoveringPool extends pg.Pool {
  constructor(
    config: pg.PoolConfig,
    private readonly credentials: DbCredentials,
    private readonly onRefresh: () => void,
  ) {
    // pg-pool constructs each client from the pool's options; this class gives it the URL of now.
    const Client = class extends pg.Client {
      constructor() {
        super({ ...config, connectionString: credentials.url });
      }
    };
    super({ ...config, Client });
  }

  private async connectRecovering(): Promise<pg.PoolClient> {
    try {
      return await super.connect();
    } catch (err) {
      if (!isAuthFailure(err) || !(await this.credentials.refresh())) throw err;
      this.onRefresh();
      return super.connect();
    }
  }

  // pg-pool's own query() checks a client out with the callback form, so both forms recover.
  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | void {
    const connected = this.connectRecovering();
    if (!callback) return connected;
    connected.then(
      (client) => callback(undefined, client, (release) => client.release(release)),
      (err: Error) => callback(err, undefined, () => {}),
    );
  }
}

export function createPool(
  source: string | DbCredentials,
  max = 10,
  /** Called when a refused login made the pool take new credentials. */
  onRefresh: () => void = () => {},
): Db {
  const credentials = typeof source === 'string' ? new DbCredentials(source) : source;
  // A connection attempt is bounded, so a request never waits on a Postgres that is down: it fails
  // fast and the API answers 503.
  const pool = new RecoveringPool(
    // connectionString: the URL at creation (readers of pool.options); each client takes the current one.
    {
      connectionString: credentials.url,
      max,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 5_000,
      keepAlive: true,
    },
    credentials,
    onRefresh,
  );
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
  // Every start after the first finds the schema current: one query, without the lock and its round trips.
  if (await allApplied(db, files)) return [];
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

/** Whether every migration in `files` is recorded (each is recorded in the transaction that applied it). */
async function allApplied(db: Db, files: string[]): Promise<boolean> {
  try {
    const { rows } = await db.query<{ version: string }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((r) => r.version));
    return files.every((f) => done.has(f));
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return false; // no schema_migrations: a new database
    throw err;
  }
}
