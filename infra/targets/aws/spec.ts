/**
 * The `clawstack:aws` section: what only the AWS target needs (instance types, volumes, VPC, ALB/WAF,
 * managed data services, S3 lifecycle, CloudWatch, budget, rotation), and the AWS-only rules that
 * combine it with the common keys. Errors name `clawstack:aws.<key>` or the common key they concern.
 */
import { z } from 'zod';
import type { CommonSpec, DataServices } from '../../spec/common.ts';
import { bool, int, isCidr, list, PROJECT, readSection, StackConfigError } from '../../spec/schema.ts';
import type { TierSpec } from '../../tiers.ts';

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
const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;
/** NVIDIA types the GPU AMI (DLAMI Base OSS NVIDIA Driver, AL2023) supports; it has no P3 (Volta) support. */
const GPU_INSTANCE_TYPE = /^(g4dn|g5|g6|g6e|gr6|p4d|p4de|p5|p5e|p5en)\./;
const GPU_FAMILIES = 'g4dn, g5, g6, g6e, gr6, p4d, p4de, p5, p5e, p5en';
/** The GPU AMI's root snapshot is 75 GiB; a smaller root volume fails at launch. */
export const GPU_AMI_MIN_ROOT_GB = 75;
const ACM_ARN = /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]{36}$/;
const ZONE_ID = /^Z[A-Z0-9]{4,32}$/;

export const AWS_KEYS = {
  instanceTypes: {
    schema: list(z.string().regex(INSTANCE_TYPE)).pipe(z.array(z.string()).min(1)),
    allowed: 'a list of EC2 instance types, e.g. ["c6i.xlarge","c6a.xlarge","c5.xlarge"]',
  },
  rootVolumeGb: {
    schema: int(30, 16384),
    allowed: `an integer number of GiB from 30 to 16384 (at least ${GPU_AMI_MIN_ROOT_GB} on tier gpu)`,
  },
  amiId: {
    schema: z.string().regex(/^ami-[0-9a-f]{8,17}$/),
    allowed: "an AMI id (ami-…) to pin; unset: the tier's public SSM parameter, resolved at each launch",
  },
  dataVolumeGb: { schema: int(10, 16384), allowed: 'an integer number of GiB from 10 to 16384' },
  desiredCapacity: { schema: int(0, 100), allowed: 'an integer from 0 to 100' },
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
  highAvailabilityNat: { schema: bool, allowed: 'true | false' },
  hostedZoneId: {
    schema: z.string().regex(ZONE_ID),
    allowed: 'a Route 53 hosted zone id, e.g. Z0123456789ABCDEFGHIJ',
  },
  certificateArn: {
    schema: z.string().regex(ACM_ARN),
    allowed: 'an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<uuid>)',
  },
  wafRateLimit: {
    schema: int(0, 2_000_000_000).refine((n) => n === 0 || n >= 100),
    allowed: '0 (no WAF) or requests per 5 minutes per client IP, at least 100',
  },
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
  deletionProtection: { schema: bool, allowed: 'true | false (unset: on in production stacks)' },
  logRetentionDays: {
    schema: z.coerce.number().refine((n) => (LOG_RETENTION_DAYS as readonly number[]).includes(n)),
    allowed: LOG_RETENTION_DAYS.join(' | '),
  },
  localLogDays: { schema: int(1, 365), allowed: 'an integer from 1 to 365' },
  archiveAfterDays: { schema: int(1, 3650), allowed: 'an integer from 1 to 3650' },
  archiveStorageClass: { schema: z.enum(ARCHIVE_CLASSES), allowed: ARCHIVE_CLASSES.join(' | ') },
  noncurrentVersionDays: { schema: int(1, 3650), allowed: 'an integer from 1 to 3650' },
  monthlyBudgetUsd: {
    schema: z.coerce.number().positive().max(1_000_000),
    allowed: 'a positive number of US dollars',
  },
  secretRotationDays: { schema: int(1, 365), allowed: 'an integer from 1 to 365' },
  production: {
    schema: bool,
    allowed: 'true | false (unset: true when the stack is named prod, production or prod-…)',
  },
  logArchiveDays: {
    schema: int(2, 3650),
    allowed: 'an integer number of days from 2 to 3650, more than archiveAfterDays',
  },
  albAccessLogs: { schema: bool, allowed: 'true | false (unset: on in production stacks)' },
  flowLogs: { schema: bool, allowed: 'true | false (unset: on in production stacks)' },
  albDeletionProtection: { schema: bool, allowed: 'true | false (unset: on in production stacks)' },
  applyImmediately: {
    schema: bool,
    allowed: 'true | false (unset: false in production stacks, true elsewhere)',
  },
  dataSnapshotDays: { schema: int(1, 1000), allowed: 'an integer from 1 to 1000 (daily snapshots kept)' },
  backlogPerInstance: {
    schema: int(1, 100_000),
    allowed: 'an integer from 1 to 100000 (queued jobs per instance target tracking aims for)',
  },
  gpuTargetPercent: { schema: int(10, 95), allowed: 'an integer percentage from 10 to 95 (tier gpu only)' },
} as const;

/** A stack named like production gets the production defaults (see {@link AWS_KEYS}.production). */
export function isProductionStack(stack: string): boolean {
  return /^prod(uction)?($|-)/.test(stack);
}

export interface AwsSpec {
  instanceTypes: string[];
  /** A pinned AMI; unset: the tier's SSM parameter, resolved by EC2 at launch. */
  amiId?: string;
  rootVolumeGb: number;
  /** Persistent EBS volume for co-located Redis/Postgres data. */
  dataVolumeGb: number;
  desiredCapacity: number;
  network: { vpcCidr: string; highAvailabilityNat: boolean };
  /** Production defaults apply (access logs, flow logs, deletion protection, changes in the maintenance window). */
  production: boolean;
  tls: {
    hostedZoneId?: string;
    certificateArn?: string;
    wafRateLimit: number;
    /** The ALB refuses deletion. */
    albDeletionProtection: boolean;
  };
  data: {
    dbInstanceClass: string;
    cacheNodeType: string;
    dbAllocatedStorageGb: number;
    dbBackupRetentionDays: number;
    dbMultiAz: boolean;
    deletionProtection: boolean;
    /** RDS/ElastiCache modifications (e.g. a tier switch) now instead of in the maintenance window. */
    applyImmediately: boolean;
    /** Daily DLM snapshots of the co-located data volume kept. */
    snapshotDays: number;
  };
  storage: {
    archiveAfterDays: number;
    archiveStorageClass: string;
    noncurrentVersionDays: number;
    modelPrefix: string;
    logPrefix: string;
    /** Archived logs (under logPrefix) are deleted after this many days. */
    logArchiveDays: number;
  };
  observability: {
    logRetentionDays: number;
    localLogDays: number;
    monthlyBudgetUsd: number;
    /** ALB access logs to the bucket (under logPrefix). */
    albAccessLogs: boolean;
    /** VPC flow logs to the bucket (under logPrefix). */
    flowLogs: boolean;
  };
  /** Scaling beyond CPU: queued jobs per instance, and GPU utilisation on tier gpu. */
  scaling: { backlogPerInstance: number; gpuTargetPercent?: number };
  secretRotationDays: number;
}

const awsKey = (key: string) => `${PROJECT}:aws.${key}`;
const commonKey = (key: string) => `${PROJECT}:${key}`;

/** One instance holds the data (colocated) or the Elastic IP (lightweight): the fleet cannot grow. */
export function singleInstance(tier: TierSpec, dataServices: DataServices): boolean {
  return tier.aws.edge === 'instance' || dataServices === 'colocated';
}

function checkInstanceTypes(common: CommonSpec, instanceTypes: string[]) {
  if (common.capacity === 'spot' && new Set(instanceTypes).size < 3)
    throw new StackConfigError(
      awsKey('instanceTypes'),
      instanceTypes,
      'at least 3 different instance types with capacity spot (diversity is what keeps spot available)',
    );
  const bad = common.tier.gpu ? instanceTypes.filter((t) => !GPU_INSTANCE_TYPE.test(t)) : [];
  if (bad.length)
    throw new StackConfigError(
      awsKey('instanceTypes'),
      instanceTypes,
      `NVIDIA GPU instance types the GPU AMI supports (${GPU_FAMILIES}) on tier gpu`,
      `${bad.join(', ')} has no NVIDIA GPU`,
    );
}

function checkScaling(common: CommonSpec, desired: number) {
  const { min, max } = common.scaling;
  if (desired < min || desired > max)
    throw new StackConfigError(
      awsKey('desiredCapacity'),
      desired,
      `between clawstack:minSize (${min}) and clawstack:maxSize (${max})`,
    );
  if (common.tier.aws.edge === 'instance' && max > 1)
    throw new StackConfigError(
      commonKey('maxSize'),
      max,
      '1 on tier lightweight with target aws (one instance holds the Elastic IP and terminates TLS); use tier general to scale out',
    );
  if (common.dataServices === 'colocated' && max > 1)
    throw new StackConfigError(
      commonKey('maxSize'),
      max,
      '1 with clawstack:dataServices colocated on target aws (each instance would have its own Postgres); use managed to scale out',
    );
}

/** TLS: only combinations that can actually obtain and serve a certificate. */
function checkTls(common: CommonSpec, tls: AwsSpec['tls']) {
  const { domain } = common.tls;
  if (tls.hostedZoneId && !domain)
    throw new StackConfigError(
      commonKey('domain'),
      undefined,
      'a DNS name inside clawstack:aws.hostedZoneId',
      'hostedZoneId is set without a domain',
    );
  if (common.tier.aws.edge === 'alb') {
    if (!tls.certificateArn && !(domain && tls.hostedZoneId))
      throw new StackConfigError(
        awsKey('certificateArn'),
        undefined,
        'an ACM certificate ARN, or clawstack:domain + clawstack:aws.hostedZoneId for a DNS-validated certificate',
        `the HTTPS listener of tier ${common.tier.name} needs a certificate`,
      );
    return;
  }
  if (!domain)
    throw new StackConfigError(
      commonKey('domain'),
      undefined,
      'a DNS name that resolves to the Elastic IP (Caddy obtains its certificate for it)',
      'tier lightweight on target aws terminates TLS on the instance',
    );
  if (tls.certificateArn)
    throw new StackConfigError(
      awsKey('certificateArn'),
      tls.certificateArn,
      'unset on tier lightweight (ACM certificates cannot be installed on an instance; Caddy obtains one)',
    );
  if (tls.wafRateLimit > 0)
    throw new StackConfigError(
      awsKey('wafRateLimit'),
      tls.wafRateLimit,
      '0 on tier lightweight (AWS WAF attaches to a load balancer)',
    );
  if (!common.network.allowedCidrs.includes('0.0.0.0/0'))
    throw new StackConfigError(
      commonKey('allowedCidrs'),
      common.network.allowedCidrs,
      '["0.0.0.0/0"] on tier lightweight with target aws',
      "Caddy's ACME challenges (HTTP-01 on 80, TLS-ALPN-01 on 443) come from the internet; use tier general for a restricted listener",
    );
}

/** Inbound rules per network ACL (AWS default quota). */
export const NACL_INBOUND_RULE_QUOTA = 20;
/** The public ACL's inbound rules (see network.ts): deny 22, the VPC, ephemeral, 443 + 80 per allowed CIDR, 9443 per admin CIDR. */
export function publicAclInboundRules(allowedCidrs: number, adminCidrs: number): number {
  return 3 + 2 * allowedCidrs + adminCidrs;
}
/** Load balancer names are limited to 32 characters; Pulumi appends `-` and 7 random characters. */
export const ALB_NAME_MAX = 32;
export const albLogicalName = (prefix: string) => `${prefix}-alb`;
/** Storage classes S3 will only transition to after an object is 30 days old. */
const MIN_30_DAYS = ['STANDARD_IA', 'ONEZONE_IA'];
/** AWS tag keys: 1–128 characters of letters, digits, spaces and _ . : / = + - @; not starting with `aws:`. */
const TAG_KEY = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u;
const TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u;

/** Values AWS itself would reject, caught before any resource exists. */
function checkAwsLimits(
  common: CommonSpec,
  v: { rootVolumeGb: number; archiveAfterDays: number; archiveStorageClass: string; logArchiveDays: number },
) {
  if (v.logArchiveDays <= v.archiveAfterDays)
    throw new StackConfigError(
      awsKey('logArchiveDays'),
      v.logArchiveDays,
      `more than archiveAfterDays (${v.archiveAfterDays})`,
      'S3 refuses an expiration on or before the transition to the archive class',
    );
  if (common.tier.gpu && v.rootVolumeGb < GPU_AMI_MIN_ROOT_GB)
    throw new StackConfigError(
      awsKey('rootVolumeGb'),
      v.rootVolumeGb,
      `at least ${GPU_AMI_MIN_ROOT_GB} GiB on tier gpu`,
      `the GPU AMI's root snapshot is ${GPU_AMI_MIN_ROOT_GB} GiB`,
    );
  if (MIN_30_DAYS.includes(v.archiveStorageClass) && v.archiveAfterDays < 30)
    throw new StackConfigError(
      awsKey('archiveAfterDays'),
      v.archiveAfterDays,
      `at least 30 with archiveStorageClass ${v.archiveStorageClass}`,
      'S3 transitions objects to STANDARD_IA or ONEZONE_IA only after 30 days',
    );
  const { allowedCidrs, adminCidrs } = common.network;
  const rules = publicAclInboundRules(allowedCidrs.length, adminCidrs.length);
  if (rules > NACL_INBOUND_RULE_QUOTA)
    throw new StackConfigError(
      commonKey('allowedCidrs'),
      allowedCidrs,
      `at most ${NACL_INBOUND_RULE_QUOTA} network ACL inbound rules: 3 + 2 per allowedCidrs entry + 1 per adminCidrs entry`,
      `${allowedCidrs.length} allowed and ${adminCidrs.length} admin CIDRs need ${rules} rules (the network ACL's default quota is ${NACL_INBOUND_RULE_QUOTA}); merge ranges`,
    );
  const albName = albLogicalName(common.prefix);
  if (common.tier.aws.edge === 'alb' && albName.length + 8 > ALB_NAME_MAX)
    throw new StackConfigError(
      'stack name',
      common.stack,
      `at most ${ALB_NAME_MAX - 8 - (albName.length - common.stack.length)} characters on tier ${common.tier.name}`,
      `the load balancer's name ${albName}-xxxxxxx would exceed AWS's ${ALB_NAME_MAX} characters`,
    );
  for (const [key, value] of Object.entries(common.tags))
    if (!TAG_KEY.test(key) || key.toLowerCase().startsWith('aws:') || !TAG_VALUE.test(value))
      throw new StackConfigError(
        commonKey('tags'),
        { [key]: value },
        'tag keys of 1–128 and values of up to 256 letters, digits, spaces and _ . : / = + - @; keys not starting with aws:',
      );
}

/** An ALB-only switch: its value (or the production default) behind an ALB; `true` without one is an error. */
function albOnly(alb: boolean, key: string, value: boolean | undefined, production: boolean): boolean {
  if (alb) return value ?? production;
  if (value)
    throw new StackConfigError(
      awsKey(key),
      value,
      'false or unset on tier lightweight (it has no load balancer)',
    );
  return false;
}

/** Parses `clawstack:aws` and applies the AWS rules. Pure; throws StackConfigError. */
export function parseAwsSpec(section: Record<string, unknown>, common: CommonSpec): AwsSpec {
  const v = readSection(section, AWS_KEYS, awsKey);
  const tier = common.tier;
  const instanceTypes = v.instanceTypes ?? tier.aws.instanceTypes[common.capacity];
  checkInstanceTypes(common, instanceTypes);
  const desiredCapacity = v.desiredCapacity ?? common.scaling.min;
  checkScaling(common, desiredCapacity);
  const rootVolumeGb = v.rootVolumeGb ?? tier.aws.rootVolumeGb;
  const archive = {
    archiveAfterDays: v.archiveAfterDays ?? 30,
    archiveStorageClass: v.archiveStorageClass ?? 'GLACIER_IR',
  };
  const logArchiveDays = v.logArchiveDays ?? 365;
  checkAwsLimits(common, { rootVolumeGb, ...archive, logArchiveDays });
  const production = v.production ?? isProductionStack(common.stack);
  const alb = tier.aws.edge === 'alb';
  const tls = {
    hostedZoneId: v.hostedZoneId,
    certificateArn: v.certificateArn,
    wafRateLimit: v.wafRateLimit ?? 0,
    albDeletionProtection: albOnly(alb, 'albDeletionProtection', v.albDeletionProtection, production),
  };
  checkTls(common, tls);
  if (v.gpuTargetPercent !== undefined && !tier.gpu)
    throw new StackConfigError(
      awsKey('gpuTargetPercent'),
      v.gpuTargetPercent,
      'unset on a tier without GPUs',
    );
  return {
    instanceTypes,
    amiId: v.amiId,
    rootVolumeGb,
    dataVolumeGb: v.dataVolumeGb ?? 20,
    desiredCapacity,
    network: { vpcCidr: v.vpcCidr ?? '10.42.0.0/16', highAvailabilityNat: v.highAvailabilityNat ?? false },
    tls,
    data: {
      dbInstanceClass: v.dbInstanceClass ?? tier.aws.dbInstanceClass,
      cacheNodeType: v.cacheNodeType ?? tier.aws.cacheNodeType,
      dbAllocatedStorageGb: v.dbAllocatedStorageGb ?? 20,
      dbBackupRetentionDays: v.dbBackupRetentionDays ?? 7,
      dbMultiAz: v.dbMultiAz ?? false,
      deletionProtection: v.deletionProtection ?? production,
      applyImmediately: v.applyImmediately ?? !production,
      snapshotDays: v.dataSnapshotDays ?? 7,
    },
    storage: {
      ...archive,
      noncurrentVersionDays: v.noncurrentVersionDays ?? 30,
      modelPrefix: 'models/',
      logPrefix: 'logs/',
      logArchiveDays,
    },
    observability: {
      logRetentionDays: v.logRetentionDays ?? 30,
      localLogDays: v.localLogDays ?? 7,
      monthlyBudgetUsd: v.monthlyBudgetUsd ?? 100,
      albAccessLogs: albOnly(alb, 'albAccessLogs', v.albAccessLogs, production),
      flowLogs: v.flowLogs ?? production,
    },
    production,
    scaling: {
      // Two rounds of the worker's concurrency waiting per instance before another one starts.
      backlogPerInstance: v.backlogPerInstance ?? tier.app.workerConcurrency * 2,
      gpuTargetPercent: tier.gpu ? (v.gpuTargetPercent ?? 70) : undefined,
    },
    secretRotationDays: v.secretRotationDays ?? 90,
  };
}
