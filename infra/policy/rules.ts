/**
 * clawstack's mandatory policies as pure functions over declared resources (type, name, inputs), so
 * the Pulumi policy pack (./index.ts, `pulumi preview --policy-pack infra/policy`) and the offline plan
 * (`npm run plan -- --policy`) run the same code. Each rule returns messages that say what is wrong
 * and what to change; an empty list means the resource (or stack) passes.
 *
 * Values a preview cannot know yet (outputs of resources not created) arrive as `undefined`; rules
 * only judge what is known, and the offline plan (whose mocks resolve everything) sees it all.
 */
import { k8sContainerRules, k8sLabelRule, k8sNetworkPolicyWorldPorts, k8sIngressTls } from './kubernetes.ts';
import { EKS_RULES } from './eks.ts';
import { asList, get, isWorld, type Json, type PolicyResource, type Rule } from './resource.ts';

export type { PolicyResource, Rule } from './resource.ts';

/** Tags/labels every taggable resource carries (the conformance suite checks the same four). */
export const REQUIRED_TAGS = ['project', 'stack', 'tier', 'capacity'] as const;

/** ELB security policies that negotiate TLS 1.2 or newer only. */
export const TLS12_POLICIES = [
  'ELBSecurityPolicy-TLS13-1-2-2021-06',
  'ELBSecurityPolicy-TLS13-1-2-Res-2021-06',
  'ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06',
  'ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06',
  'ELBSecurityPolicy-TLS13-1-3-2021-06',
  'ELBSecurityPolicy-TLS-1-2-2017-01',
  'ELBSecurityPolicy-TLS-1-2-Ext-2018-06',
  'ELBSecurityPolicy-FS-1-2-2019-08',
  'ELBSecurityPolicy-FS-1-2-Res-2019-08',
  'ELBSecurityPolicy-FS-1-2-Res-2020-10',
];

const BUCKET_TYPES = new Set(['aws:s3/bucket:Bucket', 'aws:s3/bucketV2:BucketV2']);
const truthy = (v: unknown) => v === true || v === 'true';

/** Does `child` point at `bucket` (by value offline, by dependency in a preview)? */
function refersTo(child: PolicyResource, bucket: PolicyResource): boolean {
  const ref = child.inputs.bucket;
  if (ref !== undefined && (ref === bucket.id || ref === bucket.inputs.bucket)) return true;
  return !!bucket.urn && !!child.dependencies?.includes(bucket.urn);
}

/** Per bucket: a message when no companion resource of `type` exists (its content is a resource check). */
function perBucket(resources: PolicyResource[], type: string, missing: (bucket: string) => string): string[] {
  return resources
    .filter((b) => BUCKET_TYPES.has(b.type))
    .filter((b) => !resources.some((r) => r.type === type && refersTo(r, b)))
    .map((b) => missing(b.name));
}

const PAB_FLAGS = ['blockPublicAcls', 'blockPublicPolicy', 'ignorePublicAcls', 'restrictPublicBuckets'];

const s3PublicAccess: Rule = {
  name: 's3-public-access-blocked',
  description: 'Every S3 bucket has a public access block with all four settings on.',
  resource(r) {
    if (r.type !== 'aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock') return [];
    const off = PAB_FLAGS.filter((k) => r.inputs[k] !== true && r.inputs[k] !== undefined);
    return off.length ? [`${r.name}: set ${off.join(', ')} to true (public access must be blocked)`] : [];
  },
  stack: (rs) =>
    perBucket(
      rs,
      'aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock',
      (b) =>
        `bucket ${b} has no aws.s3.BucketPublicAccessBlock; add one with ${PAB_FLAGS.join(', ')} all true`,
    ),
};

/** The earliest transition of an enabled lifecycle rule, in days. */
function earliestTransition(r: PolicyResource): number | undefined {
  const days = asList(r.inputs.rules)
    .filter((rule) => get(rule, 'status') !== 'Disabled')
    .flatMap((rule) => asList(get(rule, 'transitions')).map((t) => Number(get(t, 'days'))))
    .filter((d) => Number.isFinite(d));
  return days.length ? Math.min(...days) : undefined;
}

const ARCHIVE_DAYS = 30;
const s3Lifecycle: Rule = {
  name: 's3-lifecycle-archives',
  description: `Every S3 bucket has a lifecycle rule moving objects to an archive class within ${ARCHIVE_DAYS} days.`,
  resource(r) {
    if (r.type !== 'aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration') return [];
    if (r.inputs.rules === undefined) return [];
    const days = earliestTransition(r);
    if (days === undefined)
      return [`${r.name}: no enabled rule has a transition; add one to an archive class (e.g. GLACIER_IR)`];
    return days > ARCHIVE_DAYS
      ? [
          `${r.name}: the first transition is after ${days} days; archive within ${ARCHIVE_DAYS} (clawstack:aws.archiveAfterDays ≤ ${ARCHIVE_DAYS})`,
        ]
      : [];
  },
  stack: (rs) =>
    perBucket(
      rs,
      'aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration',
      (b) => `bucket ${b} has no lifecycle configuration; add one archiving within ${ARCHIVE_DAYS} days`,
    ),
};

/** Does a bucket policy document deny requests without TLS (`aws:SecureTransport` false)? */
function deniesPlainHttp(policy: unknown): boolean | undefined {
  if (policy === undefined) return undefined;
  let doc: unknown = policy;
  try {
    if (typeof policy === 'string') doc = JSON.parse(policy);
  } catch {
    return false;
  }
  return asList(get(doc, 'Statement')).some(
    (s) =>
      get(s, 'Effect') === 'Deny' &&
      String(get(s, 'Condition', 'Bool', 'aws:SecureTransport')).toLowerCase() === 'false',
  );
}

const s3Tls: Rule = {
  name: 's3-deny-insecure-transport',
  description: 'Every S3 bucket policy denies requests that do not use TLS (aws:SecureTransport = false).',
  resource(r) {
    if (r.type !== 'aws:s3/bucketPolicy:BucketPolicy') return [];
    return deniesPlainHttp(r.inputs.policy) === false
      ? [
          `${r.name}: add a statement {Effect: Deny, Principal: *, Action: s3:*, Condition: {Bool: {aws:SecureTransport: "false"}}}`,
        ]
      : [];
  },
  stack: (rs) =>
    perBucket(
      rs,
      'aws:s3/bucketPolicy:BucketPolicy',
      (b) => `bucket ${b} has no bucket policy; add one denying non-TLS requests (aws:SecureTransport false)`,
    ),
};

/** A port range / protocol of an ingress rule, normalised. */
interface Opening {
  protocol: string;
  from: number;
  to: number;
  cidrs: string[];
}

const ANY_PROTOCOL = new Set(['-1', 'all']);
function opening(protocol: unknown, from: unknown, to: unknown, cidrs: unknown[]): Opening {
  const p = String(protocol ?? 'tcp').toLowerCase();
  const all = ANY_PROTOCOL.has(p);
  return {
    protocol: p,
    from: all ? 0 : Number(from ?? 0),
    to: all ? 65535 : Number(to ?? from ?? 65535),
    cidrs: cidrs.filter((c): c is string => typeof c === 'string'),
  };
}

/** Every ingress opening a security group resource declares (inline, rule resource, or v2 rule). */
function securityGroupOpenings(r: PolicyResource): Opening[] {
  const i = r.inputs;
  switch (r.type) {
    case 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule':
      return [opening(i.ipProtocol, i.fromPort, i.toPort, [i.cidrIpv4 ?? i.cidrIpv6 ?? 'sg'])];
    case 'aws:ec2/securityGroupRule:SecurityGroupRule':
      return i.type === 'ingress'
        ? [
            opening(i.protocol, i.fromPort, i.toPort, [
              ...asList(i.cidrBlocks),
              ...asList(i.ipv6CidrBlocks),
              'sg',
            ]),
          ]
        : [];
    case 'aws:ec2/securityGroup:SecurityGroup':
      return asList(i.ingress).map((x) =>
        opening(get(x, 'protocol'), get(x, 'fromPort'), get(x, 'toPort'), [
          ...asList(get(x, 'cidrBlocks')),
          ...asList(get(x, 'ipv6CidrBlocks')),
          'sg',
        ]),
      );
    default:
      return [];
  }
}

const WEB_PORTS = new Set([80, 443]);
const onlyWebPorts = (o: Opening) =>
  (o.protocol === 'tcp' || o.protocol === '6') && o.from === o.to && WEB_PORTS.has(o.from);
const covers = (o: Opening, port: number) =>
  (ANY_PROTOCOL.has(o.protocol) || o.protocol === 'tcp' || o.protocol === '6') &&
  o.from <= port &&
  port <= o.to;
const shown = (o: Opening) =>
  ANY_PROTOCOL.has(o.protocol)
    ? 'all traffic'
    : `${o.protocol}/${o.from}${o.to === o.from ? '' : `-${o.to}`}`;

/** Ports a docker container publishes: [{internal, external, ip}], ip defaulting to every interface. */
function dockerOpenings(r: PolicyResource): Opening[] {
  if (r.type !== 'docker:index/container:Container') return [];
  return asList(r.inputs.ports).map((p) => {
    const port = Number(get(p, 'external') ?? get(p, 'internal'));
    const ip = String(get(p, 'ip') ?? '0.0.0.0');
    return opening(get(p, 'protocol') ?? 'tcp', port, port, [
      ip === '0.0.0.0' || ip === '::' ? `${ip}/0` : ip,
    ]);
  });
}

const worldPorts: Rule = {
  name: 'no-world-open-ports-but-web',
  description:
    'Nothing but TCP 80/443 is open to 0.0.0.0/0 or ::/0 (security groups, NetworkPolicies, published container ports).',
  resource(r) {
    const bad = [...securityGroupOpenings(r), ...dockerOpenings(r)]
      .filter((o) => o.cidrs.some(isWorld) && !onlyWebPorts(o))
      .map((o) => `${r.name}: ${shown(o)} is open to the internet; only 80/443 may be (narrow the CIDR)`);
    return [...bad, ...k8sNetworkPolicyWorldPorts(r)];
  },
};

/** NACL entries that admit port 22 with no lower-numbered deny of 22 for the same or a wider range. */
function naclSsh(r: PolicyResource): string[] {
  if (r.type !== 'aws:ec2/networkAcl:NetworkAcl') return [];
  const entries = asList(r.inputs.ingress)
    .map((e) => ({
      no: Number(get(e, 'ruleNo')),
      action: String(get(e, 'action')),
      o: opening(get(e, 'protocol'), get(e, 'fromPort'), get(e, 'toPort'), [get(e, 'cidrBlock')]),
    }))
    .sort((a, b) => a.no - b.no);
  return entries
    .filter((e) => e.action === 'allow' && covers(e.o, 22))
    .filter(
      (e) =>
        !entries.some(
          (d) =>
            d.action === 'deny' &&
            d.no < e.no &&
            covers(d.o, 22) &&
            (d.o.cidrs.some(isWorld) || d.o.cidrs[0] === e.o.cidrs[0]),
        ),
    )
    .map((e) => `${r.name}: NACL rule ${e.no} admits port 22 from ${e.o.cidrs[0]}; deny 22 before it`);
}

const noSsh: Rule = {
  name: 'no-ssh',
  description: 'No ingress to port 22 from anywhere (use SSM Session Manager or kubectl exec instead).',
  resource(r) {
    const bad = [...securityGroupOpenings(r), ...dockerOpenings(r)]
      .filter((o) => covers(o, 22))
      .map((o) => `${r.name}: ${shown(o)} admits port 22 (SSH); remove it and use SSM Session Manager`);
    const k8s = k8sNetworkPolicyWorldPorts(r, 22);
    return [...bad, ...naclSsh(r), ...k8s];
  },
};

const tlsListeners: Rule = {
  name: 'tls12-listeners',
  description:
    'Every load-balancer listener and ingress serves TLS 1.2 or newer; plain-HTTP listeners only redirect to HTTPS.',
  resource(r) {
    if (r.type === 'aws:lb/listener:Listener' || r.type === 'aws:alb/listener:Listener') {
      const protocol = String(r.inputs.protocol ?? '');
      if (protocol === 'HTTPS' || protocol === 'TLS') {
        const policy = r.inputs.sslPolicy;
        return policy === undefined || TLS12_POLICIES.includes(String(policy))
          ? []
          : [
              `${r.name}: sslPolicy ${String(policy)} allows TLS < 1.2; use ELBSecurityPolicy-TLS13-1-2-2021-06`,
            ];
      }
      const actions = asList(r.inputs.defaultActions);
      const redirects =
        actions.length > 0 &&
        actions.every((a) => get(a, 'type') === 'redirect' && get(a, 'redirect', 'protocol') === 'HTTPS');
      return redirects || r.inputs.defaultActions === undefined
        ? []
        : [
            `${r.name}: ${protocol} listener on ${String(r.inputs.port)} serves plain text; redirect it to HTTPS`,
          ];
    }
    return k8sIngressTls(r);
  },
};

const METADATA_TYPES = new Set(['aws:ec2/launchTemplate:LaunchTemplate', 'aws:ec2/instance:Instance']);
const imdsv2: Rule = {
  name: 'imdsv2-required',
  description: 'Instances and launch templates require IMDSv2 (metadataOptions.httpTokens = required).',
  resource(r) {
    if (!METADATA_TYPES.has(r.type)) return [];
    return get(r.inputs, 'metadataOptions', 'httpTokens') === 'required'
      ? []
      : [
          `${r.name}: set metadataOptions.httpTokens to "required" (IMDSv2; IMDSv1 leaks credentials via SSRF)`,
        ];
  },
};

function unencryptedVolumes(r: PolicyResource): string[] {
  const i = r.inputs;
  switch (r.type) {
    case 'aws:ec2/launchTemplate:LaunchTemplate':
      return asList(i.blockDeviceMappings)
        .filter((m) => get(m, 'ebs') && !truthy(get(m, 'ebs', 'encrypted')))
        .map((m) => `block device ${String(get(m, 'deviceName'))}`);
    case 'aws:ec2/instance:Instance':
      return [
        ...(i.rootBlockDevice && !truthy(get(i, 'rootBlockDevice', 'encrypted'))
          ? ['root block device']
          : []),
        ...asList(i.ebsBlockDevices)
          .filter((d) => !truthy(get(d, 'encrypted')))
          .map((d) => `EBS device ${String(get(d, 'deviceName'))}`),
      ];
    case 'aws:ebs/volume:Volume':
      return truthy(i.encrypted) ? [] : ['the volume'];
    case 'aws:rds/instance:Instance':
    case 'aws:rds/cluster:Cluster':
      return truthy(i.storageEncrypted) ? [] : ['storage (storageEncrypted)'];
    case 'aws:elasticache/replicationGroup:ReplicationGroup':
      return truthy(i.atRestEncryptionEnabled) ? [] : ['data at rest (atRestEncryptionEnabled)'];
    case 'kubernetes:storage.k8s.io/v1:StorageClass':
      return i.provisioner === 'ebs.csi.aws.com' && !truthy(get(i, 'parameters', 'encrypted'))
        ? ['the EBS volumes it provisions (parameters.encrypted)']
        : [];
    default:
      return [];
  }
}

const encrypted: Rule = {
  name: 'storage-encrypted',
  description:
    'EBS volumes (and EBS StorageClasses), RDS storage and ElastiCache data are encrypted at rest.',
  resource: (r) =>
    unencryptedVolumes(r).map((what) => `${r.name}: ${what} is not encrypted; set encrypted: true`),
};

const rdsPrivate: Rule = {
  name: 'rds-not-public',
  description: 'RDS instances are not publicly accessible.',
  resource(r) {
    if (r.type !== 'aws:rds/instance:Instance' || !truthy(r.inputs.publiclyAccessible)) return [];
    return [`${r.name}: publiclyAccessible is true; set it to false (the app reaches it inside the VPC)`];
  },
};

/**
 * AWS types that must carry tags even when the program gave them none (the ones that cost money or
 * hold data). Any other AWS resource that declares tags must declare all the required ones.
 */
const MUST_TAG_AWS = new Set([
  'aws:ec2/vpc:Vpc',
  'aws:ec2/subnet:Subnet',
  'aws:ec2/securityGroup:SecurityGroup',
  'aws:ec2/instance:Instance',
  'aws:ec2/launchTemplate:LaunchTemplate',
  'aws:ec2/natGateway:NatGateway',
  'aws:ec2/eip:Eip',
  'aws:ebs/volume:Volume',
  'aws:autoscaling/group:Group',
  'aws:lb/loadBalancer:LoadBalancer',
  'aws:s3/bucket:Bucket',
  'aws:s3/bucketV2:BucketV2',
  'aws:rds/instance:Instance',
  'aws:elasticache/replicationGroup:ReplicationGroup',
  'aws:secretsmanager/secret:Secret',
  'aws:cloudwatch/logGroup:LogGroup',
  'aws:eks/cluster:Cluster',
  'aws:eks/nodeGroup:NodeGroup',
  'aws:kms/key:Key',
  'aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream',
  'aws:lambda/function:Function',
  'aws:dlm/lifecyclePolicy:LifecyclePolicy',
  'aws:cloudwatch/metricAlarm:MetricAlarm',
]);

/** Tags as a map; an Auto Scaling group lists them as [{key, value, propagateAtLaunch}]. */
function awsTags(tags: unknown): Json | undefined {
  if (Array.isArray(tags)) return Object.fromEntries(tags.map((t) => [get(t, 'key'), get(t, 'value')]));
  return tags && typeof tags === 'object' ? (tags as Json) : undefined;
}

const requiredTags: Rule = {
  name: 'required-tags',
  description: `Taggable resources carry the ${REQUIRED_TAGS.join(', ')} tags (AWS) or labels (Kubernetes, Docker).`,
  resource(r) {
    if (!r.type.startsWith('aws:')) return k8sLabelRule(r, REQUIRED_TAGS);
    const tags = awsTags(r.inputs.tags ?? r.inputs.tagsAll);
    if (!tags && !MUST_TAG_AWS.has(r.type)) return [];
    const missing = REQUIRED_TAGS.filter((k) => !tags?.[k]);
    return missing.length
      ? [`${r.name}: missing tag(s) ${missing.join(', ')}; build tags from the spec (spec.tags)`]
      : [];
  },
};

/** A production stack by its `stack` tag (the AWS target's `isProductionStack`, repeated to keep rules standalone). */
const isProduction = (r: PolicyResource) =>
  /^prod(uction)?($|-)/.test(String(awsTags(r.inputs.tags)?.stack ?? ''));

const productionLogs: Rule = {
  name: 'production-logs-and-protection',
  description:
    'In a production stack (tag stack = prod, production or prod-…): ALB access logs on, ALB deletion protection on, and a VPC flow log on every VPC.',
  resource(r) {
    if (r.type !== 'aws:lb/loadBalancer:LoadBalancer' || !isProduction(r)) return [];
    const out: string[] = [];
    // `enabled` is a literal, known in a preview too: absent means off.
    if (get(r.inputs, 'accessLogs', 'enabled') !== true)
      out.push(`${r.name}: turn on access logs (clawstack:aws.albAccessLogs) in a production stack`);
    if (r.inputs.enableDeletionProtection === false)
      out.push(
        `${r.name}: turn on deletion protection (clawstack:aws.albDeletionProtection) in a production stack`,
      );
    return out;
  },
  stack: (rs) =>
    rs
      .filter((v) => v.type === 'aws:ec2/vpc:Vpc' && isProduction(v))
      .filter(
        (v) =>
          !rs.some(
            (f) =>
              f.type === 'aws:ec2/flowLog:FlowLog' &&
              ((v.id !== undefined && f.inputs.vpcId === v.id) ||
                (!!v.urn && !!f.dependencies?.includes(v.urn))),
          ),
      )
      .map((v) => `VPC ${v.name} has no flow log; turn on clawstack:aws.flowLogs in a production stack`),
};

/** Every mandatory rule, in the order the plan prints them. */
export const RULES: Rule[] = [
  s3PublicAccess,
  s3Lifecycle,
  s3Tls,
  worldPorts,
  noSsh,
  tlsListeners,
  imdsv2,
  encrypted,
  rdsPrivate,
  requiredTags,
  productionLogs,
  ...k8sContainerRules,
  ...EKS_RULES,
];

export interface Violation {
  rule: string;
  message: string;
  resource?: string;
}

/** Runs every rule over a stack's resources (custom resources only). Pure. */
export function checkStack(resources: PolicyResource[], rules: Rule[] = RULES): Violation[] {
  const custom = resources.filter((r) => r.custom !== false);
  return rules.flatMap((rule) => [
    ...custom.flatMap((r) =>
      (rule.resource?.(r) ?? []).map((message) => ({
        rule: rule.name,
        message,
        resource: `${r.type} ${r.name}`,
      })),
    ),
    ...(rule.stack?.(custom) ?? []).map((message) => ({ rule: rule.name, message })),
  ]);
}
