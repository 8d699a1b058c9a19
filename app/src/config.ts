/**
 * The app's environment contract: every variable the app reads, its type and its default.
 *
 * This is the only place the app reads `process.env`. The infra program builds each target's
 * environment through {@link appEnvironment}, which takes the same typed settings, so the Pulumi
 * program and the app cannot drift apart.
 */
import { z } from 'zod';

export const ROLES = ['api', 'worker', 'all'] as const;
export type Role = (typeof ROLES)[number];
export const EXECUTION_PROVIDERS = ['cpu', 'cuda'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];
export const PRECISIONS = ['fp32', 'int8'] as const;
export type Precision = (typeof PRECISIONS)[number];
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** Schema of the environment, keyed by variable name. */
export const envSchema = z.object({
  /** Which part of the app this process plays: the HTTP API, the queue worker, or both. */
  CLAWSTACK_ROLE: z.enum(ROLES).default('all'),
  /** Address and port the HTTP API listens on. */
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(0, 65535).default(8080),
  /** Redis for the queue, result cache and rate limits. Unset with role `all`: a local redis-server is started. */
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  /** Postgres for jobs, results, keys and audit. Unset with role `all`: a local Postgres is started. */
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  /**
   * A file holding the Postgres URL, which the host may rewrite (rotated credentials): the app reads it
   * at start-up and again whenever a new connection is refused for its password (SQLSTATE 28P01/28000).
   * DATABASE_URL, when also set, wins at start-up.
   */
  DATABASE_URL_FILE: z.string().min(1).optional(),
  /** Where local Redis/Postgres data, the model cache and local keys live. */
  CLAWSTACK_DATA_DIR: z.string().min(1).default('.clawstack'),
  /** Directory holding manifest.json and the model files, or an s3://bucket/prefix URL. */
  MODEL_SOURCE: z.string().min(1).default('models'),
  /**
   * Custom S3 endpoint for an s3:// MODEL_SOURCE (MinIO, Ceph, R2, a local test server); uses path-style
   * addressing. Unset: AWS S3, or the AWS SDK's own AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL.
   */
  MODEL_SOURCE_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  /** Local cache for models downloaded from an s3:// MODEL_SOURCE; default `<CLAWSTACK_DATA_DIR>/model-cache`. */
  MODEL_CACHE_DIR: z.string().min(1).optional(),
  /** Only these models are loaded (comma-separated names); empty: all in the manifest. */
  MODELS: z
    .string()
    .default('')
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    ),
  /** ONNX Runtime execution provider. `cuda` falls back to `cpu` with one warning when CUDA is absent. */
  EXECUTION_PROVIDER: z.enum(EXECUTION_PROVIDERS).default('cpu'),
  /** Which model variant to load when the manifest has several precisions of one model. */
  MODEL_PRECISION: z.enum(PRECISIONS).default('int8'),
  /** Inference worker threads (each holds one session per model). */
  INFERENCE_THREADS: int(1, 64).default(1),
  /** ONNX Runtime intra-op threads per session. */
  ORT_INTRA_OP_THREADS: int(1, 64).default(1),
  /** Dynamic batching: largest batch, and how long a request may wait for others to join it. */
  MAX_BATCH_SIZE: int(1, 1024).default(32),
  MAX_BATCH_DELAY_MS: z.coerce.number().min(0).max(1000).default(2),
  /**
   * Featurize (a model's prepare step, e.g. text hashing) in the inference threads, beside the model,
   * instead of on the event loop. `false` only to compare (bench:serve).
   */
  PREPARE_IN_THREADS: bool.default(true),
  /**
   * Run a prepared batch of a model that ignores padding (text.classify) as sub-batches of similar length
   * (app/src/inference/pack.ts) instead of one batch padded to its longest input. `false` only to compare.
   */
  PACK_BY_LENGTH: bool.default(true),
  /**
   * Serve the `debug.echo` task (returns its input; no model, no cache): a probe of the job path
   * (API → Postgres → queue → worker → Postgres) for smoke tests and bench:serve. Off by default, so a
   * deployment serves only its models' tasks unless an operator turns it on (stack `appEnv`).
   */
  ECHO_TASK: bool.default(false),
  /**
   * Bench/debug mode: stamp every request's stages (auth, rate limit, parse, engine hand-off,
   * featurize, run, response) and write them as JSON lines to this file at exit
   * (app/src/telemetry/stages.ts; bench:serve --only=stages). Unset: off, at no cost per request.
   */
  STAGE_TRACE_FILE: z.string().min(1).optional(),
  /** Jobs a worker process runs at once. */
  WORKER_CONCURRENCY: int(1, 1024).default(16),
  /** Result cache time-to-live; 0 disables the cache. */
  RESULT_CACHE_TTL_SECONDS: int(0, 7 * 24 * 3600).default(3600),
  /** Requests per key per window (rate limit), and the window. */
  RATE_LIMIT_REQUESTS: int(1, 10_000_000).default(6000),
  RATE_LIMIT_WINDOW_SECONDS: int(1, 86_400).default(60),
  /** Largest accepted request body. */
  BODY_LIMIT_BYTES: int(1024, 512 * 1024 * 1024).default(10 * 1024 * 1024),
  /**
   * HTTP server timeouts (slow clients): the whole request must arrive within HTTP_REQUEST_TIMEOUT_MS
   * and its headers within HTTP_HEADERS_TIMEOUT_MS (else 408 and the connection closes); an idle
   * keep-alive connection closes after HTTP_KEEPALIVE_TIMEOUT_MS (longer than an ALB's 60 s idle timeout).
   */
  HTTP_REQUEST_TIMEOUT_MS: int(100, 3_600_000).default(30_000),
  HTTP_HEADERS_TIMEOUT_MS: int(100, 600_000).default(10_000),
  HTTP_KEEPALIVE_TIMEOUT_MS: int(100, 600_000).default(65_000),
  /**
   * Express's "trust proxy": which proxies' X-Forwarded-For to believe for the client address (the
   * failed-auth throttle counts per address). Unset: the socket's peer. Behind Caddy on the same host
   * `loopback`; behind an ALB its hop count (`1`) or the VPC CIDR.
   */
  TRUST_PROXY: z
    .string()
    .optional()
    .transform((v) => (v === undefined ? undefined : /^\d+$/.test(v) ? Number(v) : v === 'true' ? true : v)),
  /** Failed authentications per client IP per minute before that IP gets 429 for a minute. */
  AUTH_FAILURES_PER_MINUTE: int(1, 100_000).default(20),
  /**
   * Redis and Postgres are probed every second (1 s deadline). A refused or closed connection marks one
   * down at once (readiness 503, the API's 503s); a probe that times out does only after this many in a
   * row, and not at all when the event loop itself stalled meanwhile (GC, a big body, a starved CPU).
   */
  DEPENDENCY_FAILURE_THRESHOLD: int(1, 100).default(3),
  /** On SIGTERM: how long in-flight requests and jobs may take before connections close. */
  DRAIN_TIMEOUT_MS: int(0, 3_600_000).default(90_000),
  /** How long a rotated-out API key stays valid. */
  KEY_ROTATION_GRACE_SECONDS: int(0, 90 * 86_400).default(86_400),
  /** How long a verified API key is remembered before Postgres is asked again (revocation delay). */
  AUTH_CACHE_MS: int(0, 600_000).default(2000),
  /** An API key created at start-up when no key with this value exists (infra passes it from a secret). */
  BOOTSTRAP_API_KEY: z.string().min(24).optional(),
  /** Completed job records older than this are deleted by the worker; 0 keeps them forever. */
  JOB_RETENTION_DAYS: int(0, 3650).default(30),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  /** Logs for humans (one line per event) or JSON; unset: pretty when stdout is a terminal. */
  LOG_PRETTY: bool.optional(),
});

export type AppConfig = z.infer<typeof envSchema>;
/** The settings a deployment target can set; every key optional, values typed. */
export type AppSettings = Partial<z.input<typeof envSchema>>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Parses an environment; throws {@link ConfigError} naming every bad variable and what it accepts. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const picked: Record<string, string> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') picked[key] = value;
  }
  const parsed = envSchema.safeParse(picked);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '?');
      return `  ${key}=${JSON.stringify(picked[key] ?? '')}: ${issue.message}`;
    });
    throw new ConfigError(`invalid environment:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/**
 * Builds the environment variables for a deployment target from typed settings.
 * Validates them with the same schema the app uses, so a bad value fails at `pulumi up`/preview time.
 */
export function appEnvironment(settings: AppSettings): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(settings)) {
    if (value === undefined) continue;
    env[key] = String(value);
  }
  loadConfig(env);
  return env;
}
