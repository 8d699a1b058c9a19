/**
 * The stack the fault tests break: a real Redis (AOF, password) and Postgres (password in the URL) on
 * fixed loopback ports, so either can be killed and started again at the same address, and separate
 * api and worker processes (app/src/main.ts) restarted by this harness the way a supervisor would.
 * Every line any process prints is kept for the secret scan.
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import pino from 'pino';
import {
  ensureDatabase,
  freePort,
  startPostgres,
  startRedis,
  type LocalService,
} from '../../app/src/local/services.ts';
import { migrate } from '../../app/src/store/db.ts';
import { ApiKeyStore } from '../../app/src/store/keys.ts';
import { spawnApp, type SpawnedApp } from '../harness/app.ts';

export type Role = 'api' | 'worker';

export interface Fault {
  name: string;
  /** A dependency goes away: readiness must have said 503 meanwhile. */
  dependency?: boolean;
  /** Breaks something and heals it; resolves once healed. */
  inject(): Promise<void>;
}

/** The text model's file in a stack's model directory, moved away or corrupted until `restore()`. */
export function breakModel(modelDir: string, how: 'missing' | 'corrupt') {
  const file = join(modelDir, 'text-spam/1/model.int8.onnx');
  const good = readFileSync(file);
  if (how === 'missing') renameSync(file, `${file}.away`);
  else writeFileSync(file, Buffer.from(good).fill(0x5a, 1000, 2000));
  return {
    restore() {
      if (how === 'missing') renameSync(`${file}.away`, file);
      else writeFileSync(file, good);
    },
  };
}

export class FaultStack {
  readonly dir = mkdtempSync(join(tmpdir(), 'clawstack-faults-'));
  readonly modelDir = join(this.dir, 'models');
  /** Every secret the stack knows: none may ever appear in a log line. */
  readonly secrets = {
    redisPassword: `redis-${randomBytes(12).toString('hex')}`,
    postgresPassword: `pg-${randomBytes(12).toString('hex')}`,
    bootstrapKey: `cs_boot_${randomBytes(18).toString('base64url')}`,
    apiKey: '',
  };
  redis!: LocalService;
  postgres!: LocalService;
  redisUrl = '';
  databaseUrl = '';
  ports = { redis: 0, postgres: 0, api: 0, worker: 0 };
  readonly procs: Partial<Record<Role, SpawnedApp>> = {};
  /** Output of every process this stack ran, dead or alive. */
  private readonly outputs: (() => string)[] = [];
  db!: pg.Pool;

  get apiUrl() {
    return `http://127.0.0.1:${this.ports.api}`;
  }

  async start() {
    chmodSync(this.dir, 0o755); // as root, Postgres runs as the postgres user and must reach its data dir
    mkdirSync(join(this.modelDir, 'text-spam'), { recursive: true });
    cpSync('models/manifest.json', join(this.modelDir, 'manifest.json'));
    cpSync('models/text-spam', join(this.modelDir, 'text-spam'), { recursive: true });
    for (const k of Object.keys(this.ports) as (keyof typeof this.ports)[]) this.ports[k] = await freePort();
    await Promise.all([this.startRedis(), this.startPostgres()]);
    const url = await ensureDatabase(this.postgres.url, 'clawstack');
    const withPassword = new URL(url);
    withPassword.password = this.secrets.postgresPassword; // trust auth ignores it; the logs must too
    this.databaseUrl = withPassword.toString();
    this.db = new pg.Pool({ connectionString: this.databaseUrl, max: 4, connectionTimeoutMillis: 2000 });
    this.db.on('error', () => {});
    await migrate(this.db, pino({ level: 'silent' }));
    this.secrets.apiKey = (await new ApiKeyStore(this.db).create('faults')).key;
    await Promise.all([this.spawn('api'), this.spawn('worker')]);
  }

  async startRedis() {
    this.redis = await startRedis(join(this.dir, 'redis'), {
      port: this.ports.redis,
      password: this.secrets.redisPassword,
    });
    this.redisUrl = this.redis.url;
  }

  async startPostgres() {
    this.postgres = await startPostgres(join(this.dir, 'pg'), { port: this.ports.postgres });
  }

  env(role: Role): Record<string, string> {
    return {
      CLAWSTACK_ROLE: role,
      PORT: String(this.ports[role]),
      REDIS_URL: this.redisUrl,
      DATABASE_URL: this.databaseUrl,
      MODEL_SOURCE: this.modelDir,
      BOOTSTRAP_API_KEY: this.secrets.bootstrapKey,
      WORKER_CONCURRENCY: '8',
      DRAIN_TIMEOUT_MS: '15000',
      AUTH_CACHE_MS: '2000',
    };
  }

  /** Starts a role's process and waits until it is ready. */
  async spawn(role: Role): Promise<SpawnedApp> {
    // Generous: on a shared, busy machine loading the app under tsx alone can take half a minute.
    const app = await spawnApp(this.env(role), 120_000).catch((err: Error) => {
      this.outputs.push(() => err.message);
      throw err;
    });
    this.outputs.push(app.output);
    this.procs[role] = app;
    return app;
  }

  /**
   * Starts a role's process the way systemd's `Restart=always` or a Kubernetes Deployment would: a
   * process that exits during start-up (a dependency is down, a model file fails its check) is started
   * again a second later, until one is ready. Returns the start-up errors it went through.
   */
  async supervise(role: Role, timeoutMs = 120_000): Promise<string[]> {
    const failures: string[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.spawn(role);
        return failures;
      } catch (err) {
        failures.push((err as Error).message);
        if (Date.now() > deadline) throw err;
        await sleep(1000);
      }
    }
  }

  /** Starts a process that must not come up (it is stopped if it did); returns why it did not, or 'started'. */
  async refusedStart(role: Role): Promise<string> {
    try {
      await this.spawn(role);
    } catch (err) {
      return (err as Error).message;
    }
    await this.signal(role, 'SIGTERM');
    return 'started';
  }

  /**
   * Kills a server with `signal` and waits until it is gone: SIGKILL (Redis: no save; Postgres: no
   * shutdown at all) or SIGQUIT (Postgres's immediate shutdown, crash recovery at the next start).
   */
  async crash(server: 'redis' | 'postgres', signal: 'SIGKILL' | 'SIGQUIT') {
    process.kill(this[server].pid, signal);
    await this[server].stop();
  }

  /** Sends `signal` to a role's process and waits for it to exit; returns its exit code or signal. */
  async signal(role: Role, signal: NodeJS.Signals) {
    const app = this.procs[role];
    if (!app || app.child.exitCode !== null) return null;
    app.child.kill(signal);
    return app.exited;
  }

  /** All output so far of every process (the secret scan reads this). */
  logs(): string {
    return this.outputs.map((o) => o()).join('\n');
  }

  async stop() {
    for (const role of ['api', 'worker'] as const) {
      const app = this.procs[role];
      if (app && app.child.exitCode === null && app.child.signalCode === null) {
        app.child.kill('SIGTERM');
        await app.exited;
      }
    }
    await this.db?.end().catch(() => {});
    await Promise.all([this.redis?.stop(), this.postgres?.stop()]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
