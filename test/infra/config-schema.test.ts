/**
 * The project config schema: Pulumi.yaml's `config:` block and docs/stack-config.schema.json are what
 * `npm run config-schema` generates from the zod key definitions; every key in CONFIG_KEYS is
 * declared (or, with no static default, prompted by the template and named in the block's comment);
 * the declared defaults are the parser's own (setting them changes no spec); docs/infra.md shows them.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { COMMON_KEYS } from '../../infra/spec/common.ts';
import { CONFIG_KEYS, parseSpec } from '../../infra/spec/index.ts';
import { TARGET_NAMES } from '../../infra/targets/index.ts';
import { NO_STATIC_DEFAULT, projectConfig } from '../../scripts/config-schema/build.ts';
import { renderProjectFile, renderSchemaFile } from '../../scripts/config-schema/files.ts';
import { readStackConfig } from '../../scripts/plan/describe.ts';

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
