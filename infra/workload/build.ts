/**
 * Spec + the target's wiring → the workload (./types.ts). Pure: every decision about processes,
 * probes, grace periods and resources is made here, once, for every target.
 */
import { APP_CONTAINER_PORT, HEALTH_LIVE_PATH, HEALTH_READY_PATH } from '../../app/src/api/paths.ts';
import type { CommonSpec } from '../spec/common.ts';
import type { TierSpec } from '../tiers.ts';
import { buildAppEnv, secretRef, secretRefsIn } from './app-env.ts';
import type { Container, Probe, Resources, SecretName, SecretSource, Workload } from './types.ts';

export const REDIS_PORT = 6379;
export const POSTGRES_PORT = 5432;
export const DB_NAME = 'clawstack';
export const DB_USER = 'clawstack';
/** Where the app writes (model cache, temp files): a scratch volume, so the root can be read-only. */
export const APP_SCRATCH_DIR = '/tmp';
export const APP_DATA_DIR = '/tmp/clawstack';
/** Upstream images for the in-stack data services; targets may substitute a mirror. */
export const DATA_IMAGES = { redis: 'redis:7-alpine', postgres: 'postgres:16-alpine' } as const;
/** Numeric users of the images: node (CPU image), clawstack (CUDA image), redis and postgres (alpine). */
export const UIDS = { app: 1000, appCuda: 10001, redis: 999, postgres: 70 } as const;
/** Generated secret lengths (characters). */
const GENERATED: Record<'dbPassword' | 'redisPassword' | 'bootstrapApiKey', SecretSource> = {
  dbPassword: { kind: 'generated', length: 32 },
  redisPassword: { kind: 'generated', length: 32 },
  bootstrapApiKey: { kind: 'generated', length: 48 },
};

/** Seconds between SIGTERM and SIGKILL: the app's whole drain budget plus a margin to exit. */
export function stopGraceSeconds(drainTimeoutMs: number): number {
  return Math.ceil(drainTimeoutMs / 1000) + 5;
}

/** Health probes on the app's own paths; a GPU tier gets longer to load CUDA and models. */
export function appProbes(tier: TierSpec): Container['probes'] {
  const http = (path: string) => ({ kind: 'http' as const, path, port: APP_CONTAINER_PORT });
  const startupSeconds = tier.gpu ? 600 : 300;
  return {
    startup: {
      check: http(HEALTH_LIVE_PATH),
      periodSeconds: 5,
      timeoutSeconds: 3,
      failureThreshold: startupSeconds / 5,
    },
    liveness: { check: http(HEALTH_LIVE_PATH), periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 },
    readiness: { check: http(HEALTH_READY_PATH), periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 2 },
  };
}

function appResources(tier: TierSpec): Resources {
  return { ...tier.process, gpus: tier.gpu ? tier.gpu.count : 0 };
}

const execProbe = (command: string[], periodSeconds = 10): Probe => ({
  check: { kind: 'exec', command },
  periodSeconds,
  timeoutSeconds: 5,
  failureThreshold: 6,
});

/** Redis URL for the in-stack redis role at `host`. */
export function inStackRedisUrl(host: string): string {
  return `redis://:${secretRef('redisPassword')}@${host}:${REDIS_PORT}`;
}
/** Postgres URL for the in-stack postgres role at `host`. */
export function inStackPostgresUrl(host: string): string {
  return `postgres://${DB_USER}:${secretRef('dbPassword')}@${host}:${POSTGRES_PORT}/${DB_NAME}`;
}

/** How a target connects the app; URLs may hold secret references (`secretRef`). */
export interface WorkloadWiring {
  redisUrl: string;
  /** The Postgres URL; absent when `databaseUrlFile` is given instead. */
  databaseUrl?: string;
  /**
   * A file inside the app containers holding the Postgres URL, which the target keeps current while
   * the credentials rotate (the app re-reads it when a login is refused). Replaces `databaseUrl`.
   */
  databaseUrlFile?: string;
  modelSource: string;
  /** Run Redis and Postgres as roles of this workload (the target places them). */
  inStackData: boolean;
  /** Secrets the wiring's URLs refer to beyond the generated ones (e.g. external URLs from config). */
  secrets?: Partial<Record<SecretName, SecretSource>>;
  /**
   * Proxies in front of the api that append the client to X-Forwarded-For (a load balancer, an
   * ingress, Caddy): the app trusts that many hops (TRUST_PROXY), so its per-client limits see the
   * client, not the proxy. Absent: clients connect directly.
   */
  trustedProxyHops?: number;
}

/** Splits an environment into plain values and values that refer to secrets. */
export function splitSecretEnv(env: Record<string, string>) {
  const plain: Record<string, string> = {};
  const secret: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) (secretRefsIn(v).length ? secret : plain)[k] = v;
  return { plain, secret };
}

function configSecretValues(secrets: Partial<Record<SecretName, SecretSource>>) {
  const out: Partial<Record<SecretName, string>> = {};
  for (const [name, source] of Object.entries(secrets))
    if (source?.kind === 'config') out[name as SecretName] = source.value;
  return out;
}

function appContainers(spec: CommonSpec, wiring: WorkloadWiring) {
  const env = buildAppEnv(
    spec,
    {
      host: '0.0.0.0',
      port: APP_CONTAINER_PORT,
      redisUrl: wiring.redisUrl,
      databaseUrl: wiring.databaseUrl,
      databaseUrlFile: wiring.databaseUrlFile,
      trustProxy: wiring.trustedProxyHops === undefined ? undefined : String(wiring.trustedProxyHops),
      modelSource: wiring.modelSource,
      bootstrapApiKey: secretRef('bootstrapApiKey'),
      dataDir: APP_DATA_DIR,
    },
    ['api', 'worker'],
    configSecretValues(wiring.secrets ?? {}),
  );
  // Values of `appEnv` set as a Pulumi secret become secrets of the workload too.
  const configSecrets: Partial<Record<SecretName, SecretSource>> = {};
  if (spec.app.extraEnvSecret) {
    for (const [name, value] of Object.entries(spec.app.extraEnv)) {
      configSecrets[`appEnv.${name}`] = { kind: 'config', value };
      env[name] = secretRef(`appEnv.${name}`);
    }
  }
  const { plain, secret } = splitSecretEnv(env);
  const base = {
    image: spec.image,
    secretEnv: secret,
    probes: appProbes(spec.tier),
    stopGraceSeconds: stopGraceSeconds(spec.app.drainTimeoutMs),
    resources: appResources(spec.tier),
    volumes: [{ name: 'scratch', mountPath: APP_SCRATCH_DIR, kind: 'scratch' as const }],
    runAsUser: spec.tier.gpu ? UIDS.appCuda : UIDS.app,
    readOnlyRootFilesystem: true,
  };
  const api: Container = {
    ...base,
    role: 'api',
    env: { ...plain, CLAWSTACK_ROLE: 'api' },
    ports: [{ name: 'http', port: APP_CONTAINER_PORT, exposure: 'public' }],
  };
  const worker: Container = {
    ...base,
    role: 'worker',
    env: { ...plain, CLAWSTACK_ROLE: 'worker' },
    // Health and /metrics only.
    ports: [{ name: 'http', port: APP_CONTAINER_PORT, exposure: 'internal' }],
  };
  return { api, worker, configSecrets };
}

function dataContainers(): { redis: Container; postgres: Container } {
  const grace = 30;
  const redis: Container = {
    role: 'redis',
    image: DATA_IMAGES.redis,
    // AOF on the persistent volume; noeviction: the queue must never lose a key to memory pressure.
    args: [
      'sh',
      '-c',
      'exec redis-server --appendonly yes --dir /data --maxmemory-policy noeviction --requirepass "$REDIS_PASSWORD"',
    ],
    env: {},
    secretEnv: { REDIS_PASSWORD: secretRef('redisPassword') },
    ports: [{ name: 'redis', port: REDIS_PORT, exposure: 'internal' }],
    probes: {
      liveness: execProbe([
        'sh',
        '-c',
        'redis-cli -a "$REDIS_PASSWORD" --no-auth-warning ping | grep -q PONG',
      ]),
      readiness: execProbe(
        ['sh', '-c', 'redis-cli -a "$REDIS_PASSWORD" --no-auth-warning ping | grep -q PONG'],
        5,
      ),
    },
    stopGraceSeconds: grace,
    resources: { cpuMillis: 100, cpuLimitMillis: 500, memoryMiB: 256, gpus: 0 },
    volumes: [{ name: 'redis-data', mountPath: '/data', kind: 'persistent', sizeGb: 5 }],
    runAsUser: UIDS.redis,
    readOnlyRootFilesystem: true,
  };
  const postgres: Container = {
    role: 'postgres',
    image: DATA_IMAGES.postgres,
    env: {
      POSTGRES_USER: DB_USER,
      POSTGRES_DB: DB_NAME,
      // A subdirectory: a fresh volume's root may hold lost+found, which initdb refuses.
      PGDATA: '/var/lib/postgresql/data/pgdata',
    },
    secretEnv: { POSTGRES_PASSWORD: secretRef('dbPassword') },
    ports: [{ name: 'postgres', port: POSTGRES_PORT, exposure: 'internal' }],
    probes: {
      liveness: execProbe(['pg_isready', '-U', DB_USER, '-d', DB_NAME]),
      readiness: execProbe(['pg_isready', '-U', DB_USER, '-d', DB_NAME], 5),
    },
    stopGraceSeconds: grace,
    resources: { cpuMillis: 250, cpuLimitMillis: 1000, memoryMiB: 512, gpus: 0 },
    volumes: [
      { name: 'postgres-data', mountPath: '/var/lib/postgresql/data', kind: 'persistent', sizeGb: 20 },
      { name: 'postgres-run', mountPath: '/var/run/postgresql', kind: 'scratch' },
      { name: 'postgres-tmp', mountPath: '/tmp', kind: 'scratch' },
    ],
    runAsUser: UIDS.postgres,
    readOnlyRootFilesystem: true,
  };
  return { redis, postgres };
}

/** The workload for a spec on one target. Pure; throws the app contract's ConfigError on a bad env. */
export function buildWorkload(spec: CommonSpec, wiring: WorkloadWiring): Workload {
  const { api, worker, configSecrets } = appContainers(spec, wiring);
  const data: Workload['data'] = wiring.inStackData ? dataContainers() : {};
  const secrets: Workload['secrets'] = { ...configSecrets, ...wiring.secrets };
  // Every secret some container refers to must have a source.
  const used = new Set(
    [api, worker, data.redis, data.postgres].flatMap((c) =>
      c ? Object.values(c.secretEnv).flatMap((v) => secretRefsIn(v)) : [],
    ),
  );
  for (const name of used) {
    if (secrets[name]) continue;
    const generated = GENERATED[name as keyof typeof GENERATED];
    if (!generated) throw new Error(`workload refers to secret ${name}, which has no source`);
    secrets[name] = generated;
  }
  return {
    prefix: spec.prefix,
    stack: spec.stack,
    tier: spec.tier,
    capacity: spec.capacity,
    labels: spec.tags,
    app: { api, worker },
    data,
    secrets,
    scaling: spec.scaling,
    drainTimeoutMs: spec.app.drainTimeoutMs,
  };
}

/** Every container of the workload, app roles first. */
export function containersOf(w: Workload): Container[] {
  return [
    w.app.api,
    w.app.worker,
    ...(w.data.redis ? [w.data.redis] : []),
    ...(w.data.postgres ? [w.data.postgres] : []),
  ];
}
