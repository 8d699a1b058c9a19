/**
 * The AWS target's decisions, as pure functions of the spec and the workload (AwsDeployment only
 * wires their results): how the app is wired to its data services and models, health-check grace,
 * target-group deregistration delay, log-group names, the service URL and where each secret lives.
 */
import {
  DB_NAME,
  DB_USER,
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

/**
 * How the app reaches Redis, Postgres and the models: the managed endpoints over TLS (Postgres
 * verified against the RDS CA, ./rds-ca.ts), or the in-stack containers by name on the instance's
 * docker network.
 */
export function awsWiring(managed: ManagedHosts | undefined, models: string): WorkloadWiring {
  if (!managed)
    return {
      redisUrl: inStackRedisUrl(containerName('redis')),
      databaseUrl: inStackPostgresUrl(containerName('postgres')),
      modelSource: models,
      inStackData: true,
    };
  return {
    redisUrl: `rediss://:${secretRef('redisPassword')}@${managed.redisHost}:${REDIS_PORT}`,
    databaseUrl: `postgres://${DB_USER}:${secretRef('dbPassword')}@${managed.dbHost}:${POSTGRES_PORT}/${DB_NAME}?sslmode=verify-full&sslrootcert=${RDS_CA_PATH}`,
    modelSource: models,
    inStackData: false,
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
