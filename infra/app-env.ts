/**
 * The app's environment for a deployment, built through the app's own contract
 * (`appEnvironment` in app/src/config.ts) so infra and app cannot drift apart.
 */
import { appEnvironment } from '../app/src/config.ts';
import type { AppSettings, Role } from '../app/src/config.ts';
import type { DeploymentSpec } from './config.ts';

/** Placeholders the instance replaces with values fetched from Secrets Manager at boot. */
export const SECRET_PLACEHOLDERS = {
  dbPassword: '__CLAWSTACK_DB_PASSWORD__',
  redisAuth: '__CLAWSTACK_REDIS_AUTH__',
  bootstrapApiKey: '__CLAWSTACK_BOOTSTRAP_API_KEY__',
} as const;

/** How the app reaches its dependencies on one target. */
export interface AppWiring {
  redisUrl?: string;
  databaseUrl?: string;
  /** Directory or s3://bucket/prefix holding manifest.json and the models. */
  modelSource: string;
  bootstrapApiKey?: string;
  host: string;
  port: number;
  dataDir?: string;
}

/** Typed settings for a spec: tier tuning, drain timeout, wiring, then the stack's `appEnv` extras. */
export function appSettings(spec: DeploymentSpec, wiring: AppWiring): AppSettings {
  const t = spec.tier.app;
  return {
    HOST: wiring.host,
    PORT: wiring.port,
    REDIS_URL: wiring.redisUrl,
    DATABASE_URL: wiring.databaseUrl,
    MODEL_SOURCE: wiring.modelSource,
    CLAWSTACK_DATA_DIR: wiring.dataDir,
    MODELS: spec.app.models.length ? spec.app.models.join(',') : undefined,
    EXECUTION_PROVIDER: t.executionProvider,
    MODEL_PRECISION: t.modelPrecision,
    INFERENCE_THREADS: t.inferenceThreads,
    ORT_INTRA_OP_THREADS: t.ortIntraOpThreads,
    MAX_BATCH_SIZE: t.maxBatchSize,
    WORKER_CONCURRENCY: t.workerConcurrency,
    DRAIN_TIMEOUT_MS: spec.app.drainTimeoutMs,
    LOG_LEVEL: spec.app.logLevel,
    BOOTSTRAP_API_KEY: wiring.bootstrapApiKey,
    ...(spec.app.extraEnv as AppSettings),
  };
}

/**
 * The validated environment shared by every process of the deployment (the role is added per
 * container). Validated once per role so a value one role rejects fails at deploy time.
 */
export function buildAppEnv(
  spec: DeploymentSpec,
  wiring: AppWiring,
  roles: Role[] = ['api', 'worker'],
): Record<string, string> {
  const settings = appSettings(spec, wiring);
  for (const role of roles) appEnvironment({ ...settings, CLAWSTACK_ROLE: role });
  return appEnvironment(settings);
}
