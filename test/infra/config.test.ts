/**
 * Stack config → spec: defaults from the tier catalog, the catalog's own consistency, the three
 * stack files, and docs/infra.md documenting every key.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { isMap, isScalar, parseDocument, type Scalar, type YAMLMap } from 'yaml';
import { CONFIG_KEYS, isCidr, parseSpec } from '../../infra/spec/index.ts';
import type { AwsSpec } from '../../infra/targets/aws/spec.ts';
import type { DeploymentSpec } from '../../infra/targets/index.ts';
import { CAPACITIES, TIER_NAMES, TIERS } from '../../infra/tiers.ts';
import { readStackConfig } from '../../scripts/plan/describe.ts';
import { one, runProgram } from '../../scripts/plan/harness.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const minimal = { domain: 'api.example.com', aws: { hostedZoneId: 'Z0123456789TEST' } };
const awsOf = (spec: DeploymentSpec) => (spec as DeploymentSpec<AwsSpec>).section;

/**
 * Keys under `config:` (and inside a target's section mapping, as `section.key`) with no comment of
 * their own: neither a comment line directly above the key nor one after its value on the same line
 * (a comment above a group of keys counts for the first only).
 */
function uncommentedKeys(text: string): string[] {
  const config = parseDocument(text).get('config', true);
  if (!isMap(config)) return [];
  const walk = (map: YAMLMap, prefix: string): string[] =>
    map.items.flatMap((pair, i) => {
      const key = pair.key as Scalar;
      const value = pair.value as Scalar | null;
      // yaml attaches the comment above the first key to the map itself
      const above = key.commentBefore ?? (i === 0 ? map.commentBefore : undefined);
      const name = `${prefix}${String(key.value)}`;
      const own = !above && !(isScalar(value) && value.comment) ? [name] : [];
      return isMap(pair.value) ? [...own, ...walk(pair.value, `${name}.`)] : own;
    });
  return walk(config, '');
}

describe('tier catalog', () => {
  for (const name of TIER_NAMES) {
    const tier = TIERS[name];
    test(`${name}: spot has ≥ 3 instance types, app threads fit the vCPUs, every target is described`, () => {
      assert.ok(tier.aws.instanceTypes.spot.length >= 3);
      assert.equal(tier.aws.instanceTypes['on-demand'].length >= 1, true);
      assert.ok(tier.app.inferenceThreads * tier.app.ortIntraOpThreads <= tier.vcpu);
      // api + worker + co-located Redis (256 MiB) and Postgres (512 MiB) fit the machine's memory.
      assert.ok(2 * tier.process.memoryMiB + 768 <= tier.memoryGiB * 1024);
      assert.ok(2 * tier.process.cpuMillis <= tier.vcpu * 1000);
      for (const capacity of CAPACITIES)
        assert.ok(Object.keys(tier.kubernetes.nodeSelector[capacity]).length > 0);
      assert.match(tier.aws.ami.ssmParameter, /^\/aws\/service\//);
    });
  }

  test('sizes follow the issue: lightweight ≈2/4/50, general ≈4/8/100, gpu NVIDIA ≥ 8 GB with CUDA', () => {
    assert.deepEqual(
      [TIERS.lightweight.vcpu, TIERS.lightweight.memoryGiB, TIERS.lightweight.aws.rootVolumeGb],
      [2, 4, 50],
    );
    assert.deepEqual(
      [TIERS.general.vcpu, TIERS.general.memoryGiB, TIERS.general.aws.rootVolumeGb],
      [4, 8, 100],
    );
    assert.ok((TIERS.gpu.gpu?.minMemoryGiB ?? 0) >= 8);
    assert.ok(TIERS.gpu.aws.instanceTypes.spot.every((t) => /^(g4dn|g5|g6)\./.test(t)));
    assert.equal(TIERS.gpu.app.executionProvider, 'cuda');
    assert.equal(TIERS.gpu.gpu?.count, 1);
    assert.equal(TIERS.general.aws.edge, 'alb');
    assert.equal(TIERS.lightweight.aws.edge, 'instance');
  });
});

describe('parseSpec', () => {
  test('defaults come from the tier: switching tier is one line', () => {
    const general = parseSpec({ tier: 'general', ...minimal }, 'dev');
    const gpu = parseSpec({ tier: 'gpu', ...minimal }, 'dev');
    assert.deepEqual(awsOf(general).instanceTypes, ['c6i.xlarge']);
    assert.equal(awsOf(general).rootVolumeGb, 100);
    assert.deepEqual(awsOf(gpu).instanceTypes, ['g4dn.xlarge']);
    assert.equal(awsOf(gpu).rootVolumeGb, 150);
    assert.equal(gpu.image, 'ghcr.io/clawstack/clawstack:0.1.0-cuda');
    assert.equal(
      parseSpec({ tier: 'gpu', image: 'ghcr.io/acme/x:2.0-cuda', ...minimal }, 'dev').image,
      'ghcr.io/acme/x:2.0-cuda',
    );
    assert.deepEqual(
      awsOf(parseSpec({ tier: 'gpu', capacity: 'spot', ...minimal }, 'dev')).instanceTypes,
      TIERS.gpu.aws.instanceTypes.spot,
    );
    assert.equal(general.target, 'aws');
    assert.equal(general.prefix, 'clawstack-dev');
    assert.deepEqual(general.tags, {
      project: 'clawstack',
      stack: 'dev',
      tier: 'general',
      capacity: 'on-demand',
    });
    assert.equal(awsOf(general).secretRotationDays, 90);
  });

  test('structured values arrive as JSON text or comma lists', () => {
    const a = parseSpec(
      {
        tier: 'general',
        ...minimal,
        allowedCidrs: '["203.0.113.0/24","198.51.100.0/24"]',
        appEnv: '{"RESULT_CACHE_TTL_SECONDS":600}',
      },
      's',
    );
    const b = parseSpec(
      { tier: 'general', ...minimal, allowedCidrs: '203.0.113.0/24, 198.51.100.0/24' },
      's',
    );
    assert.deepEqual(a.network.allowedCidrs, b.network.allowedCidrs);
    assert.deepEqual(a.app.extraEnv, { RESULT_CACHE_TTL_SECONDS: '600' });
  });

  test('isCidr accepts canonical IPv4 CIDRs only', () => {
    for (const ok of ['0.0.0.0/0', '10.42.0.0/16', '203.0.113.7/32']) assert.ok(isCidr(ok), ok);
    for (const bad of ['10.0.0.0/33', '10.0.0.1/16', '256.0.0.0/8', '10.0.0.0', '::/0', 'x/8'])
      assert.ok(!isCidr(bad), bad);
  });
});

describe('stack files', () => {
  const specs = Object.fromEntries(
    ['dev', 'staging', 'prod'].map((stack) => {
      const raw = readStackConfig(ROOT, stack);
      const own = Object.fromEntries(
        Object.entries(raw)
          .filter(([k]) => k.startsWith('clawstack:'))
          .map(([k, v]) => [k.slice('clawstack:'.length), v]),
      );
      return [stack, { raw, spec: parseSpec(own, stack) }];
    }),
  );

  test('dev: lightweight on spot, co-located; staging: general; prod: general on-demand, min 2, managed', () => {
    const { dev, staging, prod } = specs as Record<string, { spec: ReturnType<typeof parseSpec> }>;
    assert.deepEqual(
      [dev!.spec.tier.name, dev!.spec.capacity, dev!.spec.dataServices],
      ['lightweight', 'spot', 'colocated'],
    );
    assert.equal(staging!.spec.tier.name, 'general');
    assert.deepEqual(
      [prod!.spec.tier.name, prod!.spec.capacity, prod!.spec.dataServices, prod!.spec.scaling.min],
      ['general', 'on-demand', 'managed', 2],
    );
    const prodAws = (prod!.spec as DeploymentSpec<AwsSpec>).section;
    assert.equal(prodAws.data.dbMultiAz, true);
    assert.equal(prodAws.data.deletionProtection, true);
  });

  test('uncommentedKeys finds a config key (or a section key) with no comment line above it (nor on its line)', () => {
    const text = [
      '# header',
      'config:',
      '  # first',
      '  a:x: 1',
      '  b:y: 2',
      '  c:z: 3 # inline',
      '  # a list',
      '  d:w:',
      '    - 1',
      '  e:v:',
      '    - 2',
      '  # a target section',
      '  s:t:',
      '    # first',
      '    k1: 1',
      '    k2: 2',
    ].join('\n');
    assert.deepEqual(uncommentedKeys(text), ['b:y', 'e:v', 's:t.k2']);
  });

  for (const stack of ['dev', 'staging', 'prod']) {
    test(`Pulumi.${stack}.yaml runs under mocks, starts with a comment and has a comment for every config key`, async () => {
      const { raw } = specs[stack] as { raw: Record<string, string> };
      const run = await runProgram(raw, { stack });
      assert.equal(run.error, undefined, run.error?.message);
      assert.ok(one(run, 'aws:autoscaling/group:Group'));
      const text = readFileSync(`${ROOT}Pulumi.${stack}.yaml`, 'utf8');
      assert.match(text, /^# /);
      assert.deepEqual(uncommentedKeys(text), []);
    });
  }

  test('every Pulumi.<stack>.yaml (all targets) starts with a comment and has a comment for every config key', () => {
    const stacks = readdirSync(ROOT).filter((f) => /^Pulumi\.[\w-]+\.yaml$/.test(f));
    assert.ok(stacks.length >= 6, stacks.join(', '));
    const uncommented = stacks.flatMap((f) => {
      const text = readFileSync(`${ROOT}${f}`, 'utf8');
      return [
        ...(/^# /.test(text) ? [] : [`${f}: no leading comment`]),
        ...uncommentedKeys(text).map((k) => `${f}: ${k}`),
      ];
    });
    assert.deepEqual(uncommented, []);
  });

  test('Pulumi.yaml: project clawstack, nodejs, main infra/', () => {
    const text = readFileSync(`${ROOT}Pulumi.yaml`, 'utf8');
    assert.match(text, /^name: clawstack$/m);
    assert.match(text, /^ {2}name: nodejs$/m);
    assert.match(text, /^main: infra\/$/m);
  });

  test('docs/infra.md documents every config key', () => {
    const docs = readFileSync(`${ROOT}docs/infra.md`, 'utf8');
    const missing = CONFIG_KEYS.filter((k) => !docs.includes(`\`${k}\``));
    assert.deepEqual(missing, []);
  });
});
