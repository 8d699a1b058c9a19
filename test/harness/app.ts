/**
 * Runs the real service for tests: in-process (`startTestApp`, or `useTestApp` for a whole file or
 * `describe`) or as a child process running app/src/main.ts (`spawnApp`) for restarts and signals.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { after, before } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../app/src/config.ts';
import { startService, type Service } from '../../app/src/service.ts';
import { startTestServices, type TestServices } from './services.ts';

export interface TestApp {
  url: string;
  key: string;
  service: Service;
  logs: Record<string, unknown>[];
  /** fetch against the app with the test key. */
  call(path: string, init?: RequestInit & { json?: unknown; key?: string | null }): Promise<Response>;
  close(): Promise<void>;
}

export async function startTestApp(
  services: TestServices,
  env: Record<string, string> = {},
  /** A database URL to use instead of a fresh database of the harness cluster; when the jobs open. */
  opts: { databaseUrl?: string; jobsOpenDelayMs?: number } = {},
): Promise<TestApp> {
  const databaseUrl = opts.databaseUrl ?? (await services.database());
  const config = loadConfig({
    PORT: '0',
    MODELS: 'text-spam',
    LOG_LEVEL: 'info',
    REDIS_URL: services.redisUrl,
    DATABASE_URL: databaseUrl,
    ...env,
  });
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n'))
        if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const log = pino({ level: config.LOG_LEVEL }, sink);
  const service = await startService({
    config: { ...config, REDIS_URL: services.redisUrl, DATABASE_URL: databaseUrl },
    log,
    jobsOpenDelayMs: opts.jobsOpenDelayMs,
  });
  const { key } = await service.keys.create('test');
  return {
    url: service.url,
    key,
    service,
    logs,
    call: (path, init = {}) => call(service.url, path, init, key),
    close: async () => {
      await service.drain(5000);
    },
  };
}

export interface UsedTestApp extends TestApp {
  /** The Redis and Postgres behind the app, for starting another app beside it. */
  readonly services: TestServices;
  /** Closes the app and starts a new one with `env` on the same services. */
  restart(env?: Record<string, string>): Promise<void>;
}

/**
 * The app of a test file (or of the `describe` it is called in): real Redis and Postgres and an app
 * started with `env` before the first test, closed and removed after the last. Use the returned
 * object as the app from inside tests; touching it before the `before` hook ran throws.
 */
export function useTestApp(env: Record<string, string> = {}): UsedTestApp {
  let services: TestServices | undefined;
  let app: TestApp | undefined;
  before(async () => {
    services = await startTestServices();
    app = await startTestApp(services, env);
  });
  after(async () => {
    await app?.close();
    await services?.stop();
  });
  const started = () => {
    if (!app || !services)
      throw new Error('useTestApp: the app is started in a before hook; use it in tests');
    return { app, services };
  };
  return {
    get url() {
      return started().app.url;
    },
    get key() {
      return started().app.key;
    },
    get service() {
      return started().app.service;
    },
    get logs() {
      return started().app.logs;
    },
    get services() {
      return started().services;
    },
    call: (path, init) => started().app.call(path, init),
    close: () => started().app.close(),
    async restart(next = {}) {
      const current = started();
      await current.app.close();
      app = undefined;
      app = await startTestApp(current.services, next);
    },
  };
}

export function call(
  base: string,
  path: string,
  init: RequestInit & { json?: unknown; key?: string | null },
  key?: string,
) {
  const headers = new Headers(init.headers);
  const k = init.key === undefined ? key : init.key;
  if (k) headers.set('authorization', `Bearer ${k}`);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set('content-type', 'application/json');
    body = JSON.stringify(init.json);
  }
  return fetch(`${base}${path}`, { ...init, headers, body });
}

export interface SpawnedApp {
  child: ChildProcess;
  url: string;
  output: () => string;
  /** Exit code, or the signal's name when a signal ended it. */
  exited: Promise<number | string | null>;
}

/** Starts `app/src/main.ts` in a child process and resolves once it logs that it is ready. */
export async function spawnApp(env: Record<string, string>, timeoutMs = 30_000): Promise<SpawnedApp> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'app/src/main.ts'], {
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', MODELS: 'text-spam', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string | null>((res) =>
    child.once('exit', (code, signal) => res(code ?? signal)),
  );
  const url = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`app did not start within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = () => {
      const m = /"url":"(http:\/\/[^"]+)","role"/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        res(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    void exited.then((code) => rej(new Error(`app exited with ${code}:\n${out}`)));
  });
  return { child, url, output: () => out, exited };
}
