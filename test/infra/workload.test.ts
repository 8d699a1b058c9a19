/** The target-neutral workload model, on its own: pure decisions every target inherits. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HEALTH_LIVE_PATH, HEALTH_READY_PATH } from '../../app/src/api/paths.ts';
import { loadConfig } from '../../app/src/config.ts';
import { parseSpec } from '../../infra/spec/index.ts';
import { renderCaddyfile } from '../../infra/edge/caddy.ts';
import {
  buildWorkload,
  containersOf,
  inStackPostgresUrl,
  inStackRedisUrl,
  resolveSecretRefs,
  secretRef,
  secretRefsIn,
  stopGraceSeconds,
} from '../../infra/workload/index.ts';

const spec = (extra: Record<string, unknown> = {}, secretKeys: string[] = []) =>
  parseSpec(
    { tier: 'general', domain: 'api.example.com', aws: { hostedZoneId: 'Z0123456789TEST' }, ...extra },
    'dev',
    new Set(secretKeys),
  );
const inStack = {
  redisUrl: inStackRedisUrl('redis'),
  databaseUrl: inStackPostgresUrl('postgres'),
  modelSource: '/app/models',
  inStackData: true,
};

describe('workload', () => {
  test('stop grace is the drain timeout rounded up plus 5 s', () => {
    assert.equal(stopGraceSeconds(90_000), 95);
    assert.equal(stopGraceSeconds(60_001), 66);
    assert.equal(stopGraceSeconds(0), 5);
  });

  test('api and worker: same image and env but the role; probes on the app paths; grace from the drain', () => {
    const w = buildWorkload(spec({ drainTimeoutMs: 30_000 }), inStack);
    const { api, worker } = w.app;
    assert.equal(api.image, 'ghcr.io/clawstack/clawstack:0.1.0');
    assert.deepEqual({ ...api.env, CLAWSTACK_ROLE: 'x' }, { ...worker.env, CLAWSTACK_ROLE: 'x' });
    assert.equal(api.env.CLAWSTACK_ROLE, 'api');
    assert.equal(worker.env.CLAWSTACK_ROLE, 'worker');
    for (const c of [api, worker]) {
      assert.deepEqual(c.probes.readiness.check, { kind: 'http', path: HEALTH_READY_PATH, port: 8080 });
      assert.deepEqual(c.probes.liveness.check, { kind: 'http', path: HEALTH_LIVE_PATH, port: 8080 });
      assert.equal(c.stopGraceSeconds, 35);
      assert.equal(c.readOnlyRootFilesystem, true);
      assert.ok(c.runAsUser > 0);
    }
    assert.deepEqual(
      api.ports.map((p) => p.exposure),
      ['public'],
    );
    assert.deepEqual(
      worker.ports.map((p) => p.exposure),
      ['internal'],
    );
  });

  test("the tier's per-process resources and GPU; the GPU tier runs the CUDA image as its own user", () => {
    const general = buildWorkload(spec(), inStack);
    assert.deepEqual(general.app.api.resources, {
      cpuMillis: 1500,
      cpuLimitMillis: 2000,
      memoryMiB: 3072,
      gpus: 0,
    });
    const gpu = buildWorkload(spec({ tier: 'gpu', dataServices: 'managed' }), inStack);
    assert.equal(gpu.app.worker.resources.gpus, 1);
    assert.equal(gpu.app.api.image, 'ghcr.io/clawstack/clawstack:0.1.0-cuda');
    assert.equal(gpu.app.api.env.EXECUTION_PROVIDER, 'cuda');
    assert.equal(gpu.app.api.runAsUser, 10001);
    assert.ok(
      (gpu.app.api.probes.startup?.failureThreshold ?? 0) >
        (general.app.api.probes.startup?.failureThreshold ?? 0),
    );
  });

  test('secrets are references: URLs and the bootstrap key live in secretEnv, each with a source', () => {
    const w = buildWorkload(spec(), inStack);
    const { api } = w.app;
    assert.deepEqual(Object.keys(api.secretEnv).sort(), ['BOOTSTRAP_API_KEY', 'DATABASE_URL', 'REDIS_URL']);
    for (const value of Object.values(api.env)) assert.deepEqual(secretRefsIn(value), []);
    assert.deepEqual(Object.keys(w.secrets).sort(), ['bootstrapApiKey', 'dbPassword', 'redisPassword']);
    assert.equal(w.data.postgres?.secretEnv.POSTGRES_PASSWORD, secretRef('dbPassword'));
    assert.equal(w.data.redis?.secretEnv.REDIS_PASSWORD, secretRef('redisPassword'));
    // Resolved, the environment satisfies the app's own contract.
    const values = { dbPassword: 'pw', redisPassword: 'rp', bootstrapApiKey: 'k'.repeat(40) };
    const env = { ...api.env };
    for (const [k, v] of Object.entries(api.secretEnv)) env[k] = resolveSecretRefs(v, values);
    const config = loadConfig(env);
    assert.equal(config.DATABASE_URL, 'postgres://clawstack:pw@postgres:5432/clawstack');
    assert.equal(config.CLAWSTACK_ROLE, 'api');
  });

  test('appEnv set with --secret becomes workload secrets; plain appEnv stays plain', () => {
    const plain = buildWorkload(spec({ appEnv: { MODEL_CACHE_DIR: '/cache' } }), inStack);
    assert.equal(plain.app.api.env.MODEL_CACHE_DIR, '/cache');
    const secret = buildWorkload(spec({ appEnv: { MODEL_CACHE_DIR: '/cache' } }, ['appEnv']), inStack);
    assert.equal(secret.app.api.env.MODEL_CACHE_DIR, undefined);
    assert.equal(secret.app.api.secretEnv.MODEL_CACHE_DIR, secretRef('appEnv.MODEL_CACHE_DIR'));
    assert.deepEqual(secret.secrets['appEnv.MODEL_CACHE_DIR'], { kind: 'config', value: '/cache' });
  });

  test('external data services: no data roles, and a URL secret the wiring names', () => {
    const w = buildWorkload(spec({ dataServices: 'managed' }), {
      redisUrl: secretRef('appEnv.REDIS_URL'),
      databaseUrl: `postgres://app:${secretRef('dbPassword')}@db.internal:5432/app`,
      modelSource: 's3://bucket/models',
      inStackData: false,
      secrets: { 'appEnv.REDIS_URL': { kind: 'config', value: 'rediss://x@cache:6379' } },
    });
    assert.deepEqual(w.data, {});
    assert.deepEqual(
      containersOf(w).map((c) => c.role),
      ['api', 'worker'],
    );
    assert.equal(w.secrets.dbPassword?.kind, 'generated');
    assert.equal(w.secrets.redisPassword, undefined);
  });

  test('a reference to a secret with no value is an error, never left in place', () => {
    assert.throws(
      () => resolveSecretRefs(`x${secretRef('dbPassword')}`, {}),
      /no value for secret dbPassword/,
    );
  });
});

describe('Caddy edge', () => {
  test('TLS 1.2+, /metrics only on the admin listener for the admin CIDRs, health on the readiness path', () => {
    const text = renderCaddyfile({
      domain: 'dev.example.com',
      acmeEmail: 'ops@example.com',
      adminCidrs: ['198.51.100.7/32', '192.0.2.0/24'],
      upstream: '127.0.0.1:8080',
    });
    assert.match(text, /email ops@example\.com/);
    assert.equal(text.match(/protocols tls1\.2 tls1\.3/g)?.length, 2);
    assert.match(text, /respond \/metrics 404/);
    assert.match(text, /health_uri \/v2\/health\/ready/);
    assert.match(text, /dev\.example\.com:9443 \{[\s\S]*remote_ip 198\.51\.100\.7\/32 192\.0\.2\.0\/24/);
    const open = renderCaddyfile({ domain: 'dev.example.com', adminCidrs: [], upstream: '127.0.0.1:8080' });
    assert.doesNotMatch(open, /9443|email/);
  });
});
