import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { gzipSync } from 'node:zlib';
import type { Capacity } from '../../tiers.ts';
import { HOST_METRICS } from './metrics-agent.ts';
import type { MetricRef } from './metrics-agent.ts';

export interface AppFleetArgs {
  /** Name prefix for every child resource (the Auto Scaling group is named `<prefix>-asg`). */
  prefix: string;
  /** Tags for every taggable child; also propagated to instances and their volumes. */
  tags: Record<string, string>;
  /** Instance types; with spot, every one becomes an override of the mixed-instances policy. */
  instanceTypes: string[];
  /** `spot` turns on the mixed-instances policy and capacity rebalance. */
  capacity: Capacity;
  /**
   * The AMI: `resolve:ssm:<public parameter>` (AL2023, or the NVIDIA-driver DLAMI on tier gpu),
   * which EC2 resolves at each launch, or a pinned `ami-…` id. See {@link launchImageId}.
   */
  imageId: string;
  /** Root volume size in GiB (gp3, encrypted). */
  rootVolumeGb: number;
  /** Subnets the group launches into (public on tier lightweight, private behind the ALB otherwise). */
  subnetIds: pulumi.Input<string>[];
  /** Security groups of every instance. */
  securityGroupIds: pulumi.Input<string>[];
  /** Target groups to register with; empty on tier lightweight. */
  targetGroupArns: pulumi.Input<string>[];
  /** Auto Scaling bounds and initial size. */
  minSize: number;
  /** Upper bound; 1 makes instance refresh terminate before it launches (volume/IP owners). */
  maxSize: number;
  /** Initial number of instances. */
  desiredCapacity: number;
  /** Target tracking keeps average CPU at this percentage. */
  cpuTargetPercent: number;
  /** Target tracking keeps jobs waiting per in-service instance near `target` (metric math over the app's queue depth). */
  backlog: { metrics: MetricRef[]; expression: string; target: number };
  /** Tier gpu: target tracking keeps average GPU utilisation (CloudWatch agent) at this percentage. */
  gpuTargetPercent?: number;
  /** cloud-init user-data (plain text; gzip-compressed and base64-encoded here, as EC2 caps it at 16 KB). */
  userData: pulumi.Input<string>;
  /** The models-and-logs bucket. */
  bucketArn: pulumi.Input<string>;
  /** Instances may read under this key prefix… */
  modelPrefix: string;
  /** …and write under this one. */
  logPrefix: string;
  /** Secrets the instances read at boot. */
  secretArns: pulumi.Input<string>[];
  /** Lightweight: the Elastic IP the instance associates with itself. */
  eipAllocationArn?: pulumi.Input<string>;
  /** Co-located data: the persistent volume the instance attaches. */
  dataVolumeArn?: pulumi.Input<string>;
  /** Seconds the termination lifecycle hook waits for the drain agent. */
  drainSeconds: number;
  /** Seconds before a new instance counts as healthy (GPU images are large). */
  healthCheckGraceSeconds: number;
  /** What must exist before an instance boots (the NAT route and S3 endpoint it pulls through). */
  bootAfter?: pulumi.Resource[];
}

export const drainHookName = (prefix: string) => `${prefix}-drain`;

/**
 * The launch template's image: a pinned AMI id when config gives one, else the SSM parameter
 * resolved by EC2 at launch (`resolve:ssm:`). Not looked up at deploy time: a lookup would change
 * the template, and roll the whole fleet, on every `pulumi up` after AWS publishes a new AMI.
 */
export function launchImageId(ssmParameter: string, pinned?: string): string {
  return pinned ?? `resolve:ssm:${ssmParameter}`;
}
export const asgName = (prefix: string) => `${prefix}-asg`;

/**
 * Launch template + Auto Scaling group: IMDSv2 only, encrypted root volume, SSM instead of SSH,
 * target tracking on CPU, queue backlog per instance and (tier gpu) GPU utilisation, rolling instance refresh on every template change (so a tier switch is a
 * rolling replace), and on spot a price-capacity-optimized mix of instance types with capacity rebalance.
 */
export class AppFleet extends pulumi.ComponentResource {
  readonly asgName: pulumi.Output<string>;
  readonly roleName: pulumi.Output<string>;

  constructor(name: string, args: AppFleetArgs, opts?: pulumi.ComponentResourceOptions) {
    super('clawstack:aws:AppFleet', name, {}, opts);
    const p = args.prefix;
    const parent = { parent: this };
    const spot = args.capacity === 'spot';
    const single = args.maxSize === 1;

    const role = new aws.iam.Role(
      `${p}-instance-role`,
      {
        assumeRolePolicy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' },
          ],
        }),
        tags: args.tags,
      },
      parent,
    );
    this.roleName = role.name;
    for (const [n, arn] of [
      ['ssm', 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore'],
      ['cloudwatch-agent', 'arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy'],
    ] as const) {
      new aws.iam.RolePolicyAttachment(`${p}-instance-${n}`, { role: role.name, policyArn: arn }, parent);
    }
    const statements: unknown[] = [
      {
        Sid: 'ReadModels',
        Effect: 'Allow',
        Action: 's3:GetObject',
        Resource: pulumi.interpolate`${args.bucketArn}/${args.modelPrefix}*`,
      },
      {
        Sid: 'ListModels',
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: args.bucketArn,
        Condition: { StringLike: { 's3:prefix': [`${args.modelPrefix}*`] } },
      },
      {
        Sid: 'WriteLogs',
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: pulumi.interpolate`${args.bucketArn}/${args.logPrefix}*`,
      },
      {
        Sid: 'ReadSecrets',
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: args.secretArns,
      },
    ];
    // Only instances of this stack (by tag) may take the Elastic IP or the data volume.
    const ownInstances = {
      StringEquals: {
        'aws:ResourceTag/project': args.tags.project,
        'aws:ResourceTag/stack': args.tags.stack,
      },
    };
    if (args.eipAllocationArn) {
      statements.push(
        {
          Sid: 'ClaimElasticIp',
          Effect: 'Allow',
          Action: 'ec2:AssociateAddress',
          Resource: args.eipAllocationArn,
        },
        {
          Sid: 'ClaimElasticIpForOwnInstance',
          Effect: 'Allow',
          Action: 'ec2:AssociateAddress',
          Resource: ['arn:aws:ec2:*:*:instance/*', 'arn:aws:ec2:*:*:network-interface/*'],
          Condition: ownInstances,
        },
      );
    }
    if (args.dataVolumeArn) {
      statements.push(
        {
          Sid: 'AttachDataVolume',
          Effect: 'Allow',
          Action: 'ec2:AttachVolume',
          Resource: args.dataVolumeArn,
        },
        {
          Sid: 'AttachDataVolumeToOwnInstance',
          Effect: 'Allow',
          Action: 'ec2:AttachVolume',
          Resource: 'arn:aws:ec2:*:*:instance/*',
          Condition: ownInstances,
        },
        { Sid: 'SeeDataVolume', Effect: 'Allow', Action: 'ec2:DescribeVolumes', Resource: '*' },
      );
    }
    if (args.targetGroupArns.length) {
      statements.push({
        Sid: 'LeaveTargetGroup',
        Effect: 'Allow',
        Action: 'elasticloadbalancing:DeregisterTargets',
        Resource: args.targetGroupArns,
      });
    }
    new aws.iam.RolePolicy(
      `${p}-instance-policy`,
      { role: role.id, policy: pulumi.jsonStringify({ Version: '2012-10-17', Statement: statements }) },
      parent,
    );
    const profile = new aws.iam.InstanceProfile(
      `${p}-instance-profile`,
      { role: role.name, tags: args.tags },
      parent,
    );

    const lt = new aws.ec2.LaunchTemplate(
      `${p}-lt`,
      {
        imageId: args.imageId,
        instanceType: args.instanceTypes[0],
        iamInstanceProfile: { arn: profile.arn },
        vpcSecurityGroupIds: args.securityGroupIds,
        // IMDSv2 only; hop limit 2 so the containers (one bridge hop away) reach it too.
        metadataOptions: {
          httpEndpoint: 'enabled',
          httpTokens: 'required',
          httpPutResponseHopLimit: 2,
          instanceMetadataTags: 'enabled',
        },
        blockDeviceMappings: [
          {
            deviceName: '/dev/xvda',
            ebs: {
              volumeSize: args.rootVolumeGb,
              volumeType: 'gp3',
              encrypted: 'true',
              deleteOnTermination: 'true',
            },
          },
        ],
        monitoring: { enabled: true },
        // cloud-init recognises gzip by its magic bytes.
        userData: pulumi
          .output(args.userData)
          .apply((text) => gzipSync(Buffer.from(text, 'utf8'), { level: 9 }).toString('base64')),
        updateDefaultVersion: true,
        tagSpecifications: [
          { resourceType: 'instance', tags: { ...args.tags, Name: `${p}-app` } },
          { resourceType: 'volume', tags: { ...args.tags, Name: `${p}-app-root` } },
          { resourceType: 'network-interface', tags: { ...args.tags, Name: `${p}-app` } },
        ],
        tags: args.tags,
      },
      parent,
    );
    const version = lt.latestVersion.apply(String);

    const group = new aws.autoscaling.Group(
      `${p}-asg`,
      {
        name: asgName(p),
        vpcZoneIdentifiers: args.subnetIds,
        minSize: args.minSize,
        maxSize: args.maxSize,
        desiredCapacity: args.desiredCapacity,
        // '0': `pulumi up` does not wait for instances (a missing GPU quota or spot capacity shows
        // as a failed scaling activity, not a deployment that hangs for 10 minutes and fails).
        waitForCapacityTimeout: '0',
        targetGroupArns: args.targetGroupArns,
        healthCheckType: args.targetGroupArns.length ? 'ELB' : 'EC2',
        healthCheckGracePeriod: args.healthCheckGraceSeconds,
        defaultInstanceWarmup: args.healthCheckGraceSeconds,
        // Not with one instance: its replacement cannot take the data volume or the Elastic IP
        // while the old instance still holds them.
        capacityRebalance: spot && !single,
        launchTemplate: spot ? undefined : { id: lt.id, version },
        mixedInstancesPolicy: spot
          ? {
              instancesDistribution: {
                onDemandBaseCapacity: 0,
                onDemandPercentageAboveBaseCapacity: 0,
                // Capacity first, then price, among the pools least likely to be interrupted.
                spotAllocationStrategy: 'price-capacity-optimized',
              },
              launchTemplate: {
                launchTemplateSpecification: { launchTemplateId: lt.id, version },
                overrides: args.instanceTypes.map((instanceType) => ({ instanceType })),
              },
            }
          : undefined,
        // One instance that owns a volume or an IP must go before its successor comes; a fleet
        // behind the ALB brings the new instance up first.
        instanceRefresh: {
          strategy: 'Rolling',
          preferences: single
            ? { minHealthyPercentage: 0, maxHealthyPercentage: 100 }
            : { minHealthyPercentage: 100, maxHealthyPercentage: 200 },
        },
        enabledMetrics: [
          'GroupDesiredCapacity',
          'GroupInServiceInstances',
          'GroupPendingInstances',
          'GroupTerminatingInstances',
        ],
        tags: Object.entries({ ...args.tags, Name: `${p}-app` }).map(([key, value]) => ({
          key,
          value,
          propagateAtLaunch: true,
        })),
      },
      // Target tracking owns the size once the group exists; config sets only its first value.
      { parent: this, ignoreChanges: ['desiredCapacity'], dependsOn: args.bootAfter ?? [] },
    );
    this.asgName = group.name;

    new aws.autoscaling.Policy(
      `${p}-cpu-target`,
      {
        autoscalingGroupName: group.name,
        policyType: 'TargetTrackingScaling',
        targetTrackingConfiguration: {
          predefinedMetricSpecification: { predefinedMetricType: 'ASGAverageCPUUtilization' },
          targetValue: args.cpuTargetPercent,
        },
      },
      parent,
    );
    // More than one policy: the group scales out when any asks, and in only when all agree.
    new aws.autoscaling.Policy(
      `${p}-backlog-target`,
      {
        autoscalingGroupName: group.name,
        policyType: 'TargetTrackingScaling',
        targetTrackingConfiguration: {
          customizedMetricSpecification: {
            metrics: [
              ...args.backlog.metrics.map((m) => ({
                id: m.id,
                metricStat: {
                  metric: {
                    namespace: m.namespace,
                    metricName: m.metricName,
                    dimensions: Object.entries(m.dimensions).map(([name, value]) => ({ name, value })),
                  },
                  stat: m.stat,
                },
                returnData: false,
              })),
              {
                id: 'backlog',
                expression: args.backlog.expression,
                label: 'jobs waiting per in-service instance',
                returnData: true,
              },
            ],
          },
          targetValue: args.backlog.target,
        },
      },
      parent,
    );
    if (args.gpuTargetPercent !== undefined)
      new aws.autoscaling.Policy(
        `${p}-gpu-target`,
        {
          autoscalingGroupName: group.name,
          policyType: 'TargetTrackingScaling',
          targetTrackingConfiguration: {
            customizedMetricSpecification: {
              namespace: 'CWAgent',
              metricName: HOST_METRICS.gpuUtilisation,
              metricDimensions: [{ name: 'AutoScalingGroupName', value: group.name }],
              statistic: 'Average',
            },
            targetValue: args.gpuTargetPercent,
          },
        },
        parent,
      );
    // Scale-in, rebalance and refresh wait for the on-instance drain agent (see cloud-init).
    new aws.autoscaling.LifecycleHook(
      `${p}-drain`,
      {
        name: drainHookName(p),
        autoscalingGroupName: group.name,
        lifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        heartbeatTimeout: args.drainSeconds + 30,
        defaultResult: 'CONTINUE',
      },
      parent,
    );
    new aws.iam.RolePolicy(
      `${p}-instance-lifecycle`,
      {
        role: role.id,
        policy: pulumi.jsonStringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              // Drain completion, and replacement of an instance whose boot or api failed for good.
              Action: ['autoscaling:CompleteLifecycleAction', 'autoscaling:SetInstanceHealth'],
              Resource: group.arn,
            },
          ],
        }),
      },
      parent,
    );

    this.registerOutputs({ asgName: this.asgName });
  }
}
