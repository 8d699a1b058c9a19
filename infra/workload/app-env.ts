/**
 * The app's environment for a deployment, built through the app's own contract
 * (`appEnvironment` in app/src/config.ts) so infra and app cannot drift apart. Secret values are
 * never here: `secretRef(name)` stands in for them, and each target substitutes at run time.
 */
import { appEnvironment } from '../../app/src/config.ts';
import type { AppSettings, Role } from '../../app/src/config.ts';
import type { CommonSpec } from '../spec/common.ts';
import type { SecretName } from './types.ts';

const REF_PREFIX = '__CLAWSTACK_SECRET__';
const REF = /__CLAWSTACK_SECRET__([A-Za-z0-9_.]+)__/g;

/** The placeholder that stands for secret `name` inside an environment value. */
export function secretRef(name: SecretName): string {
  return `${REF_PREFIX}${name}__`;
}

/** The secrets a value refers to, in order of first use. */
export function secretRefsIn(value: string): SecretName[] {
  return [...new Set([...value.matchAll(REF)].map((m) => m[1] as SecretName))];
}

/** Substitutes every reference in `template`; a reference without a value is an error, never left in. */
export function resolveSecretRefs(template: string, values: Partial<Record<SecretName, string>>): string {
  return template.replace(REF, (_m, name: SecretName) => {
    const value = values[name];
    if (value === undefined) throw new Error(`no value for secret ${name}`);
    return value;
  });
}

/** Kept for the AWS boot script, which substitutes these three by name. */
export const SECRET_PLACEHOLDERS = {
  dbPassword: secretRef('dbPassword'),
  redisAuth: secretRef('redisPassword'),
  bootstrapApiKey: secretRef('bootstrapApiKey'),
} as const;

/** How the app reaches its dependencies on one target (URLs may hold secret references). */
export interface AppWiring {
  redisUrl?: string;
  databaseUrl?: string;
  /** A file holding the Postgres URL, kept current by the target (DATABASE_URL_FILE). */
  databaseUrlFile?: string;
  /** Directory or s3://bucket/prefix holding manifest.json and the models. */
  modelSource: string;
  bootstrapApiKey?: string;
  /** TRUST_PROXY: hops of proxies in front of the api (absent: none). */
  trustProxy?: string;
  host: string;
  port: number;
  dataDir?: string;
}

/** Typed settings for a spec: tier tuning, drain timeout, wiring, then the stack's `appEnv` extras. */
export function appSettings(spec: CommonSpec, wiring: AppWiring): AppSettings {
  const t = spec.tier.app;
  return {
    HOST: wiring.host,
    PORT: wiring.port,
    REDIS_URL: wiring.redisUrl,
    DATABASE_URL: wiring.databaseUrl,
    DATABASE_URL_FILE: wiring.databaseUrlFile,
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
    TRUST_PROXY: wiring.trustProxy,
    ...(spec.app.extraEnv as AppSettings),
  };
}

/**
 * The validated environment shared by every process of the deployment (the role is added per
 * container). Validated once per role so a value one role rejects fails at deploy time.
 */
export function buildAppEnv(
  spec: CommonSpec,
  wiring: AppWiring,
  roles: Role[] = ['api', 'worker'],
  /** Values to check secret references with (config secrets are known; generated ones get a sample). */
  samples: Partial<Record<SecretName, string>> = {},
): Record<string, string> {
  const settings = appSettings(spec, wiring);
  const sample = (name: SecretName) => samples[name] ?? 'sample-secret-value-for-validation-0000';
  const resolved = Object.fromEntries(
    Object.entries(settings).map(([k, v]) => [
      k,
      typeof v === 'string' ? v.replace(REF, (_m, name: SecretName) => sample(name)) : v,
    ]),
  ) as AppSettings;
  for (const role of roles) appEnvironment({ ...resolved, CLAWSTACK_ROLE: role });
  const env = appEnvironment(resolved); // validated; now the same keys with the references kept
  for (const [k, v] of Object.entries(settings)) if (typeof v === 'string') env[k] = v;
  return env;
}
