/**
 * migrate() (app/src/store/db.ts) against a real Postgres: a new database gets every migration, a current
 * one is recognised by one query without taking the migration lock, a new file is applied under it.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import pino from 'pino';
import { migrate } from '../../app/src/store/db.ts';
import { startTestServices, type TestServices } from '../harness/services.ts';

let services: TestServices;
const dir = mkdtempSync(join(tmpdir(), 'clawstack-migrations-'));
const log = pino({ level: 'silent' });
before(async () => {
  services = await startTestServices();
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await services?.stop();
});

test('new database: all applied; current: none, without waiting for the lock; a new file: only it', async () => {
  const pool = new pg.Pool({ connectionString: await services.database() });
  const locker = new pg.Client({ connectionString: pool.options.connectionString });
  const migrations = join(dir, 'migrations');
  cpSync(resolve('app/migrations'), migrations, { recursive: true });
  try {
    const all = await migrate(pool, log, migrations);
    assert.deepEqual(all, ['001_initial.sql', '002_idempotency_keys.sql', '003_unfinished_jobs_index.sql']);
    // Another process holds the migration lock (it is migrating): a current schema does not wait for it.
    await locker.connect();
    await locker.query('SELECT pg_advisory_lock(727274)');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise((_, rej) => {
      timer = setTimeout(() => rej(new Error('waited for the lock')), 10_000);
    });
    assert.deepEqual(await Promise.race([migrate(pool, log, migrations), timeout]), []);
    clearTimeout(timer);
    // A new migration waits for the lock, then is applied alone.
    writeFileSync(join(migrations, '999_test.sql'), 'CREATE TABLE migrate_test (x int);');
    const pending = migrate(pool, log, migrations);
    await locker.query('SELECT pg_advisory_unlock(727274)');
    assert.deepEqual(await pending, ['999_test.sql']);
    assert.equal((await pool.query('SELECT count(*)::int AS n FROM migrate_test')).rows[0].n, 0);
    assert.deepEqual(await migrate(pool, log, migrations), []);
  } finally {
    await locker.end().catch(() => {});
    await pool.end();
  }
});
