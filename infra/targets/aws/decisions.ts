/**
 * The AWS target's decisions, as pure functions of the spec and the workload (AwsDeployment only
 * wires their results): how the app is wired to its data services and models, health-check grace,
 * target-group deregistration delay, log-group names, the service URL and where each secret lives.
 */
import {
  DB_NAME,
  inStackPostgresUrl,
  inStackRedisUrl,
  POSTGRES_PORT,
  REDIS_PORT,
  secretRef,
} from '../../workload/index.ts';
import type { Container, SecretName, Workload, WorkloadWiring } from '../../workload/index.ts';
import type { Capacity } from '../../tiers.ts';
import { containerName } from './docker-run.ts';
import { RDS_CA_PATH } from './rds-ca.ts';

/** Managed endpoints (RDS, ElastiCache) when the data services are managed. */
export interface ManagedHosts {
  dbHost: string;
  redisHost: string;
}

/** Where the instances find the models: the bucket's model prefix, without its trailing slash. */
export function modelSource(bucket: string, modelPrefix: string): string {
  return `s3://${bucket}/${modelPrefix.replace(/\/$/, '')}`;
}

/** Every AWS tier has one proxy in front of the api: the ALB, or Caddy on the instance. */
const EDGE_HOPS = 1;

/** The app's Postgres logins on RDS (alternating users): a group that owns the objects, two logins. */
export const DB_APP = { group: 'clawstack_app', user: 'clawstack_app_user' } as const;
/** Where the instance keeps the app's Postgres URL (a directory: mounted so replacements show). */
export const DB_URL_DIR = '/run/clawstack/db';
export const DB_URL_FILE = `${DB_URL_DIR}/database-url`;

/**
 * The app's Postgres URL on RDS with `{{username}}` and `{{password}}` left for the instance to
 * fill from the app login's secret (files/clawstack-db-url.sh), verified against the RDS CA.
 */
export function databaseUrlTemplate(dbHost: string): string {
  return `postgres://{{username}}:{{password}}@${dbHost}:${POSTGRES_PORT}/${DB_NAME}?sslmode=verify-full&sslrootcert=${RDS_CA_PATH}`;
}

/**
 * How the app reaches Redis, Postgres and the models: the managed endpoints over TLS (Postgres
 * through a URL file the instance keeps current while the app login rotates; the master password
 * is only RDS's), or the in-stack containers by name on the instance's docker network.
 */
export function awsWiring(managed: ManagedHosts | undefined, models: string): WorkloadWiring {
  if (!managed)
    return {
      redisUrl: inStackRedisUrl(containerName('redis')),
      databaseUrl: inStackPostgresUrl(containerName('postgres')),
      modelSource: models,
      inStackData: true,
      trustedProxyHops: EDGE_HOPS,
    };
  return {
    redisUrl: `rediss://:${secretRef('redisPassword')}@${managed.redisHost}:${REDIS_PORT}`,
    databaseUrlFile: DB_URL_FILE,
    modelSource: models,
    inStackData: false,
    trustedProxyHops: EDGE_HOPS,
    // The RDS master password: generated and rotated, never given to the app.
    secrets: { dbPassword: { kind: 'generated', length: 32 } },
  };
}

/**
 * Seconds before Auto Scaling judges a new instance's health: the api's whole startup budget
 * (its startup probe), so a GPU image that loads CUDA and models is not replaced mid-boot.
 */
export function healthCheckGraceSeconds(api: Container): number {
  const s = api.probes.startup ?? api.probes.readiness;
  return s.periodSeconds * s.failureThreshold;
}

/**
 * Seconds the ALB keeps a deregistering target's in-flight requests: shorter on spot, where the
 * whole drain must fit the two-minute interruption notice.
 */
export function deregistrationDelaySeconds(capacity: Capacity): number {
  return capacity === 'spot' ? 30 : 60;
}

/** CloudWatch log group per container role, plus `system` (cloud-init) and `edge` (Caddy) where it runs. */
export function logGroupNames(w: Workload, edge: 'alb' | 'instance'): Record<string, string> {
  const roles = [
    'api',
    'worker',
    ...(w.data.postgres ? ['postgres'] : []),
    ...(w.data.redis ? ['redis'] : []),
  ];
  const names: Record<string, string> = {};
  for (const role of [...roles, 'system', ...(edge === 'instance' ? ['edge'] : [])])
    names[role] = `/clawstack/${w.stack}/${role}`;
  return names;
}

/** The log group of the app's metrics (embedded-metric-format events from the CloudWatch agent). */
export function metricsLogGroupName(stack: string): string {
  return `/clawstack/${stack}/metrics`;
}

/**
 * Log groups whose events are archived to the bucket through Firehose: every one but `edge`, whose
 * Caddy access log the instance archives from its own files.
 */
export function archivedLogGroups<T>(logGroups: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(logGroups).filter(([role]) => role !== 'edge'));
}

/** The URL clients use: the configured domain, else the load balancer's DNS name. */
export function serviceUrl(domain: string | undefined, loadBalancerDnsName?: string): string {
  const host = domain ?? loadBalancerDnsName;
  if (!host) throw new Error('no domain and no load balancer: the service has no address');
  return `https://${host}`;
}

/**
 * The Secrets Manager name of a workload secret: the three generated credentials keep their
 * historical names; `appEnv.<NAME>` (a config secret) lives under `<prefix>/app-env/<NAME>`.
 */
export function secretStoreName(prefix: string, name: SecretName): string {
  const fixed: Record<string, string> = {
    dbPassword: 'db-password',
    redisPassword: 'redis-auth-token',
    bootstrapApiKey: 'bootstrap-api-key',
  };
  const known = fixed[name];
  if (known) return `${prefix}/${known}`;
  if (name.startsWith('appEnv.')) return `${prefix}/app-env/${name.slice('appEnv.'.length)}`;
  throw new Error(`no Secrets Manager name for secret ${name}`);
}
