/**
 * The keys every target shares (`clawstack:<key>`): what runs (tier, capacity, image, models), how
 * many, who may reach it, TLS name, alerts, the app's tuning and labels. Target-specific keys live in
 * the target's own section (`clawstack:aws`, `clawstack:kubernetes`, `clawstack:docker`), parsed by
 * the target (infra/targets/<name>/spec.ts).
 */
import { z } from 'zod';
import { envSchema, LOG_LEVELS } from '../../app/src/config.ts';
import { CAPACITIES, TIER_NAMES, TIERS } from '../tiers.ts';
import type { Capacity, TierSpec } from '../tiers.ts';
import {
  cidrList,
  EMAIL,
  HOSTNAME,
  IMAGE_REF,
  int,
  isCidr,
  list,
  PROJECT,
  readSection,
  record,
  StackConfigError,
} from './schema.ts';

export const DATA_SERVICES = ['colocated', 'managed'] as const;
export type DataServices = (typeof DATA_SERVICES)[number];
export const DEFAULT_IMAGE = 'ghcr.io/clawstack/clawstack:0.1.0';
/** Spot gives a two-minute notice; the app must finish draining well inside it. */
export const SPOT_MAX_DRAIN_MS = 90_000;
/** App variables infra owns; `clawstack:appEnv` may not set them. */
export const INFRA_OWNED_ENV = [
  'CLAWSTACK_ROLE',
  'HOST',
  'PORT',
  'REDIS_URL',
  'DATABASE_URL',
  'MODEL_SOURCE',
  'BOOTSTRAP_API_KEY',
  'CLAWSTACK_DATA_DIR',
] as const;

/** Key definitions for the common keys; `target` and the section keys are handled by spec/index.ts. */
export const COMMON_KEYS = {
  tier: { schema: z.enum(TIER_NAMES), allowed: TIER_NAMES.join(' | ') },
  capacity: { schema: z.enum(CAPACITIES), allowed: CAPACITIES.join(' | ') },
  dataServices: { schema: z.enum(DATA_SERVICES), allowed: DATA_SERVICES.join(' | ') },
  image: {
    schema: z.string().regex(IMAGE_REF),
    allowed: 'an image reference like ghcr.io/clawstack/clawstack:0.1.0',
  },
  minSize: { schema: int(0, 100), allowed: 'an integer from 0 to 100' },
  maxSize: { schema: int(1, 100), allowed: 'an integer from 1 to 100' },
  cpuTargetPercent: { schema: int(10, 95), allowed: 'an integer percentage from 10 to 95' },
  allowedCidrs: {
    schema: cidrList(1),
    allowed: 'a non-empty list of IPv4 CIDRs, e.g. ["203.0.113.0/24"]',
  },
  adminCidrs: {
    schema: list(
      z
        .string()
        .refine(isCidr)
        .refine((c) => !c.endsWith('/0')),
    ),
    allowed:
      'a list of IPv4 CIDRs narrower than /0 (admin access is never open to the internet), e.g. ["198.51.100.7/32"]',
  },
  domain: { schema: z.string().toLowerCase().regex(HOSTNAME), allowed: 'a DNS name, e.g. api.example.com' },
  acmeEmail: { schema: z.string().regex(EMAIL), allowed: 'an e-mail address' },
  alertEmails: { schema: list(z.string().regex(EMAIL)), allowed: 'a list of e-mail addresses' },
  drainTimeoutMs: {
    schema: int(0, 3_600_000),
    allowed: 'an integer number of milliseconds from 0 to 3600000',
  },
  logLevel: { schema: z.enum(LOG_LEVELS), allowed: LOG_LEVELS.join(' | ') },
  models: {
    schema: list(z.string().regex(/^[a-z0-9][a-z0-9._-]*$/i)),
    allowed: 'a list of model names from models/manifest.json',
  },
  appEnv: {
    schema: record,
    allowed: `an object of app variables (app/src/config.ts), except ${INFRA_OWNED_ENV.join(', ')}`,
  },
  tags: { schema: record, allowed: 'an object of extra tag/label names to values' },
} as const;
export type CommonKey = keyof typeof COMMON_KEYS;

export interface CommonSpec {
  project: string;
  stack: string;
  /** Every resource name starts with this (`clawstack-<stack>`). */
  prefix: string;
  target: string;
  tier: TierSpec;
  capacity: Capacity;
  /** colocated: Redis and Postgres run inside the stack; managed: the target's managed services or URLs. */
  dataServices: DataServices;
  /** Image reference with the tier's tag suffix applied. */
  image: string;
  /** Instances (AWS) or replicas per role (Kubernetes); CPU target for autoscaling. */
  scaling: { min: number; max: number; cpuTargetPercent: number };
  network: { allowedCidrs: string[]; adminCidrs: string[] };
  tls: { domain?: string; acmeEmail?: string };
  alertEmails: string[];
  app: {
    drainTimeoutMs: number;
    logLevel: (typeof LOG_LEVELS)[number];
    models: string[];
    extraEnv: Record<string, string>;
    /** `clawstack:appEnv` was set with `pulumi config set --secret`: its values stay secret. */
    extraEnvSecret: boolean;
  };
  /** Tags (AWS) / labels (Kubernetes, Docker) on every resource that carries them. */
  tags: Record<string, string>;
}

/** What a target decides about the common keys before they are parsed. */
export interface CommonDefaults {
  /** Default `maxSize` for this tier and data-services choice. */
  maxSize(tier: TierSpec, dataServices: DataServices, min: number): number;
}

const qualify = (key: string) => `${PROJECT}:${key}`;
const fail = (key: CommonKey, value: unknown, allowed: string, reason?: string): never => {
  throw new StackConfigError(qualify(key), value, allowed, reason);
};

function imageFor(tier: TierSpec, image: string): string {
  if (!tier.imageTagSuffix || image.endsWith(tier.imageTagSuffix)) return image;
  const hasTag = image.lastIndexOf(':') > image.lastIndexOf('/');
  if (!hasTag) fail('image', image, 'an image reference with a tag (the gpu tier appends -cuda to it)');
  return `${image}${tier.imageTagSuffix}`; // the GPU tier runs the CUDA build of the same tag
}

function appExtraEnv(extraEnv: Record<string, string>): Record<string, string> {
  const allowed = `app variables except ${INFRA_OWNED_ENV.join(', ')}`;
  for (const [name, value] of Object.entries(extraEnv)) {
    if (!(name in envSchema.shape))
      fail('appEnv', { [name]: value }, allowed, `${name} is not an app variable`);
    if ((INFRA_OWNED_ENV as readonly string[]).includes(name))
      fail('appEnv', { [name]: value }, allowed, `${name} is set by infra`);
    const check = envSchema.shape[name as keyof typeof envSchema.shape].safeParse(value);
    if (!check.success)
      fail('appEnv', { [name]: value }, allowed, `${name}: ${check.error.issues[0]?.message ?? 'invalid'}`);
  }
  return extraEnv;
}

/** Parses the common keys (raw: keys without the project prefix, section keys removed). Pure. */
export function parseCommon(
  raw: Record<string, unknown>,
  ctx: { stack: string; target: string; defaults: CommonDefaults; secretKeys: ReadonlySet<string> },
): CommonSpec {
  const v = readSection(raw, COMMON_KEYS, qualify);
  const tier = TIERS[v.tier ?? 'lightweight'];
  const capacity = v.capacity ?? 'on-demand';
  const dataServices = v.dataServices ?? 'colocated';
  const min = v.minSize ?? 1;
  const max = v.maxSize ?? ctx.defaults.maxSize(tier, dataServices, min);
  if (min > max)
    fail('minSize', min, `at most clawstack:maxSize (${max})`, 'minSize is greater than maxSize');
  const drainTimeoutMs = v.drainTimeoutMs ?? SPOT_MAX_DRAIN_MS;
  if (capacity === 'spot' && drainTimeoutMs > SPOT_MAX_DRAIN_MS)
    fail(
      'drainTimeoutMs',
      drainTimeoutMs,
      `at most ${SPOT_MAX_DRAIN_MS} with capacity spot (the interruption notice is two minutes)`,
    );
  const tags = { ...(v.tags ?? {}), project: PROJECT, stack: ctx.stack, tier: tier.name, capacity };
  return {
    project: PROJECT,
    stack: ctx.stack,
    prefix: `${PROJECT}-${ctx.stack}`,
    target: ctx.target,
    tier,
    capacity,
    dataServices,
    image: imageFor(tier, v.image ?? DEFAULT_IMAGE),
    scaling: { min, max, cpuTargetPercent: v.cpuTargetPercent ?? 70 },
    network: { allowedCidrs: v.allowedCidrs ?? ['0.0.0.0/0'], adminCidrs: v.adminCidrs ?? [] },
    tls: { domain: v.domain, acmeEmail: v.acmeEmail },
    alertEmails: v.alertEmails ?? [],
    app: {
      drainTimeoutMs,
      logLevel: v.logLevel ?? 'info',
      models: v.models ?? [],
      extraEnv: appExtraEnv(v.appEnv ?? {}),
      extraEnvSecret: ctx.secretKeys.has('appEnv'),
    },
    tags,
  };
}
