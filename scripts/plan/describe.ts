/**
 * Reads stack files and turns recorded resources into the offline plan's text: one line of key
 * settings per resource, grouped under the component that owns it, or a diff of two runs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describeEks } from './describe-eks.ts';
import { describeKubernetes } from './describe-kubernetes.ts';
import type { ProgramRun, RecordedResource } from './harness.ts';

/** Stack config as the Pulumi CLI would pass it: keys as written, structured values as JSON text. */
export function readStackConfig(root: string, stack: string): Record<string, string> {
  const file = path.join(root, `Pulumi.${stack}.yaml`);
  const doc = (parse(readFileSync(file, 'utf8')) ?? {}) as { config?: Record<string, unknown> };
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(doc.config ?? {})) {
    if (value && typeof value === 'object' && 'secure' in value) {
      throw new Error(
        `${file}: ${key} is an encrypted value; the offline plan cannot decrypt it (override it with --set ${key}=…)`,
      );
    }
    out[key] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return out;
}

/** `key=value` → [`clawstack:key`, value]; values that look like JSON lists/objects stay JSON text. */
export function parseAssignment(text: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new Error(`expected key=value, got "${text}"`);
  const key = text.slice(0, eq).trim();
  return [key.includes(':') ? key : `clawstack:${key}`, text.slice(eq + 1)];
}

/**
 * Config with `key=value` assignments applied. A dotted key sets one key of a section
 * (`aws.instanceTypes=["c6i.xlarge"]` → `clawstack:aws`); its value is JSON when it parses as JSON.
 */
export function applyAssignments(
  config: Record<string, string>,
  assignments: string[],
): Record<string, string> {
  const out = { ...config };
  for (const text of assignments) {
    const [key, value] = parseAssignment(text);
    const dot = key.indexOf('.');
    if (dot < 0) {
      out[key] = value;
      continue;
    }
    const sectionKey = key.slice(0, dot);
    let section: Record<string, unknown>;
    try {
      section = (out[sectionKey] ? JSON.parse(out[sectionKey]) : {}) as Record<string, unknown>;
    } catch {
      throw new Error(`${sectionKey} is not a mapping; cannot set ${key}`);
    }
    let parsed: unknown = value;
    try {
      parsed = JSON.parse(value);
    } catch {
      /* a plain string */
    }
    out[sectionKey] = JSON.stringify({ ...section, [key.slice(dot + 1)]: parsed });
  }
  return out;
}

type Json = Record<string, unknown>;
const get = (o: unknown, ...keys: string[]): unknown =>
  keys.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Json)[k] : undefined), o);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const short = (type: string) => type.split(':').pop() ?? type;

function ports(r: Json): string {
  const from = r.fromPort ?? r.from_port;
  const to = r.toPort ?? r.to_port;
  const proto = String(r.ipProtocol ?? r.protocol);
  if (proto === '-1') return 'all';
  return from === to ? `${proto}/${String(from)}` : `${proto}/${String(from)}-${String(to)}`;
}

/** One line of the settings a reviewer checks for this resource type. */
export function describe(r: RecordedResource): string {
  const i = r.inputs;
  const eks = describeEks(r);
  if (eks !== undefined) return eks;
  if (r.type.startsWith('kubernetes:')) return describeKubernetes(r);
  switch (r.type) {
    case 'aws:ec2/vpc:Vpc':
      return `cidr ${String(i.cidrBlock)}`;
    case 'aws:ec2/subnet:Subnet':
      return `${String(i.cidrBlock)} in ${String(i.availabilityZone)}${i.mapPublicIpOnLaunch ? ', public IPs' : ''}`;
    case 'aws:ec2/natGateway:NatGateway':
      return 'NAT gateway';
    case 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule':
      return `in ${ports(i)} from ${String(i.cidrIpv4 ?? 'security group ' + String(i.referencedSecurityGroupId))}`;
    case 'aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule':
      return `out ${ports(i)} to ${String(i.cidrIpv4 ?? 'security group ' + String(i.referencedSecurityGroupId))}`;
    case 'aws:ec2/networkAcl:NetworkAcl':
      return `in: ${list(i.ingress)
        .map((x) => x as Json)
        .sort((a, b) => Number(a.ruleNo) - Number(b.ruleNo))
        .map((x) => `${String(x.ruleNo)} ${String(x.action)} ${ports(x)} ${String(x.cidrBlock)}`)
        .join('; ')}`;
    case 'aws:s3/bucketVersioning:BucketVersioning':
      return `versioning ${String(get(i, 'versioningConfiguration', 'status'))}`;
    case 'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration':
      return `default encryption ${String(get(list(i.rules)[0], 'applyServerSideEncryptionByDefault', 'sseAlgorithm'))}`;
    case 'aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock':
      return `public access blocked: ${['blockPublicAcls', 'blockPublicPolicy', 'ignorePublicAcls', 'restrictPublicBuckets'].every((k) => i[k] === true) ? 'all four' : 'PARTIAL'}`;
    case 'aws:s3/bucketOwnershipControls:BucketOwnershipControls':
      return String(get(i, 'rule', 'objectOwnership'));
    case 'aws:s3/bucketPolicy:BucketPolicy':
      return `statements: ${list(get(JSON.parse(String(i.policy)), 'Statement'))
        .map((s) => String(get(s, 'Sid')))
        .join(', ')}`;
    case 'aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration':
      return list(i.rules)
        .map((x) => {
          const rule = x as Json;
          const t = list(rule.transitions)[0] as Json | undefined;
          const expiry = get(rule, 'expiration', 'days');
          if (t)
            return `${String(get(rule, 'filter', 'prefix'))}* → ${String(t.storageClass)} after ${String(t.days)} d${expiry ? `, deleted after ${String(expiry)} d` : ''}`;
          if (rule.noncurrentVersionExpiration)
            return `noncurrent versions expire after ${String(get(rule, 'noncurrentVersionExpiration', 'noncurrentDays'))} d`;
          if (rule.abortIncompleteMultipartUpload)
            return `abort multipart after ${String(get(rule, 'abortIncompleteMultipartUpload', 'daysAfterInitiation'))} d`;
          return String(rule.id);
        })
        .join('; ');
    case 'aws:lb/loadBalancer:LoadBalancer':
      return `${String(i.loadBalancerType)}, ${i.internal ? 'internal' : 'internet-facing'}, ${list(i.subnets).length} subnets, access logs ${get(i, 'accessLogs', 'enabled') ? `to ${String(get(i, 'accessLogs', 'prefix'))}/` : 'off'}, deletion protection ${i.enableDeletionProtection ? 'on' : 'off'}`;
    case 'aws:lb/targetGroup:TargetGroup':
      return `port ${String(i.port)}, health ${String(get(i, 'healthCheck', 'path'))}, deregistration ${String(i.deregistrationDelay)} s`;
    case 'aws:lb/listener:Listener': {
      const action = list(i.defaultActions)[0] as Json | undefined;
      const what =
        action?.type === 'redirect'
          ? `redirect → ${String(get(action, 'redirect', 'protocol'))} ${String(get(action, 'redirect', 'statusCode'))}`
          : String(action?.type);
      return `${String(i.protocol)} ${String(i.port)}${i.sslPolicy ? `, ${String(i.sslPolicy)}` : ''}, ${what}`;
    }
    case 'aws:lb/listenerRule:ListenerRule':
      return `${list(get(list(i.conditions)[0], 'pathPattern', 'values')).join(',')} → ${String(get(list(i.actions)[0], 'type'))}`;
    case 'aws:wafv2/webAcl:WebAcl':
      return `rate limit ${String(get(list(i.rules)[0], 'statement', 'rateBasedStatement', 'limit'))} req / 5 min / IP`;
    case 'aws:acm/certificate:Certificate':
      return `${String(i.domainName)}, ${String(i.validationMethod)} validation`;
    case 'aws:route53/record:Record':
      return `${String(i.type)} ${String(i.name)}`;
    case 'aws:ec2/launchTemplate:LaunchTemplate': {
      const ebs = get(list(i.blockDeviceMappings)[0], 'ebs') as Json;
      return `${String(i.instanceType)}, AMI ${String(i.imageId)}, IMDSv2 ${get(i, 'metadataOptions', 'httpTokens') === 'required' ? 'required' : 'OPTIONAL'}, root ${String(ebs.volumeSize)} GB ${String(ebs.volumeType)}${ebs.encrypted === 'true' ? ' encrypted' : ' UNENCRYPTED'}`;
    }
    case 'aws:autoscaling/group:Group': {
      const mixed = i.mixedInstancesPolicy as Json | undefined;
      const types = list(get(mixed, 'launchTemplate', 'overrides')).map((o) =>
        String(get(o, 'instanceType')),
      );
      const capacity = mixed
        ? `spot ${String(get(mixed, 'instancesDistribution', 'spotAllocationStrategy'))} over ${types.join(', ')}${i.capacityRebalance ? ', capacity rebalance' : ''}`
        : 'on-demand';
      return `min ${String(i.minSize)} / desired ${String(i.desiredCapacity)} / max ${String(i.maxSize)}, ${capacity}, health ${String(i.healthCheckType)}`;
    }
    case 'aws:autoscaling/policy:Policy': {
      const tt = get(i, 'targetTrackingConfiguration');
      const custom = get(tt, 'customizedMetricSpecification');
      const returned = list(get(custom, 'metrics')).find((m) => get(m, 'returnData') === true);
      const metric =
        get(tt, 'predefinedMetricSpecification', 'predefinedMetricType') ??
        get(returned, 'label') ??
        get(custom, 'metricName');
      return `target tracking ${String(metric)} = ${String(get(tt, 'targetValue'))}`;
    }
    case 'aws:autoscaling/lifecycleHook:LifecycleHook':
      return `${String(i.lifecycleTransition)}, heartbeat ${String(i.heartbeatTimeout)} s`;
    case 'aws:rds/instance:Instance':
      return `postgres ${String(i.engineVersion)} ${String(i.instanceClass)}, ${String(i.allocatedStorage)} GB, encrypted ${String(i.storageEncrypted)}, public ${String(i.publiclyAccessible)}, backups ${String(i.backupRetentionPeriod)} d, multi-AZ ${String(i.multiAz)}, changes ${i.applyImmediately ? 'applied at once' : 'in the maintenance window'}`;
    case 'aws:rds/parameterGroup:ParameterGroup':
      return list(i.parameters)
        .map((x) => `${String(get(x, 'name'))}=${String(get(x, 'value'))}`)
        .join(', ');
    case 'aws:elasticache/replicationGroup:ReplicationGroup':
      return `redis ${String(i.engineVersion)} ${String(i.nodeType)} ×${String(i.numCacheClusters)}, TLS ${String(i.transitEncryptionEnabled)}, at-rest ${String(i.atRestEncryptionEnabled)}, auth token ${i.authToken ? 'set' : 'NONE'}`;
    case 'aws:ebs/volume:Volume':
      return `${String(i.size)} GB ${String(i.type)}${i.encrypted ? ' encrypted' : ' UNENCRYPTED'} in ${String(i.availabilityZone)}`;
    case 'aws:cloudwatch/metricAlarm:MetricAlarm':
      return `${String(i.alarmDescription)} (threshold ${String(i.threshold)})`;
    case 'aws:cloudwatch/logGroup:LogGroup':
      return `${String(i.name)}, ${String(i.retentionInDays)} d`;
    case 'aws:budgets/budget:Budget':
      return `${String(i.limitAmount)} ${String(i.limitUnit)}/${String(i.timeUnit).toLowerCase()}, alerts at ${list(
        i.notifications,
      )
        .map((n) => `${String(get(n, 'threshold'))}% ${String(get(n, 'notificationType')).toLowerCase()}`)
        .join(', ')}`;
    case 'aws:secretsmanager/secret:Secret':
      return String(i.name);
    case 'aws:secretsmanager/secretRotation:SecretRotation':
      return `every ${String(get(i, 'rotationRules', 'automaticallyAfterDays'))} days`;
    case 'aws:sns/topicSubscription:TopicSubscription':
      return `${String(i.protocol)} ${String(i.endpoint)}`;
    case 'aws:iam/rolePolicyAttachment:RolePolicyAttachment':
      return String(i.policyArn).split('/').pop() ?? '';
    case 'aws:lambda/function:Function':
      return `${String(i.runtime)}, ${String(i.handler)}`;
    case 'aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream': {
      const s3 = get(i, 'extendedS3Configuration');
      return `to s3 ${String(get(s3, 'prefix'))}, ${String(get(s3, 'compressionFormat'))}, buffers ${String(get(s3, 'bufferingSize'))} MiB / ${String(get(s3, 'bufferingInterval'))} s`;
    }
    case 'aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter':
      return `every event of ${String(i.logGroup)} → Firehose`;
    case 'aws:ec2/flowLog:FlowLog':
      return `${String(i.trafficType)} traffic → ${String(i.logDestinationType)} ${String(i.logDestination)}`;
    case 'aws:dlm/lifecyclePolicy:LifecyclePolicy': {
      const schedule = list(get(i, 'policyDetails', 'schedules'))[0];
      return `snapshots of volumes tagged ${JSON.stringify(get(i, 'policyDetails', 'targetTags'))} every ${String(get(schedule, 'createRule', 'interval'))} h, ${String(get(schedule, 'retainRule', 'count'))} kept`;
    }
    case 'pulumi:providers:kubernetes':
      return `cluster from ${i.kubeconfig ? 'the kubeconfig in stack config (secret)' : 'the ambient kubeconfig'}${i.context ? `, context ${String(i.context)}` : ''}`;
    case 'docker:index/network:Network':
      return `${String(i.name)} (${String(i.driver)})`;
    case 'docker:index/volume:Volume':
      return `named volume ${String(i.name)}`;
    case 'docker:index/image:Image':
      return `build ${String(get(i, 'build', 'dockerfile'))
        .split('/')
        .slice(-2)
        .join('/')} → ${String(i.imageName)}${i.skipPush ? ', not pushed' : ''}`;
    case 'docker:index/remoteImage:RemoteImage':
      return `pull ${String(i.name)}`;
    case 'docker:index/container:Container': {
      const published = list(i.ports).map((p) => `${String(get(p, 'ip'))}:${String(get(p, 'external'))}`);
      const gpus = list(i.deviceRequests).length ? ', GPU' : '';
      const limits = i.cpus ? `, ${String(i.cpus)} CPU / ${String(i.memory)} MiB${gpus}` : '';
      return `${String(i.name)}, user ${String(i.user ?? 'image')}${limits}, restart ${String(i.restart)}, stop ${String(i.stopTimeout ?? 10)} s${published.length ? `, published ${published.join(' ')}` : ''}`;
    }
    case 'random:index/randomPassword:RandomPassword':
      return `${String(i.length)} characters (secret)`;
    default:
      return '';
  }
}

function tree(run: ProgramRun): Map<string | undefined, RecordedResource[]> {
  const children = new Map<string | undefined, RecordedResource[]>();
  const urns = new Set(run.resources.map((r) => r.urn));
  for (const r of run.resources) {
    const parent = r.parent && urns.has(r.parent) ? r.parent : undefined;
    const siblings = children.get(parent) ?? [];
    siblings.push(r);
    children.set(parent, siblings);
  }
  return children;
}

/** The resources as an indented tree of components with one line of settings each. */
export function renderTree(run: ProgramRun): string[] {
  const children = tree(run);
  const lines: string[] = [];
  const walk = (parent: string | undefined, depth: number) => {
    const items = [...(children.get(parent) ?? [])].sort(
      (a, b) =>
        Number(a.custom) - Number(b.custom) || a.type.localeCompare(b.type) || a.name.localeCompare(b.name),
    );
    for (const r of items) {
      const pad = '  '.repeat(depth);
      if (!r.custom) {
        const count = countUnder(children, r.urn);
        lines.push(`${pad}${short(r.type)} ${r.name}  (${count} resource${count === 1 ? '' : 's'})`);
        walk(r.urn, depth + 1);
      } else {
        const text = describe(r);
        lines.push(`${pad}+ ${r.type.replace(/:[^:]+$/, '')} ${r.name}${text ? `  — ${text}` : ''}`);
      }
    }
  };
  walk(undefined, 0);
  return lines;
}

function countUnder(children: Map<string | undefined, RecordedResource[]>, urn: string): number {
  return (children.get(urn) ?? []).reduce((n, r) => n + (r.custom ? 1 : countUnder(children, r.urn)), 0);
}

/** Added, removed and changed resources between two runs (matched by type and name). */
export function renderDiff(before: ProgramRun, after: ProgramRun): string[] {
  const key = (r: RecordedResource) => `${r.type}::${r.name}`;
  const a = new Map(before.resources.filter((r) => r.custom).map((r) => [key(r), r]));
  const b = new Map(after.resources.filter((r) => r.custom).map((r) => [key(r), r]));
  const lines: string[] = [];
  const label = (r: RecordedResource) => `${r.type.replace(/:[^:]+$/, '')} ${r.name}`;
  for (const [k, r] of b)
    if (!a.has(k)) lines.push(`+ ${label(r)}${describe(r) ? `  — ${describe(r)}` : ''}`);
  for (const [k, r] of a)
    if (!b.has(k)) lines.push(`- ${label(r)}${describe(r) ? `  — ${describe(r)}` : ''}`);
  let tagsOnly = 0;
  for (const [k, r] of b) {
    const old = a.get(k);
    if (!old) continue;
    const was = describe(old);
    const now = describe(r);
    const keys = changedKeys(old.inputs, r.inputs);
    if (was !== now) lines.push(`~ ${label(r)}\n      ${was}\n    → ${now}`);
    else if (keys.length && keys.every((x) => x === 'tags')) tagsOnly++;
    else if (keys.length) lines.push(`~ ${label(r)}  (inputs differ: ${keys.join(', ')})`);
  }
  lines.sort((x, y) => x.slice(2).localeCompare(y.slice(2)));
  if (tagsOnly) lines.push(`~ ${tagsOnly} more resources whose only change is their tags`);
  return lines;
}

function changedKeys(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
    .sort();
}
