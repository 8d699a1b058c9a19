/**
 * clawstack app entry point: `node dist/main.js [--role api|worker|all]` (or `npm start`).
 *
 * Role `all` without REDIS_URL / DATABASE_URL starts a local Redis and Postgres under
 * CLAWSTACK_DATA_DIR, so one command runs the whole stack on a laptop.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, loadConfig, ROLES, type AppConfig } from './config.ts';
import {
  ensureDatabase,
  MissingServiceError,
  startLocalServices,
  type LocalService,
} from './local/services.ts';
import { releasePrespawned } from './inference/spawn.ts';
import { startService, type Service } from './service.ts';
import { DbCredentials } from './store/db.ts';
import { createLogger, wantsPrettyLogs } from './telemetry/logger.ts';
import { BUNDLE_COMPILE_PHASE, phaseSince } from './telemetry/startup.ts';

// The imports above have run (in the bundle: every dependency's and app module's top level).
phaseSince(BUNDLE_COMPILE_PHASE, 'server bundle: evaluate modules (dependencies + app)');

function roleFromArgs(argv: string[]): string | undefined {
  const i = argv.findIndex((a) => a === '--role' || a.startsWith('--role='));
  if (i < 0) return undefined;
  const arg = argv[i]!;
  return arg.includes('=') ? arg.split('=')[1] : argv[i + 1];
}

async function localApiKey(service: Service, dataDir: string): Promise<string> {
  const file = join(dataDir, 'local-api-key');
  if (existsSync(file)) {
    const key = readFileSync(file, 'utf8').trim();
    if (await service.keys.verify(key)) return key;
  }
  const { key } = await service.keys.create('local', { actor: 'local-start' });
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}

/**
 * Exits once an inference thread the launcher started and no engine took over has loaded
 * onnxruntime-node: ending the process while it loads can abort it (SIGABRT) instead of exiting `code`.
 */
async function exit(code: number): Promise<never> {
  await releasePrespawned();
  process.exit(code);
}

async function main() {
  const role = roleFromArgs(process.argv.slice(2));
  if (role !== undefined) {
    if (!(ROLES as readonly string[]).includes(role)) {
      process.stderr.write(`--role must be one of ${ROLES.join(', ')}; got "${role}"\n`);
      return exit(2);
    }
    process.env.CLAWSTACK_ROLE = role;
  }
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`clawstack: ${err.message}\n`);
      return exit(2);
    }
    throw err;
  }
  const log = createLogger(config.LOG_LEVEL, wantsPrettyLogs(config.LOG_PRETTY, process.stdout.isTTY));
  const local: LocalService[] = [];
  const stopLocal = async () => {
    for (const s of local.reverse()) await s.stop().catch(() => {});
  };
  const dataDir = resolve(config.CLAWSTACK_DATA_DIR);

  // Signals are handled from the first moment: a SIGTERM during start-up still stops what was started.
  let service: Service | undefined;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    const { clean } = service ? await service.drain() : { clean: true };
    await stopLocal();
    await exit(clean ? 0 : 1);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  // Under `npm start`, an npm killed with -9 cannot pass a signal on: an app whose parent is gone
  // (it was re-parented) stops as on SIGTERM, with the Redis and Postgres it started.
  if (process.env.npm_lifecycle_event === 'start') {
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) void shutdown('parent exited');
    }, 1000).unref();
  }

  try {
    let redisUrl = config.REDIS_URL;
    let databaseUrl =
      config.DATABASE_URL ??
      (config.DATABASE_URL_FILE ? (await DbCredentials.fromFile(config.DATABASE_URL_FILE)).url : undefined);
    if (!redisUrl || !databaseUrl) {
      if (config.CLAWSTACK_ROLE !== 'all') {
        throw new ConfigError(
          `role ${config.CLAWSTACK_ROLE} needs REDIS_URL and DATABASE_URL or DATABASE_URL_FILE (only role "all" starts local ones)`,
        );
      }
      mkdirSync(dataDir, { recursive: true });
      const { redis, postgres } = await startLocalServices({
        redis: redisUrl ? undefined : join(dataDir, 'redis'),
        postgres: databaseUrl ? undefined : join(dataDir, 'postgres'),
      });
      if (redis) {
        local.push(redis);
        redisUrl = redis.url;
        log.info({ url: redis.url, dir: join(dataDir, 'redis') }, 'started local Redis');
      }
      if (postgres) {
        local.push(postgres);
        databaseUrl = await ensureDatabase(postgres.url, 'clawstack');
        log.info({ url: databaseUrl, dir: join(dataDir, 'postgres') }, 'started local Postgres');
      }
    }
    service = await startService({
      config: { ...config, REDIS_URL: redisUrl!, DATABASE_URL: databaseUrl! },
      log,
    });
    if (stopping) return; // a signal arrived during start-up; shutdown() is already exiting
    if (local.length > 0) {
      // Lets `npm run keys` find the running local stack.
      writeFileSync(
        join(dataDir, 'local.json'),
        JSON.stringify({ pid: process.pid, redisUrl, databaseUrl }),
        { mode: 0o600 },
      );
    }
  } catch (err) {
    await stopLocal();
    if (err instanceof ConfigError || err instanceof MissingServiceError) {
      process.stderr.write(`clawstack: ${err.message}\n`);
      return exit(2);
    }
    log.fatal({ err }, 'start-up failed');
    return exit(1);
  }

  log.info({ url: service.url, role: config.CLAWSTACK_ROLE }, 'clawstack is ready');
  if (local.length > 0 && config.CLAWSTACK_ROLE === 'all') {
    const key = await localApiKey(service, dataDir);
    process.stdout.write(
      [
        '',
        `clawstack is running at ${service.url}  (data in ${dataDir})`,
        `local API key: ${key}  (saved in ${join(dataDir, 'local-api-key')})`,
        '',
        'try:',
        `  curl -s ${service.url}/v1/text/classify -H 'Authorization: Bearer ${key}' -H 'Content-Type: application/json' -d '{"text":"WIN a FREE cruise! Click now"}'`,
        `  curl -s ${service.url}/v1/jobs -H 'Authorization: Bearer ${key}' -H 'Content-Type: application/json' -d '{"task":"text.classify","input":{"text":"lunch at noon?"},"priority":"high"}'`,
        '',
        'Ctrl-C stops everything this command started.',
        '',
      ].join('\n'),
    );
  }
}

void main();
