/**
 * (c)/(d) clawstack as deployed: the production bundle (`npm run build` → dist/main.js) in a child
 * process, role `all`, against the Redis and Postgres the bench started on loopback.
 *
 * The bundle is copied to node_modules/.cache/clawstack-bench/ right after the build, so another
 * engineer rebuilding dist/ during the bench cannot pull it from under a running server (the copy still
 * resolves onnxruntime-node from the repository's node_modules).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../app/src/local/services.ts';
import { MODEL_PRECISION } from './inputs.ts';
import { cpuSeconds, startChild, type Child } from './procs.ts';

export const BUNDLE_DIR = resolve('node_modules/.cache/clawstack-bench/dist');

export function buildBundle(): { ms: number } {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    const r = spawnSync('npm', ['run', '--silent', 'build'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`npm run build failed:\n${r.stdout}${r.stderr}`);
    try {
      rmSync(BUNDLE_DIR, { recursive: true, force: true });
      cpSync('dist', BUNDLE_DIR, { recursive: true });
      if (!existsSync(join(BUNDLE_DIR, 'main.js')) || !existsSync(join(BUNDLE_DIR, 'inference-thread.cjs'))) {
        throw new Error('dist/ is incomplete');
      }
      return { ms: Date.now() - started };
    } catch (err) {
      // Someone rebuilt dist/ between our build and the copy: build again.
      if (attempt >= 3) throw err;
    }
  }
}

export interface ServerSettings {
  INFERENCE_THREADS?: number;
  ORT_INTRA_OP_THREADS?: number;
  MAX_BATCH_SIZE?: number;
  MAX_BATCH_DELAY_MS?: number;
  /** false: featurize on the event loop (the behaviour before the prepare step), to compare. */
  PREPARE_IN_THREADS?: boolean;
  /** false: one padded batch instead of sub-batches packed by length (app/src/inference/pack.ts), to compare. */
  PACK_BY_LENGTH?: boolean;
  WORKER_CONCURRENCY?: number;
  /** Serve the no-op task debug.echo ((d) measures the queue with it). */
  ECHO_TASK?: boolean;
  /** Comma-separated; '' loads every model in the manifest. */
  MODELS?: string;
  /** --only=stages: per-request stage stamps (app/src/telemetry/stages.ts) to this file. */
  STAGE_TRACE_FILE?: string;
  /** Only for the start-up timeline run (the measured runs use FIXED_SETTINGS.LOG_LEVEL). */
  LOG_LEVEL?: string;
}

export interface BenchEnv {
  redisUrl: string;
  databaseUrl: string;
  apiKey: string;
  dataDir: string;
}

/** Settings every server under test gets (and the report states). */
export const FIXED_SETTINGS = {
  CLAWSTACK_ROLE: 'all',
  LOG_LEVEL: 'warn',
  RESULT_CACHE_TTL_SECONDS: '0',
  RATE_LIMIT_REQUESTS: '10000000',
  RATE_LIMIT_WINDOW_SECONDS: '60',
  MODEL_PRECISION,
} as const;

export interface Server {
  child: Child;
  url: string;
  port: number;
  settings: ServerSettings;
}

function serverEnv(env: BenchEnv, port: number, settings: ServerSettings): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...FIXED_SETTINGS,
    HOST: '127.0.0.1',
    PORT: String(port),
    REDIS_URL: env.redisUrl,
    DATABASE_URL: env.databaseUrl,
    BOOTSTRAP_API_KEY: env.apiKey,
    CLAWSTACK_DATA_DIR: env.dataDir,
    MODELS: 'text-spam',
  };
  for (const [k, v] of Object.entries(settings)) if (v !== undefined) out[k] = String(v);
  return out;
}

/** One classify request; resolves with the HTTP status (0 when the connection failed). */
export async function classifyOnce(url: string, key: string, text: string): Promise<number> {
  try {
    const res = await fetch(`${url}/v1/text/classify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ text }),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/**
 * Spawns the bundle and polls classify until it answers 200. `startMs` is from just before spawn() to
 * that first 200 response.
 */
export async function startServer(
  env: BenchEnv,
  settings: ServerSettings,
  probeText: string,
  /** bundleDir: another build to start instead (bench:serve --only=start --baseline=DIR) */
  opts: { nodeArgs?: string[]; timeoutMs?: number; bundleDir?: string } = {},
): Promise<
  Server & {
    startMs: number;
    /** CPU seconds (all threads) the server used from spawn to the first 200 */
    startCpuS: number;
    spawnedAtEpochMs: number;
    spawnedAtUs: number;
    readyAtUs: number;
    /** the environment the server was started with */
    env: NodeJS.ProcessEnv;
  }
> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const childEnv = serverEnv(env, port, settings);
  const spawnedAtEpochMs = Date.now();
  const spawnedAtUs = Number(process.hrtime.bigint() / 1000n);
  const t0 = performance.now();
  const child = startChild(
    process.execPath,
    [...(opts.nodeArgs ?? []), join(opts.bundleDir ?? BUNDLE_DIR, 'main.js')],
    childEnv,
    'clawstack server',
  );
  const deadline = t0 + (opts.timeoutMs ?? 30_000);
  let exited = false;
  void child.exited.then(() => (exited = true));
  for (;;) {
    const status = await classifyOnce(url, env.apiKey, probeText);
    if (status === 200) break;
    if (exited) throw new Error(`clawstack exited before answering:\n${child.output()}`);
    if (performance.now() > deadline) {
      await child.stop();
      throw new Error(
        `clawstack did not answer classify with 200 (last status ${status}):\n${child.output()}`,
      );
    }
    await sleep(status === 0 ? 5 : 20);
  }
  const startMs = performance.now() - t0;
  const startCpuS = cpuSeconds(child.pid);
  return {
    startCpuS,
    child,
    url,
    port,
    settings,
    startMs,
    spawnedAtEpochMs,
    spawnedAtUs,
    readyAtUs: Number(process.hrtime.bigint() / 1000n),
    env: childEnv,
  };
}
