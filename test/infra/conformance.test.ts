/**
 * The conformance suite: the same invariants for every built target, under Pulumi's mocks, for every
 * tier × capacity. A target passes when what it declares keeps the workload's promises: readiness on
 * the app's own path, stop grace ≥ the drain timeout, no secret value in plain text anywhere, the
 * stack's labels/tags on everything that carries them, and the tier's CPU/memory/GPU on each process.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { HEALTH_READY_PATH } from '../../app/src/api/paths.ts';
import { TARGET_NAMES } from '../../infra/targets/index.ts';
import { TIERS } from '../../infra/tiers.ts';
import { MOCK_SECRET_MARKER, runProgram } from '../../scripts/plan/harness.ts';
import type { ProgramRun } from '../../scripts/plan/harness.ts';
import { ADAPTERS } from './conformance/index.ts';
import type { Combination } from './conformance/types.ts';

const COMBOS: Combination[] = [
  { tier: 'lightweight', capacity: 'on-demand', dataServices: 'colocated' },
  { tier: 'lightweight', capacity: 'spot', dataServices: 'colocated' },
  { tier: 'general', capacity: 'on-demand', dataServices: 'managed' },
  { tier: 'general', capacity: 'spot', dataServices: 'colocated' },
  { tier: 'gpu', capacity: 'on-demand', dataServices: 'managed' },
  { tier: 'gpu', capacity: 'spot', dataServices: 'managed' },
];
const DRAIN_MS = 45_000;
/** A value set with `pulumi config set --secret` (inside appEnv); it must never appear in plain text. */
const CONFIG_SECRET = '/var/cache/secret-7f3a9c';

/** Every string in a resource's inputs outside its secret paths, with where it was found. */
function plainStrings(value: unknown, path: string, secretPaths: string[], out: [string, string][]) {
  if (secretPaths.some((p) => path === p || path.startsWith(`${p}.`))) return out;
  if (typeof value === 'string') out.push([path, value]);
  else if (Array.isArray(value)) value.forEach((v, i) => plainStrings(v, `${path}[${i}]`, secretPaths, out));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) plainStrings(v, path ? `${path}.${k}` : k, secretPaths, out);
  return out;
}

test('every built target has a conformance adapter', () => {
  assert.deepEqual(
    TARGET_NAMES.filter((t) => !ADAPTERS[t]),
    [],
  );
});

for (const [target, adapter] of Object.entries(ADAPTERS)) {
  for (const combo of COMBOS) {
    describe(`${target}: ${combo.tier} × ${combo.capacity} × ${combo.dataServices}`, () => {
      let run: ProgramRun;
      before(async () => {
        run = await runProgram(
          adapter.config(combo, {
            drainTimeoutMs: DRAIN_MS,
            appEnv: { MODEL_CACHE_DIR: CONFIG_SECRET },
          }),
          { secretKeys: ['appEnv', ...(adapter.secretKeys?.(combo) ?? [])] },
        );
        assert.equal(run.error, undefined, run.error?.message);
      });

      test('api and worker are declared; the api is checked on the app readiness path', () => {
        const containers = adapter.containers(run);
        assert.deepEqual(
          ['api', 'worker'].filter((r) => !containers.some((c) => c.role === r)),
          [],
        );
        for (const c of containers.filter((x) => x.role === 'api'))
          assert.equal(c.readinessPath, HEALTH_READY_PATH);
      });

      test('stop grace ≥ the drain timeout on every app container', () => {
        for (const c of adapter.containers(run))
          assert.ok(c.stopGraceSeconds * 1000 >= DRAIN_MS, `${c.role}: ${c.stopGraceSeconds} s`);
      });

      test("the tier's CPU, memory and GPU reach each app process", () => {
        const tier = TIERS[combo.tier];
        for (const c of adapter.containers(run).filter((x) => x.role === 'api' || x.role === 'worker')) {
          assert.equal(c.cpuLimitMillis, tier.process.cpuLimitMillis, `${c.role} CPU`);
          assert.equal(c.memoryMiB, tier.process.memoryMiB, `${c.role} memory`);
          assert.equal(c.gpus, tier.gpu?.count ?? 0, `${c.role} GPUs`);
          assert.equal(c.env.EXECUTION_PROVIDER, tier.app.executionProvider);
          assert.equal(c.env.CLAWSTACK_ROLE, c.role);
        }
      });

      test('behind a proxy the app trusts exactly its hops (TRUST_PROXY), else none', () => {
        const hops = adapter.proxyHops(combo);
        for (const c of adapter.containers(run))
          assert.equal(c.env.TRUST_PROXY, hops === undefined ? undefined : String(hops), c.role);
      });

      test('no secret value in plain text in any declared resource', () => {
        const leaks = run.resources.flatMap((r) =>
          plainStrings(r.inputs, '', r.secrets, [])
            .filter(([, v]) => v.includes(MOCK_SECRET_MARKER) || v.includes(CONFIG_SECRET))
            .map(([path]) => `${r.type} ${r.name}: ${path}`),
        );
        for (const [where, text] of adapter.texts?.(run) ?? [])
          if (text.includes(MOCK_SECRET_MARKER) || text.includes(CONFIG_SECRET)) leaks.push(where);
        assert.deepEqual(leaks, []);
      });

      test('the generated bootstrap API key is a secret stack output (pulumi stack output --show-secrets)', () => {
        assert.ok(String(run.outputs.bootstrapApiKey).startsWith(MOCK_SECRET_MARKER));
        assert.ok(run.secretOutputs.includes('bootstrapApiKey'));
      });

      test('every resource that carries labels/tags carries project, stack, tier and capacity', () => {
        const want = { project: 'clawstack', stack: 'test', tier: combo.tier, capacity: combo.capacity };
        const missing = adapter
          .labelled(run)
          .filter((r) => Object.entries(want).some(([k, v]) => r.labels[k] !== v))
          .map((r) => r.resource);
        assert.deepEqual(missing, []);
      });
    });
  }
}
