/**
 * The offline plan's monthly cost estimate: recorded resources × the price table (./prices.yaml).
 * Pure: resources and prices in, priced lines out. Usage-driven charges (data transfer, NAT and
 * LCU traffic, log ingestion, requests) are not in it, and the output says so.
 */
import type { RecordedResource } from '../plan/harness.ts';
import { customMetricLines } from './cloudwatch.ts';
import { priceEks } from './eks.ts';
import type { PriceTable, RegionPrices } from './prices.ts';

export interface CostLine {
  /** What is billed, e.g. `EC2 c6i.xlarge × 2 (on-demand)`. */
  item: string;
  /** Resource it comes from (`type name`). */
  resource: string;
  monthlyUsd: number;
  /** Set when the price table has no price for it (the line counts 0). */
  unpriced?: string;
}

export interface CostEstimate {
  region: string;
  lines: CostLine[];
  totalUsd: number;
  /** Upper bound when the fleet scales to its maximum. */
  atMaxUsd: number;
  /** Why no estimate was made (targets that create no priced cloud resources). */
  notEstimated?: string;
}

/** Targets that create no cloud resources this table prices, and why. */
export const NOT_ESTIMATED: Record<string, string> = {
  kubernetes:
    'target kubernetes deploys onto an existing cluster: its nodes, load balancers and volumes are billed by whoever runs the cluster, outside this stack',
  docker:
    'target docker runs containers on a Docker engine you already have: there is no cloud bill to estimate',
};

type Json = Record<string, unknown>;
type Ctx = PriceContext;
const get = (o: unknown, ...keys: string[]): unknown =>
  keys.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Json)[k] : undefined), o);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const label = (r: RecordedResource) => `${r.type.split(':').pop()} ${r.name}`;

export interface PriceContext {
  p: RegionPrices;
  table: PriceTable;
  hours: number;
  resources: RecordedResource[];
  s3Gb: number;
}

export function hourly(
  item: string,
  r: RecordedResource,
  price: number | undefined,
  n: number,
  ctx: Ctx,
): CostLine {
  return price === undefined
    ? {
        item,
        resource: label(r),
        monthlyUsd: 0,
        unpriced: `no price for ${item} in ${ctx.table.retrieved} table`,
      }
    : { item, resource: label(r), monthlyUsd: price * n * ctx.hours };
}

/** The launch template an Auto Scaling group uses (by id; the only one otherwise). */
function launchTemplateOf(asg: RecordedResource, ctx: Ctx): RecordedResource | undefined {
  const lts = ctx.resources.filter((r) => r.type === 'aws:ec2/launchTemplate:LaunchTemplate');
  const id =
    get(asg.inputs, 'launchTemplate', 'id') ??
    get(
      asg.inputs,
      'mixedInstancesPolicy',
      'launchTemplate',
      'launchTemplateSpecification',
      'launchTemplateId',
    );
  return lts.find((lt) => lt.id === id) ?? (lts.length === 1 ? lts[0] : undefined);
}

/** An Auto Scaling group: instances (spot or on-demand) and their root volumes, at desired and at max. */
function fleet(asg: RecordedResource, ctx: Ctx): { lines: CostLine[]; perInstance: number } {
  const lt = launchTemplateOf(asg, ctx);
  const desired = Number(asg.inputs.desiredCapacity ?? asg.inputs.minSize ?? 1);
  const mixed = asg.inputs.mixedInstancesPolicy;
  const spotTypes = list(get(mixed, 'launchTemplate', 'overrides')).map((o) =>
    String(get(o, 'instanceType')),
  );
  const spot =
    spotTypes.length > 0 &&
    Number(get(mixed, 'instancesDistribution', 'onDemandPercentageAboveBaseCapacity') ?? 0) === 0;
  const types = spot ? spotTypes : [String(lt?.inputs.instanceType)];
  const prices = types.map((t) => ctx.p.ec2Hour[t]);
  const known = prices.filter((x): x is number => x !== undefined);
  const mean = known.length ? known.reduce((a, b) => a + b, 0) / known.length : undefined;
  const price = mean === undefined ? undefined : spot ? mean * ctx.table.assumptions.spotFactor : mean;
  const item = spot
    ? `EC2 spot over ${types.join('/')} × ${desired} (${Math.round(ctx.table.assumptions.spotFactor * 100)} % of on-demand)`
    : `EC2 ${types[0]} × ${desired} (on-demand)`;
  const compute = hourly(item, asg, price, desired, ctx);
  const disks = list(lt?.inputs.blockDeviceMappings).map((m) => {
    const gb = Number(get(m, 'ebs', 'volumeSize') ?? 0);
    const kind = String(get(m, 'ebs', 'volumeType') ?? 'gp3');
    const gbMonth = ctx.p.ebsGbMonth[kind];
    return {
      item: `EBS ${kind} ${gb} GB root × ${desired}`,
      resource: label(asg),
      monthlyUsd: (gbMonth ?? 0) * gb * desired,
      ...(gbMonth === undefined ? { unpriced: `no price for EBS ${kind}` } : {}),
    };
  });
  const lines = [compute, ...disks];
  const total = lines.reduce((a, l) => a + l.monthlyUsd, 0);
  return { lines, perInstance: desired ? total / desired : 0 };
}

/**
 * Data Lifecycle Manager snapshots of the volumes its target tags select: priced as one full copy of
 * each volume (later snapshots are incremental: the changed blocks are not included).
 */
function snapshots(r: RecordedResource, ctx: Ctx): CostLine[] {
  const details = r.inputs.policyDetails;
  const want = Object.entries((get(details, 'targetTags') ?? {}) as Record<string, unknown>);
  const gb = ctx.resources
    .filter((v) => v.type === 'aws:ebs/volume:Volume')
    .filter((v) => want.length > 0 && want.every(([k, x]) => get(v.inputs, 'tags', k) === x))
    .reduce((a, v) => a + Number(v.inputs.size ?? 0), 0);
  const kept = get(list(get(details, 'schedules'))[0], 'retainRule', 'count');
  return [
    {
      item: `EBS snapshots of ${gb} GB, ${String(kept)} kept (one full copy assumed; changed blocks not included)`,
      resource: label(r),
      monthlyUsd: ctx.p.ebsSnapshotGbMonth * gb,
    },
  ];
}

/** Lines for one resource (not the fleet; see {@link fleet}). */
function priceOf(r: RecordedResource, ctx: Ctx): CostLine[] {
  const i = r.inputs;
  const { p } = ctx;
  const month = (item: string, usd: number): CostLine[] => [{ item, resource: label(r), monthlyUsd: usd }];
  switch (r.type) {
    case 'aws:ec2/instance:Instance':
      return [
        hourly(`EC2 ${String(i.instanceType)} (on-demand)`, r, p.ec2Hour[String(i.instanceType)], 1, ctx),
      ];
    case 'aws:ebs/volume:Volume': {
      const kind = String(i.type ?? 'gp3');
      return month(`EBS ${kind} ${String(i.size)} GB`, (p.ebsGbMonth[kind] ?? 0) * Number(i.size ?? 0));
    }
    case 'aws:ec2/natGateway:NatGateway':
      return [hourly('NAT gateway (hours; data processed not included)', r, p.natGatewayHour, 1, ctx)];
    case 'aws:ec2/eip:Eip':
      return [hourly('public IPv4 address', r, p.publicIpv4Hour, 1, ctx)];
    case 'aws:lb/loadBalancer:LoadBalancer': {
      const azs = list(i.subnets).length || 2;
      return [
        hourly('ALB (hours)', r, p.albHour, 1, ctx),
        hourly(
          `ALB ${ctx.table.assumptions.albLcu} LCU (assumed)`,
          r,
          p.albLcuHour,
          ctx.table.assumptions.albLcu,
          ctx,
        ),
        hourly(`ALB public IPv4 × ${azs}`, r, p.publicIpv4Hour, azs, ctx),
      ];
    }
    case 'aws:ec2/vpcEndpoint:VpcEndpoint':
      return i.vpcEndpointType === 'Interface'
        ? [
            hourly(
              `interface endpoint × ${list(i.subnetIds).length} AZ`,
              r,
              p.interfaceEndpointHour,
              list(i.subnetIds).length,
              ctx,
            ),
          ]
        : [];
    case 'aws:rds/instance:Instance': {
      const n = i.multiAz === true ? 2 : 1;
      const gb = Number(i.allocatedStorage ?? 20);
      return [
        hourly(
          `RDS ${String(i.instanceClass)}${n === 2 ? ' Multi-AZ' : ''}`,
          r,
          p.rdsHour[String(i.instanceClass)],
          n,
          ctx,
        ),
        ...month(`RDS storage ${gb} GB${n === 2 ? ' × 2' : ''}`, p.rdsStorageGbMonth * gb * n),
      ];
    }
    case 'aws:elasticache/replicationGroup:ReplicationGroup': {
      const n = Number(i.numCacheClusters ?? 1);
      return [
        hourly(`ElastiCache ${String(i.nodeType)} × ${n}`, r, p.elasticacheHour[String(i.nodeType)], n, ctx),
      ];
    }
    case 'aws:s3/bucket:Bucket':
    case 'aws:s3/bucketV2:BucketV2':
      return month(`S3 Standard ${ctx.s3Gb} GB (assumed; --s3-gb)`, p.s3StandardGbMonth * ctx.s3Gb);
    case 'aws:wafv2/webAcl:WebAcl':
      return month(
        `WAF web ACL + ${list(i.rules).length} rule(s) (requests not included)`,
        p.wafWebAclMonth + p.wafRuleMonth * list(i.rules).length,
      );
    case 'aws:secretsmanager/secret:Secret':
      return month('Secrets Manager secret', p.secretMonth);
    case 'aws:cloudwatch/metricAlarm:MetricAlarm':
      return month('CloudWatch alarm', p.alarmMonth);
    case 'aws:cloudwatch/dashboard:Dashboard':
      return month('CloudWatch dashboard', p.dashboardMonth);
    case 'aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream': {
      const gb = ctx.table.assumptions.archivedLogGb;
      return month(`Firehose log archive, ${gb} GB/month (assumed)`, p.firehoseGb * gb);
    }
    case 'aws:kms/key:Key':
      return month('KMS customer managed key (requests not included)', p.kmsKeyMonth);
    case 'aws:dlm/lifecyclePolicy:LifecyclePolicy':
      return snapshots(r, ctx);
    case 'aws:ec2/flowLog:FlowLog': {
      const gb = ctx.table.assumptions.flowLogGb;
      return month(`VPC flow logs to S3, ${gb} GB/month (assumed)`, p.vendedLogsS3Gb * gb);
    }
    default:
      return [];
  }
}

/** Estimates a run's monthly cost. `target` decides whether there is anything to estimate. */
export function estimateCost(
  resources: RecordedResource[],
  opts: { target: string; region: string; table: PriceTable; s3Gb?: number },
): CostEstimate {
  const empty = { region: opts.region, lines: [], totalUsd: 0, atMaxUsd: 0 };
  // `kubernetes` with cluster: eks creates the cluster, so there is a bill after all.
  const createsCluster = resources.some((r) => r.type === 'aws:eks/cluster:Cluster');
  if (NOT_ESTIMATED[opts.target] && !createsCluster)
    return { ...empty, notEstimated: NOT_ESTIMATED[opts.target] };
  const p = opts.table.regions[opts.region];
  if (!p)
    return {
      ...empty,
      notEstimated: `the price table has no region ${opts.region} (it has ${Object.keys(opts.table.regions).join(', ')}); add it in an override file (--prices)`,
    };
  const ctx: Ctx = {
    p,
    table: opts.table,
    hours: opts.table.hoursPerMonth,
    resources,
    s3Gb: opts.s3Gb ?? opts.table.assumptions.s3StandardGb,
  };
  const lines: CostLine[] = [];
  let extraAtMax = 0;
  for (const r of resources.filter((x) => x.custom)) {
    const eks = priceEks(r, ctx);
    if (eks) {
      lines.push(...eks.lines);
      extraAtMax += eks.extraAtMax;
      continue;
    }
    if (r.type !== 'aws:autoscaling/group:Group') {
      lines.push(...priceOf(r, ctx));
      continue;
    }
    const f = fleet(r, ctx);
    lines.push(...f.lines);
    const desired = Number(r.inputs.desiredCapacity ?? r.inputs.minSize ?? 1);
    extraAtMax += f.perInstance * Math.max(0, Number(r.inputs.maxSize ?? desired) - desired);
  }
  const metrics = customMetricLines(ctx, (asg) => launchTemplateOf(asg, ctx));
  lines.push(...metrics.lines);
  extraAtMax += metrics.extraAtMax;
  const totalUsd = lines.reduce((a, l) => a + l.monthlyUsd, 0);
  return { region: opts.region, lines, totalUsd, atMaxUsd: totalUsd + extraAtMax };
}
