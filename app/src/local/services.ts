/**
 * Local Redis and Postgres for `npm start` without REDIS_URL/DATABASE_URL, and for the test harness.
 * Both run as child servers bound to loopback on free ports, with data in a directory of ours, so a
 * restart keeps jobs and keys.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export class MissingServiceError extends Error {}

const REDIS_INSTALL = 'sudo apt-get install -y redis-server   (macOS: brew install redis)';
const POSTGRES_INSTALL = 'sudo apt-get install -y postgresql   (macOS: brew install postgresql@16)';

/** A free TCP port on loopback, as the OS hands it out. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Postgres binaries: on PATH, or in Debian's versioned directory. */
function postgresBin(name: string): string | undefined {
  const onPath = which(name);
  if (onPath) return onPath;
  const r = spawnSync('sh', ['-c', `ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1`], {
    encoding: 'utf8',
  });
  const dir = r.stdout.trim();
  return dir && existsSync(join(dir, name)) ? join(dir, name) : undefined;
}

export interface LocalService {
  url: string;
  /** The server's process id (the fault tests signal it directly). */
  pid: number;
  stop(): Promise<void>;
}

/**
 * argv prefix that makes a child get `signal` when this process dies, even by `kill -9` (Linux
 * `setpriv --pdeathsig`, util-linux): a killed `npm start` leaves no Redis or Postgres behind. Where
 * setpriv is missing (macOS) the child is started plainly and the next start stops the stale one.
 */
function diesWithUs(signal: 'TERM' | 'INT'): string[] {
  const setpriv = process.platform === 'linux' ? which('setpriv') : undefined;
  return setpriv ? [setpriv, '--pdeathsig', signal, '--'] : [];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The process still has this command name (guards against a pid reused since the pid file was written). */
function runs(pid: number, name: string): boolean {
  const comm = `/proc/${pid}/comm`;
  if (!existsSync('/proc/self/comm')) return alive(pid);
  try {
    return readFileSync(comm, 'utf8').includes(name);
  } catch {
    return false;
  }
}

async function exited(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`${what} did not become ready within ${timeoutMs} ms`);
}

/** Stops a server a killed run left behind (its pid file still names a live process of that name). */
async function stopStale(pidFile: string, name: string) {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !runs(pid, name)) return;
  process.kill(pid, 'SIGTERM');
  if (!(await exited(pid, 10_000))) {
    process.kill(pid, 'SIGKILL');
    await exited(pid, 5_000);
  }
}

function exitPromise(child: ChildProcess): Promise<void> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) res();
    else child.once('exit', () => res());
  });
}

function redisServerBin(): string {
  const bin = which('redis-server');
  if (!bin)
    throw new MissingServiceError(`redis-server is not installed. Install it with:\n  ${REDIS_INSTALL}`);
  return bin;
}

function postgresBins(): { initdb: string; pgCtl: string } {
  const initdb = postgresBin('initdb');
  const pgCtl = postgresBin('pg_ctl');
  if (!initdb || !pgCtl) {
    throw new MissingServiceError(
      `Postgres server binaries (initdb, pg_ctl) were not found. Install them with:\n  ${POSTGRES_INSTALL}`,
    );
  }
  return { initdb, pgCtl };
}

export interface LocalServices {
  redis?: LocalService;
  postgres?: LocalService;
  /** Stops whatever was started (safe to call twice). */
  stop(): Promise<void>;
}

/**
 * Starts the local services asked for (a data directory each). Every prerequisite is checked before
 * anything starts, so a missing one fails at once with its install command and leaves nothing running;
 * if one fails to start, the ones that did are stopped before the error is thrown.
 */
export async function startLocalServices(dirs: {
  redis?: string;
  postgres?: string;
}): Promise<LocalServices> {
  if (dirs.redis) redisServerBin();
  if (dirs.postgres) postgresBins();
  const [redis, postgres] = await Promise.allSettled([
    dirs.redis ? startRedis(dirs.redis) : undefined,
    dirs.postgres ? startPostgres(dirs.postgres) : undefined,
  ]);
  const started = [redis, postgres].flatMap((r) => (r.status === 'fulfilled' && r.value ? [r.value] : []));
  const stop = async () => {
    await Promise.all(started.splice(0).map((s) => s.stop()));
  };
  const failed = [redis, postgres].find((r) => r.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return {
    redis: redis.status === 'fulfilled' ? redis.value : undefined,
    postgres: postgres.status === 'fulfilled' ? postgres.value : undefined,
    stop,
  };
}

export interface ServerOptions {
  /** Listen on this port (the fault tests restart a server on the same one); default: a free port. */
  port?: number;
}

/** Starts redis-server on loopback with append-only persistence in `dir`; `password` sets requirepass. */
export async function startRedis(
  dir: string,
  opts: ServerOptions & { password?: string } = {},
): Promise<LocalService> {
  const bin = redisServerBin();
  mkdirSync(dir, { recursive: true });
  const pidFile = join(resolve(dir), 'redis.pid');
  await stopStale(pidFile, 'redis');
  const port = opts.port ?? (await freePort());
  const [cmd, ...prefix] = [...diesWithUs('TERM'), bin];
  const args = [
    ...prefix,
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    resolve(dir),
    '--appendonly',
    'yes',
    '--save',
    '',
    '--pidfile',
    pidFile,
    '--daemonize',
    'no',
    '--protected-mode',
    'yes',
    '--loglevel',
    'warning',
    ...(opts.password ? ['--requirepass', opts.password] : []),
  ];
  const child = spawn(cmd!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = exitPromise(child);
  const url = opts.password
    ? `redis://:${encodeURIComponent(opts.password)}@127.0.0.1:${port}`
    : `redis://127.0.0.1:${port}`;
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`redis-server exited: ${stderr.trim()}`);
    return canConnect(port);
  }, 'redis-server');
  return {
    url,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await done;
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((res) => {
    import('node:net').then(({ connect }) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        res(true);
      });
      s.once('error', () => res(false));
    });
  });
}

/** Runs as the `postgres` system user when we are root (Postgres refuses to run as root). */
function postgresUser(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gidR = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (id.status !== 0) {
    throw new MissingServiceError(
      'running as root, Postgres needs the "postgres" system user: apt-get install -y postgresql',
    );
  }
  return { uid: Number(id.stdout.trim()), gid: Number(gidR.stdout.trim()) };
}

/** Answers a query (accepting TCP is not enough: a starting or recovering server refuses sessions). */
async function answers(url: string): Promise<boolean> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Starts a Postgres cluster in `dir` (initdb on first use) on loopback, trust auth for the local
 * `clawstack` user. The postmaster is our child (not daemonized by pg_ctl), so it stops with us; a
 * cluster a killed run left running in `dir` is stopped first.
 */
export async function startPostgres(dir: string, opts: ServerOptions = {}): Promise<LocalService> {
  const { initdb, pgCtl } = postgresBins();
  const postgres = join(dirname(pgCtl), 'postgres');
  const dataDir = resolve(dir);
  const { uid, gid } = postgresUser();
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', uid, gid, env: { ...process.env, LC_ALL: 'C' } });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
    return r;
  };
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (uid !== undefined && gid !== undefined) chownSync(dataDir, uid, gid);
    run(initdb, ['-D', dataDir, '-U', 'clawstack', '--auth=trust', '--encoding=UTF8', '--no-instructions']);
    writeFileSync(join(dataDir, 'clawstack.conf'), "listen_addresses = '127.0.0.1'\nfsync = on\n");
  }
  if (existsSync(join(dataDir, 'postmaster.pid'))) {
    spawnSync(pgCtl, ['-D', dataDir, '-m', 'fast', '-w', 'stop'], { uid, gid });
  }
  const port = opts.port ?? (await freePort());
  const logFd = openSync(join(dataDir, 'server.log'), 'a');
  const [cmd, ...prefix] = [...diesWithUs('INT'), postgres];
  const child = spawn(
    cmd!,
    [
      ...prefix,
      '-D',
      dataDir,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-k',
      dataDir,
      '-c',
      'max_connections=200',
    ],
    { uid, gid, env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', logFd, logFd] },
  );
  closeSync(logFd);
  const done = exitPromise(child);
  const url = `postgres://clawstack@127.0.0.1:${port}/postgres`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) {
        const log = readFileSync(join(dataDir, 'server.log'), 'utf8').split('\n').slice(-10).join('\n');
        throw new Error(`postgres exited with ${child.exitCode}:\n${log}`);
      }
      return answers(url);
    },
    'postgres',
    60_000,
  );
  return {
    url,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGINT'); // fast shutdown: roll back sessions, checkpoint, exit
      const timer = setTimeout(() => child.kill('SIGQUIT'), 30_000);
      await done;
      clearTimeout(timer);
    },
  };
}

/** Creates a database if it does not exist (used for the app's own database on a fresh local cluster). */
export async function ensureDatabase(adminUrl: string, name: string): Promise<string> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
