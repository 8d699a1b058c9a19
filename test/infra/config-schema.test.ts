/**
 * The project config schema: Pulumi.yaml's `config:` block and docs/stack-config.schema.json are what
 * `npm run config-schema` generates from the zod key definitions; every key in CONFIG_KEYS is
 * declared (or, with no static default, prompted by the template and named in the block's comment);
 * the declared defaults are the parser's own (setting them changes no spec); docs/infra.md shows them.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { parse } from 'yaml';
import { COMMON_KEYS } from '../../infra/spec/common.ts';
import { CONFIG_KEYS, parseSpec } from '../../infra/spec/index.ts';
import { TARGET_NAMES } from '../../infra/targets/index.ts';
import { NO_STATIC_DEFAULT, projectConfig } from '../../scripts/config-schema/build.ts';
import { renderProjectFile, renderSchemaFile } from '../../scripts/config-schema/files.ts';
import { readStackConfig } from '../../scripts/plan/describe.ts';
import { runProgram } from '../../scripts/plan/harness.ts';
import { ADAPTERS } from './conformance/index.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const projectText = readFileSync(`${ROOT}Pulumi.yaml`, 'utf8');
const project = parse(projectText) as {
  config: Record<string, { type: string; description: string; default?: unknown }>;
  template: { config: Record<string, unknown> };
};
const schema = JSON.parse(readFileSync(`${ROOT}docs/stack-config.schema.json`, 'utf8')) as {
  properties: { config: { properties: Record<string, { properties?: Record<string, unknown> }> } };
};

describe('project config schema', () => {
  test('Pulumi.yaml and docs/stack-config.schema.json are up to date (npm run config-schema)', () => {
    assert.equal(renderProjectFile(projectText), projectText, 'run npm run config-schema');
    assert.equal(renderSchemaFile(), readFileSync(`${ROOT}docs/stack-config.schema.json`, 'utf8'));
  });

  test('every key in CONFIG_KEYS is declared in Pulumi.yaml, its section, or the template prompts', () => {
    const undeclared = CONFIG_KEYS.filter((key) => {
      if (project.config[key]) return !project.config[key].description;
      const [section, sub] = key.split('.');
      if (sub) return !project.config[section!]?.description.includes(sub);
      const bare = key.slice('clawstack:'.length) as keyof typeof NO_STATIC_DEFAULT;
      return !(NO_STATIC_DEFAULT[bare] && (bare === 'maxSize' || project.template.config[key]));
    });
    assert.deepEqual(undeclared, []);
    assert.ok(
      Object.keys(COMMON_KEYS).every((k) => project.config[`clawstack:${k}`] || k in NO_STATIC_DEFAULT),
    );
  });

  test('every key is in the JSON Schema, section keys under their section', () => {
    const props = schema.properties.config.properties;
    const missing = CONFIG_KEYS.filter((key) => {
      const [top, sub] = key.split('.');
      return sub ? !props[top!]?.properties?.[sub] : !props[key];
    });
    assert.deepEqual(missing, []);
  });

  test('the declared defaults are the parser defaults: setting them all changes no spec', () => {
    const defaults = Object.fromEntries(
      Object.entries(projectConfig()).map(([k, d]) => [k.slice('clawstack:'.length), d.default]),
    );
    const minimal = { domain: 'api.example.com', aws: { hostedZoneId: 'Z0123456789TEST' } };
    for (const tier of ['lightweight', 'general']) {
      const bare = parseSpec({ ...minimal, tier }, 'dev');
      const withDefaults = parseSpec({ ...defaults, ...minimal, tier }, 'dev');
      assert.deepEqual(withDefaults, bare);
    }
    // Every other target's section defaults to {}: an empty section of an unused target is no error.
    for (const t of TARGET_NAMES) assert.deepEqual(project.config[`clawstack:${t}`]?.default, {});
  });

  test('docs/infra.md shows each declared default', () => {
    const docs = readFileSync(`${ROOT}docs/infra.md`, 'utf8');
    const wrong = Object.entries(projectConfig())
      .filter(([, d]) => d.type !== 'object' || Object.keys(d.default as object).length)
      .filter(([key, d]) => {
        const row = docs.split('\n').find((l) => l.startsWith(`| \`${key}\` |`));
        const shown = typeof d.default === 'string' ? d.default : JSON.stringify(d.default);
        return !row?.split('|')[2]?.includes(`\`${shown}\``);
      })
      .map(([key]) => key);
    assert.deepEqual(wrong, []);
  });

  test("docs/infra.md's literal default of each target-section key is the parser's: setting it changes nothing", async () => {
    const docs = readFileSync(`${ROOT}docs/infra.md`, 'utf8');
    const props = schema.properties.config.properties;
    const combo = { tier: 'general', capacity: 'on-demand', dataServices: 'colocated' } as const;
    const checked: string[] = [];
    const wrong: string[] = [];
    for (const line of docs.split('\n')) {
      const m = /^\| `clawstack:(\w+)\.(\w+)` \| `([^`]+)` \|(.*)$/.exec(line);
      if (!m || !(TARGET_NAMES as string[]).includes(m[1]!)) continue;
      const [, target, key, shown, rest] = m as unknown as [string, string, string, string, string];
      // A template (`<prefix>`, an expression) or another key's name is not a literal.
      if (/[<(]/.test(shown) || shown in COMMON_KEYS) continue;
      const type = (props[`clawstack:${target}`]?.properties?.[key] as { type?: string } | undefined)?.type;
      const value =
        type === 'string' ? shown : type === 'integer' || type === 'number' ? Number(shown) : parse(shown);
      const eksOnly = target === 'kubernetes' && rest.includes('`cluster: eks` only');
      const config = ADAPTERS[eksOnly ? 'kubernetes (cluster: eks)' : target]!.config(combo);
      // The key unset (the adapter may set it) against the key set to the documented default.
      const { [key]: _, ...section } = (config[target] ?? {}) as Record<string, unknown>;
      const unset = { ...config, [target]: section };
      const set = { ...config, [target]: { ...section, [key]: value } };
      const bare = (c: Record<string, unknown>) =>
        Object.fromEntries(Object.entries(c).filter(([k]) => !k.includes(':')));
      checked.push(`${target}.${key}`);
      try {
        assert.deepEqual(parseSpec(bare(set), 'dev'), parseSpec(bare(unset), 'dev'));
      } catch (e) {
        // A spec may keep "unset" and resolve the default where it is used: compare what is declared.
        // One at a time: the mocks are process-wide.
        const a = await runProgram(set);
        const b = await runProgram(unset);
        const declared = (r: typeof a) =>
          r.resources
            .map((x) => [`${x.type} ${x.name}`, x.inputs])
            .sort(([x], [y]) => String(x).localeCompare(String(y)));
        if (a.error || b.error || !isDeepStrictEqual(declared(a), declared(b)))
          wrong.push(
            `${target}.${key} = ${shown}: ${(a.error ?? b.error ?? (e as Error)).message.split('\n')[0]}`,
          );
      }
    }
    assert.deepEqual(wrong, []);
    // Not vacuous: the literal defaults of every target's section were read.
    for (const t of TARGET_NAMES)
      assert.ok(
        checked.some((k) => k.startsWith(`${t}.`)),
        t,
      );
    assert.ok(checked.includes('kubernetes.eksVersion') && checked.includes('docker.dataImages'));
  });

  test('every stack file uses only keys the schema knows', () => {
    const props = schema.properties.config.properties;
    for (const file of readdirSync(ROOT).filter((f) => /^Pulumi\.[\w-]+\.yaml$/.test(f))) {
      const stack = file.slice('Pulumi.'.length, -'.yaml'.length);
      const unknown = Object.keys(readStackConfig(ROOT, stack)).filter(
        (k) => k.startsWith('clawstack:') && !props[k],
      );
      assert.deepEqual(unknown, [], file);
    }
  });
});
