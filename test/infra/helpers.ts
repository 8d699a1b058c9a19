/** Shared fixtures for the infra tests: valid configs per combination and user-data decoding. */
import { gunzipSync } from 'node:zlib';
import { AWS_KEYS } from '../../infra/targets/aws/spec.ts';
import { CAPACITIES, TIER_NAMES } from '../../infra/tiers.ts';
import type { Capacity, TierName } from '../../infra/tiers.ts';
import { one } from '../../scripts/plan/harness.ts';
import type { ProgramRun } from '../../scripts/plan/harness.ts';

export type DataServices = 'colocated' | 'managed';

export interface Combination {
  tier: TierName;
  capacity: Capacity;
  dataServices: DataServices;
}

export const COMBINATIONS: Combination[] = TIER_NAMES.flatMap((tier) =>
  CAPACITIES.flatMap((capacity) =>
    (['colocated', 'managed'] as const).map((dataServices) => ({ tier, capacity, dataServices })),
  ),
);

export const ALLOWED = ['203.0.113.0/24', '198.51.100.0/24'];
export const ADMIN = ['192.0.2.10/32'];

/**
 * A valid AWS config for a combination; the TLS settings each edge needs are filled in. Keys of the
 * `clawstack:aws` section may be given at the top level of `extra` (they are moved into the section;
 * `undefined` removes one), so a case reads as the one setting it changes.
 */
export function configFor(c: Combination, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const lightweight = c.tier === 'lightweight';
  const all: Record<string, unknown> = {
    'aws:region': 'us-east-1',
    tier: c.tier,
    capacity: c.capacity,
    dataServices: c.dataServices,
    domain: lightweight ? 'dev.example.com' : 'api.example.com',
    hostedZoneId: 'Z0123456789TEST',
    allowedCidrs: lightweight ? ['0.0.0.0/0'] : ALLOWED,
    adminCidrs: ADMIN,
    alertEmails: ['oncall@example.com'],
    monthlyBudgetUsd: 250,
    ...(c.dataServices === 'managed' && !lightweight ? { minSize: 2, maxSize: 4 } : {}),
    ...(lightweight ? {} : { wafRateLimit: 1000 }),
    ...extra,
  };
  const common: Record<string, unknown> = {};
  const section: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(all)) {
    if (value === undefined) continue;
    (Object.hasOwn(AWS_KEYS, key) ? section : common)[key] = value;
  }
  return { ...common, aws: typeof all.aws === 'object' || typeof all.aws === 'string' ? all.aws : section };
}

export const label = (c: Combination) => `${c.tier} × ${c.capacity} × ${c.dataServices}`;

/** The launch template's user-data as cloud-init sees it (base64 → gunzip → text). */
export function userDataOf(run: ProgramRun): string {
  const lt = one(run, 'aws:ec2/launchTemplate:LaunchTemplate');
  return gunzipSync(Buffer.from(String(lt.inputs.userData), 'base64')).toString('utf8');
}

/**
 * Resource types that carry no tags in AWS (associations, rules, policies, versions…).
 * Every other AWS resource the program creates must carry the standard tags.
 */
export const UNTAGGABLE = new Set([
  'aws:ec2/route:Route',
  'aws:ec2/routeTableAssociation:RouteTableAssociation',
  'aws:s3/bucketVersioning:BucketVersioning',
  'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration',
  'aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock',
  'aws:s3/bucketOwnershipControls:BucketOwnershipControls',
  'aws:s3/bucketPolicy:BucketPolicy',
  'aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration',
  'aws:iam/rolePolicy:RolePolicy',
  'aws:iam/rolePolicyAttachment:RolePolicyAttachment',
  'aws:secretsmanager/secretVersion:SecretVersion',
  'aws:secretsmanager/secretRotation:SecretRotation',
  'aws:lambda/permission:Permission',
  'aws:cloudwatch/eventTarget:EventTarget',
  'aws:cloudwatch/logMetricFilter:LogMetricFilter',
  'aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter',
  'aws:cloudwatch/dashboard:Dashboard',
  'aws:sns/topicPolicy:TopicPolicy',
  'aws:sns/topicSubscription:TopicSubscription',
  'aws:autoscaling/policy:Policy',
  'aws:autoscaling/lifecycleHook:LifecycleHook',
  'aws:acm/certificateValidation:CertificateValidation',
  'aws:route53/record:Record',
  'aws:wafv2/webAclAssociation:WebAclAssociation',
]);
