/**
 * Test harness: a real Redis and a real Postgres on loopback (random ports, temp dirs), started once
 * per test file and removed afterwards.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDatabase, startLocalServices } from '../../app/src/local/services.ts';

export interface TestServices {
  redisUrl: string;
  /** Admin URL of the cluster; use `database()` for a fresh database per app. */
  postgresUrl: string;
  database(name?: string): Promise<string>;
  stop(): Promise<void>;
}

let counter = 0;

export async function startTestServices(): Promise<TestServices> {
  const dir = mkdtempSync(join(tmpdir(), 'clawstack-test-'));
  chmodSync(dir, 0o755); // as root, Postgres runs as the postgres user and must reach its data dir
  try {
    const local = await startLocalServices({ redis: join(dir, 'redis'), postgres: join(dir, 'pg') });
    const postgres = local.postgres!;
    return {
      redisUrl: local.redis!.url,
      postgresUrl: postgres.url,
      database: (name = `t${process.pid}_${++counter}`) => ensureDatabase(postgres.url, name),
      async stop() {
        await local.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
