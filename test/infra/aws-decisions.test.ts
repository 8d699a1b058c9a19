/**
 * The AWS target's pure parts, without running the program: the decisions AwsDeployment wires
 * (./decisions.ts), a workload Container → its `docker run` line and systemd quoting
 * (./docker-run.ts), and the boot-time secret files the cloud-init renderer writes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseSpec } from '../../infra/spec/index.ts';
import {
  awsWiring,
  databaseUrlTemplate,
  DB_URL_FILE,
  deregistrationDelaySeconds,
  healthCheckGraceSeconds,
  logGroupNames,
  modelSource,
  secretStoreName,
  serviceUrl,
} from '../../infra/targets/aws/decisions.ts';
import { dockerRunArgs, envFileText, systemdCommandLine } from '../../infra/targets/aws/docker-run.ts';
import { secretsMap, volumeDirectories } from '../../infra/targets/aws/cloud-init.ts';
import { buildWorkload, secretRef } from '../../infra/workload/index.ts';
import type { Workload } from '../../infra/workload/index.ts';
import { configFor } from './helpers.ts';
import type { Combination } from './helpers.ts';

function workloadFor(
  c: Combination,
  extra: Record<string, unknown> = {},
  secretKeys: string[] = [],
): Workload {
  const raw = Object.fromEntries(
    Object.entries(configFor(c, extra))
      .filter(([k]) => !k.includes(':'))
      .map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
  );
  const spec = parseSpec(raw, 'prod', new Set(secretKeys));
  const managed =
    c.dataServices === 'managed' ? { dbHost: 'db.example', redisHost: 'cache.example' } : undefined;
  return buildWorkload(spec, awsWiring(managed, modelSource('bucket-1', 'models/')));
}
const LIGHT: Combination = { tier: 'lightweight', capacity: 'on-demand', dataServices: 'colocated' };
const GPU: Combination = { tier: 'gpu', capacity: 'spot', dataServices: 'managed' };

describe('aws decisions', () => {
  test('wiring: in-stack containers by name, or the managed endpoints over TLS; models under the bucket prefix', () => {
    const local = awsWiring(undefined, 's3://b/models');
    assert.equal(local.inStackData, true);
    assert.match(local.redisUrl, /@clawstack-redis:6379$/);
    assert.match(local.databaseUrl!, /@clawstack-postgres:5432\/clawstack$/);
    const managed = awsWiring({ dbHost: 'db.x', redisHost: 'r.x' }, 's3://b/models');
    assert.equal(managed.inStackData, false);
    assert.equal(managed.redisUrl, `rediss://:${secretRef('redisPassword')}@r.x:6379`);
    // Managed: the app reads its URL from a file the instance keeps current; the master password
    // is a workload secret for RDS only, referred to by no container.
    assert.equal(managed.databaseUrl, undefined);
    assert.equal(managed.databaseUrlFile, DB_URL_FILE);
    assert.deepEqual(managed.secrets, { dbPassword: { kind: 'generated', length: 32 } });
    assert.equal(
      databaseUrlTemplate('db.x'),
      'postgres://{{username}}:{{password}}@db.x:5432/clawstack?sslmode=verify-full&sslrootcert=/etc/clawstack/rds-ca.pem',
    );
    const w = workloadFor(GPU);
    assert.equal(w.app.api.env.DATABASE_URL_FILE, DB_URL_FILE);
    assert.equal(w.app.api.env.DATABASE_URL, undefined);
    assert.ok(
      !JSON.stringify(w.app.api.secretEnv).includes('dbPassword'),
      'the app never gets the master password',
    );
    assert.equal(modelSource('bkt', 'models/'), 's3://bkt/models');
  });

  test("health grace is the api's startup budget (longer on GPU); deregistration is shorter on spot", () => {
    assert.equal(healthCheckGraceSeconds(workloadFor(LIGHT).app.api), 300);
    assert.equal(healthCheckGraceSeconds(workloadFor(GPU).app.api), 600);
    assert.equal(deregistrationDelaySeconds('spot'), 30);
    assert.equal(deregistrationDelaySeconds('on-demand'), 60);
  });

  test('log groups: one per container role, system, and edge only where Caddy runs', () => {
    assert.deepEqual(Object.keys(logGroupNames(workloadFor(LIGHT), 'instance')).sort(), [
      'api',
      'edge',
      'postgres',
      'redis',
      'system',
      'worker',
    ]);
    assert.deepEqual(logGroupNames(workloadFor(GPU), 'alb'), {
      api: '/clawstack/prod/api',
      worker: '/clawstack/prod/worker',
      system: '/clawstack/prod/system',
    });
  });

  test('URL: the domain, else the load balancer; secrets keep their Secrets Manager names', () => {
    assert.equal(serviceUrl('api.example.com', 'lb.aws'), 'https://api.example.com');
    assert.equal(serviceUrl(undefined, 'lb.aws'), 'https://lb.aws');
    assert.throws(() => serviceUrl(undefined));
    assert.equal(secretStoreName('cs-prod', 'redisPassword'), 'cs-prod/redis-auth-token');
    assert.equal(secretStoreName('cs-prod', 'appEnv.HF_TOKEN'), 'cs-prod/app-env/HF_TOKEN');
  });
});

describe('docker run from the workload', () => {
  const ctx = { region: 'eu-west-1', logGroup: '/clawstack/prod/api', publish: 'all' as const };

  test("the api's flags come from its Container: limits, GPU, user, read-only root, scratch, grace, health", () => {
    const w = workloadFor(GPU);
    const line = systemdCommandLine(dockerRunArgs(w.app.api, ctx));
    const api = w.app.api;
    for (const flag of [
      `--cpus ${api.resources.cpuLimitMillis / 1000}`,
      `--memory ${api.resources.memoryMiB}m`,
      '--gpus 1',
      `--user ${api.runAsUser}`,
      '--read-only',
      '--tmpfs /tmp',
      `--stop-timeout ${api.stopGraceSeconds}`,
      '--health-start-period 600s',
      '-p 8080:8080',
      '--env-file /etc/clawstack/api.env --env-file /run/clawstack/api.env',
      '--log-opt awslogs-stream=%H-api',
      '--log-opt mode=non-blocking',
    ])
      assert.ok(line.includes(flag), `${flag} in ${line}`);
    assert.ok(line.endsWith(` ${api.image}`));
  });

  test('behind Caddy the api publishes on loopback only; the worker publishes nothing', () => {
    const w = workloadFor(LIGHT);
    const api = systemdCommandLine(dockerRunArgs(w.app.api, { ...ctx, publish: 'loopback' }));
    assert.match(api, / -p 127\.0\.0\.1:8080:8080 /);
    assert.doesNotMatch(systemdCommandLine(dockerRunArgs(w.app.worker, ctx)), / -p /);
  });

  test("redis: persistent data on the data volume, its args intact, '$' kept from systemd", () => {
    const redis = workloadFor(LIGHT).data.redis!;
    const line = systemdCommandLine(dockerRunArgs(redis, { ...ctx, logGroup: '/clawstack/prod/redis' }));
    assert.match(line, / -v \/var\/lib\/clawstack\/redis:\/data /);
    assert.match(line, /redis:7-alpine sh -c "exec redis-server .*--requirepass \\"\$\$REDIS_PASSWORD\\""$/);
  });

  test('systemd quoting: words bare, others double-quoted, $ and % doubled', () => {
    assert.equal(
      systemdCommandLine(['a', 'b c', '50%', '$X', 'say "hi"']),
      'a "b c" "50%%" "$$X" "say \\"hi\\""',
    );
    assert.equal(systemdCommandLine([{ raw: '%H' }]), '%H');
  });

  test('env files: one KEY=value per line; a value spanning lines is refused', () => {
    assert.equal(envFileText({ A: '1', B: 'x=y' }), 'A=1\nB=x=y\n');
    assert.throws(() => envFileText({ A: 'two\nlines' }), /spans lines/);
  });
});

describe('boot-time secrets', () => {
  test('secrets.map lists every workload secret with its ARN, config secrets from appEnv included', () => {
    const w = workloadFor(LIGHT, { appEnv: { MODEL_CACHE_DIR: '/secret/dir' } }, ['appEnv']);
    const arns = Object.fromEntries(Object.keys(w.secrets).map((n) => [n, `arn:${n}`]));
    assert.equal(
      secretsMap(w, arns),
      'appEnv.MODEL_CACHE_DIR arn:appEnv.MODEL_CACHE_DIR\nbootstrapApiKey arn:bootstrapApiKey\ndbPassword arn:dbPassword\nredisPassword arn:redisPassword\n',
    );
    assert.throws(() => secretsMap(w, {}), /no Secrets Manager ARN/);
    assert.equal(w.app.api.secretEnv.MODEL_CACHE_DIR, secretRef('appEnv.MODEL_CACHE_DIR'));
    assert.equal(w.app.api.env.MODEL_CACHE_DIR, undefined);
  });

  test('persistent volumes become host directories owned by the container user', () => {
    assert.equal(
      volumeDirectories(workloadFor(LIGHT)),
      '/var/lib/clawstack/redis 999\n/var/lib/clawstack/postgres 70\n',
    );
    assert.equal(volumeDirectories(workloadFor(GPU)), '');
  });
});
