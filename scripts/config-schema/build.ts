/**
 * The project config declarations generated from the zod key definitions (infra/spec COMMON_KEYS,
 * each target's keys): Pulumi.yaml's `config:` block (type, description, default) and a JSON Schema
 * of a stack file's `config:` for editors (docs/stack-config.schema.json). Pure.
 *
 * Pulumi makes a declared key without a default required in every stack, so keys that have no
 * static default (it is computed, or the key is optional) are not declared with a type; they are
 * listed in the template's prompts and in NO_STATIC_DEFAULT with the reason.
 */
import { z } from 'zod';
import { COMMON_KEYS, DEFAULT_IMAGE, parseCommon } from '../../infra/spec/common.ts';
import type { CommonKey, CommonSpec } from '../../infra/spec/common.ts';
import { PROJECT } from '../../infra/spec/schema.ts';
import type { KeyDef } from '../../infra/spec/schema.ts';
import { TARGETS, TARGET_NAMES } from '../../infra/targets/index.ts';

/** Where each common key's default comes from in the parsed spec (the parser is the one source). */
const DEFAULT_OF: Partial<Record<CommonKey, (s: CommonSpec) => unknown>> = {
  tier: (s) => s.tier.name,
  capacity: (s) => s.capacity,
  dataServices: (s) => s.dataServices,
  image: () => DEFAULT_IMAGE,
  minSize: (s) => s.scaling.min,
  cpuTargetPercent: (s) => s.scaling.cpuTargetPercent,
  allowedCidrs: (s) => s.network.allowedCidrs,
  adminCidrs: (s) => s.network.adminCidrs,
  alertEmails: (s) => s.alertEmails,
  drainTimeoutMs: (s) => s.app.drainTimeoutMs,
  logLevel: (s) => s.app.logLevel,
  models: (s) => s.app.models,
  appEnv: (s) => s.app.extraEnv,
  tags: () => ({}),
};

/** Common keys with no static default, and why. */
export const NO_STATIC_DEFAULT: Partial<Record<CommonKey, string>> = {
  maxSize: "computed from the tier, dataServices and the target (see docs/infra.md's Scaling table)",
  domain: 'optional; some tiers and targets require it (the spec says which)',
  acmeEmail: 'optional; used by Caddy on tier lightweight with target aws',
};

/** The parsed spec of an empty config: the values every default is read from. */
function emptySpec(): CommonSpec {
  return parseCommon(
    {},
    { stack: 'schema', target: 'aws', defaults: { maxSize: () => 1 }, secretKeys: new Set() },
  );
}

type Decl = { type: string; description: string; default?: unknown; items?: { type: string } };

/** A key's JSON Schema (input side: what a stack file may hold). */
export function jsonSchemaOf(def: KeyDef): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(def.schema, { io: 'input', unrepresentable: 'any' });
  return { ...rest, description: def.allowed };
}

function pulumiType(def: KeyDef): Pick<Decl, 'type' | 'items'> {
  const s = jsonSchemaOf(def);
  if (s.type === 'array') return { type: 'array', items: { type: 'string' } };
  if (s.type === 'integer' || s.type === 'object' || s.type === 'string') return { type: s.type };
  if (Array.isArray(s.anyOf)) return { type: 'boolean' };
  return { type: 'string' };
}

const qualify = (k: string) => `${PROJECT}:${k}`;

/** Pulumi.yaml `config:` — every key with a static default, plus one object per target section. */
export function projectConfig(): Record<string, Decl> {
  const spec = emptySpec();
  const out: Record<string, Decl> = {
    [qualify('target')]: {
      type: 'string',
      description: `Where it runs: ${TARGET_NAMES.join(' | ')}. Its own keys go in its section, ${PROJECT}:<target>.`,
      default: 'aws',
    },
  };
  for (const [key, def] of Object.entries(COMMON_KEYS) as [CommonKey, KeyDef][]) {
    const read = DEFAULT_OF[key];
    if (!read) continue;
    out[qualify(key)] = { ...pulumiType(def), description: def.allowed, default: read(spec) };
  }
  for (const t of TARGET_NAMES)
    out[qualify(t)] = {
      type: 'object',
      description: `Target ${t} only: ${TARGETS[t].summary}. Keys: ${Object.keys(TARGETS[t].keys).join(', ')} (docs/infra.md, ${PROJECT}:${t}.<key>).`,
      default: {},
    };
  return out;
}

/** Pulumi.yaml `template:` — what `pulumi new` asks for. */
export function projectTemplate(): Record<string, unknown> {
  const prompts: Record<string, { description: string; default?: string }> = {
    'aws:region': { description: 'The AWS region to deploy to (target aws)', default: 'eu-west-1' },
    [qualify('tier')]: { description: COMMON_KEYS.tier.allowed, default: 'lightweight' },
  };
  for (const [key, why] of Object.entries(NO_STATIC_DEFAULT))
    if (key !== 'maxSize')
      prompts[qualify(key)] = { description: `${COMMON_KEYS[key as CommonKey].allowed} (${why})` };
  return {
    description: 'clawstack: a self-hosted AI inference service on AWS, Kubernetes or Docker',
    quickstart:
      'npm ci, then npm run plan -- --stack <stack> to see the plan and its cost offline, then pulumi up. Every key: docs/infra.md',
    config: prompts,
  };
}

/** A JSON Schema for a stack file (`Pulumi.<stack>.yaml`): every key, sections with their own keys. */
export function stackConfigSchema(): Record<string, unknown> {
  const properties: Record<string, unknown> = {
    [qualify('target')]: { type: 'string', enum: TARGET_NAMES, description: 'Where it runs.' },
  };
  for (const [key, def] of Object.entries(COMMON_KEYS)) properties[qualify(key)] = jsonSchemaOf(def);
  for (const t of TARGET_NAMES)
    properties[qualify(t)] = {
      type: 'object',
      description: TARGETS[t].summary,
      additionalProperties: false,
      properties: Object.fromEntries(Object.entries(TARGETS[t].keys).map(([k, d]) => [k, jsonSchemaOf(d)])),
    };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'clawstack stack file (Pulumi.<stack>.yaml)',
    description: 'Generated by npm run config-schema from infra/spec; do not edit.',
    type: 'object',
    properties: {
      config: {
        type: 'object',
        properties,
        patternProperties: { '^(?!clawstack:)[^:]+:.+$': {} },
        additionalProperties: false,
      },
      encryptionsalt: { type: 'string' },
      secretsprovider: { type: 'string' },
    },
  };
}
