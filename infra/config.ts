/**
 * Stack config → {@link DeploymentSpec}: the only place the program reads `pulumi.Config`.
 *
 * Every key has one schema, a default (often from the tier catalog) and an "allowed" text that a
 * {@link StackConfigError} repeats, so a bad stack file fails before any resource exists with a
 * message naming the key, the bad value and what would have been accepted.
 */
import * as pulumi from '@pulumi/pulumi';
import { z } from 'zod';
import { envSchema, LOG_LEVELS } from '../app/src/config.ts';
import { CAPACITIES, TIER_NAMES, TIERS } from './tiers.ts';
import type { Capacity, TierSpec } from './tiers.ts';

export const PROJECT = 'clawstack';
export const TARGETS = ['aws', 'kubernetes', 'docker'] as const;
export type Target = (typeof TARGETS)[number];
/** Targets this program can deploy today; the others are accepted names that fail with a clear error. */
export const BUILT_TARGETS: readonly Target[] = ['aws'];
export const DATA_SERVICES = ['colocated', 'managed'] as const;
export type DataServices = (typeof DATA_SERVICES)[number];
export const ARCHIVE_CLASSES = [
  'GLACIER_IR',
  'GLACIER',
  'DEEP_ARCHIVE',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
] as const;
/** The retention values CloudWatch Logs accepts. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;
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

/** A stack config value that cannot work; thrown before any resource is registered. */
export class StackConfigError extends Error {
  constructor(
    /** Fully qualified key, e.g. `clawstack:tier`. */
    readonly key: string,
    /** The value found (undefined when missing). */
    readonly value: unknown,
    /** What would have been accepted. */
    readonly allowed: string,
    reason?: string,
  ) {
    const shown = value === undefined ? '(unset)' : JSON.stringify(value);
    super(`invalid stack config ${key} = ${shown}${reason ? `: ${reason}` : ''}; allowed: ${allowed}`);
    this.name = 'StackConfigError';
  }
}

export interface DeploymentSpec {
  project: string;
  stack: string;
  /** Every resource name starts with this (`clawstack-<stack>`). */
  prefix: string;
  target: Target;
  tier: TierSpec;
  capacity: Capacity;
  dataServices: DataServices;
  /** Image reference with the tier's tag suffix applied. */
  image: string;
  instanceTypes: string[];
  rootVolumeGb: number;
  /** Persistent EBS volume for co-located Redis/Postgres data. */
  dataVolumeGb: number;
  scaling: { min: number; max: number; desired: number; cpuTargetPercent: number };
  network: { vpcCidr: string; allowedCidrs: string[]; adminCidrs: string[]; highAvailabilityNat: boolean };
  tls: {
    domain?: string;
    hostedZoneId?: string;
    certificateArn?: string;
    acmeEmail?: string;
    wafRateLimit: number;
  };
  data: {
    dbInstanceClass: string;
    cacheNodeType: string;
    dbAllocatedStorageGb: number;
    dbBackupRetentionDays: number;
    dbMultiAz: boolean;
    deletionProtection: boolean;
  };
  storage: {
    archiveAfterDays: number;
    archiveStorageClass: string;
    noncurrentVersionDays: number;
    modelPrefix: string;
    logPrefix: string;
  };
  observability: {
    logRetentionDays: number;
    localLogDays: number;
    alertEmails: string[];
    monthlyBudgetUsd: number;
  };
  app: {
    drainTimeoutMs: number;
    logLevel: (typeof LOG_LEVELS)[number];
    models: string[];
    extraEnv: Record<string, string>;
  };
  secretRotationDays: number;
  /** Tags on every taggable resource. */
  tags: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// Value parsers: raw config values are strings (structured values arrive as JSON text).

const IPV4_CIDR =
  /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\/(3[0-2]|[12]?\d)$/;
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;
const GPU_INSTANCE_TYPE = /^(g4dn|g5|g6|g6e|gr6|p3|p4d|p5)\./;
const ACM_ARN = /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]{36}$/;
const ZONE_ID = /^Z[A-Z0-9]{4,32}$/;
const IMAGE_REF = /^[a-z0-9]+([._-][a-z0-9]+)*(:\d+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[\w][\w.-]{0,127})?$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/** Is `cidr` a well-formed IPv4 CIDR whose address has no bits set past the prefix? */
export function isCidr(cidr: string): boolean {
  if (!IPV4_CIDR.test(cidr)) return false;
  const [ip, bits] = cidr.split('/') as [string, string];
  const n = ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const prefix = Number(bits);
  const hostBits = 32 - prefix;
  return hostBits === 32 ? n === 0 : n % 2 ** hostBits === 0;
}

const list = (item: z.ZodType<string>) =>
  z.preprocess((raw) => {
    if (Array.isArray(raw)) return raw;
    if (typeof raw !== 'string') return raw;
    const text = raw.trim();
    if (text.startsWith('[')) {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        return raw;
      }
    }
    return text === '' ? [] : text.split(',').map((s) => s.trim());
  }, z.array(item));

const record = z.preprocess(
  (raw) => {
    if (typeof raw !== 'string') return raw;
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      return raw;
    }
  },
  z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)),
);

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.preprocess(
  (raw) => (typeof raw === 'string' ? raw.trim().toLowerCase() : raw),
  z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]),
);

interface KeyDef {
  schema: z.ZodType;
  /** Shown in errors and in docs/infra.md. */
  allowed: string;
}

const KEYS = {
  target: { schema: z.enum(TARGETS), allowed: TARGETS.join(' | ') },
  tier: { schema: z.enum(TIER_NAMES), allowed: TIER_NAMES.join(' | ') },
  capacity: { schema: z.enum(CAPACITIES), allowed: CAPACITIES.join(' | ') },
  dataServices: { schema: z.enum(DATA_SERVICES), allowed: DATA_SERVICES.join(' | ') },
  image: {
    schema: z.string().regex(IMAGE_REF),
    allowed: 'an image reference like ghcr.io/clawstack/clawstack:0.1.0',
  },
  instanceTypes: {
    schema: list(z.string().regex(INSTANCE_TYPE)).pipe(z.array(z.string()).min(1)),
    allowed: 'a list of EC2 instance types, e.g. ["c6i.xlarge","c6a.xlarge","c5.xlarge"]',
  },
  rootVolumeGb: { schema: int(30, 16384), allowed: 'an integer number of GiB from 30 to 16384' },
  dataVolumeGb: { schema: int(10, 16384), allowed: 'an integer number of GiB from 10 to 16384' },
  minSize: { schema: int(0, 100), allowed: 'an integer from 0 to 100' },
  maxSize: { schema: int(1, 100), allowed: 'an integer from 1 to 100' },
  desiredCapacity: { schema: int(0, 100), allowed: 'an integer from 0 to 100' },
  cpuTargetPercent: { schema: int(10, 95), allowed: 'an integer percentage from 10 to 95' },
  vpcCidr: {
    schema: z
      .string()
      .refine(isCidr)
      .refine((c) => {
        const p = Number(c.split('/')[1]);
        return p >= 16 && p <= 24;
      }),
    allowed: 'an IPv4 CIDR from /16 to /24, e.g. 10.42.0.0/16',
  },
  allowedCidrs: {
    schema: list(z.string().refine(isCidr)).pipe(z.array(z.string()).min(1)),
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
  hostedZoneId: {
    schema: z.string().regex(ZONE_ID),
    allowed: 'a Route 53 hosted zone id, e.g. Z0123456789ABCDEFGHIJ',
  },
  certificateArn: {
    schema: z.string().regex(ACM_ARN),
    allowed: 'an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<uuid>)',
  },
  acmeEmail: { schema: z.string().regex(EMAIL), allowed: 'an e-mail address' },
  wafRateLimit: {
    schema: int(0, 2_000_000_000).refine((n) => n === 0 || n >= 100),
    allowed: '0 (no WAF) or requests per 5 minutes per client IP, at least 100',
  },
  highAvailabilityNat: { schema: bool, allowed: 'true | false' },
  dbInstanceClass: {
    schema: z.string().regex(/^db\.[a-z0-9]+\.[a-z0-9]+$/),
    allowed: 'an RDS instance class, e.g. db.t4g.small',
  },
  cacheNodeType: {
    schema: z.string().regex(/^cache\.[a-z0-9]+\.[a-z0-9]+$/),
    allowed: 'an ElastiCache node type, e.g. cache.t4g.small',
  },
  dbAllocatedStorageGb: { schema: int(20, 65536), allowed: 'an integer number of GiB from 20 to 65536' },
  dbBackupRetentionDays: { schema: int(1, 35), allowed: 'an integer from 1 to 35 (backups are always on)' },
  dbMultiAz: { schema: bool, allowed: 'true | false' },
  deletionProtection: { schema: bool, allowed: 'true | false' },
  logRetentionDays: {
    schema: z.coerce.number().refine((n) => (LOG_RETENTION_DAYS as readonly number[]).includes(n)),
    allowed: LOG_RETENTION_DAYS.join(' | '),
  },
  localLogDays: { schema: int(1, 365), allowed: 'an integer from 1 to 365' },
  archiveAfterDays: { schema: int(1, 3650), allowed: 'an integer from 1 to 3650' },
  archiveStorageClass: { schema: z.enum(ARCHIVE_CLASSES), allowed: ARCHIVE_CLASSES.join(' | ') },
  noncurrentVersionDays: { schema: int(1, 3650), allowed: 'an integer from 1 to 3650' },
  alertEmails: { schema: list(z.string().regex(EMAIL)), allowed: 'a list of e-mail addresses' },
  monthlyBudgetUsd: {
    schema: z.coerce.number().positive().max(1_000_000),
    allowed: 'a positive number of US dollars',
  },
  drainTimeoutMs: {
    schema: int(0, 3_600_000),
    allowed: 'an integer number of milliseconds from 0 to 3600000',
  },
  logLevel: { schema: z.enum(LOG_LEVELS), allowed: LOG_LEVELS.join(' | ') },
  models: {
    schema: list(z.string().regex(/^[a-z0-9][a-z0-9._-]*$/i)),
    allowed: 'a list of model names from models/manifest.json',
  },
  secretRotationDays: { schema: int(1, 365), allowed: 'an integer from 1 to 365' },
  appEnv: {
    schema: record,
    allowed: `an object of app variables (app/src/config.ts), except ${INFRA_OWNED_ENV.join(', ')}`,
  },
  tags: { schema: record, allowed: 'an object of extra tag names to values' },
} satisfies Record<string, KeyDef>;

export type ConfigKey = keyof typeof KEYS;
export const CONFIG_KEYS = Object.keys(KEYS) as ConfigKey[];

/** Parses one key; undefined when unset. */
function read<K extends ConfigKey>(
  raw: Record<string, string>,
  key: K,
): z.output<(typeof KEYS)[K]['schema']> | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  const def: KeyDef = KEYS[key];
  const parsed = def.schema.safeParse(value);
  if (!parsed.success) throw new StackConfigError(`${PROJECT}:${key}`, value, def.allowed);
  return parsed.data as z.output<(typeof KEYS)[K]['schema']>;
}

function fail(key: ConfigKey, value: unknown, allowed: string, reason?: string): never {
  throw new StackConfigError(`${PROJECT}:${key}`, value, allowed, reason);
}

/**
 * Builds the spec from raw stack config (keys without the `clawstack:` prefix, values as the
 * Pulumi CLI stores them: strings, structured values as JSON text). Pure; throws StackConfigError.
 */
export function parseSpec(raw: Record<string, string>, stack: string): DeploymentSpec {
  for (const key of Object.keys(raw)) {
    if (!(key in KEYS))
      fail(
        key as ConfigKey,
        raw[key],
        `one of the documented keys (docs/infra.md): ${CONFIG_KEYS.join(', ')}`,
        'unknown key',
      );
  }

  const target = read(raw, 'target') ?? 'aws';
  if (!BUILT_TARGETS.includes(target)) {
    fail('target', target, BUILT_TARGETS.join(' | '), `target "${target}" is planned but not built yet`);
  }
  const tier = TIERS[read(raw, 'tier') ?? 'lightweight'];
  const capacity = read(raw, 'capacity') ?? 'on-demand';
  const dataServices = read(raw, 'dataServices') ?? 'colocated';
  const edge = tier.aws.edge;

  // Image: the GPU tier runs the CUDA build of the same tag.
  let image = read(raw, 'image') ?? DEFAULT_IMAGE;
  if (tier.imageTagSuffix && !image.endsWith(tier.imageTagSuffix)) {
    const lastSlash = image.lastIndexOf('/');
    const hasTag = image.lastIndexOf(':') > lastSlash;
    if (!hasTag) fail('image', image, 'an image reference with a tag (the gpu tier appends -cuda to it)');
    image = `${image}${tier.imageTagSuffix}`;
  }

  const instanceTypes = read(raw, 'instanceTypes') ?? tier.aws.instanceTypes[capacity];
  if (capacity === 'spot' && new Set(instanceTypes).size < 3) {
    fail(
      'instanceTypes',
      instanceTypes,
      'at least 3 different instance types with capacity spot (diversity is what keeps spot available)',
    );
  }
  if (tier.gpu) {
    const bad = instanceTypes.filter((t) => !GPU_INSTANCE_TYPE.test(t));
    if (bad.length)
      fail(
        'instanceTypes',
        instanceTypes,
        'NVIDIA GPU instance types (g4dn, g5, g6, g6e, gr6, p3, p4d, p5) on tier gpu',
        `${bad.join(', ')} has no NVIDIA GPU`,
      );
  }

  // Scaling bounds.
  const min = read(raw, 'minSize') ?? 1;
  const singleInstance = edge === 'instance' || dataServices === 'colocated';
  const max = read(raw, 'maxSize') ?? (singleInstance ? 1 : Math.max(min, 3));
  const desired = read(raw, 'desiredCapacity') ?? min;
  if (min > max)
    fail('minSize', min, `at most clawstack:maxSize (${max})`, 'minSize is greater than maxSize');
  if (desired < min || desired > max)
    fail('desiredCapacity', desired, `between clawstack:minSize (${min}) and clawstack:maxSize (${max})`);
  if (edge === 'instance' && max > 1) {
    fail(
      'maxSize',
      max,
      '1 on tier lightweight (one instance holds the Elastic IP and terminates TLS); use tier general to scale out',
    );
  }
  if (dataServices === 'colocated' && max > 1) {
    fail(
      'maxSize',
      max,
      '1 with clawstack:dataServices colocated (each instance would have its own Postgres); use managed to scale out',
    );
  }

  // Network.
  const allowedCidrs = read(raw, 'allowedCidrs') ?? ['0.0.0.0/0'];
  const adminCidrs = read(raw, 'adminCidrs') ?? [];

  // TLS: only combinations that can actually obtain and serve a certificate.
  const domain = read(raw, 'domain');
  const hostedZoneId = read(raw, 'hostedZoneId');
  const certificateArn = read(raw, 'certificateArn');
  const acmeEmail = read(raw, 'acmeEmail');
  const wafRateLimit = read(raw, 'wafRateLimit') ?? 0;
  if (hostedZoneId && !domain)
    fail(
      'domain',
      undefined,
      'a DNS name inside clawstack:hostedZoneId',
      'hostedZoneId is set without a domain',
    );
  if (edge === 'alb') {
    if (!certificateArn && !(domain && hostedZoneId)) {
      fail(
        'certificateArn',
        undefined,
        'an ACM certificate ARN, or clawstack:domain + clawstack:hostedZoneId for a DNS-validated certificate',
        `the HTTPS listener of tier ${tier.name} needs a certificate`,
      );
    }
  } else {
    if (!domain)
      fail(
        'domain',
        undefined,
        'a DNS name that resolves to the Elastic IP (Caddy obtains its certificate for it)',
        'tier lightweight terminates TLS on the instance',
      );
    if (certificateArn)
      fail(
        'certificateArn',
        certificateArn,
        'unset on tier lightweight (ACM certificates cannot be installed on an instance; Caddy obtains one)',
      );
    if (wafRateLimit > 0)
      fail('wafRateLimit', wafRateLimit, '0 on tier lightweight (AWS WAF attaches to a load balancer)');
    if (!allowedCidrs.includes('0.0.0.0/0')) {
      fail(
        'allowedCidrs',
        allowedCidrs,
        '["0.0.0.0/0"] on tier lightweight',
        "Caddy's ACME challenges (HTTP-01 on 80, TLS-ALPN-01 on 443) come from the internet; use tier general for a restricted listener",
      );
    }
  }

  // App.
  const drainTimeoutMs = read(raw, 'drainTimeoutMs') ?? SPOT_MAX_DRAIN_MS;
  if (capacity === 'spot' && drainTimeoutMs > SPOT_MAX_DRAIN_MS) {
    fail(
      'drainTimeoutMs',
      drainTimeoutMs,
      `at most ${SPOT_MAX_DRAIN_MS} with capacity spot (the interruption notice is two minutes)`,
    );
  }
  const extraEnv = read(raw, 'appEnv') ?? {};
  for (const [name, value] of Object.entries(extraEnv)) {
    const allowed = `app variables except ${INFRA_OWNED_ENV.join(', ')}`;
    if (!(name in envSchema.shape))
      fail('appEnv', { [name]: value }, allowed, `${name} is not an app variable`);
    if ((INFRA_OWNED_ENV as readonly string[]).includes(name))
      fail('appEnv', { [name]: value }, allowed, `${name} is set by infra`);
    const check = envSchema.shape[name as keyof typeof envSchema.shape].safeParse(value);
    if (!check.success)
      fail('appEnv', { [name]: value }, allowed, `${name}: ${check.error.issues[0]?.message ?? 'invalid'}`);
  }

  const extraTags = read(raw, 'tags') ?? {};
  const tags: Record<string, string> = { ...extraTags, project: PROJECT, stack, tier: tier.name, capacity };

  return {
    project: PROJECT,
    stack,
    prefix: `${PROJECT}-${stack}`,
    target,
    tier,
    capacity,
    dataServices,
    image,
    instanceTypes,
    rootVolumeGb: read(raw, 'rootVolumeGb') ?? tier.aws.rootVolumeGb,
    dataVolumeGb: read(raw, 'dataVolumeGb') ?? 20,
    scaling: { min, max, desired, cpuTargetPercent: read(raw, 'cpuTargetPercent') ?? 70 },
    network: {
      vpcCidr: read(raw, 'vpcCidr') ?? '10.42.0.0/16',
      allowedCidrs,
      adminCidrs,
      highAvailabilityNat: read(raw, 'highAvailabilityNat') ?? false,
    },
    tls: { domain, hostedZoneId, certificateArn, acmeEmail, wafRateLimit },
    data: {
      dbInstanceClass: read(raw, 'dbInstanceClass') ?? tier.aws.dbInstanceClass,
      cacheNodeType: read(raw, 'cacheNodeType') ?? tier.aws.cacheNodeType,
      dbAllocatedStorageGb: read(raw, 'dbAllocatedStorageGb') ?? 20,
      dbBackupRetentionDays: read(raw, 'dbBackupRetentionDays') ?? 7,
      dbMultiAz: read(raw, 'dbMultiAz') ?? false,
      deletionProtection: read(raw, 'deletionProtection') ?? false,
    },
    storage: {
      archiveAfterDays: read(raw, 'archiveAfterDays') ?? 30,
      archiveStorageClass: read(raw, 'archiveStorageClass') ?? 'GLACIER_IR',
      noncurrentVersionDays: read(raw, 'noncurrentVersionDays') ?? 30,
      modelPrefix: 'models/',
      logPrefix: 'logs/',
    },
    observability: {
      logRetentionDays: read(raw, 'logRetentionDays') ?? 30,
      localLogDays: read(raw, 'localLogDays') ?? 7,
      alertEmails: read(raw, 'alertEmails') ?? [],
      monthlyBudgetUsd: read(raw, 'monthlyBudgetUsd') ?? 100,
    },
    app: {
      drainTimeoutMs,
      logLevel: read(raw, 'logLevel') ?? 'info',
      models: read(raw, 'models') ?? [],
      extraEnv,
    },
    secretRotationDays: read(raw, 'secretRotationDays') ?? 90,
    tags,
  };
}

/** Reads this stack's `clawstack:*` config and builds the spec. */
export function loadSpec(): DeploymentSpec {
  const prefix = `${pulumi.getProject()}:`;
  const raw: Record<string, string> = {};
  for (const [key, value] of Object.entries(pulumi.runtime.allConfig())) {
    if (key.startsWith(prefix)) raw[key.slice(prefix.length)] = value;
  }
  return parseSpec(raw, pulumi.getStack());
}
