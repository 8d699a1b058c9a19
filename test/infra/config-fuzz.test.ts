/**
 * Stack config fuzzing: random and mutated configs (from the real stack files, for every target) go
 * through parseSpec and come back as a spec or one StackConfigError naming the key — never another
 * exception. Calls only the exported parser, so it holds whatever shape the spec takes inside.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { parse } from 'yaml';
import { CONFIG_KEYS, parseSpec, StackConfigError } from '../../infra/spec/index.ts';
import { TARGET_NAMES as TARGETS } from '../../infra/targets/index.ts';
import { applyAssignments } from '../../scripts/plan/describe.ts';

/** Keys as a stack file names them without the project: `tier`, or `aws.instanceTypes` inside a section. */
const KEYS = CONFIG_KEYS.map((k) => k.slice('clawstack:'.length));

/** 3,000 in CI; FUZZ_RUNS=200000 for a long local run. */
const RUNS = Number(process.env.FUZZ_RUNS) || 3000;

/** The clawstack: keys of a stack file, as the Pulumi CLI hands them over (structured values as JSON). */
function stackConfig(file: string): Record<string, string> {
  const { config } = parse(readFileSync(file, 'utf8')) as { config: Record<string, unknown> };
  const raw: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) {
    if (!k.startsWith('clawstack:')) continue;
    raw[k.slice('clawstack:'.length)] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  return raw;
}

const seeds = [
  'Pulumi.dev.yaml',
  'Pulumi.staging.yaml',
  'Pulumi.prod.yaml',
  'Pulumi.k8s.yaml',
  'Pulumi.local.yaml',
].map(stackConfig);

const values = fc.oneof(
  fc.constantFrom(
    ...TARGETS,
    'lightweight',
    'general',
    'gpu',
    'spot',
    'on-demand',
    'colocated',
    'managed',
    'true',
    'false',
    '0',
    '1',
    '-1',
    '30',
    '1e309',
    'NaN',
    '10.0.0.0/16',
    '0.0.0.0/0',
    '300.1.2.3/8',
    '["10.0.0.0/8"]',
    '[]',
    '{}',
    '{"a":"b"}',
    '[1,2]',
    'null',
    'api.example.com',
    'ops@example.com',
    'ghcr.io/acme/x:1.0',
    '',
  ),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.integer().map(String),
);

const configs = fc.oneof(
  // a stack file with some values replaced, some keys removed, a target chosen
  fc
    .tuple(
      fc.constantFrom(...seeds),
      fc.constantFrom(...TARGETS),
      fc.dictionary(fc.constantFrom(...KEYS), values, { maxKeys: 4 }),
      fc.array(fc.constantFrom(...KEYS), { maxLength: 4 }),
    )
    .map(([seed, target, changed, removed]) => {
      // section keys (aws.x) are set inside their section, as `pulumi config set --path` would
      const prefixed = (k: string) => `clawstack:${k}`;
      const withChanges = applyAssignments(
        Object.fromEntries(Object.entries({ ...seed, target }).map(([k, v]) => [prefixed(k), v])),
        Object.entries(changed).map(([k, v]) => `${k}=${v}`),
      );
      const raw: Record<string, string> = {};
      for (const [k, v] of Object.entries(withChanges)) raw[k.slice('clawstack:'.length)] = v;
      for (const k of removed) delete raw[k.split('.')[0]!];
      return raw;
    }),
  // anything at all, with documented keys and unknown ones
  fc.dictionary(fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 12 })), values, {
    maxKeys: 12,
  }),
);

test(`${RUNS} random stack configs: a spec or a StackConfigError naming a clawstack: key, never another exception`, () => {
  let valid = 0;
  let refused = 0;
  fc.assert(
    fc.property(configs, fc.constantFrom('dev', 'staging', 'prod', 'x'), (raw, stack) => {
      try {
        const spec = parseSpec(raw, stack);
        assert.equal(typeof spec, 'object');
        valid++;
      } catch (err: unknown) {
        if (!(err instanceof StackConfigError)) throw err;
        assert.match(err.key, /^clawstack:/);
        assert.match(err.message, /allowed: /);
        refused++;
      }
    }),
    { numRuns: RUNS },
  );
  console.log(`stack configs: ${valid} valid, ${refused} refused with StackConfigError`);
  assert.ok(valid > 0, 'some generated configs are valid (the generator reaches past the first check)');
});
