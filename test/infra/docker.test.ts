/**
 * The Docker target under Pulumi's mocks: its section's keys and rules, the pure renderer, and what the
 * program declares for every tier × capacity × data-services combination.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HEALTH_READY_PATH } from '../../app/src/api/paths.ts';
import { parseSpec, StackConfigError } from '../../infra/spec/index.ts';
import {
  apiUrl,
  deviceRequests,
  healthcheck,
  healthWaitSeconds,
  limits,
  publishedPorts,
  tmpfs,
} from '../../infra/targets/docker/render.ts';
import { TIERS } from '../../infra/tiers.ts';
import { appProbes, buildWorkload, inStackPostgresUrl, inStackRedisUrl } from '../../infra/workload/index.ts';
import { MOCK_SECRET_MARKER, ofType, one, runProgram } from '../../scripts/plan/harness.ts';
import type { ProgramRun } from '../../scripts/plan/harness.ts';
import { dockerConfig, EXTERNAL } from './docker-helpers.ts';
import { COMBINATIONS, label } from './helpers.ts';

const CONTAINER = 'docker:index/container:Container';
const base = { tier: 'lightweight', capacity: 'on-demand', dataServices: 'colocated' } as const;
const envOf = (r: { inputs: Record<string, unknown> }) =>
  Object.fromEntries(((r.inputs.envs ?? []) as string[]).map((l) => l.split(/=(.*)/s).slice(0, 2)));

function parse(section: Record<string, unknown>, common: Record<string, unknown> = {}) {
  return parseSpec({ target: 'docker', ...common, docker: JSON.stringify(section) }, 'test');
}

describe('clawstack:docker section', () => {
  test('defaults: loopback 127.0.0.1:8080, built here, network named after the stack, one box', () => {
    const spec = parse({});
    assert.deepEqual(spec.section, {
      hostAddress: '127.0.0.1',
      hostPort: 8080,
      build: true,
      buildNetwork: undefined,
      network: 'clawstack-test',
      tlsHostAddress: '0.0.0.0',
      dataImages: {},
      external: undefined,
    });
    assert.equal(spec.scaling.max, 1);
  });

  test('errors name the key: bad address, unknown key, maxSize above 1, URLs and dataServices', () => {
    const cases: [() => unknown, RegExp][] = [
      [() => parse({ hostAddress: 'localhost' }), /clawstack:docker\.hostAddress/],
      [() => parse({ hostPort: 70000 }), /clawstack:docker\.hostPort/],
      [() => parse({ hostAdress: '127.0.0.1' }), /clawstack:docker\.hostAdress .*unknown key/],
      [() => parse({}, { maxSize: 2 }), /clawstack:maxSize = 2: the docker target runs one api/],
      [() => parse({}, { dataServices: 'managed' }), /clawstack:docker\.redisUrl .*dataServices is managed/],
      [() => parse({ redisUrl: EXTERNAL.redisUrl }), /clawstack:docker\.redisUrl .*dataServices colocated/],
      [() => parse({ databaseUrl: 'mysql://x' }), /clawstack:docker\.databaseUrl/],
      [() => parse({ dataImages: { mysql: 'mysql:8' } }), /clawstack:docker\.dataImages/],
      // text that is not JSON (found by the config fuzz: JSON.parse threw a SyntaxError)
      [() => parse({ dataImages: 'aws' }), /clawstack:docker\.dataImages = "aws"/],
    ];
    for (const [fn, message] of cases)
      assert.throws(fn, (e: Error) => e instanceof StackConfigError && message.test(e.message));
  });
});

describe('docker renderer (pure)', () => {
  const spec = parse({});
  const w = buildWorkload(spec, {
    redisUrl: inStackRedisUrl('redis'),
    databaseUrl: inStackPostgresUrl('postgres'),
    modelSource: '/app/models',
    inStackData: true,
  });

  test('an HTTP readiness probe becomes a node fetch of the ready path; startup budget → start period', () => {
    const h = healthcheck(appProbes(TIERS.lightweight));
    assert.deepEqual(h.tests.slice(0, 3), ['CMD', 'node', '-e']);
    assert.match(h.tests[3]!, new RegExp(`http://127\\.0\\.0\\.1:8080${HEALTH_READY_PATH}`));
    assert.deepEqual([h.interval, h.timeout, h.retries, h.startPeriod], ['5s', '8s', 2, '300s']);
    assert.equal(healthcheck(appProbes(TIERS.gpu)).startPeriod, '600s');
  });

  test('an exec probe runs as it is; no start period without a startup probe', () => {
    const h = healthcheck(w.data.postgres!.probes);
    assert.deepEqual(h.tests, ['CMD', 'pg_isready', '-U', 'clawstack', '-d', 'clawstack']);
    assert.equal(h.startPeriod, undefined);
    assert.equal(h.timeout, '5s'); // the probe's own: no Node process to start
  });

  test('limits, GPUs, tmpfs and published ports follow the workload', () => {
    assert.deepEqual(limits(w.app.api), { cpus: '1', cpuShares: 512, memory: 1280, memorySwap: 1280 });
    assert.deepEqual(deviceRequests(w.app.api), []);
    const gpuApi = { ...w.app.api, resources: { ...w.app.api.resources, gpus: 1 } };
    assert.deepEqual(deviceRequests(gpuApi), [{ driver: 'nvidia', count: 1, capabilities: ['gpu'] }]);
    assert.deepEqual(tmpfs(w.data.postgres!.volumes), { '/var/run/postgresql': 'rw', '/tmp': 'rw' });
    assert.deepEqual(publishedPorts(w.app.api, '127.0.0.1', 9000), [
      { internal: 8080, external: 9000, ip: '127.0.0.1', protocol: 'tcp' },
    ]);
    assert.deepEqual(publishedPorts(w.app.worker, '127.0.0.1', 9000), []);
    assert.equal(healthWaitSeconds(w.app.api), 300 + 10 + 30);
  });

  test('url: https with a domain, else the published address (0.0.0.0 reads as loopback)', () => {
    assert.equal(apiUrl('api.example.com', '127.0.0.1', 8080), 'https://api.example.com');
    assert.equal(apiUrl(undefined, '0.0.0.0', 8081), 'http://127.0.0.1:8081');
    assert.equal(apiUrl(undefined, '192.168.1.5', 80), 'http://192.168.1.5:80');
  });
});

describe('docker target under mocks', () => {
  for (const c of COMBINATIONS) {
    test(`${label(c)}: containers, image, volumes, limits and secrets as the workload says`, async () => {
      const run = await runProgram(dockerConfig(c));
      assert.equal(run.error, undefined, run.error?.message);
      const tier = TIERS[c.tier];
      const names = ofType(run, CONTAINER)
        .map((r) => r.name)
        .sort();
      const data = c.dataServices === 'colocated' ? ['clawstack-test-postgres', 'clawstack-test-redis'] : [];
      assert.deepEqual(names, ['clawstack-test-api', ...data, 'clawstack-test-worker'].sort());
      const image = one(run, 'docker:index/image:Image');
      assert.match(
        String((image.inputs.build as { dockerfile: string }).dockerfile),
        tier.gpu ? /app\/Dockerfile\.gpu$/ : /app\/Dockerfile$/,
      );
      assert.equal(image.inputs.imageName, `clawstack/clawstack:test${tier.imageTagSuffix}`);
      for (const role of ['api', 'worker']) {
        const r = one(run, CONTAINER, `-${role}`);
        assert.equal(r.inputs.image, `clawstack/clawstack:test${tier.imageTagSuffix}`);
        assert.deepEqual((r.inputs.deviceRequests as unknown[]).length, tier.gpu ? 1 : 0);
        assert.equal(r.inputs.memory, tier.process.memoryMiB);
        assert.equal(r.inputs.readOnly, true);
        assert.equal(r.inputs.restart, 'unless-stopped');
        assert.deepEqual(r.secrets, ['envs']);
        const env = envOf(r);
        assert.equal(env.CLAWSTACK_ROLE, role);
        assert.equal(env.MODEL_SOURCE, '/app/models');
        if (c.dataServices === 'colocated')
          assert.match(String(env.REDIS_URL), new RegExp(`^redis://:${MOCK_SECRET_MARKER}\\w+@redis:6379$`));
        else assert.equal(env.DATABASE_URL, EXTERNAL.databaseUrl);
      }
      assert.deepEqual(one(run, CONTAINER, '-api').inputs.ports, [
        { internal: 8080, external: 8080, ip: '127.0.0.1', protocol: 'tcp' },
      ]);
      assert.deepEqual(one(run, CONTAINER, '-worker').inputs.ports, []);
      const volumes = ofType(run, 'docker:index/volume:Volume')
        .map((v) => v.inputs.name)
        .sort();
      assert.deepEqual(
        volumes,
        c.dataServices === 'colocated' ? ['clawstack-test-postgres-data', 'clawstack-test-redis-data'] : [],
      );
      assert.equal(run.outputs.url, 'http://127.0.0.1:8080');
    });
  }

  test('a domain adds Caddy on tlsHostAddress with the rendered Caddyfile and its own volumes', async () => {
    const run: ProgramRun = await runProgram(
      dockerConfig(base, { domain: 'api.example.com', adminCidrs: ['192.0.2.10/32'] }),
    );
    assert.equal(run.error, undefined, run.error?.message);
    const edge = one(run, CONTAINER, '-edge');
    assert.deepEqual(
      (edge.inputs.ports as { external: number; ip: string }[]).map((p) => `${p.ip}:${p.external}`),
      ['0.0.0.0:80', '0.0.0.0:443', '0.0.0.0:9443'],
    );
    const upload = (edge.inputs.uploads as { file: string; content: string }[])[0]!;
    assert.equal(upload.file, '/etc/caddy/Caddyfile');
    assert.match(upload.content, /reverse_proxy api:8080/);
    assert.match(upload.content, /remote_ip 192\.0\.2\.10\/32/);
    assert.equal(one(run, 'docker:index/remoteImage:RemoteImage', '-edge-image').inputs.name, 'caddy:2');
    assert.equal(run.outputs.url, 'https://api.example.com');
    // Behind Caddy the app trusts one hop of X-Forwarded-For (its failed-auth throttle sees clients).
    for (const role of ['-api', '-worker'])
      assert.ok((one(run, CONTAINER, role).inputs.envs as string[]).includes('TRUST_PROXY=1'), role);
  });

  test('build: false pulls clawstack:image; dataImages and hostAddress/hostPort are used as given', async () => {
    const run = await runProgram(
      dockerConfig(base, {
        build: false,
        dataImages: { redis: 'mirror.example.com/redis:7', postgres: 'mirror.example.com/postgres:16' },
        hostAddress: '0.0.0.0',
        hostPort: 9090,
      }),
    );
    assert.equal(run.error, undefined, run.error?.message);
    assert.equal(ofType(run, 'docker:index/image:Image').length, 0);
    const pulled = ofType(run, 'docker:index/remoteImage:RemoteImage')
      .map((r) => r.inputs.name)
      .sort();
    assert.deepEqual(pulled, [
      'clawstack/clawstack:test',
      'mirror.example.com/postgres:16',
      'mirror.example.com/redis:7',
    ]);
    assert.equal(one(run, CONTAINER, '-redis').inputs.image, 'mirror.example.com/redis:7');
    assert.deepEqual(one(run, CONTAINER, '-api').inputs.ports, [
      { internal: 8080, external: 9090, ip: '0.0.0.0', protocol: 'tcp' },
    ]);
    assert.equal(run.outputs.url, 'http://127.0.0.1:9090');
  });
});
